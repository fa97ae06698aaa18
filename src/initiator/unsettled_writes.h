// UnsettledWrites: copies of WRITE frames that are finished on our side but may still reach the
// target's disk. A frame is finished when the reply to any of its transmissions arrives (or when
// it fails or is cancelled); its other transmissions are then still copies of old data on their
// way. A newer write to any of their sectors must not be sent until they are settled, or an old
// copy could land on top of it (README.md, "Stale write copies").
//
// A copy is settled when
//   - the target's reply to it arrives: the target writes a copy before it answers it, and
//     answers every copy it receives; or
//   - its lifetime has passed: it was sent long enough ago that it can no longer arrive (it was
//     lost, or its reply was). The owner picks the lifetime per copy.
//
// Each live copy keeps its tag allocated, so that the reply is recognised and no new request can
// be given that tag. Indexes are stable while a copy is live (they are part of the tag's owner
// cookie). When kMaxCopies are live, further copies cannot be tracked one by one; they then hold
// back every write until the last of them has passed its lifetime, which is safe and, at that
// many copies in flight, no real loss of throughput.
//
// Cost: every operation is O(1) amortized, HoldsBack included (it looks at the copies starting
// in the few 256-sector blocks that can overlap the write), so that a lossy link with thousands
// of copies alive costs the data path nothing noticeable. Lifetimes are kept in the order the
// copies were added: a copy's end is raised, if needed, to the end of the copy added before
// it, which only ever makes a copy live longer (never less safe) and lets one queue in
// insertion order serve as the expiry order.
//
// Value type owned by a Disk. Thread-safety: none.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "base/clock.h"

namespace aoe::initiator {

class UnsettledWrites {
 public:
  // Indexes fit the 15 bits the Disk's tag owner cookie has for them.
  static constexpr uint32_t kMaxCopies = 0x8000;

  // `reserve` slots are allocated up front, so that tracking copies allocates nothing on the
  // data path in the usual case.
  explicit UnsettledWrites(size_t reserve = 0);

  // Records a copy of sectors [lba, lba + sectors) sent with `tag`, gone at `gone_at` at the
  // latest. Returns its index, or nullopt when kMaxCopies are live (the copy then holds back
  // every write until `gone_at`, and the caller releases its tag).
  std::optional<uint32_t> Add(uint64_t lba, uint64_t sectors, uint32_t tag, TimePoint gone_at);
  // Records a copy that is not tracked by its sectors (a TRIM's ranges can span millions of
  // sectors): it holds back every write until `gone_at`, and its reply settles nothing.
  void HoldAllUntil(TimePoint gone_at) { hold_all_until_ = std::max(hold_all_until_, gone_at); }
  // The reply to copy `index` sent with `tag` has arrived: forgets it and returns true. False
  // when there is no such live copy (the caller counts the reply as unmatched).
  bool Settle(uint32_t index, uint32_t tag);
  // Forgets every copy whose lifetime has passed at `now`, passing its tag to `release`.
  void Expire(TimePoint now, const std::function<void(uint32_t tag)>& release);

  // Whether a write of [lba, lba + sectors) must wait at `now`: a live copy overlaps it, or
  // untracked copies hold back every write.
  bool HoldsBack(uint64_t lba, uint64_t sectors, TimePoint now) const;
  // When the next copy's lifetime ends (or the hold on every write); nullopt when none.
  std::optional<TimePoint> NextExpiry() const;
  size_t size() const { return live_; }

 private:
  static constexpr uint32_t kNone = 0xFFFF'FFFF;
  static constexpr unsigned kBlockShift = 8;  // 256-sector blocks
  static constexpr uint32_t kBuckets = 1024;  // copies hashed by their first block

  struct Copy {
    uint64_t lba = 0;
    uint64_t sectors = 0;
    uint32_t tag = 0;
    uint32_t generation = 0;  // tells a queued expiry from a later copy in the same slot
    TimePoint gone_at{};
    bool live = false;
    uint32_t prev = kNone;  // bucket list
    uint32_t next = kNone;
  };
  struct Expiry {
    uint32_t index;
    uint32_t generation;
  };

  static uint32_t Bucket(uint64_t block) { return static_cast<uint32_t>(block % kBuckets); }
  void Unlink(uint32_t index);
  // Drops queued expiries of copies that are no longer live.
  void PruneExpiries();

  std::vector<Copy> copies_;       // by index
  std::vector<uint32_t> free_;     // indexes of dead entries in copies_
  std::vector<uint32_t> buckets_;  // first copy of each bucket list
  std::deque<Expiry> expiries_;    // in the order added, which is the order of gone_at
  size_t live_ = 0;
  uint64_t max_sectors_ = 0;  // the longest copy seen: how far back an overlap may start
  TimePoint last_gone_at_{};
  TimePoint hold_all_until_{};  // untracked copies (table full): every write waits until then
};

}  // namespace aoe::initiator
