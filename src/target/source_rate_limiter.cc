#include "target/source_rate_limiter.h"

#include <algorithm>

namespace aoe::target {

namespace {

constexpr auto kEvictionScanPause = std::chrono::milliseconds(100);

uint64_t Key(const MacAddress& mac) {
  uint64_t key = 0;
  for (uint8_t byte : mac.octets()) key = key << 8 | byte;
  return key;
}

}  // namespace

SourceRateLimiter::SourceRateLimiter(Limits limits) : limits_(limits) {
  buckets_.reserve(limits_.max_sources);
  overflow_.tokens = limits_.burst;
}

void SourceRateLimiter::Refill(Bucket& bucket, TimePoint now) const {
  if (now <= bucket.refilled) return;
  double seconds = std::chrono::duration<double>(now - bucket.refilled).count();
  bucket.tokens = std::min(limits_.burst, bucket.tokens + seconds * limits_.per_second);
  bucket.refilled = now;
}

SourceRateLimiter::Decision SourceRateLimiter::TakeFrom(Bucket& bucket, TimePoint now) const {
  Refill(bucket, now);
  Decision decision;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return decision;
  }
  decision.allowed = false;
  ++bucket.unreported_drops;
  if (!bucket.reported_once || now - bucket.last_report >= limits_.report_interval) {
    decision.report_dropped = bucket.unreported_drops;
    bucket.unreported_drops = 0;
    bucket.last_report = now;
    bucket.reported_once = true;
  }
  return decision;
}

bool SourceRateLimiter::EvictIdle(TimePoint now) {
  if (now < next_eviction_scan_) return false;
  for (auto it = buckets_.begin(); it != buckets_.end(); ++it) {
    Bucket& bucket = it->second;
    Refill(bucket, now);
    if (bucket.tokens >= limits_.burst && bucket.unreported_drops == 0) {
      buckets_.erase(it);
      return true;
    }
  }
  next_eviction_scan_ = now + kEvictionScanPause;
  return false;
}

SourceRateLimiter::Decision SourceRateLimiter::Take(const MacAddress& source, TimePoint now) {
  uint64_t key = Key(source);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limits_.max_sources && !EvictIdle(now)) {
      Decision decision = TakeFrom(overflow_, now);
      decision.overflow = true;
      return decision;
    }
    it = buckets_.emplace(key, NewBucket(now)).first;
  }
  return TakeFrom(it->second, now);
}

}  // namespace aoe::target
