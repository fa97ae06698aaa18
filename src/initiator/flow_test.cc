#include "initiator/flow.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>
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
  EXPECT_FALSE(tags.Find(t & 0x7FFF'FFFF));           // Linux aoe.ko tag space
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
  EXPECT_LT(rtt.rttvar(), milliseconds(1));  // the variance decays
}

TEST(RttEstimator, RtoIsClampedAndBacksOffExponentially) {
  RttEstimator rtt;
  rtt.AddSample(std::chrono::microseconds(100));
  EXPECT_EQ(rtt.Rto(), milliseconds(5));  // floor
  EXPECT_EQ(rtt.Rto(1), milliseconds(10));
  EXPECT_EQ(rtt.Rto(3), milliseconds(40));
  EXPECT_EQ(rtt.Rto(20), seconds(4));  // ceiling
}

TEST(RttEstimator, RtoFollowsAFastLinkDownToTheAbsoluteFloor) {
  // A veth answers in 0.1-1 ms: the RTO must be a few ms, not the old fixed 50 ms.
  RttEstimator rtt;
  for (int i = 0; i < 50; ++i) rtt.AddSample(std::chrono::microseconds(300 + (i % 5) * 100));
  EXPECT_EQ(rtt.Rto(), milliseconds(5));
  FlowOptions lower;
  lower.min_rto = milliseconds(1);
  RttEstimator fine(lower);
  for (int i = 0; i < 50; ++i) fine.AddSample(std::chrono::microseconds(300 + (i % 5) * 100));
  EXPECT_GT(fine.Rto(), milliseconds(1));
  EXPECT_LT(fine.Rto(), milliseconds(2));
}

TEST(RttEstimator, RtoIsAtLeastTwiceTheSmoothedRttOfASteadySlowDisk) {
  // Every command takes 20 ms: the variance decays to nothing, but a command taking 30 ms is
  // late, not lost.
  RttEstimator rtt;
  for (int i = 0; i < 200; ++i) rtt.AddSample(milliseconds(20));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(rtt.Rto()), milliseconds(40));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(rtt.Rto(1)), milliseconds(80));
}

TEST(RttEstimator, AJitteryRttRaisesTheRtoAboveTheFloor) {
  RttEstimator rtt;
  for (int i = 0; i < 50; ++i) rtt.AddSample(std::chrono::microseconds(i % 2 == 0 ? 500 : 8000));
  EXPECT_GT(rtt.Rto(), milliseconds(15));
}

TEST(RttEstimator, ALateReplyRaisesTheFloorToCoverTheStallThenTheFloorDecays) {
  // A veth path (RTO at the 5 ms floor) whose target was not scheduled for about 12 ms: the
  // next stalls of that length must not time out, however many timely replies come between.
  RttEstimator rtt;
  for (int i = 0; i < 50; ++i) rtt.AddSample(std::chrono::microseconds(300));
  ASSERT_EQ(rtt.Rto(), milliseconds(5));
  const TimePoint t0{seconds(100)};
  rtt.AddSample(milliseconds(12));
  rtt.OnLateReply(milliseconds(12), t0);
  for (int i = 0; i < 1000; ++i) rtt.AddSample(std::chrono::microseconds(300));
  rtt.Age(t0 + milliseconds(900));
  EXPECT_EQ(rtt.stall_floor(), milliseconds(24));
  EXPECT_EQ(rtt.Rto(), milliseconds(24));
  EXPECT_EQ(rtt.Rto(1), milliseconds(48));  // back-off doubles from the floor
  rtt.Age(t0 + seconds(1));
  EXPECT_EQ(rtt.Rto(), milliseconds(12));  // halved after one hold
  rtt.Age(t0 + milliseconds(2500));
  EXPECT_EQ(rtt.Rto(), milliseconds(6));
  rtt.Age(t0 + seconds(3));
  EXPECT_EQ(rtt.stall_floor(), Duration::zero());  // 3 ms is below min_rto: gone
  EXPECT_EQ(rtt.Rto(), milliseconds(5));
}

TEST(RttEstimator, ALateReplyRenewsTheFloorAndTheFloorIsCappedAtMaxRto) {
  RttEstimator rtt;
  rtt.AddSample(std::chrono::microseconds(300));
  const TimePoint t0{seconds(100)};
  rtt.OnLateReply(milliseconds(20), t0);
  rtt.OnLateReply(milliseconds(8), t0 + milliseconds(800));  // keeps 40 ms, holds longer
  rtt.Age(t0 + milliseconds(1700));
  EXPECT_EQ(rtt.Rto(), milliseconds(40));
  rtt.OnLateReply(seconds(3), t0 + milliseconds(1800));
  EXPECT_EQ(rtt.Rto(), seconds(4));
}

TEST(CongestionWindow, StartsAtHalfTheBufferCountAndAtLeastOne) {
  EXPECT_EQ(CongestionWindow(16).size(), 8u);
  EXPECT_EQ(CongestionWindow(1).size(), 1u);
  EXPECT_EQ(CongestionWindow(0).size(), 1u);  // bufcnt 0 would stall Linux; we still send
}

// Grows `w` to its limit with replies to transmissions it numbers itself.
void Fill(CongestionWindow& w) {
  for (int i = 0; i < 1000; ++i) w.OnReply(w.NextSeq());
}

TEST(CongestionWindow, SlowStartThenCongestionAvoidanceUpToTheLimit) {
  CongestionWindow w(16);
  w.OnTimeout(w.NextSeq());  // nothing answered since: ssthresh 4, window 1
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.ssthresh(), 4u);
  for (int i = 0; i < 3; ++i) w.OnReply(w.NextSeq());
  EXPECT_EQ(w.size(), 4u);  // +1 per reply below ssthresh
  for (int i = 0; i < 3; ++i) w.OnReply(w.NextSeq());
  EXPECT_EQ(w.size(), 4u);  // above: +1 per full window only
  w.OnReply(w.NextSeq());
  EXPECT_EQ(w.size(), 5u);
  Fill(w);
  EXPECT_EQ(w.size(), 16u);  // never above the target's buffer count
}

TEST(CongestionWindow, AnIsolatedLossHalvesTheWindowAndItGrowsBackInSlowStart) {
  CongestionWindow w(64);
  Fill(w);
  ASSERT_EQ(w.size(), 64u);
  uint64_t lost = w.NextSeq();
  w.OnReply(w.NextSeq());  // a frame sent after the lost one was answered: the link works
  w.OnTimeout(lost);
  EXPECT_EQ(w.size(), 32u);
  EXPECT_EQ(w.ssthresh(), 64u);
  for (int i = 0; i < 32; ++i) w.OnReply(w.NextSeq());
  EXPECT_EQ(w.size(), 64u);  // back within one window of replies
}

TEST(CongestionWindow, ALossWithNothingAnsweredSinceCollapsesTheWindow) {
  CongestionWindow w(64);
  Fill(w);
  uint64_t lost = w.NextSeq();
  w.NextSeq();  // sent later, not answered either: a stall or a dead link
  w.OnTimeout(lost);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.ssthresh(), 32u);
}

TEST(CongestionWindow, TimeoutsOfOneWindowCountAsOneLossEvent) {
  CongestionWindow w(16);
  Fill(w);
  ASSERT_EQ(w.size(), 16u);
  uint64_t first = w.NextSeq();
  uint64_t second = w.NextSeq();
  w.OnTimeout(first);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.ssthresh(), 8u);
  w.OnTimeout(second);  // sent before the reduction: same event
  EXPECT_EQ(w.ssthresh(), 8u);
  EXPECT_EQ(w.size(), 1u);
  w.OnTimeout(w.NextSeq());  // the lone probe lost too: no news, ssthresh stays
  EXPECT_EQ(w.ssthresh(), 8u);
  EXPECT_EQ(w.size(), 1u);
  for (int i = 0; i < 7; ++i) w.OnReply(w.NextSeq());
  EXPECT_EQ(w.size(), 8u);   // slow start back to ssthresh
  w.OnTimeout(w.NextSeq());  // a new stall after replies: a new reduction
  EXPECT_EQ(w.ssthresh(), 4u);
  EXPECT_EQ(w.size(), 1u);
}

TEST(CongestionWindow, ContinuousRandomLossReducesOncePerEventAndKeepsAUsefulWindow) {
  // 36 % of the exchanges lost (20 % each way), each detected an RTO later, while the rest
  // are answered: with a reduction per lost frame the window would sit at 1.
  CongestionWindow w(64);
  Fill(w);
  std::mt19937 rng(7);
  std::deque<uint64_t> lost;  // detected 32 transmissions later (about one RTO)
  uint64_t reductions = 0;
  uint32_t min_window = 64;
  for (int i = 0; i < 20000; ++i) {
    uint64_t seq = w.NextSeq();
    if (rng() % 100 < 36) {
      lost.push_back(seq);
    } else {
      w.OnReply(seq);
    }
    while (!lost.empty() && lost.front() + 32 <= seq) {
      uint32_t before = w.size();
      w.OnTimeout(lost.front());
      lost.pop_front();
      if (w.size() < before) ++reductions;
    }
    if (i > 1000) min_window = std::min(min_window, w.size());
  }
  EXPECT_LT(reductions, 20000u * 36 / 100 / 8);  // far fewer reductions than losses
  EXPECT_GE(min_window, 8u);
}

TEST(CongestionWindow, ASpuriousTimeoutIsUndone) {
  CongestionWindow w(64);
  Fill(w);
  uint64_t late = w.NextSeq();
  uint64_t event = w.OnTimeout(late);
  EXPECT_EQ(w.size(), 1u);
  w.OnReply(w.NextSeq());      // the retransmission's reply
  w.OnSpuriousTimeout(event);  // ... and the first transmission's: it was late, not lost
  EXPECT_EQ(w.size(), 64u);
  EXPECT_EQ(w.ssthresh(), 64u);
}

TEST(CongestionWindow, AnEventWithOneRealLossIsNotUndone) {
  CongestionWindow w(64);
  Fill(w);
  uint64_t late = w.NextSeq();
  uint64_t lost = w.NextSeq();
  uint64_t event = w.OnTimeout(late);
  EXPECT_EQ(w.OnTimeout(lost), event);  // same loss event
  w.OnSpuriousTimeout(event);           // only the first was late
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.ssthresh(), 32u);
}

TEST(CongestionWindow, ALateReplyFromAnOlderEventDoesNotUndoANewOne) {
  CongestionWindow w(64);
  Fill(w);
  uint64_t old_event = w.OnTimeout(w.NextSeq());
  Fill(w);
  uint64_t new_event = w.OnTimeout(w.NextSeq());
  ASSERT_NE(old_event, new_event);
  uint32_t reduced = w.size();
  w.OnSpuriousTimeout(old_event);
  EXPECT_EQ(w.size(), reduced);
}

TEST(CongestionWindow, SmallerLimitShrinksTheWindow) {
  CongestionWindow w(16);
  w.SetLimit(4);
  EXPECT_EQ(w.size(), 4u);
  EXPECT_EQ(w.limit(), 4u);
}

TEST(CongestionWindow, RandomLossOfLoneFramesDoesNotRatchetSsthreshDown) {
  CongestionWindow w(64);
  Fill(w);
  for (int i = 0; i < 10; ++i) w.OnTimeout(w.NextSeq());
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.ssthresh(), 32u);
}

TEST(CongestionWindow, NeverBelowOne) {
  CongestionWindow w(1);
  for (int i = 0; i < 10; ++i) w.OnTimeout(w.NextSeq());
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.ssthresh(), 1u);
}

}  // namespace
}  // namespace aoe::initiator
