#include "os/daemonize.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace aoe::os {

using initiator::Error;
using initiator::Outcome;

Outcome<DaemonStartup> DaemonStartup::Fork() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::error_code ec(errno, std::system_category());
    return Error(ec, "cannot create a pipe: " + ec.message());
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) {
    std::error_code ec(errno, std::system_category());
    return Error(ec, "cannot fork the daemon: " + ec.message());
  }
  if (pid == 0) return DaemonStartup(0, std::move(write_end));
  return DaemonStartup(pid, std::move(read_end));
}

void DaemonStartup::ReportReady() {
  ::setsid();  // no controlling terminal: a closed terminal or Ctrl-C does not reach us
  if (::chdir("/") != 0) {
    // Keeps the old directory busy; harmless.
  }
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (null) {
    ::dup2(null.get(), STDIN_FILENO);
    ::dup2(null.get(), STDOUT_FILENO);
    ::dup2(null.get(), STDERR_FILENO);
  }
  const char ok = '\n';
  (void)!::write(fd_.get(), &ok, 1);
  fd_.reset();
}

void DaemonStartup::ReportFailure(const std::string& message) {
  std::string line = message + "\n";
  (void)!::write(fd_.get(), line.data(), line.size());
  fd_.reset();
}

Outcome<void> DaemonStartup::WaitForChild(std::chrono::milliseconds timeout) {
  std::string report;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Error(std::make_error_code(std::errc::timed_out),
                   fmt::format("the daemon (pid {}) did not report within {} ms", child_pid_,
                               timeout.count()));
    }
    pollfd p{fd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[512];
    ssize_t got = ::read(fd_.get(), buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // the child closed its end
    report.append(buf, static_cast<size_t>(got));
    if (!report.empty() && report.back() == '\n') break;
  }
  if (report == "\n") return {};
  while (!report.empty() && report.back() == '\n') report.pop_back();
  if (report.empty()) {
    return Error(std::make_error_code(std::errc::io_error),
                 fmt::format("the daemon (pid {}) exited during startup", child_pid_));
  }
  return Error(std::make_error_code(std::errc::io_error), report);
}

}  // namespace aoe::os
