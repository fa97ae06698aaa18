// Clock: the time seam. Real code uses SteadyClock; tests use FakeClock and advance it by hand,
// so timeouts and retransmissions are tested without sleeping.
#pragma once

#include <chrono>

namespace aoe {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return now_; }
  void Advance(Duration d) { now_ += d; }

 private:
  TimePoint now_{std::chrono::seconds(1000)};
};

}  // namespace aoe
