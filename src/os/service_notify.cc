#include "os/service_notify.h"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>

namespace aoe {

namespace {

// STATUS= ends at the first newline: keep a status to its first line.
std::string_view FirstLine(std::string_view text) { return text.substr(0, text.find('\n')); }

uint64_t MonotonicMicroseconds() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000u +
         static_cast<uint64_t>(now.tv_nsec) / 1'000u;
}

}  // namespace

Result<void> ServiceNotifier::Send(std::string_view message) {
  const std::string text(message);
  // unset_environment = 0: later messages (reloads, watchdog) need $NOTIFY_SOCKET again.
  int rc = sd_notify(0, text.c_str());
  if (rc < 0) return Errno(-rc);
  return {};
}

Result<void> ServiceNotifier::Ready(std::string_view status) {
  return Send(fmt::format("READY=1\nSTATUS={}", FirstLine(status)));
}

Result<void> ServiceNotifier::Reloading(std::string_view status) {
  // MONOTONIC_USEC lets systemd (Type=notify-reload, 253 and later) match the reload to the
  // request; older versions ignore it.
  return Send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS={}", MonotonicMicroseconds(),
                          FirstLine(status)));
}

Result<void> ServiceNotifier::Status(std::string_view status) {
  return Send(fmt::format("STATUS={}", FirstLine(status)));
}

Result<void> ServiceNotifier::Stopping(std::string_view status) {
  return Send(fmt::format("STOPPING=1\nSTATUS={}", FirstLine(status)));
}

Result<void> ServiceNotifier::WatchdogPing() { return Send("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> ServiceNotifier::WatchdogInterval() const {
  uint64_t usec = 0;
  // > 0: enabled for this process ($WATCHDOG_PID, if set, is ours).
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

Result<std::unique_ptr<WatchdogTimer>> WatchdogTimer::Start(EventLoop& loop,
                                                            ServiceNotifier& notifier) {
  std::optional<std::chrono::microseconds> interval = notifier.WatchdogInterval();
  if (!interval) return std::unique_ptr<WatchdogTimer>();
  // Half the interval, as sd_watchdog_enabled(3) recommends: one late turn of the loop does
  // not cost a restart.
  const std::chrono::microseconds period = std::max(*interval / 2, std::chrono::microseconds(1));
  Result<TimerFd> timer = TimerFd::Create();
  if (!timer) return Unexpected{timer.error()};
  timer->ArmEvery(period);
  std::unique_ptr<WatchdogTimer> dog(new WatchdogTimer(loop, notifier, std::move(*timer), period));
  WatchdogTimer* raw = dog.get();
  if (Result<void> added = loop.Add(raw->timer_.fd(), [raw] { raw->OnExpired(); }); !added) {
    return Unexpected{added.error()};
  }
  // The first ping at once: the service manager's timer is already running.
  (void)notifier.WatchdogPing();
  return dog;
}

WatchdogTimer::WatchdogTimer(EventLoop& loop, ServiceNotifier& notifier, TimerFd timer,
                             std::chrono::microseconds period)
    : loop_(loop), notifier_(notifier), timer_(std::move(timer)), period_(period) {}

WatchdogTimer::~WatchdogTimer() {
  if (loop_.Contains(timer_.fd())) (void)loop_.Remove(timer_.fd());
}

void WatchdogTimer::OnExpired() {
  // None when another wake-up already consumed the count.
  if (timer_.Consume() == 0) return;
  (void)notifier_.WatchdogPing();
}

}  // namespace aoe
