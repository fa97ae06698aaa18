#include "net/testing/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <sstream>
#include <thread>

#include "base/unique_fd.h"

namespace aoe::testing {

namespace {

// Names are pasted into shell commands; allow only characters that need no quoting.
bool IsSafeName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  std::string wrapped = "{ " + command + " ; } 2>&1";
  FILE* pipe = popen(wrapped.c_str(), "r");
  if (pipe == nullptr) {
    result.output = "popen failed";
    return result;
  }
  char buffer[512];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

Result<void> RunChecked(const std::string& command) {
  CommandResult result = RunCommand(command);
  if (result.ok()) return {};
  std::fprintf(stderr, "command failed (exit %d): %s\n%s", result.exit_code, command.c_str(),
               result.output.c_str());
  return Errno(ECHILD);
}

std::string NetnsUnavailableReason() {
  if (geteuid() != 0) return "needs root (creates network namespaces and veth pairs)";
  if (!RunCommand("ip -V").ok()) return "needs the `ip` tool (iproute2)";
  // Root in a container may still lack CAP_SYS_ADMIN; try for real.
  std::string probe = "aoeprobe-" + std::to_string(getpid());
  CommandResult add = RunCommand("ip netns add " + probe);
  if (!add.ok()) return "cannot create network namespaces: " + add.output;
  RunCommand("ip netns del " + probe);
  return {};
}

Result<void> RunInNamespace(const std::string& name, const std::function<void()>& fn) {
  if (!IsSafeName(name)) return Errno(EINVAL);
  int error = 0;
  // setns() changes only the calling thread, so a throwaway thread keeps ours where it is.
  std::thread worker([&] {
    UniqueFd ns(open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) {
      error = errno;
      return;
    }
    if (setns(ns.get(), CLONE_NEWNET) != 0) {
      error = errno;
      return;
    }
    fn();
  });
  worker.join();
  if (error != 0) return Errno(error);
  return {};
}

void DeleteStaleNamespaces(std::string_view prefix) {
  std::istringstream lines(RunCommand("ip netns list").output);
  std::string line;
  std::string head = std::string(prefix) + "-";
  while (std::getline(lines, line)) {
    std::string name = line.substr(0, line.find(' '));
    if (name.rfind(head, 0) != 0 || !IsSafeName(name)) continue;
    size_t pid_end = name.find('-', head.size());
    if (pid_end == std::string::npos) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(name.substr(head.size(), pid_end - head.size())));
    } catch (...) {
      continue;  // not one of ours
    }
    if (pid <= 0 || pid == getpid()) continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) RunCommand("ip netns del " + name);
  }
}

Result<NetNamespace> NetNamespace::Create(std::string_view prefix) {
  static std::atomic<int> counter{0};
  if (!IsSafeName(prefix)) return Errno(EINVAL);
  DeleteStaleNamespaces(prefix);
  std::string name = std::string(prefix) + "-" + std::to_string(getpid()) + "-" +
                     std::to_string(counter.fetch_add(1));
  AOE_TRY(RunChecked("ip netns add " + name));
  NetNamespace ns(name);  // from here on the destructor cleans up
  AOE_TRY(ns.Ip("link set lo up"));
  return ns;
}

NetNamespace::NetNamespace(NetNamespace&& other) noexcept : name_(std::move(other.name_)) {
  other.name_.clear();
}

NetNamespace& NetNamespace::operator=(NetNamespace&& other) noexcept {
  if (this != &other) {
    (void)Delete();
    name_ = std::move(other.name_);
    other.name_.clear();
  }
  return *this;
}

NetNamespace::~NetNamespace() { (void)Delete(); }

Result<void> NetNamespace::Run(const std::function<void()>& fn) const {
  return RunInNamespace(name_, fn);
}

CommandResult NetNamespace::Exec(const std::string& command) const {
  // Single quotes protect the command from the outer shell; escape any it contains.
  std::string quoted;
  for (char c : command) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return RunCommand("ip netns exec " + name_ + " sh -c '" + quoted + "'");
}

Result<void> NetNamespace::Ip(const std::string& ip_args) const {
  return RunChecked("ip -n " + name_ + " " + ip_args);
}

Result<void> NetNamespace::Delete() {
  if (name_.empty()) return {};
  std::string name = std::move(name_);
  name_.clear();
  return RunChecked("ip netns del " + name);
}

Result<void> CreateVethPair(const NetNamespace& a, const std::string& name_a, const NetNamespace& b,
                            const std::string& name_b, size_t mtu) {
  if (!IsSafeName(name_a) || !IsSafeName(name_b) || name_a.size() > 15 || name_b.size() > 15) {
    return Errno(EINVAL);
  }
  std::string mtu_text = std::to_string(mtu);
  // Created inside `a` with the peer moved straight into `b`: never in the host namespace.
  AOE_TRY(a.Ip("link add " + name_a + " mtu " + mtu_text + " type veth peer name " + name_b +
               " mtu " + mtu_text + " netns " + b.name()));
  AOE_TRY(a.Ip("link set " + name_a + " up"));
  AOE_TRY(b.Ip("link set " + name_b + " up"));
  return {};
}

Result<VethSegment> CreateVethSegment(std::string_view prefix, const std::string& name_a,
                                      const std::string& name_b, size_t mtu) {
  Result<NetNamespace> a = NetNamespace::Create(prefix);
  if (!a) return Unexpected{a.error()};
  Result<NetNamespace> b = NetNamespace::Create(prefix);
  if (!b) return Unexpected{b.error()};
  AOE_TRY(CreateVethPair(*a, name_a, *b, name_b, mtu));
  return VethSegment{std::move(*a), std::move(*b)};
}

}  // namespace aoe::testing
