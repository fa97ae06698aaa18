// Starting the program under test from an integration test: fork and exec with stdout and
// stderr appended to a log file, so a failing test can show what the program said.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace aoe::testing {

// Runs `argv` (argv[0] looked up in PATH) with its output appended to `log_path`. Returns the
// child's pid, or -1 when fork fails. The caller stops and reaps it.
pid_t SpawnLogged(std::vector<std::string> argv, const std::string& log_path);

// One program under test (e.g. `ip netns exec NS aoe serve ...`) started with SpawnLogged, and
// its end: Stop() signals and reaps it, the destructor kills one still running, so no test
// leaves a process behind. Not thread-safe.
class LoggedProcess {
 public:
  LoggedProcess() = default;
  LoggedProcess(const LoggedProcess&) = delete;
  LoggedProcess& operator=(const LoggedProcess&) = delete;
  ~LoggedProcess();

  // Starts `argv` with its output appended to `log_path`. False when fork fails.
  bool Start(std::vector<std::string> argv, std::string log_path);
  // True from Start() until it exits; reaps it (without waiting) once it has.
  bool Running();
  // Sends `signal`, then waits up to `grace` for the exit, then SIGKILL. Returns the wait status
  // (WIFEXITED, WIFSIGNALED...), or -1 when it had to be killed or was not running.
  int Stop(int signal = SIGTERM, std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Sends `signal` and returns at once (e.g. SIGHUP to reload).
  void Signal(int signal) const;
  // What it has written so far.
  std::string Log() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

}  // namespace aoe::testing
