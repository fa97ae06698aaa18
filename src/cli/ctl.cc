// `aoe ctl`: asks a running `aoe serve` over its control socket (docs/control.md): the exports
// and the clients they have seen; the target's counters; add, remove and reload an export
// without SIGHUP; tell it that a client boots; or send any request as JSON.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "cli/command.h"
#include "cli/control_cli.h"
#include "cli/export_spec.h"

namespace aoe::cli {
namespace {

// The spec with its relative paths made absolute here: the server resolves a path in its own
// working directory (/ under systemd), not in the caller's.
std::string AbsolutePaths(const std::string& spec) {
  return MapExportSpecPaths(spec, [](const std::string& path) {
    std::error_code error;
    std::filesystem::path absolute = std::filesystem::absolute(path, error);
    return path.starts_with('/') || error ? path : absolute.string();
  });
}

using control::Json;

constexpr std::string_view kHelp =
    R"(Usage: aoe ctl [-S SOCKET] [--json] [--timeout S] COMMAND [ARGS...]

Ask a running `aoe serve` over its control socket (root only).

Commands:
  exports                      the exports and their overlays
  clients [EXPORT]             the initiators each export has seen: last seen, frames, bytes,
                               retransmits (repeated tags) and overlay size
  stats                        the target's counters since it started: commands, bytes,
                               frames dropped or refused (by reason), busy polls, and
                               with aoe serve --loops N, the commands each loop served
  add SPEC                     serve one more export, SPEC as on the aoe serve command line
                               (e.g. e0.2=/srv/b.img,ro; a relative path is taken from this
                               directory); lasts until SIGHUP or restart
  remove EXPORT                stop serving an export (after its commands in flight)
  reload EXPORT [SPEC]         open an export again, with SPEC if given
  boot MAC                     what aoe netboot says when MAC asks to boot: applies the overlay
                               lifetimes (discard-on-boot, moving to a newer version)
  send JSON                    send one request as JSON, print its result (or its error)

Options:
  -S, --socket PATH  the control socket (default /run/aoekit/aoe.sock)
  --json             print the result as JSON
  --timeout S        give up after S seconds without an answer (default: wait)
  -h, --help         print this help

Examples:
  aoe ctl clients e0.1
  aoe ctl add e0.2=/srv/lab.img,overlay=/var/lib/aoekit/overlays/e0.2
  aoe ctl send '{"command": "exports"}'

Overlays have their own command: aoe overlay --help.
Exit status: 0 done, 1 refused or failed (the message says why), 2 bad arguments.
)";

void PrintExports(const Json& result) {
  fmt::print("{:<10} {:>10}  {:<4} {:<10} {:>7}  {}\n", "EXPORT", "SIZE", "MODE", "DURABILITY",
             "CLIENTS", "OVERLAY");
  for (const Json& e : result.at("exports")) {
    std::string overlay = "-";
    if (!e.at("overlay").is_null()) {
      const Json& o = e.at("overlay");
      overlay = fmt::format(
          "{} (version {}, {} overlay(s), {}{})", o.at("dir").get<std::string>(),
          o.at("current_version").get<uint64_t>(), o.at("overlays").get<uint64_t>(),
          o.at("lifetime").get<std::string>(),
          o.at("commit_running").get<bool>()
              ? fmt::format(", commit running: {} copied", BytesText(o.at("commit_bytes_copied")))
              : "");
    }
    fmt::print("{:<10} {:>10}  {:<4} {:<10} {:>7}  {}\n", e.at("name").get<std::string>(),
               BytesText(e.at("size_bytes")), e.at("read_only").get<bool>() ? "ro" : "rw",
               e.at("durability").get<std::string>(), e.at("clients_seen").get<uint64_t>(),
               overlay);
  }
}

// What a boot did to the client's overlay on each overlay export.
void PrintBoot(const Json& result) {
  const std::string mac = result.at("mac").get<std::string>();
  const Json& exports = result.at("exports");
  if (exports.empty()) {
    fmt::print("boot of {}: no overlay exports, nothing to do\n", mac);
    return;
  }
  fmt::print("boot of {}:\n", mac);
  for (const Json& e : exports) {
    const std::string what = e.at("overlay").get<std::string>();
    const uint64_t reads = e.at("reads_version").get<uint64_t>();
    if (what == "discarded") {
      fmt::print("  {}: overlay discarded (lifetime discard-on-boot); it reads version {}\n",
                 e.at("export").get<std::string>(), reads);
    } else if (what == "moved") {
      fmt::print(
          "  {}: overlay dropped: it was based on version {}, not the current one; it "
          "reads version {}\n",
          e.at("export").get<std::string>(), e.at("was_based_on").get<uint64_t>(), reads);
    } else {
      fmt::print("  {}: nothing dropped (no overlay, or one that persists)\n",
                 e.at("export").get<std::string>());
    }
  }
}

void PrintClients(const Json& result) {
  for (const Json& e : result.at("exports")) {
    fmt::print("{}: {} client(s)\n", e.at("export").get<std::string>(), e.at("clients").size());
    if (e.at("clients").empty()) continue;
    fmt::print("  {:<17} {:>9} {:>10} {:>10} {:>11} {:>10}  {}\n", "MAC", "FRAMES", "READ",
               "WRITTEN", "RETRANSMITS", "OVERLAY", "LAST SEEN");
    for (const Json& c : e.at("clients")) {
      fmt::print("  {:<17} {:>9} {:>10} {:>10} {:>11} {:>10}  {}\n", c.at("mac").get<std::string>(),
                 c.at("frames").get<uint64_t>(), BytesText(c.at("bytes_read")),
                 BytesText(c.at("bytes_written")), c.at("retransmits").get<uint64_t>(),
                 BytesText(c.at("overlay_bytes")), TimeText(c.at("last_seen_unix")));
    }
  }
}

void PrintStats(const Json& result) {
  for (const auto& [name, value] : result.at("counters").items()) {
    fmt::print("{:<26} {:>14}\n", name, value.get<uint64_t>());
  }
  fmt::print("{:<26} {:>14}\n", "replies_waiting_for_state",
             result.at("replies_waiting_for_state").get<uint64_t>());
  // With several event loops: how the initiators' commands are spread over them.
  const Json loops = result.value("loops", Json::array());
  if (loops.size() > 1) {
    std::vector<std::string> ata;  // "-": a loop that did not answer
    for (const Json& loop : loops) {
      ata.push_back(loop.is_null() ? "-" : std::to_string(loop.at("ata_commands").get<uint64_t>()));
    }
    fmt::print("{:<26} {:>14}\n", "ata_commands_by_loop", fmt::join(ata, " "));
  }
}

}  // namespace

int CtlMain(const std::vector<std::string>& arguments) {
  ControlCliArgs cli;
  if (std::optional<int> ended = StartControlCli("ctl", kHelp, arguments, cli)) return *ended;
  const std::vector<std::string>& w = cli.words;
  auto usage = [](std::string_view message) { return ControlUsage("ctl", message); };
  const std::string& command = w[0];
  const size_t operands = w.size() - 1;
  auto done = [&](const std::string& what) {
    return
        [what](const Json& r) { fmt::print("{} {}\n", what, r.at("export").get<std::string>()); };
  };
  if (command == "exports") {
    if (operands != 0) return usage("exports takes no operand");
    return RunControlCommand("ctl", cli, "exports", Json::object(), PrintExports);
  }
  if (command == "clients") {
    if (operands > 1) return usage("clients takes at most an EXPORT");
    if (operands == 1) {
      if (auto bad = BadExportOperand(w[1])) return usage(*bad);
    }
    Json args = Json::object();
    if (operands == 1) args["export"] = w[1];
    return RunControlCommand("ctl", cli, "clients", args, PrintClients);
  }
  if (command == "stats") {
    if (operands != 0) return usage("stats takes no operand");
    return RunControlCommand("ctl", cli, "stats", Json::object(), PrintStats);
  }
  if (command == "add") {
    if (operands != 1) return usage("add takes one SPEC, e.g. e0.2=/srv/b.img");
    return RunControlCommand("ctl", cli, "export.add", Json{{"spec", AbsolutePaths(w[1])}},
                             done("added"));
  }
  if (command == "remove") {
    if (operands != 1) return usage("remove takes one EXPORT, e.g. e0.2");
    if (auto bad = BadExportOperand(w[1])) return usage(*bad);
    return RunControlCommand("ctl", cli, "export.remove", Json{{"export", w[1]}}, done("removed"));
  }
  if (command == "reload") {
    if (operands < 1 || operands > 2) return usage("reload takes EXPORT [SPEC]");
    if (auto bad = BadExportOperand(w[1])) return usage(*bad);
    Json args{{"export", w[1]}};
    if (operands == 2) args["spec"] = AbsolutePaths(w[2]);
    return RunControlCommand("ctl", cli, "export.reload", args, done("reloaded"));
  }
  if (command == "boot") {
    if (operands != 1) return usage("boot takes one MAC");
    if (auto bad = BadMacOperand(w[1])) return usage(*bad);
    return RunControlCommand("ctl", cli, "client.boot", Json{{"mac", w[1]}}, PrintBoot);
  }
  if (command == "send") {
    if (operands != 1) return usage("send takes one JSON request");
    Json request = Json::parse(w[1], nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded()) return usage("send needs valid JSON");
    return RunControlRequest("ctl", cli, request,
                             [](const Json& r) { fmt::print("{}\n", r.dump(2)); });
  }
  return usage(fmt::format("unknown command '{}'", command));
}

}  // namespace aoe::cli
