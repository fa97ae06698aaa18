// DaemonStartup: turns a foreground process into a background daemon once its setup has
// succeeded, keeping the parent around until the child reports that it is serving, so that the
// command's exit status means "mounted and served" (style of `mount -t nfs`, sshd -D aside).
//
//   auto startup = DaemonStartup::Fork();       // after every check that can fail
//   if (!startup->is_child()) return startup->WaitForChild(...);   // parent
//   ... child: startup->ReportReady() once serving; it detaches stdio and the terminal ...
//
// Fork only from a single-threaded process (the mount daemon is; no library here owns threads).
// Ownership: owns the pipe end of its side. Thread-safety: none.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "base/unique_fd.h"
#include "initiator/error.h"

namespace aoe::os {

class DaemonStartup {
 public:
  static initiator::Outcome<DaemonStartup> Fork();

  bool is_child() const { return child_pid_ == 0; }
  pid_t child_pid() const { return child_pid_; }

  // Child: leaves the terminal's session, moves to /, points stdin/stdout/stderr at /dev/null
  // and tells the parent that all went well.
  void ReportReady();
  // Child: tells the parent why it could not start (one line, printed by the parent).
  void ReportFailure(const std::string& message);
  // Parent: waits for the child's report. An error if the child failed, died, or did not
  // report within `timeout`.
  initiator::Outcome<void> WaitForChild(std::chrono::milliseconds timeout);

 private:
  DaemonStartup(pid_t child_pid, UniqueFd fd) : child_pid_(child_pid), fd_(std::move(fd)) {}

  pid_t child_pid_;
  UniqueFd fd_;  // child: write end; parent: read end
};

}  // namespace aoe::os
