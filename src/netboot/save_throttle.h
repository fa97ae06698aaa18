// SaveThrottle: when to write a file that changes often (the lease file): at once after a
// quiet spell, else at most once per interval, with every change made meanwhile in that one
// write. A flood of DHCP requests then costs at most one write (and its fsyncs) per interval
// instead of one per message. Pure: the caller passes the time and runs the timer.
//
// Thread-safety: none.
#pragma once

#include <chrono>
#include <optional>

#include "base/clock.h"

namespace aoe::netboot {

class SaveThrottle {
 public:
  explicit SaveThrottle(std::chrono::milliseconds interval) : interval_(interval) {}

  // Something changed at `now`. True: write now (call Saved). False: a write is due at due().
  bool Changed(TimePoint now) {
    if (!saved_ || now - last_save_ >= interval_) return true;
    pending_ = true;
    return false;
  }
  // The file was written at `now`.
  void Saved(TimePoint now) {
    saved_ = true;
    last_save_ = now;
    pending_ = false;
  }
  // When the pending write is due; nullopt when none is pending.
  std::optional<TimePoint> due() const {
    if (!pending_) return std::nullopt;
    return last_save_ + interval_;
  }
  bool pending() const { return pending_; }

 private:
  std::chrono::milliseconds interval_;
  bool saved_ = false;  // last_save_ is set (a plain flag: GCC's -O1 warns on an optional here)
  TimePoint last_save_{};
  bool pending_ = false;
};

}  // namespace aoe::netboot
