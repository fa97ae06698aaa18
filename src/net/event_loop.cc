#include "net/event_loop.h"

#include <algorithm>
#include <climits>

namespace aoe {

Result<EventLoop> EventLoop::Create() {
  UniqueFd epoll_fd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd) return Errno();
  return EventLoop(std::move(epoll_fd));
}

EventLoop::EventLoop(UniqueFd epoll_fd)
    : epoll_fd_(std::move(epoll_fd)),
      events_(std::make_unique<std::array<epoll_event, kMaxEventsPerRun>>()) {}

Result<void> EventLoop::Add(int fd, std::function<void()> on_readable) {
  if (by_fd_.contains(fd)) return Errno(EEXIST);
  uint64_t id = next_id_++;
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = id;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) return Errno();
  by_fd_.emplace(fd, id);
  by_id_.emplace(id, std::make_shared<std::function<void()>>(std::move(on_readable)));
  return {};
}

Result<void> EventLoop::Remove(int fd) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return Errno(ENOENT);
  // EBADF/ENOENT mean the fd was already closed (which removes it from epoll); forget it anyway.
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0 && errno != EBADF &&
      errno != ENOENT) {
    return Errno();
  }
  by_id_.erase(it->second);
  by_fd_.erase(it);
  return {};
}

Result<size_t> EventLoop::RunOnce(std::chrono::milliseconds max_wait) {
  int timeout_ms =
      max_wait.count() < 0
          ? -1
          : static_cast<int>(std::min<std::chrono::milliseconds::rep>(max_wait.count(), INT_MAX));
  int ready =
      epoll_wait(epoll_fd_.get(), events_->data(), static_cast<int>(events_->size()), timeout_ms);
  if (ready < 0) {
    if (errno == EINTR) return size_t{0};
    return Errno();
  }
  size_t dispatched = 0;
  for (int i = 0; i < ready; ++i) {
    // Looked up afresh for every event: an earlier callback may have removed this one.
    auto it = by_id_.find((*events_)[static_cast<size_t>(i)].data.u64);
    if (it == by_id_.end()) continue;
    std::shared_ptr<std::function<void()>> callback = it->second;
    (*callback)();
    ++dispatched;
  }
  return dispatched;
}

}  // namespace aoe
