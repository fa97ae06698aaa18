// The ATA IDENTIFY DEVICE page (512 bytes of little-endian 16-bit words) that an AoE target
// returns for opcode 0xEC, filled with the words real initiators read (aoe-protocol.md §2.6):
// serial (10-19), firmware (23-26), model (27-46), capabilities, LBA28 capacity (60-61),
// feature words 82-87 (LBA48, FLUSH CACHE, FLUSH CACHE EXT, volatile write cache), LBA48
// capacity (100-103), DATA SET MANAGEMENT / TRIM (69, 105, 169), the legacy CHS geometry
// words (1, 3, 6, 54-58), and aoekit's vendor-specific words 129-133 (write protection, and the
// target process's incarnation).
//
// Pure functions: no allocation, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace aoe::proto {

inline constexpr size_t kIdentifyPageSize = 512;

// Cylinder/head/sector geometry reported in IDENTIFY words 1, 3, 6 and 54-58.
struct ChsGeometry {
  uint16_t heads = 255;
  uint16_t sectors_per_track = 63;

  auto operator<=>(const ChsGeometry&) const = default;
};

// Derives the geometry from an MBR (the first 512 bytes of the disk) the way the seed driver
// (WinAoE) did: heads and sectors per track from the partition entries' CHS end fields. Returns
// 255 heads / 63 sectors when there is no usable table (no 0x55AA signature, no partition, or
// inconsistent CHS values). When entries disagree the first usable one wins. `mbr` may be
// shorter than 512 bytes; then the default is returned.
ChsGeometry GeometryFromMbr(ConstByteSpan mbr);

struct IdentifyInfo {
  uint64_t sector_count = 0;  // capacity in 512-byte sectors
  std::string_view model;     // up to 40 characters, e.g. "aoekit e0.0"
  std::string_view serial;    // up to 20 characters
  std::string_view firmware;  // up to 8 characters
  ChsGeometry geometry;
  bool write_cache_flush = true;  // advertise FLUSH CACHE / FLUSH CACHE EXT (words 83/86)
  // Writes may be acknowledged before they are durable, until a FLUSH (words 82/85 bit 5:
  // volatile write cache supported and enabled).
  bool volatile_write_cache = true;
  // DATA SET MANAGEMENT with the TRIM bit (word 169 bit 0; word 105: one 512-byte block of
  // ranges per command), and whether trimmed sectors then read as zeroes (word 69 bits 14 and
  // 5: deterministic read after TRIM, read zeroes after TRIM).
  bool trim = false;
  bool trim_reads_zeroes = false;
  // Writes and TRIM are refused (ABRT). ATA has no write-protect bit for a fixed disk, so this
  // goes in vendor-specific word 129 (kIdentifyWordAoekit); initiators that do not know it see
  // a writable disk whose writes fail, as before.
  bool write_protected = false;
  // A number that changes whenever writes acknowledged from a volatile cache and not yet
  // flushed may have been lost (the target's boot or process: target/incarnation.h); 0: none.
  // In vendor-specific words 130-133. An initiator that finds another incarnation after its
  // FLUSH than before its writes knows that this FLUSH did not cover them.
  uint64_t incarnation = 0;
};

// Word numbers and bits an initiator checks, for IdentifyFeatures and for tests.
inline constexpr size_t kIdentifyWordTrimSupport = 169;
inline constexpr size_t kIdentifyWordMaxDsmBlocks = 105;
// Word 129 (vendor specific in ATA/ATAPI-6 and ACS): bits 15:8 = 0xAE mark it as aoekit's,
// bit 0 = write protected, bit 1 = words 130-133 hold the incarnation (least significant word
// first). The signature keeps another vendor's words from reading as ours unless its high byte
// is 0xAE; then the worst case is a mount that refuses writes the target would have taken, or
// an upload that writes a segment twice.
inline constexpr size_t kIdentifyWordAoekit = 129;
inline constexpr size_t kIdentifyWordIncarnation = 130;
inline constexpr uint16_t kIdentifyAoekitSignature = 0xAE00;
inline constexpr uint16_t kIdentifyAoekitWriteProtected = 1 << 0;
inline constexpr uint16_t kIdentifyAoekitIncarnation = 1 << 1;

// The features of an IDENTIFY page that change how an initiator talks to the disk.
struct IdentifyFeatures {
  bool flush = false;                   // FLUSH CACHE (EXT) is implemented
  bool volatile_write_cache = false;    // writes need a FLUSH to be durable
  bool trim = false;                    // DATA SET MANAGEMENT / TRIM
  bool trim_reads_zeroes = false;       // a trimmed range then reads as zeroes
  uint16_t max_dsm_blocks = 0;          // 512-byte blocks of ranges per DSM command (0: one)
  bool write_protected = false;         // aoekit's word 129: writes and TRIM are refused
  std::optional<uint64_t> incarnation;  // aoekit's words 130-133 (IdentifyInfo::incarnation)
};
IdentifyFeatures ReadIdentifyFeatures(ConstByteSpan page);

// Writes the 512-byte page into `page` (which must be at least 512 bytes).
void BuildIdentifyPage(const IdentifyInfo& info, ByteSpan page);

// Reads an ATA string field (words [first_word, first_word + word_count)) back into text with
// trailing spaces removed; used by initiators and tests.
std::string ReadIdentifyString(ConstByteSpan page, size_t first_word, size_t word_count);

// Capacity as an initiator reads it: words 100-103 when word 83 bit 10 (LBA48) is set, else
// words 60-61.
uint64_t ReadIdentifyCapacity(ConstByteSpan page);

}  // namespace aoe::proto
