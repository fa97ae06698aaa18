// SourceRateLimiter: a bucket per source MAC, refilled with time, reported sparingly, in a
// bounded table that forged addresses cannot grow or escape.
#include "target/source_rate_limiter.h"

#include <gtest/gtest.h>

namespace aoe::target {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

MacAddress Host(uint32_t n) {
  return MacAddress({0x02, 0x00, static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                     static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
}

SourceRateLimiter::Limits SmallLimits() {
  SourceRateLimiter::Limits limits;
  limits.per_second = 10;
  limits.burst = 5;
  limits.max_sources = 4;
  limits.report_interval = seconds(10);
  return limits;
}

size_t CountAllowed(SourceRateLimiter& limiter, const MacAddress& mac, TimePoint now, int tries) {
  size_t allowed = 0;
  for (int i = 0; i < tries; ++i) allowed += limiter.Take(mac, now).allowed;
  return allowed;
}

TEST(SourceRateLimiter, AllowsABurstThenDrops) {
  FakeClock clock;
  SourceRateLimiter limiter(SmallLimits());
  EXPECT_EQ(CountAllowed(limiter, Host(1), clock.Now(), 100), 5u);
}

TEST(SourceRateLimiter, RefillsAtTheRate) {
  FakeClock clock;
  SourceRateLimiter limiter(SmallLimits());
  CountAllowed(limiter, Host(1), clock.Now(), 5);
  clock.Advance(milliseconds(300));  // 3 tokens at 10 per second
  EXPECT_EQ(CountAllowed(limiter, Host(1), clock.Now(), 100), 3u);
  clock.Advance(seconds(60));  // never more than the burst
  EXPECT_EQ(CountAllowed(limiter, Host(1), clock.Now(), 100), 5u);
}

TEST(SourceRateLimiter, OneSourceDoesNotSpendAnothersTokens) {
  FakeClock clock;
  SourceRateLimiter limiter(SmallLimits());
  CountAllowed(limiter, Host(1), clock.Now(), 1000);
  EXPECT_EQ(CountAllowed(limiter, Host(2), clock.Now(), 100), 5u);
}

TEST(SourceRateLimiter, ReportsTheFirstDropAtOnceThenAtMostEveryInterval) {
  FakeClock clock;
  SourceRateLimiter limiter(SmallLimits());
  CountAllowed(limiter, Host(1), clock.Now(), 5);
  auto first = limiter.Take(Host(1), clock.Now());
  EXPECT_FALSE(first.allowed);
  EXPECT_EQ(first.report_dropped, 1u);
  EXPECT_FALSE(first.overflow);
  for (int i = 0; i < 99; ++i) EXPECT_EQ(limiter.Take(Host(1), clock.Now()).report_dropped, 0u);
  clock.Advance(seconds(10));
  CountAllowed(limiter, Host(1), clock.Now(), 5);  // the refilled burst
  auto later = limiter.Take(Host(1), clock.Now());
  EXPECT_FALSE(later.allowed);
  EXPECT_EQ(later.report_dropped, 100u) << "99 drops since the first report, and this one";
}

TEST(SourceRateLimiter, FullTableSendsNewcomersToOneSharedBucket) {
  FakeClock clock;
  SourceRateLimiter limiter(SmallLimits());
  for (uint32_t n = 1; n <= 4; ++n) limiter.Take(Host(n), clock.Now());  // table full, none idle
  size_t allowed = 0;
  bool overflow_seen = false;
  for (uint32_t n = 100; n < 1100; ++n) {  // a thousand forged addresses, one frame each
    auto decision = limiter.Take(Host(n), clock.Now());
    allowed += decision.allowed;
    overflow_seen |= decision.overflow;
  }
  EXPECT_TRUE(overflow_seen);
  EXPECT_EQ(allowed, 5u) << "together they get one source's burst";
  EXPECT_EQ(limiter.tracked_sources(), 4u);
}

TEST(SourceRateLimiter, IdleSourceMakesRoomForANewOne) {
  FakeClock clock;
  SourceRateLimiter limiter(SmallLimits());
  for (uint32_t n = 1; n <= 4; ++n) limiter.Take(Host(n), clock.Now());
  clock.Advance(seconds(1));  // every bucket full again
  auto decision = limiter.Take(Host(9), clock.Now());
  EXPECT_TRUE(decision.allowed);
  EXPECT_FALSE(decision.overflow);
  EXPECT_EQ(limiter.tracked_sources(), 4u);
  EXPECT_EQ(CountAllowed(limiter, Host(9), clock.Now(), 100), 4u) << "its own bucket";
}

}  // namespace
}  // namespace aoe::target
