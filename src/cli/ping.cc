// `aoe ping`: like aoeping, measures round trips to one disk: each round sends a config query
// (answered by the target's AoE layer) and an ATA IDENTIFY (answered through its storage path),
// prints one line per reply, and ends with min/avg/max round-trip times.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "cli/command.h"
#include "cli/export_spec.h"
#include "cli/initiator_args.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kName = "ping";

constexpr CommandHelp kHelp{
    .name = kName,
    .usage =
        "Usage: aoe ping -i IFACE [-i IFACE ...] eSHELF.SLOT [-c N] [--interval S] "
        "[--timeout S]\n",
    .description =
        "Measure round trips to one AoE disk, like aoeping: every round sends a config query\n"
        "and an ATA IDENTIFY DEVICE and prints the time each reply took.",
    .footer = R"txt(Examples:
  aoe ping -i enp1s0 e0.1
  aoe ping -i enp1s0 -c 10 --interval 0.2 e1.3

Exit status: 0 some reply came back, 1 nothing answered (or an interface failed),
2 bad arguments.)txt"};

struct RttStats {
  uint32_t sent = 0;
  std::vector<Duration> samples;

  void Print(std::string_view what) const {
    if (samples.empty()) {
      fmt::print("{}: {} sent, 0 answered\n", what, sent);
      return;
    }
    auto [lo, hi] = std::minmax_element(samples.begin(), samples.end());
    Duration sum{};
    for (Duration d : samples) sum += d;
    fmt::print("{}: {} sent, {} answered, rtt min/avg/max = {}/{}/{} ms\n", what, sent,
               samples.size(), Milliseconds(*lo),
               Milliseconds(sum / static_cast<int64_t>(samples.size())), Milliseconds(*hi));
  }
};

}  // namespace

int PingMain(const std::vector<std::string>& args) {
  CLI::App app("", "aoe ping");
  SetUpCommand(app, kHelp);
  std::vector<std::string> interfaces;
  std::string target_text, count_text = "4", interval_text = "1", timeout_text = "1";
  AddInterfaceOption(app, interfaces);
  app.add_option("-c,--count", count_text, "Rounds to run, 1-100000 (default 4). Example: -c 10")
      ->type_name("N");
  app.add_option("--interval", interval_text,
                 "Seconds between rounds (default 1). Example: --interval 0.2")
      ->type_name("S");
  app.add_option("--timeout", timeout_text,
                 "Seconds to wait for each reply (default 1). Example: --timeout 3")
      ->type_name("S");
  app.add_option("TARGET", target_text, "The disk, eSHELF.SLOT. Example: e0.1")->type_name("");
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;

  std::optional<uint64_t> count = ParseUnsigned(count_text);
  if (!count || *count == 0 || *count > 100000) {
    return Fail(
        kName, kExitUsage,
        fmt::format("-c '{}' is not a number of rounds from 1 to 100000; e.g. -c 4", count_text));
  }
  ParseResult<Duration> interval = ParseSeconds("--interval", interval_text, 3600);
  if (!interval) return Fail(kName, kExitUsage, interval.error().message);
  ParseResult<Duration> timeout = ParseSeconds("--timeout", timeout_text, 600);
  if (!timeout) return Fail(kName, kExitUsage, timeout.error().message);
  if (target_text.empty()) {
    return Fail(kName, kExitUsage,
                "no disk given; name it as eSHELF.SLOT, e.g. aoe ping -i IFACE e0.1");
  }
  ParseResult<proto::DiskAddress> address = ParseDiskName(target_text);
  if (!address) return Fail(kName, kExitUsage, address.error().message);
  if (interfaces.empty()) {
    return Fail(kName, kExitUsage,
                "no interface given; add -i IFACE, e.g. aoe ping -i enp1s0 e0.1");
  }

  initiator::ClientOptions options;
  // An IDENTIFY that waited the whole --timeout counts as lost, like a config query.
  options.initiator.dead_timeout = *timeout;
  PrintNotices(kName, options);
  auto client = initiator::Client::Open(interfaces, options);
  if (!client) return Fail(kName, kExitFailure, client.error().message);
  initiator::Client& c = **client;

  const std::string name = address->ToString();
  fmt::print("AOEPING {} via {}: config query and IDENTIFY, {} round(s)\n", name,
             JoinNames(interfaces), *count);
  std::fflush(stdout);
  RttStats config_stats, identify_stats;
  // Every MAC that answered a round so far. Each round's query is broadcast and every reply is
  // printed, so a second target claiming the same address shows up (two disks under one
  // shelf.slot, or a multipath target) instead of hiding behind the first reply.
  struct Round {
    uint64_t seq = 0;
    TimePoint start{};
    std::vector<MacAddress> answered;
    bool ended = false;
  };
  auto known = std::make_shared<std::vector<MacAddress>>();
  for (uint64_t seq = 1; seq <= *count; ++seq) {
    const TimePoint round_start = std::chrono::steady_clock::now();
    ++config_stats.sent;
    auto round = std::make_shared<Round>(Round{seq, round_start, {}, false});
    c.initiator().QueryEveryMac(
        *address, *timeout,
        [round, known, &config_stats, &name](const initiator::ConfigReply& reply) {
          const Duration rtt = std::chrono::steady_clock::now() - round->start;
          if (round->answered.empty()) config_stats.samples.push_back(rtt);
          round->answered.push_back(reply.target_mac);
          if (std::find(known->begin(), known->end(), reply.target_mac) == known->end()) {
            known->push_back(reply.target_mac);
          }
          fmt::print("config reply from {} ({}): seq={} time={} ms\n", name,
                     reply.target_mac.ToString(), round->seq, Milliseconds(rtt));
          std::fflush(stdout);
        },
        [round] { round->ended = true; });
    // Until every MAC seen before has answered this round too (a late one still prints while
    // the round's query collects), or the timeout.
    c.RunUntil([&] {
      return round->ended || (!round->answered.empty() &&
                              std::all_of(known->begin(), known->end(), [&](const MacAddress& m) {
                                return std::find(round->answered.begin(), round->answered.end(),
                                                 m) != round->answered.end();
                              }));
    });
    if (round->answered.empty()) {
      fmt::print("config: no reply from {} to config query within {} (seq={})\n", name,
                 HumanSeconds(*timeout), seq);
    }
    // IDENTIFY needs a path to the disk, which a config reply (this one or an earlier one)
    // taught the engine.
    if (initiator::Disk* disk = c.initiator().disk(*address)) {
      ++identify_stats.sent;
      initiator::SyncDisk sync(c, *disk);
      const TimePoint start = std::chrono::steady_clock::now();
      auto id = sync.Identify();
      Duration rtt = std::chrono::steady_clock::now() - start;
      if (id) {
        identify_stats.samples.push_back(rtt);
        fmt::print("identify reply from {}: seq={} time={} ms ({} sectors)\n", name, seq,
                   Milliseconds(rtt), id->sector_count);
      } else {
        fmt::print("identify: {} (seq={})\n", ExplainError(c, *address, id.error()), seq);
      }
    } else {
      fmt::print("identify: not sent, {} has not answered a config query yet (seq={})\n", name,
                 seq);
    }
    std::fflush(stdout);

    if (seq < *count) {
      // The engine keeps running meanwhile, so a late reply of this round is still printed.
      c.RunUntil([] { return false; }, round_start + *interval);
    }
  }

  fmt::print("--- {} ping statistics ---\n", name);
  config_stats.Print("config");
  identify_stats.Print("identify");
  if (known->size() > 1) {
    std::vector<std::string> macs;
    for (const MacAddress& m : *known) macs.push_back(m.ToString());
    fmt::print("{} answered from {} MACs: {}\n", name, known->size(), JoinNames(macs));
  }
  if (config_stats.samples.empty() && identify_stats.samples.empty()) {
    return Fail(
        kName, kExitFailure,
        fmt::format("{} did not answer on {}{}", name, JoinNames(interfaces), c.NoLinkHint()));
  }
  return kExitOk;
}

}  // namespace aoe::cli
