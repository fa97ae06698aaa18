#include "bench/command_window.h"

#include <gtest/gtest.h>

#include <set>

namespace aoe::bench {
namespace {

using std::chrono::milliseconds;

TEST(CommandWindow, HoldsExactlyItsSizeAndGivesEachCommandItsOwnTag) {
  FakeClock clock;
  CommandWindow w(4, milliseconds(100));
  std::set<uint32_t> tags;
  for (int i = 0; i < 4; ++i) {
    size_t slot = w.Start(100 + i, 8, clock.Now());
    tags.insert(w.slot(slot).tag);
    EXPECT_EQ(w.Match(w.slot(slot).tag), slot);
  }
  EXPECT_TRUE(w.full());
  EXPECT_EQ(w.busy(), 4u);
  EXPECT_EQ(tags.size(), 4u);
  for (uint32_t tag : tags) EXPECT_EQ(tag & 0x80000000u, 0u);
}

TEST(CommandWindow, AFinishedSlotIsReusedWithANewTag) {
  FakeClock clock;
  CommandWindow w(1, milliseconds(100));
  size_t slot = w.Start(0, 1, clock.Now());
  uint32_t first = w.slot(slot).tag;
  w.Finish(slot);
  EXPECT_FALSE(w.Match(first));  // a duplicate reply to a finished command is stale
  slot = w.Start(1, 1, clock.Now());
  EXPECT_NE(w.slot(slot).tag, first);
  EXPECT_EQ(w.Match(w.slot(slot).tag), slot);
}

TEST(CommandWindow, NothingExpiresBeforeTheRto) {
  FakeClock clock;
  CommandWindow w(2, milliseconds(100));
  w.Start(0, 1, clock.Now());
  clock.Advance(milliseconds(99));
  int expired = 0;
  w.ForEachExpired(clock.Now(), [&](size_t) { ++expired; });
  EXPECT_EQ(expired, 0);
  EXPECT_EQ(w.NextDeadline(), clock.Now() + milliseconds(1));
}

TEST(CommandWindow, AResendSupersedesTheOldTagAndRestartsTheRto) {
  FakeClock clock;
  CommandWindow w(2, milliseconds(100));
  TimePoint start = clock.Now();
  size_t slot = w.Start(7, 1, start);
  uint32_t old_tag = w.slot(slot).tag;
  clock.Advance(milliseconds(100));
  std::vector<size_t> expired;
  w.ForEachExpired(clock.Now(), [&](size_t s) { expired.push_back(s); });
  ASSERT_EQ(expired, std::vector<size_t>{slot});
  w.Resend(slot, clock.Now());
  EXPECT_FALSE(w.Match(old_tag));
  EXPECT_EQ(w.Match(w.slot(slot).tag), slot);
  EXPECT_EQ(w.slot(slot).sends, 2u);
  EXPECT_EQ(w.slot(slot).first_sent, start);  // latency still counts from the first send
  EXPECT_EQ(w.NextDeadline(), clock.Now() + milliseconds(100));
}

TEST(CommandWindow, ForeignTagsDoNotMatch) {
  FakeClock clock;
  CommandWindow w(2, milliseconds(100));
  w.Start(0, 1, clock.Now());
  EXPECT_FALSE(w.Match(0));
  EXPECT_FALSE(w.Match(0xFFFFFFFF));
  EXPECT_FALSE(w.Match(5));  // slot 5 does not exist
  EXPECT_FALSE(w.NextDeadline() == std::nullopt);
}

TEST(CommandWindow, AnEmptyWindowHasNoDeadline) {
  CommandWindow w(3, milliseconds(100));
  EXPECT_EQ(w.NextDeadline(), std::nullopt);
}

}  // namespace
}  // namespace aoe::bench
