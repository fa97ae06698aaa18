#include "proto/identify.h"

#include <algorithm>
#include <cassert>
#include <optional>

namespace aoe::proto {
namespace {

// IDENTIFY DEVICE word numbers (ATA/ATAPI-6 §8.15). Word n is bytes 2n (low) and 2n+1 (high).
constexpr size_t kWordGeneralConfig = 0;
constexpr size_t kWordCylinders = 1;
constexpr size_t kWordHeads = 3;
constexpr size_t kWordSectorsPerTrack = 6;
constexpr size_t kWordSerial = 10;  // 10 words, 20 characters
constexpr size_t kSerialWords = 10;
constexpr size_t kWordFirmware = 23;  // 4 words, 8 characters
constexpr size_t kFirmwareWords = 4;
constexpr size_t kWordModel = 27;  // 20 words, 40 characters
constexpr size_t kModelWords = 20;
constexpr size_t kWordMaxMultiple = 47;
constexpr size_t kWordAdditionalSupported = 69;
constexpr size_t kWordCapabilities = 49;
constexpr size_t kWordCapabilities2 = 50;
constexpr size_t kWordFieldValidity = 53;
constexpr size_t kWordCurrentCylinders = 54;
constexpr size_t kWordCurrentHeads = 55;
constexpr size_t kWordCurrentSectorsPerTrack = 56;
constexpr size_t kWordCurrentCapacity = 57;  // LE32 over words 57-58
constexpr size_t kWordLba28Capacity = 60;    // LE32 over words 60-61
constexpr size_t kWordMajorVersion = 80;
constexpr size_t kWordCommandSetSupported1 = 82;
constexpr size_t kWordCommandSetSupported2 = 83;
constexpr size_t kWordCommandSetExtension = 84;
constexpr size_t kWordCommandSetEnabled1 = 85;
constexpr size_t kWordCommandSetEnabled2 = 86;
constexpr size_t kWordCommandSetDefault = 87;
constexpr size_t kWordHardwareReset = 93;
constexpr size_t kWordLba48Capacity = 100;  // LE64 over words 100-103, 48 bits used
constexpr size_t kWordMaxDsmBlocks = kIdentifyWordMaxDsmBlocks;
constexpr size_t kWordDsm = kIdentifyWordTrimSupport;
constexpr size_t kWordIntegrity = 255;

// Words 83, 84 and 87 carry "bits 15:14 = 01" to mark words 82-87 as valid; Plan 9 checks it
// before trusting bit 10.
constexpr uint16_t kWordValid = 0x4000;
constexpr uint16_t kLba48 = 1 << 10;
constexpr uint16_t kFlushCache = 1 << 12;
constexpr uint16_t kFlushCacheExt = 1 << 13;
constexpr uint16_t kVolatileWriteCache = 1 << 5;           // words 82 and 85
constexpr uint16_t kDsmTrim = 1 << 0;                      // word 169
constexpr uint16_t kDeterministicReadAfterTrim = 1 << 14;  // word 69
constexpr uint16_t kReadZeroesAfterTrim = 1 << 5;          // word 69

// ATA/ATAPI-4, -5 and -6 (bits 4-6). The page has exactly the ATA-6 layout: LBA48, FLUSH CACHE
// EXT, words 82-87, 93 and 100-103. Claiming ATA-7 or ATA8-ACS would promise words we leave zero
// (106, 117-120, ...); bits 1-3 (ATA-1 to -3) are obsolete in ATA-6 itself.
constexpr uint16_t kMajorVersionAta4To6 = 0x0070;

constexpr uint32_t kLba28MaxSectors = 0x0FFF'FFFF;
constexpr uint64_t kLba48MaxSectors = 0xFFFF'FFFF'FFFF;
constexpr uint32_t kMaxIdentifyCylinders = 16383;  // ATA caps word 1 here for large disks
constexpr uint8_t kIntegritySignature = 0xA5;

uint16_t Word(ConstByteSpan page, size_t word) { return LoadLe16(page, 2 * word); }
void SetWord(ByteSpan page, size_t word, uint16_t value) { StoreLe16(page, 2 * word, value); }

bool IsSane(const ChsGeometry& g) {
  return g.heads >= 1 && g.heads <= 255 && g.sectors_per_track >= 1 && g.sectors_per_track <= 63;
}

// ATA strings put the first character of each pair in the high byte of the word, which is the
// second byte in memory, so character i lives at byte 2*first_word + (i ^ 1). ATA allows only
// printable ASCII; anything else becomes '?' so no initiator sees a NUL or control byte in the
// middle of a model name it copies into a C string.
void StoreAtaString(ByteSpan page, size_t first_word, size_t word_count, std::string_view text) {
  for (size_t i = 0; i < 2 * word_count; ++i) {
    char c = i < text.size() ? text[i] : ' ';
    if (c < 0x20 || c > 0x7E) c = '?';
    StoreU8(page, 2 * first_word + (i ^ 1), static_cast<uint8_t>(c));
  }
}

// MBR layout (the first sector of a PC-partitioned disk):
//   446 + 16*i  partition entry i, i = 0..3:
//     +0   status: 0x00, or 0x80 for the boot partition
//     +1   CHS start (3 bytes, same encoding as the end)
//     +4   partition type, 0 = unused
//     +5   end head
//     +6   end sector in bits 0-5, end cylinder bits 8-9 in bits 6-7
//     +7   end cylinder bits 0-7
//     +8   LBA start (LE32)
//     +12  sector count (LE32)
//   510  signature 0x55 0xAA
constexpr size_t kMbrSize = 512;
constexpr size_t kMbrPartitionTable = 446;
constexpr size_t kMbrEntrySize = 16;
constexpr size_t kMbrEntryCount = 4;
constexpr size_t kMbrSignature = 510;
// A CHS cylinder field can hold at most 1023. Partitioning tools store 1023 (often as the bytes
// FE FF FF = 1023/254/63) for addresses beyond that, keeping the head and sector maxima of the
// geometry they used.
constexpr uint32_t kMaxChsCylinder = 1023;

// Infers the geometry a tool used to write one partition entry, on the DOS convention that
// partitions end on a cylinder boundary: the end head is the last head and the end sector the last
// sector of a track. Linux's scsi_partsize() validates the guess the same way, by checking that
// the CHS end and the LBA end name the same sector. That check is what rejects both modern tables
// (1 MiB aligned, ending mid-cylinder) and boot code that merely looks like a table. When the end
// cylinder is saturated the check cannot be made, and the head/sector maxima are taken as they are.
std::optional<ChsGeometry> GeometryFromEntry(ConstByteSpan entry) {
  const uint8_t type = LoadU8(entry, 4);
  const uint32_t lba_start = LoadLe32(entry, 8);
  const uint32_t sector_count = LoadLe32(entry, 12);
  if (type == 0 || sector_count == 0) return std::nullopt;

  const uint32_t end_head = LoadU8(entry, 5);
  const uint32_t end_sector = LoadU8(entry, 6) & 0x3Fu;
  const uint32_t end_cylinder = ((LoadU8(entry, 6) & 0xC0u) << 2) | LoadU8(entry, 7);
  const ChsGeometry geometry{.heads = static_cast<uint16_t>(end_head + 1),
                             .sectors_per_track = static_cast<uint16_t>(end_sector)};
  if (!IsSane(geometry)) return std::nullopt;

  if (end_cylinder < kMaxChsCylinder) {
    const uint64_t chs_end =
        (uint64_t{end_cylinder} * geometry.heads + end_head) * geometry.sectors_per_track +
        end_sector - 1;
    const uint64_t lba_end = uint64_t{lba_start} + sector_count - 1;
    if (chs_end != lba_end) return std::nullopt;
  }
  return geometry;
}

}  // namespace

ChsGeometry GeometryFromMbr(ConstByteSpan mbr) {
  if (mbr.size() < kMbrSize) return {};
  if (LoadU8(mbr, kMbrSignature) != 0x55 || LoadU8(mbr, kMbrSignature + 1) != 0xAA) return {};

  // A status byte other than 0x00/0x80 means the sector is not a partition table (a volume boot
  // record or boot code also ends in 55 AA); Linux's msdos partition parser rejects it the same
  // way.
  for (size_t i = 0; i < kMbrEntryCount; ++i) {
    const uint8_t status = LoadU8(mbr, kMbrPartitionTable + i * kMbrEntrySize);
    if (status != 0x00 && status != 0x80) return {};
  }
  // Entries written by one tool agree; if they do not, the first usable one wins, because it is
  // the partition a BIOS-era loader was most likely set up to boot from.
  for (size_t i = 0; i < kMbrEntryCount; ++i) {
    const auto entry = mbr.subspan(kMbrPartitionTable + i * kMbrEntrySize, kMbrEntrySize);
    if (auto geometry = GeometryFromEntry(entry)) return *geometry;
  }
  return {};
}

void BuildIdentifyPage(const IdentifyInfo& info, ByteSpan page) {
  assert(page.size() >= kIdentifyPageSize);
  page = page.first(kIdentifyPageSize);
  std::fill(page.begin(), page.end(), std::byte{0});

  // Word 0 bit 15 = 0: an ATA device (not ATAPI); nothing else in it applies to us.
  SetWord(page, kWordGeneralConfig, 0);

  StoreAtaString(page, kWordSerial, kSerialWords, info.serial);
  StoreAtaString(page, kWordFirmware, kFirmwareWords, info.firmware);
  StoreAtaString(page, kWordModel, kModelWords, info.model);

  // Legacy CHS. No examined initiator relies on it (Linux reads 54-56 only without LBA48, which we
  // always advertise), but DOS-era software does, so report the geometry the disk's partition
  // table was written with. A caller-supplied geometry outside the CHS limits cannot be encoded.
  const ChsGeometry geometry = IsSane(info.geometry) ? info.geometry : ChsGeometry{};
  const uint32_t sectors_per_cylinder = uint32_t{geometry.heads} * geometry.sectors_per_track;
  const auto cylinders = static_cast<uint16_t>(
      std::min<uint64_t>(info.sector_count / sectors_per_cylinder, kMaxIdentifyCylinders));
  SetWord(page, kWordCylinders, cylinders);
  SetWord(page, kWordHeads, geometry.heads);
  SetWord(page, kWordSectorsPerTrack, geometry.sectors_per_track);
  SetWord(page, kWordCurrentCylinders, cylinders);
  SetWord(page, kWordCurrentHeads, geometry.heads);
  SetWord(page, kWordCurrentSectorsPerTrack, geometry.sectors_per_track);
  // At most 16383 * 255 * 63 = 263,197,935, which fits in 32 bits.
  StoreLe32(page, 2 * kWordCurrentCapacity, cylinders * sectors_per_cylinder);

  // Bits 15:8 must read 0x80; 0 in bits 7:0 says READ/WRITE MULTIPLE is not supported (as vblade).
  SetWord(page, kWordMaxMultiple, 0x8000);
  // Bit 9: LBA. DMA (bit 8) means nothing over AoE.
  SetWord(page, kWordCapabilities, 1 << 9);
  SetWord(page, kWordCapabilities2, kWordValid);
  // Bit 0: words 54-58 are valid; libata's ata_id_current_chs_valid() requires it.
  SetWord(page, kWordFieldValidity, 0x0001);

  StoreLe32(page, 2 * kWordLba28Capacity,
            static_cast<uint32_t>(std::min<uint64_t>(info.sector_count, kLba28MaxSectors)));

  SetWord(page, kWordMajorVersion, kMajorVersionAta4To6);

  // Word 82: only the volatile write cache bit, when writes can be acknowledged before they are
  // durable; no SMART (aoeping would then send SMART commands we abort), no NOP. Word 85, its
  // "enabled" twin, follows: the cache is on whenever it exists (SET FEATURES cannot turn it
  // off; the export's durability setting does).
  const uint16_t flush_bits = info.write_cache_flush ? (kFlushCache | kFlushCacheExt) : 0;
  const uint16_t cache_bits = info.volatile_write_cache ? kVolatileWriteCache : 0;
  SetWord(page, kWordCommandSetSupported1, cache_bits);
  SetWord(page, kWordCommandSetSupported2, kWordValid | kLba48 | flush_bits);
  SetWord(page, kWordCommandSetExtension, kWordValid);
  SetWord(page, kWordCommandSetEnabled1, cache_bits);
  // Bits 15:14 of word 86 are not a validity marker (bit 15 means words 119-120 are valid in
  // ATA8-ACS), so only the feature bits are mirrored.
  SetWord(page, kWordCommandSetEnabled2, kLba48 | flush_bits);
  SetWord(page, kWordCommandSetDefault, kWordValid);

  // Device 0, diagnostics passed, jumper-selected; the value vblade sends.
  SetWord(page, kWordHardwareReset, 0x400B);

  // Word 103 must stay zero: the LBA48 capacity field is 48 bits wide.
  const uint64_t lba48_sectors = std::min(info.sector_count, kLba48MaxSectors);
  StoreLe32(page, 2 * kWordLba48Capacity, static_cast<uint32_t>(lba48_sectors));
  StoreLe32(page, 2 * kWordLba48Capacity + 4, static_cast<uint32_t>(lba48_sectors >> 32));

  // TRIM: one 512-byte block of range entries (64 ranges of up to 65535 sectors) per command.
  if (info.trim) {
    SetWord(page, kWordDsm, kDsmTrim);
    SetWord(page, kWordMaxDsmBlocks, 1);
    if (info.trim_reads_zeroes) {
      SetWord(page, kWordAdditionalSupported, kDeterministicReadAfterTrim | kReadZeroesAfterTrim);
    }
  }

  const uint16_t aoekit = (info.write_protected ? kIdentifyAoekitWriteProtected : 0) |
                          (info.incarnation != 0 ? kIdentifyAoekitIncarnation : 0);
  if (aoekit != 0) SetWord(page, kIdentifyWordAoekit, kIdentifyAoekitSignature | aoekit);
  for (size_t i = 0; i < 4; ++i) {
    SetWord(page, kIdentifyWordIncarnation + i,
            static_cast<uint16_t>(info.incarnation >> (16 * i)));
  }

  // Word 106 (sector size) stays 0, "not reported", which means 512-byte logical and physical
  // sectors; it is an ATA-7 word and AoE sectors are always 512 bytes.

  // Integrity word: signature 0xA5 in the low byte, and a high byte that makes all 512 bytes sum
  // to zero mod 256. Optional, but strict initiators (libata) reject a page with a bad one.
  uint8_t sum = kIntegritySignature;
  for (size_t i = 0; i < 2 * kWordIntegrity; ++i) sum = static_cast<uint8_t>(sum + LoadU8(page, i));
  StoreU8(page, 2 * kWordIntegrity, kIntegritySignature);
  StoreU8(page, 2 * kWordIntegrity + 1, static_cast<uint8_t>(-sum));
}

std::string ReadIdentifyString(ConstByteSpan page, size_t first_word, size_t word_count) {
  const size_t page_words = page.size() / 2;
  if (first_word >= page_words) return {};
  word_count = std::min(word_count, page_words - first_word);

  std::string text;
  text.reserve(2 * word_count);
  for (size_t w = first_word; w < first_word + word_count; ++w) {
    const uint16_t word = Word(page, w);
    text.push_back(static_cast<char>(word >> 8));
    text.push_back(static_cast<char>(word & 0xFF));
  }
  // Spaces are the ATA padding; some devices pad with NULs instead.
  const size_t end = text.find_last_not_of(std::string_view(" \0", 2));
  text.resize(end == std::string::npos ? 0 : end + 1);
  return text;
}

IdentifyFeatures ReadIdentifyFeatures(ConstByteSpan page) {
  IdentifyFeatures f;
  if (page.size() < kIdentifyPageSize) return f;
  const uint16_t supported2 = Word(page, kWordCommandSetSupported2);
  // Words 82-84 mean something only with bits 15:14 of word 83 reading 01.
  if ((supported2 & 0xC000) == kWordValid) {
    f.flush = (supported2 & (kFlushCache | kFlushCacheExt)) != 0;
    f.volatile_write_cache = (Word(page, kWordCommandSetEnabled1) & kVolatileWriteCache) != 0;
  }
  f.trim = (Word(page, kWordDsm) & kDsmTrim) != 0;
  f.trim_reads_zeroes = f.trim && (Word(page, kWordAdditionalSupported) &
                                   (kDeterministicReadAfterTrim | kReadZeroesAfterTrim)) ==
                                      (kDeterministicReadAfterTrim | kReadZeroesAfterTrim);
  f.max_dsm_blocks = Word(page, kWordMaxDsmBlocks);
  const uint16_t aoekit = Word(page, kIdentifyWordAoekit);
  if ((aoekit & 0xFF00) == kIdentifyAoekitSignature) {
    f.write_protected = (aoekit & kIdentifyAoekitWriteProtected) != 0;
    if ((aoekit & kIdentifyAoekitIncarnation) != 0) {
      uint64_t incarnation = 0;
      for (size_t i = 0; i < 4; ++i) {
        incarnation |= uint64_t{Word(page, kIdentifyWordIncarnation + i)} << (16 * i);
      }
      f.incarnation = incarnation;
    }
  }
  return f;
}

uint64_t ReadIdentifyCapacity(ConstByteSpan page) {
  if (page.size() < kIdentifyPageSize) return 0;
  // iPXE decides on word 83 bit 10 alone, so this does too.
  if (Word(page, kWordCommandSetSupported2) & kLba48) {
    uint64_t sectors = LoadLe32(page, 2 * kWordLba48Capacity) |
                       (uint64_t{LoadLe32(page, 2 * kWordLba48Capacity + 4)} << 32);
    // Words 100-103 hold 64 bits, but no LBA48 command can address past 2^48: a page that
    // claims more (a hostile or broken target) must not make an initiator believe it.
    return std::min(sectors, uint64_t{1} << 48);
  }
  return LoadLe32(page, 2 * kWordLba28Capacity);
}

}  // namespace aoe::proto
