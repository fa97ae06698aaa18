// The on-disk format of one client's overlay (docs/overlays.md, "Format"): a sparse data file
// and an allocation map, both in the overlay directory, named after the initiator's MAC
// ("52-54-00-a0-e0-01.data", "52-54-00-a0-e0-01.map").
//
// Data file: as large as the export; block B of the export lives at byte B * kBlockBytes
// (identity mapping), so the file is sparse and a block the client never wrote is a hole.
//
// Map file: a header page, then one bit per block (1: the block's data is in the data file).
//
//   offset  size  field (little-endian)
//        0     8  magic "AOEOVLY1"
//        8     4  format version (1)
//       12     4  block size in bytes (4096)
//       16     8  export size in bytes
//       24     8  base version the overlay was made against (docs/overlays.md, "Versions")
//       32     8  creation time, seconds since the epoch
//       40     6  the initiator's MAC
//       46     2  zero
//       48     4  CRC-32 (zlib) of bytes 0-47
//       52  4044  zero (the header fills the first page; only the first 512-byte sector is used,
//                 so a header write is never torn by a power cut)
//     4096     -  the bitmap: bit (B % 8) of byte 4096 + B / 8 is block B. Written in whole
//                 4096-byte pages, each covering kBlocksPerMapPage blocks (128 MiB of export);
//                 a page never written is a hole, which reads as zeroes: no block mapped.
//
// Crash consistency: a bit is written only after the data it describes is durable (fdatasync of
// the data file), and a cleared bit (TRIM) is durable before the hole is punched. A map page
// torn by a power cut holds, bit by bit, either the old or the new value, and both are safe
// under those two rules.
//
// Pure encode/decode functions and constants; no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "base/result.h"

namespace aoe::overlay {

inline constexpr uint32_t kBlockBytes = 4096;
inline constexpr uint32_t kMapPageBytes = 4096;
inline constexpr uint64_t kMapHeaderBytes = kMapPageBytes;
inline constexpr uint64_t kBlocksPerMapPage = uint64_t{kMapPageBytes} * 8;
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderFieldBytes = 52;  // magic through CRC

struct MapHeader {
  uint64_t size_bytes = 0;
  uint64_t base_version = 0;
  int64_t created_unix = 0;
  MacAddress initiator;
  uint32_t block_bytes = kBlockBytes;

  bool operator==(const MapHeader&) const = default;
};

// Writes the header into `page` (at least kHeaderFieldBytes; the caller zeroes the rest).
void EncodeMapHeader(const MapHeader& header, ByteSpan page);

enum class HeaderProblem {
  kNone,
  kNeverWritten,  // all zeroes: the overlay was created but never flushed
  kBadMagic,
  kBadVersion,
  kBadChecksum,
  kBadBlockSize,
};
std::string_view HeaderProblemText(HeaderProblem problem);

// Decodes the first kHeaderFieldBytes of a map file.
struct DecodedHeader {
  MapHeader header;
  HeaderProblem problem = HeaderProblem::kNone;
};
DecodedHeader DecodeMapHeader(ConstByteSpan page);

// Blocks of an export of `size_bytes` (the last one may be short).
inline uint64_t BlockCount(uint64_t size_bytes) {
  return (size_bytes + kBlockBytes - 1) / kBlockBytes;
}
// Bytes of bitmap pages for `blocks` blocks, a whole number of pages.
inline uint64_t BitmapBytes(uint64_t blocks) {
  return (blocks + kBlocksPerMapPage - 1) / kBlocksPerMapPage * kMapPageBytes;
}
// The map file's size for an export of `size_bytes`.
inline uint64_t MapFileBytes(uint64_t size_bytes) {
  return kMapHeaderBytes + BitmapBytes(BlockCount(size_bytes));
}

// File names: "52-54-00-a0-e0-01" (no colons, as the netboot scripts' names); ParseClientName
// is its inverse.
std::string ClientName(const MacAddress& mac);
std::optional<MacAddress> ParseClientName(std::string_view name);

// The names in an overlay directory, sorted ("." and ".." left out), or why it cannot be read.
Result<std::vector<std::string>> ReadDirectoryEntries(const std::string& dir);
// The same, empty when it cannot be read (the callers then find no overlays, and say so).
std::vector<std::string> SortedDirectoryEntries(const std::string& dir);

}  // namespace aoe::overlay
