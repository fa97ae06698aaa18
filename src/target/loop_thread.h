// LoopThread: a DataLoop (data_loop.h) on a thread of its own, one of the extra event loops of
// `aoe serve` with `loops = N` (docs/architecture.md, "More cores").
//
// The server's own thread (loop 0) keeps deciding everything but the data path: it opens each
// export's copy for this loop, hands it its ports, and takes the copies away again, all through
// Call(), which runs a task on this loop's thread between two turns and returns once it has
// run. So the DataLoop is only ever touched by one thread at a time and needs no lock; what the
// exports' state is, the copies read from what their owner publishes (published_state.h).
//
// The thread starts with Start(), not at construction: the server starts its threads at its
// first Poll(), after a daemon has dropped its privileges (server.h). Until then Call() runs the
// task at once, on the caller's thread, which is then the only one touching the loop.
//
// Once started, the loop follows its own ports' MTU and link once a second, and reports how many
// of its log lines were suppressed (Target::ReportSuppressedLogs).
//
// Thread-safety: Call(), Start() and the destructor from one thread (the server's).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "target/data_loop.h"

namespace aoe::target {

class LoopThread {
 public:
  // Takes `loop`, not started. Errors: those of eventfd, and of watching it.
  static Result<std::unique_ptr<LoopThread>> Create(std::unique_ptr<DataLoop> loop);
  // Ends the thread, if started, after the tasks called already; the DataLoop is destroyed on
  // it.
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  // Starts the thread that runs the loop (once). Errors: the system's, when it has no thread to
  // give (EAGAIN).
  Result<void> Start();

  // Runs `task` on the loop's thread between two turns, and returns once it has run (before
  // Start(): at once, on this thread).
  void Call(const std::function<void(DataLoop&)>& task);
  // The same, but gives up when the loop has not taken the task within `timeout` (none: wait):
  // its thread is stuck, e.g. in a read its storage hangs in (a FUSE or NFS image read on the
  // loop's own thread). The task is then withdrawn, never run, and this returns false. A task
  // the loop has taken is waited for. Once a loop was found stuck, later calls wait only 20 ms
  // for it until it has woken again.
  bool CallWithin(const std::function<void(DataLoop&)>& task,
                  std::optional<std::chrono::milliseconds> timeout);

 private:
  struct Pending {
    const std::function<void(DataLoop&)>* task;
    bool taken = false;  // the loop's thread has it (under mutex_)
    bool done = false;
  };

  LoopThread(std::unique_ptr<DataLoop> loop, UniqueFd wake);
  void Run();
  void RunPending();

  std::unique_ptr<DataLoop> loop_;  // touched by the loop's thread only, once started
  UniqueFd wake_;                   // an eventfd: a task was queued
  bool stopping_ = false;           // the loop's thread only
  std::mutex mutex_;
  std::condition_variable task_done_;
  std::vector<Pending*> pending_;  // under mutex_
  uint64_t wakeups_ = 0;           // RunPending() calls (under mutex_)
  // wakeups_ when a task was last withdrawn untaken; none once a task was taken since.
  std::optional<uint64_t> stuck_at_wakeup_;  // under mutex_
  std::thread thread_;
};

}  // namespace aoe::target
