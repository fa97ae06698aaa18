// `aoe bench`: keeps --depth requests of --bs bytes in flight to one disk for --seconds and
// reports throughput, IOPS, latency percentiles and the retransmits it took. Writes destroy
// data, so they need --yes-destroy-data on top of --rw write|randwrite.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "base/log.h"
#include "cli/command.h"
#include "cli/copy_plan.h"
#include "cli/export_spec.h"
#include "cli/initiator_args.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kName = "bench";

constexpr CommandHelp kHelp{
    .name = kName,
    .usage =
        "Usage: aoe bench -i IFACE [-i IFACE ...] eSHELF.SLOT [--rw MODE] [--bs BYTES]\n"
        "                 [--depth N] [--seconds S] [--offset BYTES] [--length BYTES] "
        "[--json]\n",
    .description =
        "Measure an AoE disk: throughput (MB/s, 10^6 bytes), IOPS, latency percentiles and\n"
        "retransmits, with --depth requests of --bs bytes in flight. Reads by default; writes\n"
        "overwrite the disk and need --yes-destroy-data.",
    .footer = R"txt(Examples:
  aoe bench -i enp1s0 e0.1
  aoe bench -i enp1s0 -i enp2s0 e0.1 --rw randread --bs 4K --depth 64 --seconds 30
  aoe bench -i enp1s0 e0.1 --rw write --yes-destroy-data --offset 1G --length 256M

Exit status: 0 measured, 1 failed (no reply, I/O error), 2 bad arguments.)txt"};

enum class Mode { kRead, kWrite, kRandRead, kRandWrite };

struct Percentiles {
  Duration p50{}, p90{}, p99{}, max{};
};

Percentiles ComputePercentiles(std::vector<Duration>& samples) {
  Percentiles p;
  if (samples.empty()) return p;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
    return samples[std::min(i, samples.size() - 1)];
  };
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.max = samples.back();
  return p;
}

double Ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int BenchMain(const std::vector<std::string>& args) {
  CLI::App app("", "aoe bench");
  SetUpCommand(app, kHelp);
  std::vector<std::string> interfaces;
  std::string target_text, rw_text = "read", bs_text = "64K", depth_text = "32",
                           seconds_text = "10", offset_text = "0", length_text, timeout_text = "30";
  bool json = false, destroy = false;
  AddInterfaceOption(app, interfaces);
  app.add_option("--rw", rw_text,
                 "read (default), write, randread or randwrite. Example: --rw randread")
      ->type_name("MODE");
  app.add_option("--bs", bs_text,
                 "Bytes per request, a multiple of 512 (default 64K).\n"
                 "Example: --bs 4K")
      ->type_name("BYTES");
  app.add_option("--depth", depth_text,
                 "Requests in flight, 1-1024 (default 32). Example: --depth 8")
      ->type_name("N");
  app.add_option("--seconds", seconds_text,
                 "How long to start new requests (default 10); those in flight\n"
                 "then finish, within the time reported. Example: --seconds 3")
      ->type_name("S");
  app.add_option("--offset", offset_text,
                 "Start of the region used, a multiple of 512 (default 0).\n"
                 "Example: --offset 1G")
      ->type_name("BYTES");
  app.add_option("--length", length_text,
                 "Size of the region (default: to the end of the disk).\n"
                 "Example: --length 256M")
      ->type_name("BYTES");
  app.add_option("--timeout", timeout_text,
                 "Seconds without a reply before a request fails (default 30).\n"
                 "Example: --timeout 5")
      ->type_name("S");
  app.add_flag("--yes-destroy-data", destroy,
               "Required with --rw write or randwrite: they overwrite the region.\n"
               "Example: --rw write --yes-destroy-data");
  app.add_flag("--json", json, "Print the results as JSON. Example: --json");
  app.add_option("TARGET", target_text, "The disk, eSHELF.SLOT. Example: e0.1")->type_name("");
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;

  Mode mode;
  if (rw_text == "read") {
    mode = Mode::kRead;
  } else if (rw_text == "write") {
    mode = Mode::kWrite;
  } else if (rw_text == "randread") {
    mode = Mode::kRandRead;
  } else if (rw_text == "randwrite") {
    mode = Mode::kRandWrite;
  } else {
    return Fail(kName, kExitUsage,
                fmt::format("--rw '{}' is not one of read, write, randread, randwrite", rw_text));
  }
  const bool writes = mode == Mode::kWrite || mode == Mode::kRandWrite;
  const bool random = mode == Mode::kRandRead || mode == Mode::kRandWrite;
  ParseResult<uint64_t> bs = ParseByteSize("--bs", bs_text, "64K");
  if (!bs) return Fail(kName, kExitUsage, bs.error().message);
  if (*bs == 0 || *bs % kSectorBytes != 0 || *bs > (64u << 20)) {
    return Fail(
        kName, kExitUsage,
        fmt::format("--bs {} must be a multiple of 512 bytes up to 64M; e.g. --bs 4K", bs_text));
  }
  std::optional<uint64_t> depth = ParseUnsigned(depth_text);
  if (!depth || *depth == 0 || *depth > 1024) {
    return Fail(
        kName, kExitUsage,
        fmt::format("--depth '{}' is not a number from 1 to 1024; e.g. --depth 32", depth_text));
  }
  if (*depth * *bs > (uint64_t{1} << 30)) {
    return Fail(kName, kExitUsage,
                "--depth times --bs is over 1 GiB of buffers; lower one of them");
  }
  ParseResult<Duration> seconds = ParseSeconds("--seconds", seconds_text, 24 * 3600.0);
  if (!seconds) return Fail(kName, kExitUsage, seconds.error().message);
  ParseResult<Duration> timeout = ParseSeconds("--timeout", timeout_text, 24 * 3600.0);
  if (!timeout) return Fail(kName, kExitUsage, timeout.error().message);
  ParseResult<uint64_t> offset = ParseByteSize("--offset", offset_text, "1G");
  if (!offset) return Fail(kName, kExitUsage, offset.error().message);
  std::optional<uint64_t> length;
  if (!length_text.empty()) {
    ParseResult<uint64_t> l = ParseByteSize("--length", length_text, "256M");
    if (!l) return Fail(kName, kExitUsage, l.error().message);
    length = *l;
  }
  if (*offset % kSectorBytes != 0) {
    return Fail(kName, kExitUsage,
                fmt::format("--offset {} must be a multiple of 512 bytes; e.g. --offset {}",
                            *offset, *offset / kSectorBytes * kSectorBytes));
  }
  if (length && *length == 0) {
    return Fail(kName, kExitUsage, "--length 0 selects nothing; give at least 512 (bytes)");
  }
  if (length && *length % kSectorBytes != 0) {
    return Fail(kName, kExitUsage,
                fmt::format("--length {} must be a multiple of 512 bytes; e.g. --length {}",
                            *length, std::max<uint64_t>(1, *length / kSectorBytes) * kSectorBytes));
  }
  if (length && *length < *bs) {
    return Fail(kName, kExitUsage,
                fmt::format("--length {} is less than one --bs {} request; give --length {} or "
                            "more, or a smaller --bs",
                            *length, *bs, *bs));
  }
  if (target_text.empty()) {
    return Fail(kName, kExitUsage,
                "no disk given; name it as eSHELF.SLOT, e.g. aoe bench -i IFACE e0.1");
  }
  ParseResult<proto::DiskAddress> address = ParseDiskName(target_text);
  if (!address) return Fail(kName, kExitUsage, address.error().message);
  if (writes && !destroy) {
    return Fail(kName, kExitUsage,
                fmt::format("--rw {} overwrites data on {}; add --yes-destroy-data if that is "
                            "what you want",
                            rw_text, target_text));
  }
  if (!writes && destroy) {
    return Fail(
        kName, kExitUsage,
        fmt::format("--yes-destroy-data goes with --rw write or randwrite, not --rw {}", rw_text));
  }
  if (interfaces.empty()) {
    return Fail(kName, kExitUsage,
                "no interface given; add -i IFACE, e.g. aoe bench -i enp1s0 e0.1");
  }

  initiator::ClientOptions options;
  options.initiator.dead_timeout = *timeout;
  PrintNotices(kName, options);
  auto client = initiator::Client::Open(interfaces, options);
  if (!client) return Fail(kName, kExitFailure, client.error().message);
  auto disk = (*client)->OpenDisk(*address);
  if (!disk) return Fail(kName, kExitFailure, ExplainError(**client, *address, disk.error()));

  // The region, in units of --bs.
  const uint64_t disk_bytes = disk->sector_count() * kSectorBytes;
  const uint64_t region_bytes = length.value_or(disk_bytes > *offset ? disk_bytes - *offset : 0);
  if (*offset + region_bytes > disk_bytes || region_bytes < *bs) {
    const std::string region = length
                                   ? fmt::format("--offset {} with --length {}", *offset, *length)
                                   : fmt::format("--offset {}", *offset);
    return Fail(kName, kExitFailure,
                fmt::format("{} has {} bytes; {} does not leave room for one --bs {} request",
                            target_text, disk_bytes, region, *bs));
  }
  const uint64_t blocks = region_bytes / *bs;
  const uint64_t first_lba = *offset / kSectorBytes;
  const uint64_t block_sectors = *bs / kSectorBytes;

  std::vector<std::byte> pool(*depth * *bs);
  std::mt19937_64 rng(0x5eed);
  if (writes) {
    for (size_t i = 0; i < pool.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(pool.data() + i, &v, std::min<size_t>(8, pool.size() - i));
    }
  }
  std::vector<size_t> free_slots;
  for (size_t i = *depth; i-- > 0;) free_slots.push_back(i);
  std::vector<TimePoint> started(*depth);
  std::vector<Duration> latencies;
  latencies.reserve(1 << 16);
  uint64_t next_block = 0, ops = 0;
  std::uniform_int_distribution<uint64_t> pick(0, blocks - 1);
  const auto before = disk->path_stats();
  if (writes) {
    // bench flushes its writes at the end, like any aoekit writer: say so first (see
    // SyncDisk::DeclareSelfFlushing), so the target times what a flushing client gets.
    if (auto f = disk->DeclareSelfFlushing(); !f)
      return Fail(kName, kExitFailure, f.error().message);
  }
  const TimePoint start = std::chrono::steady_clock::now();
  const TimePoint stop_at = start + *seconds;

  auto next = [&]() -> std::optional<initiator::SyncDisk::IoOp> {
    const TimePoint now = std::chrono::steady_clock::now();
    if (now >= stop_at) return std::nullopt;
    const size_t slot = free_slots.back();
    free_slots.pop_back();
    started[slot] = now;
    uint64_t block = random ? pick(rng) : next_block++ % blocks;
    return initiator::SyncDisk::IoOp{.kind = writes ? initiator::SyncDisk::IoOp::Kind::kWrite
                                                    : initiator::SyncDisk::IoOp::Kind::kRead,
                                     .lba = first_lba + block * block_sectors,
                                     .buffer = ByteSpan(pool).subspan(slot * *bs, *bs),
                                     .cookie = slot};
  };
  auto done = [&](const initiator::SyncDisk::IoOp& op) -> initiator::Outcome<void> {
    // Cap the samples (about 80 MB) so that a very long run cannot exhaust memory.
    if (latencies.size() < (10u << 20)) {
      latencies.push_back(std::chrono::steady_clock::now() - started[op.cookie]);
    }
    free_slots.push_back(op.cookie);
    ++ops;
    return {};
  };
  auto result = disk->Pipeline(static_cast<size_t>(*depth), next, done);
  const Duration elapsed = std::chrono::steady_clock::now() - start;
  if (!result) {
    return Fail(kName, kExitFailure,
                fmt::format("{} (interfaces: {})", ExplainError(**client, *address, result.error()),
                            JoinNames(interfaces)));
  }
  if (writes) {
    // Count the flush in the time: written data is only useful once it is durable.
    if (auto f = disk->Flush(); !f) return Fail(kName, kExitFailure, f.error().message);
  }

  const auto after = disk->path_stats();
  uint64_t retransmits = 0, timeouts = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    retransmits += after[i].retransmits - (i < before.size() ? before[i].retransmits : 0);
    timeouts += after[i].timeouts - (i < before.size() ? before[i].timeouts : 0);
  }
  const double secs = std::chrono::duration<double>(elapsed).count();
  const double bytes = static_cast<double>(ops * *bs);
  const double mb_per_s = secs > 0 ? bytes / secs / 1e6 : 0;
  const double iops = secs > 0 ? static_cast<double>(ops) / secs : 0;
  const Percentiles p = ComputePercentiles(latencies);

  if (json) {
    nlohmann::json j;
    j["target"] = address->ToString();
    j["rw"] = rw_text;
    j["bs"] = *bs;
    j["depth"] = *depth;
    j["offset"] = *offset;
    j["length"] = region_bytes;
    j["seconds"] = secs;
    j["requests"] = ops;
    j["bytes"] = ops * *bs;
    j["mb_per_s"] = mb_per_s;
    j["iops"] = iops;
    j["latency_ms"] = {
        {"p50", Ms(p.p50)}, {"p90", Ms(p.p90)}, {"p99", Ms(p.p99)}, {"max", Ms(p.max)}};
    j["retransmits"] = retransmits;
    j["timeouts"] = timeouts;
    j["paths"] = PathStatsJson(after);
    fmt::print("{}\n", j.dump(2));
    return kExitOk;
  }
  fmt::print("{} {}, bs {}, depth {}, {:.1f} s over {}\n", address->ToString(), rw_text,
             HumanBytes(*bs), *depth, secs, JoinNames(interfaces));
  fmt::print("  throughput   {:.1f} MB/s, {:.0f} IOPS ({} requests)\n", mb_per_s, iops, ops);
  fmt::print("  latency ms   p50 {}  p90 {}  p99 {}  max {}\n", Milliseconds(p.p50),
             Milliseconds(p.p90), Milliseconds(p.p99), Milliseconds(p.max));
  fmt::print("  retransmits  {} ({} timeouts)\n", retransmits, timeouts);
  for (const initiator::PathStats& s : after) {
    fmt::print("  path {} -> {}: {}, {} sent, {} retransmits, rtt {} ms\n", s.port,
               s.target_mac.ToString(), s.up ? "up" : "DOWN", s.sent, s.retransmits,
               Milliseconds(s.rtt_avg));
  }
  return kExitOk;
}

}  // namespace aoe::cli
