#include "storage/completion_queue.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace aoe {

Result<std::unique_ptr<CompletionQueue>> CompletionQueue::Create() {
  UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd) return Errno();
  return std::unique_ptr<CompletionQueue>(new CompletionQueue(std::move(fd)));
}

void CompletionQueue::Post(IoCallback* done, int64_t result) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    posted_.push_back(Posted{done, result});
  }
  // An eventfd counter only overflows after 2^64 - 2 posts without a read; EAGAIN then still
  // leaves it readable, so the wake-up is never lost.
  const uint64_t one = 1;
  while (::write(event_fd_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
}

size_t CompletionQueue::Reap() {
  // Clear the eventfd before taking the list: a post after this read signals it again, so the
  // loop cannot miss it.
  uint64_t count;
  while (::read(event_fd_.get(), &count, sizeof count) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reaping_.swap(posted_);
  }
  for (const Posted& p : reaping_) p.done->IoDone(p.result);
  const size_t ran = reaping_.size();
  reaping_.clear();
  return ran;
}

size_t CompletionQueue::WaitAndReap(int timeout_ms) {
  pollfd p{event_fd_.get(), POLLIN, 0};
  while (::poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {
  }
  return Reap();
}

}  // namespace aoe
