// `aoe show`: lists the disks mounted by `aoe mount` on this host, from the status files their
// daemons publish every second (os/mount_status.h), with per-path statistics.
#include <fmt/format.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/initiator_args.h"
#include "os/mount_status.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kName = "show";

constexpr CommandHelp kHelp{
    .name = kName,
    .usage = "Usage: aoe show [--json]\n",
    .description =
        "List the AoE disks mounted with 'aoe mount': the file, size, daemon, dead-target\n"
        "timeout and request counters, and for each path (local interface to target MAC) its\n"
        "state, commands in flight, retransmits and round-trip time.",
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

void PrintText(const std::vector<os::MountStatus>& mounts, int64_t now) {
  if (mounts.empty()) {
    fmt::print("no AoE disks mounted\n");
    return;
  }
  for (const os::MountStatus& s : mounts) {
    fmt::print("{}  {}  {}\n", s.disk, HumanBytes(s.size_bytes), s.file);
    fmt::print("  pid {}, {}, {}, {} in flight, {} reads, {} writes, {} flushes, {} errors{}\n",
               s.pid, StateOf(s, now), DeadTimeout(s.dead_timeout_ms), s.in_flight, s.reads,
               s.writes, s.flushes, s.errors,
               s.model.empty() ? "" : fmt::format(", model '{}'", s.model));
    for (const os::MountPathStatus& p : s.paths) {
      fmt::print(
          "  path {} {} -> {}: {}, {} in flight, {} sent, {} retransmits, {} timeouts, "
          "rtt {}\n",
          p.interface, p.local_mac, p.target_mac, p.up ? "up" : "down", p.in_flight, p.sent,
          p.retransmits, p.timeouts, Rtt(p.rtt_us));
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
  if (!json) {
    PrintText(mounts, now);
    return kExitOk;
  }
  nlohmann::json list = nlohmann::json::array();
  for (const os::MountStatus& s : mounts) {
    nlohmann::json j = os::StatusToJson(s);
    j["state"] = StateOf(s, now);
    list.push_back(std::move(j));
  }
  fmt::print("{}\n", nlohmann::json{{"mounts", std::move(list)}}.dump(2));
  return kExitOk;
}

}  // namespace aoe::cli
