#include "initiator/flow.h"

#include <gtest/gtest.h>

#include <set>

#include "initiator/tags.h"

namespace aoe::initiator {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(TagTable, TagsHaveBit31AndTheSessionAndAreUniqueWhileInFlight) {
  TagTable tags(0x1234);
  std::set<uint32_t> live;
  for (uint32_t i = 0; i < 1000; ++i) {
    uint32_t tag = tags.Allocate(i).value();
    EXPECT_NE(tag & 0x8000'0000, 0u);
    EXPECT_EQ((tag >> 16) & 0x7FFF, 0x1234u);
    EXPECT_TRUE(live.insert(tag).second);
    EXPECT_EQ(tags.Find(tag), i);
  }
  EXPECT_EQ(tags.in_use(), 1000u);
}

TEST(TagTable, WrapSkipsTagsStillInFlight) {
  TagTable tags(7);
  uint32_t pinned = tags.Allocate(1).value();
  // Cycle through the whole index space; the pinned tag must never be handed out again.
  for (int i = 0; i < 70000; ++i) {
    uint32_t t = tags.Allocate(2).value();
    ASSERT_NE(t, pinned);
    tags.Release(t);
  }
  EXPECT_EQ(tags.Find(pinned), 1u);
}

TEST(TagTable, ReleasedAndForeignTagsAreNotFound) {
  TagTable tags(5);
  uint32_t t = tags.Allocate(9).value();
  tags.Release(t);
  EXPECT_FALSE(tags.Find(t));
  EXPECT_FALSE(tags.Find(t & 0x7FFF'FFFF));         // Linux aoe.ko tag space
  EXPECT_FALSE(tags.Find(0x8000'0000 | (6u << 16)));  // another session
  EXPECT_FALSE(tags.Find(0));
}

TEST(TagTable, AllocationFailsOnlyWhenAllTagsAreInFlight) {
  TagTable tags(1);
  for (uint32_t i = 0; i < 65536; ++i) ASSERT_TRUE(tags.Allocate(i));
  EXPECT_FALSE(tags.Allocate(1));
}

TEST(RttEstimator, UsesInitialRtoBeforeTheFirstSample) {
  RttEstimator rtt;
  EXPECT_EQ(rtt.Rto(), milliseconds(250));
}

TEST(RttEstimator, ConvergesToAStableRtt) {
  RttEstimator rtt;
  for (int i = 0; i < 100; ++i) rtt.AddSample(milliseconds(80));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(rtt.srtt()), milliseconds(80));
  // The variance decays, so the RTO approaches srtt (but never below the floor).
  EXPECT_LT(rtt.Rto(), milliseconds(85));
  EXPECT_GE(rtt.Rto(), milliseconds(80));
}

TEST(RttEstimator, RtoIsClampedAndBacksOffExponentially) {
  RttEstimator rtt;
  rtt.AddSample(std::chrono::microseconds(100));
  EXPECT_EQ(rtt.Rto(), milliseconds(50));  // floor
  EXPECT_EQ(rtt.Rto(1), milliseconds(100));
  EXPECT_EQ(rtt.Rto(3), milliseconds(400));
  EXPECT_EQ(rtt.Rto(20), seconds(4));      // ceiling
}

TEST(RttEstimator, RtoNeverGoesBelowFiftyMillisecondsByDefault) {
  RttEstimator rtt;
  for (int i = 0; i < 20; ++i) rtt.AddSample(std::chrono::microseconds(100));
  EXPECT_EQ(rtt.Rto(), std::chrono::milliseconds(50));
  EXPECT_EQ(rtt.Rto(1), std::chrono::milliseconds(100));
}

TEST(CongestionWindow, StartsAtHalfTheBufferCountAndAtLeastOne) {
  EXPECT_EQ(CongestionWindow(16).size(), 8u);
  EXPECT_EQ(CongestionWindow(1).size(), 1u);
  EXPECT_EQ(CongestionWindow(0).size(), 1u);  // bufcnt 0 would stall Linux; we still send
}

TEST(CongestionWindow, SlowStartThenCongestionAvoidanceUpToTheLimit) {
  CongestionWindow w(16);
  w.OnTimeout(w.NextSeq());  // ssthresh 4, window 1
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.ssthresh(), 4u);
  for (int i = 0; i < 3; ++i) w.OnReply();
  EXPECT_EQ(w.size(), 4u);  // +1 per reply below ssthresh
  for (int i = 0; i < 3; ++i) w.OnReply();
  EXPECT_EQ(w.size(), 4u);  // above: +1 per full window only
  w.OnReply();
  EXPECT_EQ(w.size(), 5u);
  for (int i = 0; i < 1000; ++i) w.OnReply();
  EXPECT_EQ(w.size(), 16u);  // never above the target's buffer count
}

TEST(CongestionWindow, TimeoutsOfOneWindowCountAsOneLossEvent) {
  CongestionWindow w(16);
  for (int i = 0; i < 20; ++i) w.OnReply();
  ASSERT_EQ(w.size(), 16u);
  uint64_t first = w.NextSeq();
  uint64_t second = w.NextSeq();
  w.OnTimeout(first);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.ssthresh(), 8u);
  w.OnTimeout(second);  // sent before the reduction: same event
  EXPECT_EQ(w.ssthresh(), 8u);
  w.OnTimeout(w.NextSeq());  // a new loss
  EXPECT_EQ(w.ssthresh(), 1u);
}

TEST(CongestionWindow, SmallerLimitShrinksTheWindow) {
  CongestionWindow w(16);
  w.SetLimit(4);
  EXPECT_EQ(w.size(), 4u);
  EXPECT_EQ(w.limit(), 4u);
}

}  // namespace
}  // namespace aoe::initiator
