#include "bench/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace aoe::bench {

size_t LatencyHistogram::BucketOf(uint64_t ns) {
  if (ns < kSubBuckets) return static_cast<size_t>(ns);  // exact below 128 ns
  int msb = 63 - std::countl_zero(ns);
  int shift = msb - kSubBucketBits;
  uint64_t top = ns >> shift;  // in [kSubBuckets, 2 * kSubBuckets)
  return static_cast<size_t>(shift + 1) * kSubBuckets + static_cast<size_t>(top - kSubBuckets);
}

uint64_t LatencyHistogram::BucketMiddle(size_t bucket) {
  if (bucket < kSubBuckets) return bucket;
  int shift = static_cast<int>(bucket / kSubBuckets) - 1;
  uint64_t lower = (kSubBuckets + bucket % kSubBuckets) << shift;
  return lower + ((uint64_t{1} << shift) - 1) / 2;
}

void LatencyHistogram::Record(std::chrono::nanoseconds latency) {
  uint64_t ns = static_cast<uint64_t>(std::max<int64_t>(0, latency.count()));
  ++buckets_[BucketOf(ns)];
  ++count_;
  sum_ns_ += ns;
  max_ns_ = std::max(max_ns_, ns);
}

std::chrono::nanoseconds LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return {};
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += buckets_[b];
    if (seen >= rank) {
      return std::chrono::nanoseconds(std::min(BucketMiddle(b), max_ns_));
    }
  }
  return Max();
}

std::chrono::nanoseconds LatencyHistogram::Mean() const {
  if (count_ == 0) return {};
  return std::chrono::nanoseconds(sum_ns_ / count_);
}

}  // namespace aoe::bench
