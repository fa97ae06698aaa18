// LoopThread: a DataLoop (data_loop.h) on a thread of its own, one of the extra event loops of
// `aoe serve` with `loops = N` (docs/architecture.md, "More cores").
//
// The server's own thread (loop 0) keeps deciding everything but the data path: it opens each
// export's copy for this loop, hands it its ports, and takes the copies away again, all through
// Call(), which runs a task on this loop's thread between two turns and returns once it has
// run. So the DataLoop is only ever touched by one thread at a time and needs no lock; what the
// exports' state is, the copies read from what their owner publishes (published_state.h).
//
// The loop follows its own ports' MTU and link once a second.
//
// Thread-safety: Call() and the destructor from any one thread (the server's).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "target/data_loop.h"

namespace aoe::target {

class LoopThread {
 public:
  // Starts the thread that runs `loop`. Errors: eventfd's.
  static Result<std::unique_ptr<LoopThread>> Start(std::unique_ptr<DataLoop> loop);
  // Ends the thread (after the tasks called already); the DataLoop is destroyed on it.
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  // Runs `task` on the loop's thread between two turns, and returns once it has run.
  void Call(const std::function<void(DataLoop&)>& task);

 private:
  struct Pending {
    const std::function<void(DataLoop&)>* task;
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
  std::thread thread_;
};

}  // namespace aoe::target
