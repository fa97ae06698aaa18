#include "initiator/unsettled_writes.h"

#include <gtest/gtest.h>

#include <vector>

namespace aoe::initiator {
namespace {

using std::chrono::seconds;

const TimePoint kNow{seconds(100)};

TEST(UnsettledWritesTest, AnOverlappingWriteIsHeldBackUntilTheCopyIsSettled) {
  UnsettledWrites copies(4);
  std::optional<uint32_t> index = copies.Add(10, 2, 0x8001'0001, kNow + seconds(2));
  ASSERT_TRUE(index.has_value());
  EXPECT_TRUE(copies.HoldsBack(11, 1, kNow));
  EXPECT_TRUE(copies.HoldsBack(0, 11, kNow));        // ends inside
  EXPECT_TRUE(copies.HoldsBack(5, 100, kNow));       // covers it
  EXPECT_FALSE(copies.HoldsBack(12, 4, kNow));       // right after it
  EXPECT_FALSE(copies.HoldsBack(0, 10, kNow));       // right before it
  EXPECT_FALSE(copies.Settle(*index, 0x8001'0002));  // not its tag
  EXPECT_TRUE(copies.Settle(*index, 0x8001'0001));
  EXPECT_FALSE(copies.HoldsBack(10, 2, kNow));
  EXPECT_EQ(copies.size(), 0u);
  EXPECT_FALSE(copies.Settle(*index, 0x8001'0001));  // a duplicate reply
}

TEST(UnsettledWritesTest, ACopyPastItsLifetimeHoldsNothingAndExpiresWithItsTag) {
  UnsettledWrites copies;
  ASSERT_TRUE(copies.Add(0, 8, 7, kNow + seconds(2)));
  ASSERT_TRUE(copies.Add(100, 8, 8, kNow + seconds(3)));
  EXPECT_EQ(copies.NextExpiry(), kNow + seconds(2));
  EXPECT_FALSE(copies.HoldsBack(0, 8, kNow + seconds(2)));
  std::vector<uint32_t> released;
  copies.Expire(kNow + seconds(2), [&](uint32_t tag) { released.push_back(tag); });
  EXPECT_EQ(released, std::vector<uint32_t>{7});
  EXPECT_EQ(copies.NextExpiry(), kNow + seconds(3));
  EXPECT_TRUE(copies.HoldsBack(104, 1, kNow + seconds(2)));
  EXPECT_EQ(copies.size(), 1u);
}

TEST(UnsettledWritesTest, OverlapsAreFoundAcrossBlockBoundariesAndFarApart) {
  UnsettledWrites copies;
  ASSERT_TRUE(copies.Add(250, 10, 1, kNow + seconds(1)));  // sectors 250-259
  ASSERT_TRUE(copies.Add(1'000'000'000, 255, 2, kNow + seconds(1)));
  EXPECT_TRUE(copies.HoldsBack(256, 1, kNow));  // the copy starts in the block before
  EXPECT_TRUE(copies.HoldsBack(259, 300, kNow));
  EXPECT_FALSE(copies.HoldsBack(260, 300, kNow));
  EXPECT_TRUE(copies.HoldsBack(1'000'000'254, 1, kNow));
  EXPECT_FALSE(copies.HoldsBack(1'000'000'255, 1, kNow));
  EXPECT_TRUE(copies.HoldsBack(0, 2'000'000'000, kNow));  // one write over both
  // Same bucket (1024 blocks of 256 sectors apart), no overlap.
  EXPECT_FALSE(copies.HoldsBack(250 + 1024 * 256, 10, kNow));
}

TEST(UnsettledWritesTest, ACopyNeverExpiresBeforeOneAddedEarlier) {
  // Lifetimes are kept in insertion order by lengthening, never shortening, a copy's life.
  UnsettledWrites copies;
  ASSERT_TRUE(copies.Add(0, 1, 1, kNow + seconds(5)));
  ASSERT_TRUE(copies.Add(10, 1, 2, kNow + seconds(2)));
  std::vector<uint32_t> released;
  copies.Expire(kNow + seconds(4), [&](uint32_t tag) { released.push_back(tag); });
  EXPECT_TRUE(released.empty());
  EXPECT_TRUE(copies.HoldsBack(10, 1, kNow + seconds(4)));
  copies.Expire(kNow + seconds(5), [&](uint32_t tag) { released.push_back(tag); });
  EXPECT_EQ(released, (std::vector<uint32_t>{1, 2}));
}

TEST(UnsettledWritesTest, IndexesAreReusedAndStayValidWhileLive) {
  UnsettledWrites copies;
  uint32_t a = *copies.Add(0, 1, 1, kNow + seconds(1));
  uint32_t b = *copies.Add(1, 1, 2, kNow + seconds(1));
  EXPECT_NE(a, b);
  ASSERT_TRUE(copies.Settle(a, 1));
  uint32_t c = *copies.Add(2, 1, 3, kNow + seconds(1));
  EXPECT_EQ(c, a);
  EXPECT_TRUE(copies.Settle(b, 2));
  EXPECT_TRUE(copies.Settle(c, 3));
}

TEST(UnsettledWritesTest, WhenTheTableIsFullEveryWriteWaitsForTheUntrackedCopies) {
  UnsettledWrites copies;
  for (uint32_t i = 0; i < UnsettledWrites::kMaxCopies; ++i) {
    ASSERT_TRUE(copies.Add(1000 + i, 1, i, kNow + seconds(1)));
  }
  EXPECT_FALSE(copies.Add(0, 1, 99, kNow + seconds(5)).has_value());
  EXPECT_TRUE(copies.HoldsBack(50, 1, kNow));  // overlaps no tracked copy, still waits
  copies.Expire(kNow + seconds(1), [](uint32_t) {});
  EXPECT_EQ(copies.size(), 0u);
  EXPECT_TRUE(copies.HoldsBack(50, 1, kNow + seconds(1)));
  EXPECT_EQ(copies.NextExpiry(), kNow + seconds(5));
  copies.Expire(kNow + seconds(5), [](uint32_t) {});
  EXPECT_FALSE(copies.HoldsBack(50, 1, kNow + seconds(5)));
  EXPECT_FALSE(copies.NextExpiry().has_value());
}

}  // namespace
}  // namespace aoe::initiator
