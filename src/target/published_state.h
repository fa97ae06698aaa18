// PublishedState: an export's persistent state (config string, mask list, reservation) as the
// loops that serve the export without owning it see it (docs/architecture.md, "More cores").
//
// One loop owns an export's state: every config, mask and reserve command reaches that loop
// (the fanout selector sends every command but ATA to member 0), which changes the state and
// publishes each change before the change's reply is sent. The other loops serve the export's
// ATA commands and need only the mask and the reservation, which each reads through its own
// View: an immutable snapshot, fetched again only when a generation counter says a newer one was
// published. So a check costs one atomic load and writes nothing shared (no cache line bounces
// between loops), and once a change is published every check a loop makes afterwards sees it.
//
// Published<T> is the mechanism, for any value loops share that way (also FlushingInitiators).
//
// Thread-safety: Publish and Update from any loop (the export state's owner is its only writer);
// a View from one loop each.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "target/export_state.h"

namespace aoe::target {

template <typename T>
class Published {
 public:
  explicit Published(T initial) : latest_(std::make_shared<const T>(std::move(initial))) {}

  // Replaces the value the readers see; a snapshot already taken stays as it was.
  void Publish(T value) {
    Update([&](const T&) { return std::optional<T>(std::move(value)); });
  }

  // A change made from the latest value, under the lock, so that two loops changing it at once
  // lose neither change: `next(latest)` returns the new value, or nullopt to leave it (then
  // nothing is copied or published).
  template <typename Next>
  void Update(Next&& next) {
    std::shared_ptr<const T> replaced;  // released after the lock
    std::lock_guard lock(mutex_);
    std::optional<T> changed = next(*latest_);
    if (!changed) return;
    replaced = std::exchange(latest_, std::make_shared<const T>(std::move(*changed)));
    generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  // One loop's reader.
  class View {
   public:
    explicit View(std::shared_ptr<const Published> source) : source_(std::move(source)) {}
    // The latest value published (as of this call).
    const T& Current() {
      if (source_->generation_.load(std::memory_order_acquire) != generation_ || !snapshot_) {
        std::lock_guard lock(source_->mutex_);
        snapshot_ = source_->latest_;
        generation_ = source_->generation_.load(std::memory_order_relaxed);
      }
      return *snapshot_;
    }

   private:
    std::shared_ptr<const Published> source_;
    std::shared_ptr<const T> snapshot_;
    uint64_t generation_ = 0;
  };

 private:
  // The mutex guards latest_ while it is swapped or copied (a shared_ptr is not atomic; and
  // libstdc++ 12's std::atomic<std::shared_ptr> reads as a data race to ThreadSanitizer, which
  // CI runs these tests under: its load releases its lock bit with relaxed ordering).
  mutable std::mutex mutex_;
  std::shared_ptr<const T> latest_;
  std::atomic<uint64_t> generation_{0};  // bumped by every change, under the mutex
};

using PublishedState = Published<ExportState>;

}  // namespace aoe::target
