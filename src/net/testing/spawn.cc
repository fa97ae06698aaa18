#include "net/testing/spawn.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

namespace aoe::testing {

pid_t SpawnLogged(std::vector<std::string> argv, const std::string& log_path) {
  // Prepared before fork: the child only calls async-signal-safe functions.
  std::vector<char*> pointers;
  for (std::string& a : argv) pointers.push_back(a.data());
  pointers.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  ::execvp(pointers[0], pointers.data());
  ::_exit(127);
}

LoggedProcess::~LoggedProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

bool LoggedProcess::Start(std::vector<std::string> argv, std::string log_path) {
  if (pid_ > 0) Stop(SIGKILL);
  log_path_ = std::move(log_path);
  pid_ = SpawnLogged(std::move(argv), log_path_);
  return pid_ > 0;
}

bool LoggedProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) pid_ = -1;
  return pid_ > 0;
}

int LoggedProcess::Stop(int signal, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  const auto give_up = std::chrono::steady_clock::now() + grace;
  do {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < give_up);
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

void LoggedProcess::Signal(int signal) const {
  if (pid_ > 0) ::kill(pid_, signal);
}

std::string LoggedProcess::Log() const {
  std::ifstream in(log_path_);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace aoe::testing
