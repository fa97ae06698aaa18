// `aoe scan`: broadcasts a config query on the given interfaces and lists every AoE target that
// answers, with its size and model (from IDENTIFY), config string and MACs.
//
// It refuses to run without -i: AoE discovery is a raw broadcast, and sending it on every
// interface of a machine (uplinks included) is something a person must ask for by name.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/initiator_args.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kName = "scan";

constexpr CommandHelp kHelp{
    .name = kName,
    .usage = "Usage: aoe scan -i IFACE [-i IFACE ...] [--timeout S] [--json]\n",
    .description =
        "Find the AoE targets reachable through the given interfaces: broadcast a config\n"
        "query, wait --timeout seconds for answers, then ask each target for its IDENTIFY\n"
        "data. One line per target: name, size, model, config string, the target's MACs and\n"
        "the local interfaces that reached it.",
    .footer = R"txt(Examples:
  aoe scan -i enp1s0
  aoe scan -i enp3s0 -i enp4s0 --timeout 5
  aoe scan -i enp1s0 --json | jq '.[].target'

Exit status: 0 targets found, 1 none answered or an interface failed, 2 bad arguments.)txt"};

struct Row {
  std::string target, size, model, config, macs, interfaces;
};

Row MakeRow(const initiator::TargetInfo& t) {
  Row r;
  r.target = t.address.ToString();
  r.size = t.identify ? HumanBytes(t.identify->sector_count * 512) : "?";
  r.model = t.identify && !t.identify->model.empty() ? t.identify->model : "?";
  r.config = QuoteBytes(t.config_string);
  std::vector<std::string> macs;
  std::vector<std::string> ports;
  for (const initiator::PathInfo& p : t.paths) {
    std::string mac = p.target_mac.ToString();
    if (std::find(macs.begin(), macs.end(), mac) == macs.end()) macs.push_back(mac);
    if (std::find(ports.begin(), ports.end(), p.port) == ports.end()) ports.push_back(p.port);
  }
  r.macs = JoinNames(macs);
  r.interfaces = JoinNames(ports);
  return r;
}

void PrintTable(const std::vector<initiator::TargetInfo>& targets) {
  std::vector<Row> rows{{"TARGET", "SIZE", "MODEL", "CONFIG", "TARGET MACS", "INTERFACES"}};
  for (const auto& t : targets) rows.push_back(MakeRow(t));
  size_t w[5] = {};
  for (const Row& r : rows) {
    w[0] = std::max(w[0], r.target.size());
    w[1] = std::max(w[1], r.size.size());
    w[2] = std::max(w[2], r.model.size());
    w[3] = std::max(w[3], r.config.size());
    w[4] = std::max(w[4], r.macs.size());
  }
  for (const Row& r : rows) {
    fmt::print("{:<{}}  {:>{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", r.target, w[0], r.size, w[1],
               r.model, w[2], r.config, w[3], r.macs, w[4], r.interfaces);
  }
}

void PrintJson(const std::vector<initiator::TargetInfo>& targets) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : targets) {
    nlohmann::json j;
    j["target"] = t.address.ToString();
    j["shelf"] = t.address.shelf;
    j["slot"] = t.address.slot;
    if (t.identify) {
      j["sectors"] = t.identify->sector_count;
      j["size_bytes"] = t.identify->sector_count * 512;
      j["model"] = t.identify->model;
      j["serial"] = t.identify->serial;
      j["firmware"] = t.identify->firmware;
    } else {
      j["sectors"] = nullptr;  // IDENTIFY did not answer in time
    }
    // Config strings are bytes; invalid UTF-8 would make dump() throw, so replace it.
    j["config_string"] = t.config_string;
    j["buffer_count"] = t.buffer_count;
    j["firmware_version"] = t.firmware_version;
    j["sectors_per_frame"] = t.sectors_per_frame;
    auto path_json = [](const initiator::PathInfo& p) {
      nlohmann::json path{{"interface", p.port},
                          {"local_mac", p.local_mac.ToString()},
                          {"target_mac", p.target_mac.ToString()},
                          {"buffer_count", p.buffer_count},
                          {"sectors_per_frame", p.advertised_sectors}};
      // Asked only of a disk with several MACs: what tells them apart.
      if (p.identity) {
        path["identity"] = {{"sectors", p.identity->sector_count},
                            {"model", p.identity->model},
                            {"serial", p.identity->serial}};
      }
      return path;
    };
    j["paths"] = nlohmann::json::array();
    for (const auto& p : t.paths) j["paths"].push_back(path_json(p));
    // MACs that answer this address with another disk: not used (a notice on stderr says so).
    j["conflicting"] = nlohmann::json::array();
    for (const auto& p : t.conflicting) j["conflicting"].push_back(path_json(p));
    out.push_back(std::move(j));
  }
  fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

int ScanMain(const std::vector<std::string>& args) {
  CLI::App app("", "aoe scan");
  SetUpCommand(app, kHelp);
  std::vector<std::string> interfaces;
  std::string timeout_text = "2";
  bool json = false;
  AddInterfaceOption(app, interfaces);
  app.add_option("--timeout", timeout_text,
                 "Seconds to wait for answers (default 2); then as long again for\n"
                 "IDENTIFY. Example: --timeout 0.5")
      ->type_name("S");
  app.add_flag("--json", json, "Print a JSON array instead of the table. Example: --json");
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;

  ParseResult<Duration> timeout = ParseSeconds("--timeout", timeout_text, 600);
  if (!timeout) return Fail(kName, kExitUsage, timeout.error().message);
  if (interfaces.empty()) {
    return Fail(kName, kExitUsage,
                "no interface given; add -i IFACE for each interface to scan (AoE discovery "
                "is a broadcast, so it is never sent on every interface by default)");
  }

  initiator::ClientOptions options;
  PrintNotices(kName, options);
  auto client = initiator::Client::Open(interfaces, options);
  if (!client) return Fail(kName, kExitFailure, client.error().message);
  auto targets = (*client)->Discover(*timeout);
  if (!targets) return Fail(kName, kExitFailure, targets.error().message);
  if (targets->empty()) {
    return Fail(kName, kExitFailure,
                fmt::format("no AoE target answered on {} within {}{}", JoinNames(interfaces),
                            HumanSeconds(*timeout), (*client)->NoLinkHint()));
  }
  if (json) {
    PrintJson(*targets);
  } else {
    PrintTable(*targets);
  }
  return kExitOk;
}

}  // namespace aoe::cli
