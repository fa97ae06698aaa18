// EventLoop: a minimal epoll loop that calls a callback when one of its fds polls readable.
//
// It is the event-loop seam of style.md principle 2: ports, the daemon's signalfd and timerfds
// are all just fds here. Timers are the caller's business (pass the time to the next deadline as
// RunOnce's max_wait, or add a timerfd).
//
// Semantics:
// - Level-triggered: a callback that leaves data unread is called again on the next RunOnce.
// - Errors and hang-ups (EPOLLERR, EPOLLHUP) also invoke the readable callback: the callback's
//   read then reports or consumes the condition (e.g. a PacketPort consuming ENETDOWN).
// - Callbacks may Add and Remove any fd, including their own, during dispatch. A callback whose
//   fd was removed earlier in the same RunOnce is not called, even if the same fd number was
//   added again meanwhile (the new registration waits for the next RunOnce).
// - Remove an fd before closing it; the loop does not own the fds it watches.
//
// Ownership: owns its epoll fd and the callbacks. Thread-safety: none; one thread runs the loop
// and makes all calls. Dispatch performs no heap allocation.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "base/result.h"
#include "base/unique_fd.h"

namespace aoe {

class EventLoop {
 public:
  // Most ready fds handled per RunOnce; the rest are reported by the next call.
  static constexpr size_t kMaxEventsPerRun = 64;

  static Result<EventLoop> Create();

  EventLoop(EventLoop&&) noexcept = default;
  EventLoop& operator=(EventLoop&&) noexcept = default;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop() = default;

  // Watches `fd` for readability. EEXIST if it is already watched.
  Result<void> Add(int fd, std::function<void()> on_readable);
  // Stops watching `fd`. ENOENT if it is not watched.
  Result<void> Remove(int fd);
  bool Contains(int fd) const { return by_fd_.contains(fd); }
  size_t size() const { return by_fd_.size(); }

  // Waits up to max_wait (negative: forever, zero: just poll) for fds to become readable and
  // calls their callbacks. Returns how many callbacks ran; 0 on timeout or when a signal
  // interrupted the wait.
  Result<size_t> RunOnce(std::chrono::milliseconds max_wait);

 private:
  explicit EventLoop(UniqueFd epoll_fd);

  UniqueFd epoll_fd_;
  // epoll reports a registration id, not the fd: ids are never reused, so an event for a
  // removed registration cannot reach a newer one that happens to have the same fd number.
  uint64_t next_id_ = 1;
  std::unordered_map<int, uint64_t> by_fd_;
  // shared_ptr so that a callback that removes itself stays alive until it returns.
  std::unordered_map<uint64_t, std::shared_ptr<std::function<void()>>> by_id_;
  // Heap-held so that moving the loop is cheap; sized once at creation.
  std::unique_ptr<std::array<epoll_event, kMaxEventsPerRun>> events_;
};

}  // namespace aoe
