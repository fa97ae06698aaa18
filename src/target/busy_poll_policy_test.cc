#include "target/busy_poll_policy.h"

#include <gtest/gtest.h>

namespace aoe::target {
namespace {

// Chances until the policy polls again (counting that one), at most `limit`.
int ChancesUntilPoll(BusyPollPolicy& policy, int limit = 100) {
  for (int i = 1; i <= limit; ++i) {
    if (policy.ShouldPoll()) return i;
  }
  return limit + 1;
}

// A policy after three polls in a row that found nothing (ThreeMissesInARowStopPolling: it no
// longer polls).
BusyPollPolicy AfterThreeMisses() {
  BusyPollPolicy policy;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(policy.ShouldPoll()) << "poll " << i;
    policy.Polled(false);
  }
  return policy;
}

TEST(BusyPollPolicy, PollsWhileItsPollsFindFrames) {
  BusyPollPolicy policy;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(policy.ShouldPoll()) << "chance " << i;
    policy.Polled(true);
  }
}

TEST(BusyPollPolicy, ToleratesAnOddMiss) {
  BusyPollPolicy policy;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(policy.ShouldPoll()) << "chance " << i;
    policy.Polled(i % 8 != 7);  // one poll in eight finds nothing
  }
}

TEST(BusyPollPolicy, ThreeMissesInARowStopPolling) {
  BusyPollPolicy policy = AfterThreeMisses();
  EXPECT_FALSE(policy.ShouldPoll());
}

// aoe ping's pattern: a config query whose reply is followed at once by an IDENTIFY (found), then
// a pause of a round (not found). Half the polls find nothing: the policy stops polling but for
// one chance in sixteen.
TEST(BusyPollPolicy, AlternatingFoundAndNotFoundPollsOnlyEverySixteenthChance) {
  BusyPollPolicy policy;
  int polls = 0;
  int found = 0;
  for (int i = 0; i < 1600; ++i) {
    if (!policy.ShouldPoll()) continue;
    ++polls;
    const bool finds = polls % 2 == 1;  // the polls themselves alternate
    found += finds ? 1 : 0;
    policy.Polled(finds);
  }
  EXPECT_LE(polls, 1600 / 16 + 8);
  EXPECT_GE(polls, 1600 / 16 - 8);
  EXPECT_GE(found, polls / 2);
}

TEST(BusyPollPolicy, StoppedItStillPollsEverySixteenthChance) {
  BusyPollPolicy policy = AfterThreeMisses();
  EXPECT_EQ(ChancesUntilPoll(policy), 16);
  policy.Polled(false);
  EXPECT_EQ(ChancesUntilPoll(policy), 16);
}

// Frames come back to back again: the loop finds them waiting when its chances come (and tells
// the policy so without asking it), and polling is back on after a few.
TEST(BusyPollPolicy, FramesFoundAgainTurnPollingBackOn) {
  BusyPollPolicy policy = AfterThreeMisses();
  ASSERT_FALSE(policy.ShouldPoll());
  int found = 0;
  while (!policy.ShouldPoll()) {
    policy.Polled(true);
    ASSERT_LT(++found, 10) << "polling never came back";
  }
  EXPECT_LE(found, 5);
}

}  // namespace
}  // namespace aoe::target
