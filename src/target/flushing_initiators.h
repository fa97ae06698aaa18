// FlushingInitiators: the initiators of one export that send FLUSH since their last IDENTIFY,
// whose writes durability=auto may acknowledge from the cache (configuration.md, "Durability").
// One set per export, shared by its owner and its copies on the other event loops (docs/
// architecture.md, "More cores"): an initiator's FLUSH reaches the loop that serves its I/O,
// but its IDENTIFY may reach another one (a wildcard IDENTIFY, WinAoE's discovery, goes to loop
// 0), and either must change how every loop treats that initiator's next write.
//
// Reads are the data path (every write asks whether its initiator flushes), so each loop reads
// through its own View: a snapshot fetched again only when a generation counter moved, as
// PublishedState does; a read is one atomic load. Changes are rare (an initiator's first FLUSH
// after an IDENTIFY, an IDENTIFY of one that flushed) and copy the set under a mutex.
//
// Thread-safety: Add and Remove from any loop; a View from one loop each.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <utility>

#include "base/mac_address.h"

namespace aoe::target {

class FlushingInitiators {
 public:
  // More initiators than any AoE segment has. Bounded: a host that floods FLUSH from made-up
  // MACs cannot grow the set, and an initiator left out only gets the safe (durable) path.
  static constexpr size_t kMaxInitiators = 4096;

  FlushingInitiators() : latest_(std::make_shared<const std::set<MacAddress>>()) {}

  void Add(const MacAddress& initiator) {
    Edit(
        [&](const std::set<MacAddress>& set) {
          return set.size() < kMaxInitiators && !set.contains(initiator);
        },
        [&](std::set<MacAddress>& set) { set.insert(initiator); });
  }
  void Remove(const MacAddress& initiator) {
    Edit([&](const std::set<MacAddress>& set) { return set.contains(initiator); },
         [&](std::set<MacAddress>& set) { set.erase(initiator); });
  }

  // One loop's reader.
  class View {
   public:
    explicit View(std::shared_ptr<FlushingInitiators> source) : source_(std::move(source)) {}
    // Whether `initiator` flushes, as of this call.
    bool Contains(const MacAddress& initiator) {
      if (source_->generation_.load(std::memory_order_acquire) != generation_ || !snapshot_) {
        std::lock_guard lock(source_->mutex_);
        snapshot_ = source_->latest_;
        generation_ = source_->generation_.load(std::memory_order_relaxed);
      }
      return snapshot_->contains(initiator);
    }
    const std::shared_ptr<FlushingInitiators>& shared() const { return source_; }

   private:
    std::shared_ptr<FlushingInitiators> source_;
    std::shared_ptr<const std::set<MacAddress>> snapshot_;
    uint64_t generation_ = 0;
  };

 private:
  // If `changes` says the set would change, applies `edit` to a copy and publishes it. (Asked
  // first, so that a flood of FLUSHes from made-up MACs past the bound copies nothing.)
  template <typename ChangesFn, typename EditFn>
  void Edit(ChangesFn&& changes, EditFn&& edit) {
    std::shared_ptr<const std::set<MacAddress>> replaced;
    std::lock_guard lock(mutex_);
    if (!changes(*latest_)) return;
    auto next = std::make_shared<std::set<MacAddress>>(*latest_);
    edit(*next);
    replaced = std::exchange(latest_, std::move(next));  // released after the lock
    generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  std::mutex mutex_;
  std::shared_ptr<const std::set<MacAddress>> latest_;
  std::atomic<uint64_t> generation_{0};  // bumped by every change, under the mutex
};

}  // namespace aoe::target
