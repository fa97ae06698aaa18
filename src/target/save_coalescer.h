// SaveCoalescer: turns one export's stream of state changes into few saves, so that a flood of
// config, mask or reservation changes costs a handful of writes instead of one each.
//
// Every change gets a version number. At most one save is in flight; it carries the state as it
// was when the save started (its version is latest() then). Changes made while it runs are all
// written by the next save, which starts when this one finishes. A reply acknowledging a change
// waits until durable() reaches the change's version. After a failed save no new save starts
// until Retry() (the server retries once a second), so a broken disk is not hammered; the
// replies keep waiting, since nothing they acknowledge is durable.
//
// Plain value type; single-threaded.
#pragma once

#include <algorithm>
#include <cstdint>

namespace aoe::target {

class SaveCoalescer {
 public:
  // Records a change of the in-memory state; returns its version.
  uint64_t Changed() { return ++latest_; }

  // Whether a save should start now: changes not saved yet, none in flight, no retry pending.
  bool ShouldSave() const { return !saving_ && !awaiting_retry_ && durable_ < latest_; }
  // Starts a save of the latest state; returns the version it carries.
  uint64_t StartSave() {
    saving_ = true;
    return latest_;
  }
  // The save of `version` finished, durably or not.
  void Finished(uint64_t version, bool durable) {
    saving_ = false;
    last_save_failed_ = !durable;
    awaiting_retry_ = !durable;
    if (durable) durable_ = std::max(durable_, version);
  }
  // Allows a new save after a failure.
  void Retry() { awaiting_retry_ = false; }

  uint64_t latest() const { return latest_; }
  uint64_t durable() const { return durable_; }
  bool saving() const { return saving_; }
  bool awaiting_retry() const { return awaiting_retry_; }
  bool last_save_failed() const { return last_save_failed_; }
  bool settled() const { return durable_ == latest_; }

 private:
  uint64_t latest_ = 0;   // version of the in-memory state
  uint64_t durable_ = 0;  // newest version known to be durable (0: the state loaded at start)
  bool saving_ = false;
  bool awaiting_retry_ = false;
  bool last_save_failed_ = false;
};

}  // namespace aoe::target
