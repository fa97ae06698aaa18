// TimerFd: a monotonic timerfd, for code that waits on deadlines through an EventLoop (which
// leaves timers to its callers, event_loop.h). The one place that turns a wait into an
// itimerspec, with the one trap of timerfd_settime(2) handled: a zero time disarms the timer,
// so a deadline already past is armed to fire at once instead.
//
// Ownership: owns its fd; the caller adds fd() to its EventLoop and removes it before the
// TimerFd is destroyed. Thread-safety: none.
#pragma once

#include <chrono>
#include <cstdint>

#include "base/result.h"
#include "base/unique_fd.h"

namespace aoe {

class TimerFd {
 public:
  // CLOCK_MONOTONIC, non-blocking, close-on-exec; disarmed.
  static Result<TimerFd> Create();

  int fd() const { return fd_.get(); }

  // Fires once, `wait` from now; a wait of zero or less fires at once.
  void ArmOnce(std::chrono::nanoseconds wait);
  // Fires every `period` (at least 1 µs), the first time one period from now.
  void ArmEvery(std::chrono::nanoseconds period);
  void Disarm();

  // Clears the readable state: the expirations since the last call, 0 if none.
  uint64_t Consume();

 private:
  explicit TimerFd(UniqueFd fd) : fd_(std::move(fd)) {}

  UniqueFd fd_;
};

}  // namespace aoe
