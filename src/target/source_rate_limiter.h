// SourceRateLimiter: a token bucket per source MAC address, for the commands that change an
// export's persistent state (config set, mask edit, reservation set). Each source may make
// `burst` changes at once and `per_second` after that; the target drops the rest, and the
// initiator retransmits as it would after any loss.
//
// The table is bounded. When it is full, a new source takes the place of a source that has
// been quiet long enough to have a full bucket again; if there is none, the new source shares
// one overflow bucket with every other newcomer. So forged source addresses can neither grow
// the table nor escape the limit: together they get one source's share.
//
// Drops are reported for logging at most once per `report_interval` per source (and for the
// overflow bucket): the first drop at once, then the count dropped since the last report.
//
// Single-threaded; time comes from the caller (the target's Clock).
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "base/clock.h"
#include "base/mac_address.h"

namespace aoe::target {

class SourceRateLimiter {
 public:
  struct Limits {
    double per_second = 32;
    double burst = 64;
    size_t max_sources = 256;
    Duration report_interval = std::chrono::seconds(10);
  };

  struct Decision {
    bool allowed = true;
    uint64_t report_dropped = 0;  // non-zero: log now that this many were dropped
    bool overflow = false;        // the source shares the overflow bucket (table full)
  };

  SourceRateLimiter() : SourceRateLimiter(Limits{}) {}
  explicit SourceRateLimiter(Limits limits);

  // Takes a token for one state change by `source` at `now`, if there is one.
  Decision Take(const MacAddress& source, TimePoint now);

  const Limits& limits() const { return limits_; }
  size_t tracked_sources() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint refilled{};
    uint64_t unreported_drops = 0;
    TimePoint last_report{};
    bool reported_once = false;
  };

  Bucket NewBucket(TimePoint now) const { return Bucket{limits_.burst, now, 0, now, false}; }
  void Refill(Bucket& bucket, TimePoint now) const;
  Decision TakeFrom(Bucket& bucket, TimePoint now) const;
  // Frees a slot for a new source if a tracked one is idle (bucket full, nothing to report).
  bool EvictIdle(TimePoint now);

  Limits limits_;
  std::unordered_map<uint64_t, Bucket> buckets_;  // keyed by the MAC's 48 bits
  Bucket overflow_;
  // After a scan found no idle source, the next one waits a little: under a flood of forged
  // addresses every frame would otherwise scan the whole table.
  TimePoint next_eviction_scan_{};
};

}  // namespace aoe::target
