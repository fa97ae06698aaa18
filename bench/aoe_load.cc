// aoe_load: an independent AoE load client for measuring targets. It keeps a FIXED window of
// ATA commands outstanding to one disk (no congestion control: it does not adapt to the
// target), sequential or random, reads or writes, with the target's advertised sectors per
// command, and prints one JSON line: MB/s, IOPS, latency percentiles, retransmits, errors.
// It shares no code with src/initiator/; see docs/PERFORMANCE.md for how bench/run uses it.
//
// Exit status: 0 measured without errors, 1 failed or saw errors (the JSON says which),
// 2 bad arguments.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "bench/command_window.h"
#include "bench/load_run.h"
#include "bench/tool_args.h"
#include "proto/ata.h"
#include "proto/header.h"

namespace aoe::bench {
namespace {

constexpr int kSocketBufferBytes = 64 << 20;  // replies must never be dropped by the client

struct Args {
  std::string interface;
  std::string disk;
  std::string rw = "read";
  std::string order = "seq";
  size_t window = 16;
  unsigned sectors = 0;
  double seconds = 5;
  std::string bytes;
  double warmup = 0;
  double rto_ms = 100;
  double stall_seconds = 5;
  uint64_t offset_sectors = 0;
  uint64_t region_sectors = 0;
  std::optional<uint64_t> data_seed;
  uint64_t random_seed = 1;
  bool no_flush = false;
  bool flush_first = false;
  bool discover_only = false;
  double discover_seconds = 5;
};

void DefineOptions(CLI::App& app, Args& a) {
  app.description(
      "Measure an AoE disk with a fixed window of outstanding ATA commands; prints one JSON line.");
  app.add_option("-i,--interface", a.interface, "Interface to send on (a veth of your own).")
      ->required();
  app.add_option("disk", a.disk, "The disk, eSHELF.SLOT, e.g. e0.1.")->required();
  app.add_option("--rw", a.rw, "read or write (default read).")
      ->check(CLI::IsMember({"read", "write"}));
  app.add_option("--pattern", a.order, "seq or rand (default seq).")
      ->check(CLI::IsMember({"seq", "rand"}));
  app.add_option("--window", a.window, "ATA commands outstanding, 1-4096 (default 16).")
      ->check(CLI::Range(size_t{1}, CommandWindow::kMaxSlots));
  app.add_option("--sectors", a.sectors,
                 "Sectors per command, 1-255 (default: the target's advertised maximum).")
      ->check(CLI::Range(1u, 255u));
  app.add_option("--seconds", a.seconds, "Measured time after the warmup (default 5).")
      ->check(CLI::Range(0.001, 86400.0));
  app.add_option("--bytes", a.bytes,
                 "Stop after this many bytes instead (e.g. 64M); the warmup counts toward it.");
  app.add_option("--warmup", a.warmup, "Seconds of load before measuring (default 0).")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--rto-ms", a.rto_ms, "Fixed retransmit timeout in ms (default 100).")
      ->check(CLI::Range(0.1, 60000.0));
  app.add_option("--stall-seconds", a.stall_seconds,
                 "Fail when no reply comes for this long (default 5).")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--offset-sectors", a.offset_sectors, "First sector of the region (default 0).");
  app.add_option("--region-sectors", a.region_sectors,
                 "Sectors in the region (default: to the end of the disk).");
  app.add_option("--data-seed", a.data_seed,
                 "Writes write the bench/pattern.h pattern with this seed; reads check it\n"
                 "(without it, only each reply's headers are read: its length is still checked).");
  app.add_option("--random-seed", a.random_seed, "Seed of the random LBA sequence (default 1).");
  app.add_flag("--no-flush", a.no_flush, "Do not send FLUSH CACHE after writes (not timed).");
  app.add_flag("--flush-first", a.flush_first,
               "Send one FLUSH CACHE before the first write (not timed), as aoekit's writers do.");
  app.add_flag("--discover-only", a.discover_only,
               "Find the disk, print what it advertises and exit.");
  app.add_option("--discover-seconds", a.discover_seconds,
                 "Give up finding the disk after this long (default 5).")
      ->check(CLI::Range(0.1, 600.0));
}

std::chrono::nanoseconds Seconds(double s) {
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(s * 1e9)));
}

double Microseconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e3; }

nlohmann::json TargetJson(const Args& a, const PacketSocket& socket, const LoadTarget& t) {
  return {{"tool", "aoe_load"},
          {"interface", a.interface},
          {"mtu", socket.mtu()},
          {"disk", a.disk},
          {"target_mac", t.address.target.ToString()},
          {"advertised_bufcnt", t.buffer_count},
          {"advertised_sectors", t.max_sectors},
          {"firmware_version", t.firmware_version},
          {"capacity_sectors", t.capacity_sectors}};
}

nlohmann::json ResultJson(nlohmann::json j, const LoadSpec& spec, const LoadResult& r) {
  double seconds = static_cast<double>(r.elapsed.count()) / 1e9;
  auto per_second = [&](double x) { return seconds > 0 ? x / seconds : 0.0; };
  auto round3 = [](double x) { return std::round(x * 1000) / 1000; };
  j["rw"] = spec.direction == Direction::kRead ? "read" : "write";
  j["pattern"] = spec.order == Order::kSequential ? "seq" : "rand";
  j["window"] = spec.window;
  j["sectors_per_command"] = spec.sectors_per_command;
  j["region_sectors"] = spec.region_sectors;
  j["rto_ms"] = round3(static_cast<double>(spec.rto.count()) / 1e6);
  j["warmup_s"] = round3(static_cast<double>(spec.warmup.count()) / 1e9);
  j["elapsed_s"] = round3(seconds);
  j["bytes"] = r.bytes;
  j["commands"] = r.commands;
  j["mb_per_s"] = round3(per_second(static_cast<double>(r.bytes)) / 1e6);
  j["iops"] = round3(per_second(static_cast<double>(r.commands)));
  j["latency_us"] = {{"mean", round3(Microseconds(r.latency.Mean()))},
                     {"p50", round3(Microseconds(r.latency.Percentile(0.50)))},
                     {"p90", round3(Microseconds(r.latency.Percentile(0.90)))},
                     {"p99", round3(Microseconds(r.latency.Percentile(0.99)))},
                     {"p999", round3(Microseconds(r.latency.Percentile(0.999)))},
                     {"max", round3(Microseconds(r.latency.Max()))}};
  j["bytes_total"] = r.bytes_total;
  j["commands_total"] = r.commands_total;
  j["retransmits"] = r.retransmits;
  j["stale_replies"] = r.stale_replies;
  j["aoe_errors"] = r.aoe_errors;
  j["ata_errors"] = r.ata_errors;
  j["short_replies"] = r.short_replies;
  j["unfinished"] = r.unfinished;
  j["verified_sectors"] = r.verified_sectors;
  j["verify_failures"] = r.verify_failures;
  j["first_bad_lba"] = r.first_bad_lba ? nlohmann::json(*r.first_bad_lba) : nlohmann::json();
  j["frames_sent"] = r.frames_sent;
  j["frames_received"] = r.frames_received;
  j["send_drops"] = r.send_drops;
  j["socket_drops"] = r.socket_drops;
  j["flush_ms"] = r.flush_latency
                      ? nlohmann::json(round3(static_cast<double>(r.flush_latency->count()) / 1e6))
                      : nlohmann::json();
  j["flush_ok"] = r.flush_latency ? nlohmann::json(r.flush_ok) : nlohmann::json();
  j["flush_first_ok"] = r.flush_first_ok ? nlohmann::json(*r.flush_first_ok) : nlohmann::json();
  j["errors"] = r.errors();
  return j;
}

int Main(int argc, char** argv) {
  CLI::App app("", "aoe_load");
  Args a;
  DefineOptions(app, a);
  if (std::optional<int> status = ParseArgs(app, argc, argv)) return *status;

  std::optional<DiskName> disk = ParseDiskName(a.disk);
  if (!disk) {
    return Fail(app, kExitUsage,
                fmt::format("'{}' is not a disk name; write eSHELF.SLOT, e.g. e0.1", a.disk));
  }
  std::optional<uint64_t> byte_budget;
  if (!a.bytes.empty()) {
    byte_budget = ParseByteSize(a.bytes);
    if (!byte_budget || *byte_budget == 0) {
      return Fail(app, kExitUsage,
                  fmt::format("--bytes '{}' is not a size; e.g. --bytes 64M", a.bytes));
    }
  }

  Result<PacketSocket> socket =
      PacketSocket::Open(a.interface, proto::kEtherType, kSocketBufferBytes);
  if (!socket) {
    return Fail(app, kExitFailure,
                fmt::format("cannot open a packet socket on {}: {} (needs root or CAP_NET_RAW)",
                            a.interface, socket.error().message()));
  }
  Result<LoadTarget> target =
      DiscoverTarget(*socket, disk->shelf, disk->slot, Seconds(a.discover_seconds));
  if (!target) {
    return Fail(app, kExitFailure,
                fmt::format("{} did not answer on {} within {} s: {}", a.disk, a.interface,
                            a.discover_seconds, target.error().message()));
  }
  nlohmann::json out = TargetJson(a, *socket, *target);
  if (a.discover_only) {
    fmt::print("{}\n", out.dump());
    return kExitOk;
  }

  LoadSpec spec;
  spec.direction = a.rw == "write" ? Direction::kWrite : Direction::kRead;
  spec.order = a.order == "rand" ? Order::kRandom : Order::kSequential;
  spec.window = a.window;
  spec.sectors_per_command = static_cast<uint8_t>(a.sectors != 0 ? a.sectors : target->max_sectors);
  size_t write_frame = proto::kAtaHeaderSize + size_t{spec.sectors_per_command} * 512;
  if (spec.direction == Direction::kWrite &&
      write_frame > socket->mtu() + proto::kEthernetHeaderSize) {
    return Fail(app, kExitUsage,
                fmt::format("--sectors {} makes {}-byte write frames, more than MTU {} carries",
                            spec.sectors_per_command, write_frame, socket->mtu()));
  }
  if (a.offset_sectors >= target->capacity_sectors) {
    return Fail(app, kExitUsage,
                fmt::format("--offset-sectors {} is past the end of {} ({} sectors)",
                            a.offset_sectors, a.disk, target->capacity_sectors));
  }
  spec.first_sector = a.offset_sectors;
  spec.region_sectors = target->capacity_sectors - a.offset_sectors;
  if (a.region_sectors != 0) {
    if (a.region_sectors > spec.region_sectors) {
      return Fail(app, kExitUsage,
                  fmt::format("--region-sectors {} goes past the end of {} ({} sectors)",
                              a.region_sectors, a.disk, target->capacity_sectors));
    }
    spec.region_sectors = a.region_sectors;
  }
  spec.warmup = Seconds(a.warmup);
  if (byte_budget) {
    spec.byte_budget = byte_budget;
  } else {
    spec.duration = Seconds(a.seconds);
  }
  spec.rto = Seconds(a.rto_ms / 1000);
  spec.stall_timeout = Seconds(a.stall_seconds);
  spec.data_seed = a.data_seed;
  spec.random_seed = a.random_seed;
  spec.flush_after_writes = !a.no_flush;
  spec.flush_before_writes = a.flush_first;

  Result<LoadResult> result = RunLoad(*socket, *target, spec);
  if (!result && result.error() == std::errc::timed_out) {
    return Fail(app, kExitFailure,
                fmt::format("{} stopped answering: no reply for {} s (--stall-seconds)", a.disk,
                            a.stall_seconds));
  }
  if (!result) {
    return Fail(app, kExitFailure,
                fmt::format("load on {} failed: {}", a.disk, result.error().message()));
  }
  fmt::print("{}\n", ResultJson(std::move(out), spec, *result).dump());
  return result->errors() == 0 ? kExitOk : kExitFailure;
}

}  // namespace
}  // namespace aoe::bench

int main(int argc, char** argv) { return aoe::bench::Main(argc, argv); }
