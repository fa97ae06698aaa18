#include "bench/pattern.h"

#include <cassert>
#include <cstring>

namespace aoe::bench {

namespace {

constexpr size_t kWordsPerSector = kSectorBytes / 8;

uint64_t PatternWord(uint64_t seed, uint64_t lba, size_t word) {
  if (word == 0) return lba;
  if (word == 1) return seed;
  return SplitMix64(seed ^ SplitMix64(lba * kWordsPerSector + word));
}

void StoreLe64(std::byte* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = std::byte{static_cast<uint8_t>(v >> (8 * i))};
}

}  // namespace

void FillPattern(uint64_t seed, uint64_t lba, ByteSpan out) {
  assert(out.size() % kSectorBytes == 0);
  for (size_t s = 0; s < out.size() / kSectorBytes; ++s) {
    std::byte* sector = out.data() + s * kSectorBytes;
    for (size_t w = 0; w < kWordsPerSector; ++w)
      StoreLe64(sector + 8 * w, PatternWord(seed, lba + s, w));
  }
}

uint64_t CountPatternMismatches(uint64_t seed, uint64_t lba, ConstByteSpan data) {
  assert(data.size() % kSectorBytes == 0);
  std::byte expected[kSectorBytes];
  uint64_t bad = 0;
  for (size_t s = 0; s < data.size() / kSectorBytes; ++s) {
    FillPattern(seed, lba + s, ByteSpan(expected));
    if (std::memcmp(expected, data.data() + s * kSectorBytes, kSectorBytes) != 0) ++bad;
  }
  return bad;
}

}  // namespace aoe::bench
