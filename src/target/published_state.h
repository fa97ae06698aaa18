// PublishedState: an export's persistent state (config string, mask list, reservation) as the
// loops that serve the export without owning it see it (docs/architecture.md, "More cores").
//
// One loop owns an export's state: every config, mask and reserve command reaches that loop
// (the fanout selector sends them all to member 0), which changes the state and publishes each
// change before the change's reply is sent. The other loops serve the export's ATA commands and
// need only the mask and the reservation, which they read from the latest published state. A
// reader holds an immutable snapshot, so a change published meanwhile never alters a state
// being read; a reader loads one snapshot per check, so once a change is published every
// command a loop checks afterwards sees it.
//
// Thread-safe: Publish from the owning loop, Latest from any thread. A mutex guards the pointer
// for the few instructions of a copy: uncontended it costs about as much as an atomic, and
// libstdc++ 12's std::atomic<std::shared_ptr> reads as a data race to ThreadSanitizer (its
// load releases its lock bit with relaxed ordering), which CI runs these tests under.
#pragma once

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
  }
  std::shared_ptr<const ExportState> Latest() const {
    std::lock_guard lock(mutex_);
    return latest_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ExportState> latest_;
};

}  // namespace aoe::target
