#include "bench/pattern.h"

#include <gtest/gtest.h>

#include <vector>

namespace aoe::bench {
namespace {

uint64_t Le64At(const std::vector<std::byte>& b, size_t off) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[off + i]);
  return v;
}

TEST(Pattern, EverySectorStartsWithItsLbaAndTheSeed) {
  std::vector<std::byte> data(4 * kSectorBytes);
  FillPattern(77, 1000, data);
  for (uint64_t s = 0; s < 4; ++s) {
    EXPECT_EQ(Le64At(data, s * kSectorBytes), 1000 + s);
    EXPECT_EQ(Le64At(data, s * kSectorBytes + 8), 77u);
  }
}

TEST(Pattern, SectorsDifferBySeedAndByLba) {
  std::vector<std::byte> a(kSectorBytes), b(kSectorBytes), c(kSectorBytes);
  FillPattern(1, 5, a);
  FillPattern(2, 5, b);
  FillPattern(1, 6, c);
  // Beyond the 16-byte label too: the body must not repeat across sectors or seeds.
  EXPECT_NE(std::vector<std::byte>(a.begin() + 16, a.end()),
            std::vector<std::byte>(b.begin() + 16, b.end()));
  EXPECT_NE(std::vector<std::byte>(a.begin() + 16, a.end()),
            std::vector<std::byte>(c.begin() + 16, c.end()));
}

TEST(Pattern, MatchingDataHasNoMismatches) {
  std::vector<std::byte> data(8 * kSectorBytes);
  FillPattern(3, 42, data);
  EXPECT_EQ(CountPatternMismatches(3, 42, data), 0u);
}

TEST(Pattern, OneFlippedByteIsOneBadSector) {
  std::vector<std::byte> data(8 * kSectorBytes);
  FillPattern(3, 42, data);
  data[3 * kSectorBytes + 300] ^= std::byte{0x01};
  EXPECT_EQ(CountPatternMismatches(3, 42, data), 1u);
}

TEST(Pattern, DataFromTheWrongLbaOrSeedIsCaught) {
  std::vector<std::byte> data(2 * kSectorBytes);
  FillPattern(3, 43, data);
  EXPECT_EQ(CountPatternMismatches(3, 42, data), 2u);
  EXPECT_EQ(CountPatternMismatches(4, 43, data), 2u);
}

}  // namespace
}  // namespace aoe::bench
