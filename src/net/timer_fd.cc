#include "net/timer_fd.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>

namespace aoe {
namespace {

// The least wait a timer is armed with: timerfd_settime takes a zero it_value as "disarm".
constexpr std::chrono::nanoseconds kLeastWait{1000};

timespec ToTimespec(std::chrono::nanoseconds wait) {
  timespec spec{};
  spec.tv_sec = static_cast<time_t>(wait.count() / 1'000'000'000);
  spec.tv_nsec = static_cast<long>(wait.count() % 1'000'000'000);
  return spec;
}

}  // namespace

Result<TimerFd> TimerFd::Create() {
  UniqueFd fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!fd) return Errno();
  return TimerFd(std::move(fd));
}

void TimerFd::ArmOnce(std::chrono::nanoseconds wait) {
  itimerspec spec{};
  spec.it_value = ToTimespec(std::max(wait, kLeastWait));
  // Fails only on a bad fd or value, which the types above rule out.
  (void)::timerfd_settime(fd_.get(), 0, &spec, nullptr);
}

void TimerFd::ArmEvery(std::chrono::nanoseconds period) {
  itimerspec spec{};
  spec.it_interval = ToTimespec(std::max(period, kLeastWait));
  spec.it_value = spec.it_interval;
  (void)::timerfd_settime(fd_.get(), 0, &spec, nullptr);
}

void TimerFd::Disarm() {
  const itimerspec spec{};
  (void)::timerfd_settime(fd_.get(), 0, &spec, nullptr);
}

uint64_t TimerFd::Consume() {
  uint64_t expirations = 0;
  // Non-blocking: EAGAIN (nothing expired since the last call) leaves 0.
  if (::read(fd_.get(), &expirations, sizeof expirations) !=
      static_cast<ssize_t>(sizeof expirations)) {
    return 0;
  }
  return expirations;
}

}  // namespace aoe
