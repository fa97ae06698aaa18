#include "net/testing/spawn.h"

#include <fcntl.h>
#include <unistd.h>

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

}  // namespace aoe::testing
