// Service-manager notification for the long-running daemons (`aoe serve`, `aoe netboot`): the
// sd_notify(3) protocol of systemd's Type=notify services, through libsystemd.
//
// systemd passes $NOTIFY_SOCKET to a Type=notify service and waits for READY=1 before it
// counts the service as started; STATUS= is the one-line state `systemctl status` shows;
// RELOADING=1 ... READY=1 brackets a reload; WATCHDOG=1 must arrive within WatchdogSec= or the
// service is restarted. Without $NOTIFY_SOCKET (run by hand, by another init) every call is a
// no-op, so the daemons call them unconditionally.
//
//   ServiceNotifier notifier;
//   ... open everything ...
//   notifier.Ready("serving 2 exports on 1 interface");
//   Result<std::unique_ptr<WatchdogTimer>> dog = WatchdogTimer::Start(loop, notifier);
//
// The watchdog pings from a timerfd on the daemon's own EventLoop (no thread): if the loop
// stops turning, the pings stop and systemd notices.
//
// Thread-safety: none; call from the thread that runs the loop. sd_notify opens a socket per
// message, so the calls keep working after the daemon drops root (the socket is world-writable).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

#include "base/result.h"
#include "net/event_loop.h"
#include "net/timer_fd.h"

namespace aoe {

class ServiceNotifier {
 public:
  // Each returns an error only when $NOTIFY_SOCKET is set and the message could not be sent.
  // READY=1 with STATUS=status: start-up (or a reload) is complete.
  Result<void> Ready(std::string_view status);
  // RELOADING=1 with MONOTONIC_USEC=now: a reload has begun; Ready() ends it.
  Result<void> Reloading(std::string_view status);
  Result<void> Status(std::string_view status);
  // STOPPING=1: shutting down.
  Result<void> Stopping(std::string_view status);
  Result<void> WatchdogPing();

  // WatchdogSec= as passed by systemd ($WATCHDOG_USEC, for this pid); nullopt when off.
  std::optional<std::chrono::microseconds> WatchdogInterval() const;

 private:
  Result<void> Send(std::string_view message);
};

// Pings the watchdog every half WatchdogSec from a timerfd on `loop`. Removes itself from the
// loop on destruction, so it must be destroyed before the loop.
class WatchdogTimer {
 public:
  // nullptr (and no timer) when the watchdog is off.
  static Result<std::unique_ptr<WatchdogTimer>> Start(EventLoop& loop, ServiceNotifier& notifier);

  WatchdogTimer(const WatchdogTimer&) = delete;
  WatchdogTimer& operator=(const WatchdogTimer&) = delete;
  ~WatchdogTimer();

  std::chrono::microseconds period() const { return period_; }

 private:
  WatchdogTimer(EventLoop& loop, ServiceNotifier& notifier, TimerFd timer,
                std::chrono::microseconds period);
  void OnExpired();

  EventLoop& loop_;
  ServiceNotifier& notifier_;
  TimerFd timer_;
  std::chrono::microseconds period_;
};

}  // namespace aoe
