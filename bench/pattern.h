// The data pattern the benchmark tools write and check: every 512-byte sector says where it
// belongs, so a read that returns the wrong sector, a torn write or a write that landed at the
// wrong LBA is caught, not only a flipped bit.
//
// Sector layout (little-endian 64-bit words):
//   bytes 0..7    the sector's LBA (absolute, on the exported disk)
//   bytes 8..15   the seed
//   bytes 16..511 splitmix64(seed, lba, word index): 62 words that differ for every sector
// A shell script can check the first 16 bytes of any sector with `od` alone (bench/tools_test.sh
// does), independently of this code.
//
// Pure functions, no allocation.
#pragma once

#include <cstdint>

#include "base/bytes.h"

namespace aoe::bench {

inline constexpr size_t kSectorBytes = 512;

// Writes the pattern of sectors lba, lba+1, ... into `out` (a whole number of sectors).
void FillPattern(uint64_t seed, uint64_t lba, ByteSpan out);

// The number of sectors in `data` (a whole number of sectors, starting at `lba`) that differ
// from the pattern.
uint64_t CountPatternMismatches(uint64_t seed, uint64_t lba, ConstByteSpan data);

// splitmix64, the mixing step of the pattern; also the load client's random number source.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace aoe::bench
