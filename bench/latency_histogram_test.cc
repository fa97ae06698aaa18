#include "bench/latency_histogram.h"

#include <gtest/gtest.h>

namespace aoe::bench {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(0.5), nanoseconds(0));
  EXPECT_EQ(h.Mean(), nanoseconds(0));
}

TEST(LatencyHistogram, PercentilesOfAUniformSpreadAreWithinOnePercent) {
  LatencyHistogram h;
  for (int us = 1; us <= 10000; ++us) h.Record(microseconds(us));
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.50).count()), 5000e3, 5000e3 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.99).count()), 9900e3, 9900e3 * 0.01);
  EXPECT_EQ(h.Max(), microseconds(10000));
  EXPECT_EQ(h.Mean(), nanoseconds(5000500));
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  h.Record(nanoseconds(5));
  h.Record(nanoseconds(100));
  EXPECT_EQ(h.Percentile(0.5), nanoseconds(5));
  EXPECT_EQ(h.Percentile(1.0), nanoseconds(100));
}

TEST(LatencyHistogram, ATailShowsInP99NotP50) {
  LatencyHistogram h;
  for (int i = 0; i < 980; ++i) h.Record(microseconds(50));
  for (int i = 0; i < 20; ++i) h.Record(microseconds(100000));  // 2 % at 100 ms (an RTO)
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.50).count()), 50e3, 50e3 * 0.01);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.99).count()), 100000e3, 100000e3 * 0.01);
}

TEST(LatencyHistogram, PercentileNeverExceedsTheMaximum) {
  LatencyHistogram h;
  h.Record(nanoseconds(1'000'001));
  EXPECT_LE(h.Percentile(1.0), h.Max());
}

}  // namespace
}  // namespace aoe::bench
