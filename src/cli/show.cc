// `aoe show`: lists the disks mounted by `aoe mount` on this host, from the status files their
// daemons publish every second (os/mount_status.h), with per-path statistics.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/initiator_args.h"
#include "os/mount_status.h"
#include "os/mount_table.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kName = "show";

constexpr CommandHelp kHelp{
    .name = kName,
    .usage = "Usage: aoe show [--json]\n",
    .description =
        "List the AoE disks mounted with 'aoe mount': the file, size, daemon, dead-target\n"
        "timeout and request counters, and for each path (local interface to target MAC) its\n"
        "state, commands in flight, retransmits and round-trip time. A mount whose daemon is\n"
        "gone (killed) is listed as dead, to be removed with 'aoe umount'.",
    .footer = R"(Examples:
  aoe show
  aoe show --json | jq '.mounts[].paths'

The daemons publish their status in $AOE_RUN_DIR (default /run/aoekit/mounts) every second.
Exit status: 0 listed (also when nothing is mounted), 2 bad arguments.)"};

// A daemon that has not refreshed its status for this long is shown as not responding.
constexpr int64_t kStaleSeconds = 5;

std::string StateOf(const os::MountStatus& s, int64_t now) {
  if (now - s.updated_unix > kStaleSeconds) {
    return fmt::format("not responding ({} s)", now - s.updated_unix);
  }
  return s.state;
}

std::string DeadTimeout(int64_t ms) {
  if (ms <= 0) return "no dead timeout";
  return fmt::format("dead timeout {:g} s", static_cast<double>(ms) / 1000.0);
}

std::string Rtt(uint64_t rtt_us) {
  if (rtt_us == 0) return "-";
  return fmt::format("{:.3f} ms", static_cast<double>(rtt_us) / 1000.0);
}

// The `aoe mount`s of this mount namespace that no daemon serves any more (it was killed):
// their mount point answers every access with ENOTCONN until `aoe umount` removes it. Only
// that answer makes a mount dead: one without a status file here may be another user's, or
// one whose daemon has not written its first status yet.
std::vector<os::MountEntry> DeadMounts(const std::vector<os::MountStatus>& served) {
  std::vector<os::MountEntry> dead = os::AoeMounts();
  std::erase_if(dead, [&](const os::MountEntry& m) {
    const bool has_daemon = std::any_of(
        served.begin(), served.end(), [&](const auto& s) { return s.mountpoint == m.mountpoint; });
    // Only a mount without a live daemon is asked: a stopped daemon would not answer.
    return has_daemon || !os::IsDeadFuseMount(m.mountpoint);
  });
  return dead;
}

// "aoe:e0.1" (the mount's source) -> "e0.1".
std::string DiskOf(const os::MountEntry& m) {
  return m.source.starts_with("aoe:") ? m.source.substr(4) : m.source;
}

void PrintText(const std::vector<os::MountStatus>& mounts, const std::vector<os::MountEntry>& dead,
               int64_t now) {
  if (mounts.empty() && dead.empty()) {
    fmt::print("no AoE disks mounted\n");
    return;
  }
  for (const os::MountEntry& m : dead) {
    fmt::print("{}  {}  dead: its aoe mount daemon is gone; remove it with 'aoe umount {}'\n",
               DiskOf(m), m.mountpoint, m.mountpoint);
  }
  for (const os::MountStatus& s : mounts) {
    fmt::print("{}  {}  {}\n", s.disk, HumanBytes(s.size_bytes), s.file);
    fmt::print("  pid {}, {}{}, {}, {} in flight, {} reads, {} writes, {} flushes, {} errors{}\n",
               s.pid, StateOf(s, now), s.read_only ? ", read-only" : "",
               DeadTimeout(s.dead_timeout_ms), s.in_flight, s.reads, s.writes, s.flushes, s.errors,
               s.model.empty() ? "" : fmt::format(", model '{}'", s.model));
    for (const os::MountPathStatus& p : s.paths) {
      fmt::print(
          "  path {} {} -> {}: {}, {} in flight, {} sent, {} retransmits, {} timeouts, "
          "rtt {}\n",
          p.interface, p.local_mac, p.target_mac, p.up ? "up" : "down", p.in_flight, p.sent,
          p.retransmits, p.timeouts, Rtt(p.rtt_us));
    }
    for (const std::string& c : s.conflicting) {
      fmt::print("  not used, another disk at the same address: {}\n", c);
    }
  }
}

}  // namespace

int ShowMain(const std::vector<std::string>& args) {
  CLI::App app("", "aoe show");
  SetUpCommand(app, kHelp);
  bool json = false;
  app.add_flag("--json", json, "Print JSON instead of text. Example: --json");
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;

  const int64_t now = std::time(nullptr);
  // Files of daemons that were killed are dropped here, so they do not linger.
  std::vector<os::MountStatus> mounts = os::ReadStatuses(os::RunDirectory(), /*remove_stale=*/true);
  const std::vector<os::MountEntry> dead = DeadMounts(mounts);
  if (!json) {
    PrintText(mounts, dead, now);
    return kExitOk;
  }
  nlohmann::json list = nlohmann::json::array();
  for (const os::MountStatus& s : mounts) {
    nlohmann::json j = os::StatusToJson(s);
    j["state"] = StateOf(s, now);
    list.push_back(std::move(j));
  }
  nlohmann::json dead_list = nlohmann::json::array();
  for (const os::MountEntry& m : dead) {
    dead_list.push_back({{"disk", DiskOf(m)}, {"mountpoint", m.mountpoint}});
  }
  fmt::print(
      "{}\n",
      nlohmann::json{{"mounts", std::move(list)}, {"dead_mounts", std::move(dead_list)}}.dump(2));
  return kExitOk;
}

}  // namespace aoe::cli
