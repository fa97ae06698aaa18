#include "os/mount_status.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/atomic_file.h"
#include "os/mount_lock.h"

namespace aoe::os {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kFormatVersion = 1;

json PathToJson(const MountPathStatus& p) {
  return json{{"interface", p.interface},
              {"local_mac", p.local_mac},
              {"target_mac", p.target_mac},
              {"state", p.up ? "up" : "down"},
              {"in_flight", p.in_flight},
              {"window", p.window},
              {"sent", p.sent},
              {"retransmits", p.retransmits},
              {"timeouts", p.timeouts},
              {"rtt_us", p.rtt_us},
              {"rto_us", p.rto_us}};
}

MountPathStatus PathFromJson(const json& j) {
  MountPathStatus p;
  p.interface = j.at("interface").get<std::string>();
  p.local_mac = j.value("local_mac", "");
  p.target_mac = j.value("target_mac", "");
  p.up = j.value("state", "up") == "up";
  p.in_flight = j.value("in_flight", 0u);
  p.window = j.value("window", 0u);
  p.sent = j.value("sent", uint64_t{0});
  p.retransmits = j.value("retransmits", uint64_t{0});
  p.timeouts = j.value("timeouts", uint64_t{0});
  p.rtt_us = j.value("rtt_us", uint64_t{0});
  p.rto_us = j.value("rto_us", uint64_t{0});
  return p;
}

}  // namespace

std::string RunDirectory() {
  if (const char* dir = std::getenv("AOE_RUN_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (geteuid() == 0) return "/run/aoekit/mounts";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return fmt::format("{}/aoekit/mounts", xdg);
  }
  return fmt::format("/tmp/aoekit-{}/mounts", geteuid());
}

std::string StatusPath(const std::string& run_dir, const std::string& disk) {
  return fmt::format("{}/{}.json", run_dir, disk);
}

nlohmann::json StatusToJson(const MountStatus& s) {
  json paths = json::array();
  for (const MountPathStatus& p : s.paths) paths.push_back(PathToJson(p));
  return json{{"version", kFormatVersion},
              {"pid", s.pid},
              {"holds_lock", s.holds_lock},
              {"disk", s.disk},
              {"mountpoint", s.mountpoint},
              {"file", s.file},
              {"log", s.log},
              {"size_bytes", s.size_bytes},
              {"read_only", s.read_only},
              {"model", s.model},
              {"serial", s.serial},
              {"state", s.state},
              {"started_unix", s.started_unix},
              {"updated_unix", s.updated_unix},
              {"dead_timeout_ms", s.dead_timeout_ms},
              {"in_flight", s.in_flight},
              {"reads", s.reads},
              {"writes", s.writes},
              {"flushes", s.flushes},
              {"errors", s.errors},
              {"bytes_read", s.bytes_read},
              {"bytes_written", s.bytes_written},
              {"paths", std::move(paths)},
              {"conflicting", s.conflicting}};
}

std::string ToJson(const MountStatus& s, int indent) { return StatusToJson(s).dump(indent); }

Result<MountStatus> StatusFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != kFormatVersion) {
    return Err(std::errc::invalid_argument);
  }
  try {
    MountStatus s;
    s.pid = j.at("pid").get<int>();
    s.holds_lock = j.value("holds_lock", false);
    s.disk = j.at("disk").get<std::string>();
    s.mountpoint = j.at("mountpoint").get<std::string>();
    s.file = j.value("file", "");
    s.log = j.value("log", "");
    s.size_bytes = j.value("size_bytes", uint64_t{0});
    s.read_only = j.value("read_only", false);
    s.model = j.value("model", "");
    s.serial = j.value("serial", "");
    s.state = j.value("state", "");
    s.started_unix = j.value("started_unix", int64_t{0});
    s.updated_unix = j.value("updated_unix", int64_t{0});
    s.dead_timeout_ms = j.value("dead_timeout_ms", int64_t{0});
    s.in_flight = j.value("in_flight", uint64_t{0});
    s.reads = j.value("reads", uint64_t{0});
    s.writes = j.value("writes", uint64_t{0});
    s.flushes = j.value("flushes", uint64_t{0});
    s.errors = j.value("errors", uint64_t{0});
    s.bytes_read = j.value("bytes_read", uint64_t{0});
    s.bytes_written = j.value("bytes_written", uint64_t{0});
    for (const json& p : j.value("paths", json::array())) s.paths.push_back(PathFromJson(p));
    for (const json& c : j.value("conflicting", json::array())) {
      s.conflicting.push_back(c.get<std::string>());
    }
    return s;
  } catch (const json::exception&) {
    // A file we did not write (or a future format): not ours to interpret.
    return Err(std::errc::invalid_argument);
  }
}

Result<void> WriteStatus(const std::string& run_dir, const MountStatus& status) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) return Unexpected{ec};
  return WriteFileAtomically(StatusPath(run_dir, status.disk), ToJson(status) + "\n");
}

Result<void> RemoveStatus(const std::string& run_dir, const std::string& disk) {
  if (::unlink(StatusPath(run_dir, disk).c_str()) != 0 && errno != ENOENT) return Errno();
  return {};
}

namespace {

// A daemon rewrites its status every second: one older than this was left by a dead daemon.
constexpr int64_t kFreshStatusSeconds = 10;

}  // namespace

bool ProcessAlive(int pid) {
  if (pid <= 0) return false;
  const bool ours = ::kill(pid, 0) == 0;
  if (!ours && errno == ESRCH) return false;
  // A zombie still answers kill(); its state letter is the field after "(comm)".
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(stat, line)) {
    // Another user's process (EPERM) that procfs hides (hidepid=) exists; one of ours that
    // procfs no longer shows was reaped since kill(), unless there is no procfs to ask.
    if (!ours) return true;
    return ::access("/proc/self/stat", F_OK) != 0;
  }
  size_t close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

// A daemon that holds its disk's lock keeps it until it exits, and the lock goes with it even
// if its pid is then reused by an unrelated process: the lock, not the pid, says whether it
// runs. A missing lock file says so too, with one exception: a live daemon whose file was
// removed under it (by hand, or by a cleaner that ages /tmp) still rewrites its status every
// second, while a dead one's status stopped when it died.
bool DaemonAlive(const std::string& run_dir, const MountStatus& status) {
  if (!ProcessAlive(status.pid)) return false;
  if (!status.holds_lock) return true;
  switch (DiskLockHeld(run_dir, status.disk)) {
    case DiskLockState::kHeld:
    case DiskLockState::kUnknown:
      return true;
    case DiskLockState::kFree:
      return false;
    case DiskLockState::kNoFile:
      return std::time(nullptr) - status.updated_unix < kFreshStatusSeconds;
  }
  return true;
}

std::vector<MountStatus> ReadStatuses(const std::string& run_dir, bool remove_stale) {
  std::vector<MountStatus> out;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(run_dir, ec)) {
    const fs::path& path = entry.path();
    if (path.extension() != ".json") continue;
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    Result<MountStatus> status = StatusFromJson(text.str());
    if (!status) continue;
    if (!DaemonAlive(run_dir, *status)) {
      if (remove_stale) fs::remove(path, ec);
      continue;
    }
    out.push_back(std::move(*status));
  }
  std::sort(out.begin(), out.end(),
            [](const MountStatus& a, const MountStatus& b) { return a.disk < b.disk; });
  return out;
}

}  // namespace aoe::os
