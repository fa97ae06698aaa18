// CompletionQueue: hands completions from other threads to the loop thread that drives the
// storage chain, for backends whose I/O finishes on threads of their own (librbd calls back from
// its own threads). The io_uring backends do not need it: IoEngine is already a completion
// source on the loop. Both end in the same place: IoCallback::IoDone on the loop thread.
//
//   any thread:   queue.Post(done, result);          // never blocks on I/O
//   loop thread:  epoll on queue.fd() (readable when completions wait), then queue.Reap();
//
// Ownership: the queue owns its eventfd, not the callbacks. Every callback posted must stay valid
// until Reap() has run it. Thread-safety: Post() from any thread; everything else from the loop
// thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "storage/block_backend.h"

namespace aoe {

class CompletionQueue {
 public:
  // Fails with the errno of eventfd(2).
  static Result<std::unique_ptr<CompletionQueue>> Create();

  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // Readable while completions wait to be reaped.
  int fd() const { return event_fd_.get(); }

  // Any thread: queues done->IoDone(result) for the loop thread and wakes it.
  void Post(IoCallback* done, int64_t result);

  // Loop thread: runs every posted completion, in the order posted; never blocks. Returns how
  // many ran.
  size_t Reap();

  // Loop thread: waits up to `timeout_ms` for a completion to be posted, then reaps. Used while
  // draining on shutdown; never on the data path.
  size_t WaitAndReap(int timeout_ms);

 private:
  struct Posted {
    IoCallback* done;
    int64_t result;
  };

  explicit CompletionQueue(UniqueFd event_fd) : event_fd_(std::move(event_fd)) {}

  UniqueFd event_fd_;
  std::mutex mutex_;
  std::vector<Posted> posted_;   // guarded by mutex_
  std::vector<Posted> reaping_;  // loop thread only
};

}  // namespace aoe
