// `aoe overlay`: the per-client copy-on-write overlays of a running `aoe serve`'s overlay
// exports (docs/overlays.md), over its control socket: list, show, reset, commit, rollback; and
// `check`, which reads an overlay directory directly (no server needed) and reports anything
// that could make an overlay return data that was never written.
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/control_cli.h"
#include "storage/overlay/overlay_check.h"

namespace aoe::cli {
namespace {

using control::Json;

constexpr std::string_view kHelp =
    R"(Usage: aoe overlay [-S SOCKET] [--json] [--timeout S] COMMAND [ARGS...]

Manage the per-client overlays of an overlay export (overlay=DIR) of a running aoe serve.

Commands:
  list EXPORT          the overlays (client, base version, size) and the base versions
  show EXPORT MAC      one client's overlay
  reset EXPORT MAC     drop the client's overlay: it reads the current version again
  commit EXPORT MAC    merge the client's overlay into a new base version and make it current:
                       clients without an overlay read it at once, the others when they next
                       boot; the client itself moves onto it (its overlay is then empty)
  rollback EXPORT      make the previous base version current again
  check DIR            check an overlay directory for consistency (offline, read-only; also
                       safe while aoe serve runs)

Options:
  -S, --socket PATH  the control socket (default /run/aoekit/aoe.sock)
  --json             print the result as JSON
  --timeout S        give up after S seconds without an answer (default: wait; a commit
                     copies the whole image)
  -h, --help         print this help

Examples:
  aoe overlay list e0.1
  aoe overlay commit e0.1 52:54:00:12:34:56
  aoe overlay rollback e0.1
  aoe overlay check /var/lib/aoekit/overlays/e0.1

Exit status: 0 done (check: consistent), 1 refused, failed or inconsistent, 2 bad arguments.
)";

void PrintVersion(std::string_view what, const Json& v) {
  fmt::print("{} {}: version {} (from {}{}) is current\n", v.at("export").get<std::string>(), what,
             v.at("id").get<uint64_t>(),
             v.at("parent").get<uint64_t>() == 0
                 ? std::string("the image")
                 : fmt::format("version {}", v.at("parent").get<uint64_t>()),
             v.at("from_client").get<std::string>().empty()
                 ? ""
                 : fmt::format(", overlay of {}", v.at("from_client").get<std::string>()));
}

// " (failed: ...)" for an overlay a flush failed on (it takes no writes until reset), else
// " (unflushed writes)" when it holds some.
std::string FailedOrUnflushed(const Json& client) {
  if (const Json failed = client.value("failed", Json()); failed.is_string()) {
    return fmt::format(" (failed: {}; reset it)", failed.get<std::string>());
  }
  return client.at("unflushed").get<bool>() ? " (unflushed writes)" : "";
}

void PrintList(const Json& r) {
  fmt::print(
      "{}: {} (current version {}, lifetime {}{})\n", r.at("export").get<std::string>(),
      r.at("dir").get<std::string>(), r.at("current_version").get<uint64_t>(),
      r.at("lifetime").get<std::string>(),
      r.at("commit_running").get<bool>()
          ? fmt::format(", commit running: {} copied", BytesText(r.at("commit_bytes_copied")))
          : "");
  fmt::print("\n{:<17} {:>7} {:<15} {:>10} {:>10} {:>9}  {}\n", "CLIENT", "VERSION", "LIFETIME",
             "MAPPED", "ON DISK", "METADATA", "CREATED");
  for (const Json& c : r.at("clients")) {
    fmt::print("{:<17} {:>7} {:<15} {:>10} {:>10} {:>9}  {}{}\n", c.at("mac").get<std::string>(),
               c.at("base_version").get<uint64_t>(), c.at("lifetime").get<std::string>(),
               BytesText(c.at("mapped_bytes")), BytesText(c.at("data_allocated_bytes")),
               BytesText(c.at("map_allocated_bytes")), TimeText(c.at("created_unix")),
               FailedOrUnflushed(c));
  }
  fmt::print("\n{:<8} {:<7} {:<19} {:<8} {}\n", "VERSION", "PARENT", "FROM", "OVERLAYS", "FILE");
  for (const Json& v : r.at("versions")) {
    fmt::print(
        "{:<8} {:<7} {:<19} {:<8} {}\n",
        fmt::format("{}{}", v.at("id").get<uint64_t>(), v.at("current").get<bool>() ? "*" : ""),
        v.at("parent").get<uint64_t>(),
        v.at("from_client").get<std::string>().empty() ? "-"
                                                       : v.at("from_client").get<std::string>(),
        v.at("overlays").get<uint64_t>(),
        v.at("file").get<std::string>().empty() ? "(the image)" : v.at("file").get<std::string>());
  }
}

void PrintShow(const Json& c) {
  fmt::print("{} on {}\n", c.at("mac").get<std::string>(), c.at("export").get<std::string>());
  fmt::print(
      "  base version    {}{}\n", c.at("base_version").get<uint64_t>(),
      c.at("base_version") == c.at("current_version") ? " (current)" : " (older than current)");
  fmt::print("  lifetime        {}\n", c.at("lifetime").get<std::string>());
  fmt::print("  mapped          {}\n", BytesText(c.at("mapped_bytes")));
  fmt::print("  data on disk    {}\n", BytesText(c.at("data_allocated_bytes")));
  fmt::print("  map on disk     {}\n", BytesText(c.at("map_allocated_bytes")));
  fmt::print("  created         {}\n", TimeText(c.at("created_unix")));
  fmt::print("  last seen       {}\n", TimeText(c.value("last_seen_unix", Json())));
  fmt::print("  unflushed       {}\n", c.at("unflushed").get<bool>() ? "yes" : "no");
  if (const Json failed = c.value("failed", Json()); failed.is_string()) {
    fmt::print("  failed          {}: a flush failed; its writes fail until 'aoe overlay reset'\n",
               failed.get<std::string>());
  }
}

// A directory that never held an export's overlays (neither the lock nor versions.json that
// OverlayFilter::Open makes): most likely the wrong path, not a damaged directory.
// One that cannot be read is not judged here: the check then says why it cannot read it.
bool NeverAnOverlayDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (const char* made_by_open : {"lock", "versions.json"}) {
    if (fs::exists(fs::path(dir) / made_by_open, ec) || ec) return false;
  }
  return true;
}

int Check(const ControlCliArgs& cli, const std::string& dir) {
  if (dir.empty()) {
    return ControlUsage("overlay", "check takes the overlay directory (an export's overlay=DIR)");
  }
  // A path that is no directory is a mistyped argument, like one that never held overlays. One
  // that cannot be looked at (EACCES on the way) is left to the check, which says why.
  if (struct stat st{}; ::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return ControlUsage("overlay",
                          fmt::format("{} does not exist; give an export's overlay=DIR", dir));
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return ControlUsage("overlay",
                        fmt::format("{} is not a directory; give an export's overlay=DIR", dir));
  }
  if (NeverAnOverlayDirectory(dir)) {
    return ControlUsage("overlay",
                        fmt::format("{} is not an overlay directory (no lock or versions.json); "
                                    "give an export's overlay=DIR",
                                    dir));
  }
  auto report = overlay::CheckOverlayDirectory(dir);
  if (!report) {
    fmt::print(stderr, "aoe overlay: cannot read {}: {}\n", dir, report.error().message());
    return 1;
  }
  if (cli.json) {
    Json clients = Json::array();
    for (const auto& c : report->clients) {
      clients.push_back(Json{{"mac", c.mac.ToString()},
                             {"base_version", c.base_version},
                             {"mapped_blocks", c.mapped_blocks},
                             {"mapped_over_holes", c.mapped_over_holes},
                             {"data_allocated_bytes", c.data_allocated_bytes},
                             {"map_allocated_bytes", c.map_allocated_bytes}});
    }
    fmt::print("{}\n", Json{{"dir", dir},
                            {"consistent", report->consistent()},
                            {"in_use", report->in_use},
                            {"size_bytes", report->size_bytes},
                            {"current_version", report->current_version},
                            {"clients", clients},
                            {"problems", report->problems},
                            {"notes", report->notes}}
                           .dump(2));
  } else {
    fmt::print("{}: {} overlay(s), current version {}{}\n", dir, report->clients.size(),
               report->current_version, report->in_use ? " (in use by a running aoe serve)" : "");
    for (const auto& c : report->clients) {
      fmt::print("  {}  version {}  {} block(s) mapped  {} data  {} map\n", c.mac.ToString(),
                 c.base_version, c.mapped_blocks, BytesText(Json(c.data_allocated_bytes)),
                 BytesText(Json(c.map_allocated_bytes)));
    }
    for (const auto& n : report->notes) fmt::print("note: {}\n", n);
    for (const auto& p : report->problems) fmt::print("PROBLEM: {}\n", p);
    fmt::print("{}\n", report->consistent() ? "consistent" : "INCONSISTENT");
  }
  return report->consistent() ? 0 : 1;
}

}  // namespace

int OverlayMain(const std::vector<std::string>& arguments) {
  ControlCliArgs cli;
  if (std::optional<int> ended = StartControlCli("overlay", kHelp, arguments, cli)) return *ended;
  const std::vector<std::string>& w = cli.words;
  auto usage = [](std::string_view message) { return ControlUsage("overlay", message); };
  const std::string& command = w[0];
  const size_t operands = w.size() - 1;
  auto needs = [&](size_t n, std::string_view what) {
    if (operands == n) return std::string();
    // Say which operand is extra: "list takes an EXPORT" alone reads as if none was given.
    if (operands > n) {
      return fmt::format("{} takes {}; '{}' is one too many", command, what, w[n + 1]);
    }
    return fmt::format("{} takes {}", command, what);
  };
  if (command == "check") {
    if (auto bad = needs(1, "the overlay directory"); !bad.empty()) return usage(bad);
    return Check(cli, w[1]);
  }
  if (command == "list") {
    if (auto bad = needs(1, "an EXPORT, e.g. e0.1"); !bad.empty()) return usage(bad);
    if (auto bad = BadExportOperand(w[1])) return usage(*bad);
    return RunControlCommand("overlay", cli, "overlay.list", Json{{"export", w[1]}}, PrintList);
  }
  if (command == "show" || command == "reset" || command == "commit") {
    if (auto bad = needs(2, "EXPORT MAC, e.g. e0.1 52:54:00:12:34:56"); !bad.empty()) {
      return usage(bad);
    }
    if (auto bad = BadExportOperand(w[1])) return usage(*bad);
    if (auto bad = BadMacOperand(w[2])) return usage(*bad);
    const Json args{{"export", w[1]}, {"mac", w[2]}};
    if (command == "show")
      return RunControlCommand("overlay", cli, "overlay.show", args, PrintShow);
    if (command == "reset") {
      return RunControlCommand("overlay", cli, "overlay.reset", args, [](const Json& r) {
        fmt::print("{}: the overlay of {} is gone\n", r.at("export").get<std::string>(),
                   r.at("mac").get<std::string>());
      });
    }
    return RunControlCommand("overlay", cli, "overlay.commit", args,
                             [](const Json& r) { PrintVersion("committed", r); });
  }
  if (command == "rollback") {
    if (auto bad = needs(1, "an EXPORT, e.g. e0.1"); !bad.empty()) return usage(bad);
    if (auto bad = BadExportOperand(w[1])) return usage(*bad);
    return RunControlCommand("overlay", cli, "overlay.rollback", Json{{"export", w[1]}},
                             [](const Json& r) { PrintVersion("rolled back", r); });
  }
  return usage(fmt::format("unknown command '{}'", command));
}

}  // namespace aoe::cli
