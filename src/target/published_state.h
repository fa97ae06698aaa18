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
// Thread-safety: Publish from the owning loop; a View from one other loop each.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "target/export_state.h"

namespace aoe::target {

class PublishedState {
 public:
  explicit PublishedState(ExportState initial)
      : latest_(std::make_shared<const ExportState>(std::move(initial))) {}

  // Replaces the state the readers see; a snapshot already taken stays as it was.
  void Publish(ExportState state) {
    auto published = std::make_shared<const ExportState>(std::move(state));
    std::lock_guard lock(mutex_);
    latest_.swap(published);  // the old snapshot is released outside the lock
    generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  // One loop's reader.
  class View {
   public:
    explicit View(std::shared_ptr<const PublishedState> source) : source_(std::move(source)) {}
    // The latest state published (as of this call).
    const ExportState& Current() {
      if (source_->generation_.load(std::memory_order_acquire) != generation_ || !snapshot_) {
        std::lock_guard lock(source_->mutex_);
        snapshot_ = source_->latest_;
        generation_ = source_->generation_.load(std::memory_order_relaxed);
      }
      return *snapshot_;
    }

   private:
    std::shared_ptr<const PublishedState> source_;
    std::shared_ptr<const ExportState> snapshot_;
    uint64_t generation_ = 0;
  };

 private:
  // The mutex guards latest_ while it is swapped or copied (a shared_ptr is not atomic; and
  // libstdc++ 12's std::atomic<std::shared_ptr> reads as a data race to ThreadSanitizer, which
  // CI runs these tests under: its load releases its lock bit with relaxed ordering).
  mutable std::mutex mutex_;
  std::shared_ptr<const ExportState> latest_;
  std::atomic<uint64_t> generation_{0};  // bumped by every Publish, under the mutex
};

}  // namespace aoe::target
