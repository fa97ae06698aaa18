#include "net/timer_fd.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <thread>

namespace aoe {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Whether the timer's fd turns readable within `wait`.
bool FiresWithin(const TimerFd& timer, milliseconds wait) {
  pollfd entry{timer.fd(), POLLIN, 0};
  return ::poll(&entry, 1, static_cast<int>(wait.count())) == 1;
}

TimerFd MakeTimer() {
  Result<TimerFd> timer = TimerFd::Create();
  EXPECT_TRUE(timer) << timer.error().message();
  return std::move(*timer);
}

TEST(TimerFd, StartsDisarmed) {
  TimerFd timer = MakeTimer();
  EXPECT_FALSE(FiresWithin(timer, milliseconds(20)));
  EXPECT_EQ(timer.Consume(), 0U);
}

// timerfd_settime takes a zero time as "disarm": a deadline that is due or past must fire.
TEST(TimerFd, ADeadlineDueOrPastFiresAtOnce) {
  for (const nanoseconds wait : {nanoseconds(0), nanoseconds(-1), nanoseconds(seconds(-5))}) {
    TimerFd timer = MakeTimer();
    timer.ArmOnce(wait);
    EXPECT_TRUE(FiresWithin(timer, milliseconds(1000))) << wait.count() << " ns";
    EXPECT_EQ(timer.Consume(), 1U);
    EXPECT_FALSE(FiresWithin(timer, milliseconds(20))) << "fires once only";
  }
}

TEST(TimerFd, ALaterDeadlineWaits) {
  TimerFd timer = MakeTimer();
  timer.ArmOnce(seconds(30));
  EXPECT_FALSE(FiresWithin(timer, milliseconds(20)));
}

TEST(TimerFd, ArmingAgainReplacesTheDeadline) {
  TimerFd timer = MakeTimer();
  timer.ArmOnce(seconds(30));
  timer.ArmOnce(nanoseconds(0));
  EXPECT_TRUE(FiresWithin(timer, milliseconds(1000)));
}

TEST(TimerFd, DisarmCancelsTheDeadline) {
  TimerFd timer = MakeTimer();
  timer.ArmOnce(milliseconds(5));
  timer.Disarm();
  EXPECT_FALSE(FiresWithin(timer, milliseconds(50)));
  EXPECT_EQ(timer.Consume(), 0U);
}

TEST(TimerFd, ArmEveryFiresAgainAndAgain) {
  TimerFd timer = MakeTimer();
  timer.ArmEvery(milliseconds(1));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_GE(timer.Consume(), 2U);
  EXPECT_TRUE(FiresWithin(timer, milliseconds(1000))) << "still armed after a Consume";
}

// A zero period would disarm too; it is raised to the least wait instead.
TEST(TimerFd, AZeroPeriodStillFires) {
  TimerFd timer = MakeTimer();
  timer.ArmEvery(nanoseconds(0));
  EXPECT_TRUE(FiresWithin(timer, milliseconds(1000)));
}

}  // namespace
}  // namespace aoe
