// SignalThread: `aoe serve`'s signals, received on a thread of their own and handed to the
// event loop through a pipe, so that a repeated stop signal ends the process even when the
// loop's thread is stuck.
//
// Why a thread: the loop reads its signals only between turns. A loop stuck inside a system
// call (opening or reading an image on a FUSE or NFS mount whose server hangs) never takes
// them, and further SIGTERMs merge into the one already pending, so before this only SIGKILL
// ended it. The thread takes every handled signal as it arrives: it passes each on to the loop
// (SignalHandler), except a second stop signal (SIGINT or SIGTERM), which it lets take its
// default action at once, as the first one promised ("send it again to quit at once"). A
// repeat from the first one's sender within 100 ms is the same request sent twice (coreutils
// `timeout` signals the process, then its process group), not a second one.
//
// Every thread of the process must block the handled signals, which Start() does for the
// calling thread; threads started afterwards inherit the mask, so Start() must come first.
//
// A stop that takes long is reported (SlowStopNotice): after the first stop signal the thread
// waits `after`, and if the process still runs it says so once, through `report`, and whether
// the loop has taken the signal at all. A loop stuck in a system call cannot log, so without
// this line an administrator's SIGTERM would leave no trace.
//
// Thread-safety: Take() and fd() are for the loop's thread; the signal thread touches only its
// own descriptors, stop_taken_ and the report function (which must be callable from it).
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace aoe::cli {

// The signals aoe serve handles: SIGINT and SIGTERM (stop), SIGHUP (reload).
sigset_t HandledSignals();

// The one line a slow stop gets (see above). An empty `report` turns it off.
struct SlowStopNotice {
  std::chrono::milliseconds after{5000};
  std::function<void(const std::string& line)> report;
};

class SignalThread {
 public:
  // Blocks `handled` in the calling thread and starts the thread that receives them. SIGINT and
  // SIGTERM among them are the stop signals. Errors: the errno of pthread_sigmask, signalfd,
  // pipe2 or eventfd.
  static Result<std::unique_ptr<SignalThread>> Start(const sigset_t& handled,
                                                     SlowStopNotice slow_stop = {});
  ~SignalThread();  // stops and joins the thread; the signals stay blocked

  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

  // Readable while signals wait to be taken (for the loop to watch).
  int fd() const { return read_end_.get(); }
  // The signals received since the last call, in order. Never blocks.
  std::vector<int> Take();

 private:
  SignalThread(UniqueFd signal_fd, UniqueFd read_end, UniqueFd write_end, UniqueFd stop_fd);
  void Run();
  // How long poll() may wait: until the slow-stop line is due, or for ever.
  int PollTimeoutMs() const;
  void ReportSlowStop();
  // A second stop signal: its default action, which ends the process. Does not return.
  [[noreturn]] static void Die(int signal_number);

  UniqueFd signal_fd_;
  UniqueFd read_end_;
  UniqueFd write_end_;
  UniqueFd stop_fd_;  // an eventfd: the destructor's request to return
  // A stop signal from the first one's sender within this window is the same request.
  static constexpr std::chrono::milliseconds kSameRequestWindow{100};
  struct FirstStop {
    uint32_t sender;  // pid
    int signal_number;
    std::chrono::steady_clock::time_point at;
  };
  std::optional<FirstStop> first_stop_;  // the signal thread's own
  SlowStopNotice slow_stop_;
  bool slow_stop_reported_ = false;      // the signal thread's own
  std::atomic<bool> stop_taken_{false};  // Take() returned a stop signal
  std::thread thread_;
};

}  // namespace aoe::cli
