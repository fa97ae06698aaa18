// aoe_blast: the frame limit of a link, one way. `aoe_blast send` pushes frames of one size
// as fast as batched sendmmsg allows; `aoe_blast count`, on the other end, counts the frames
// that reach a user-space packet socket (truncated reads, so counting costs no copy). The
// counted rate is the most frames per second a target could receive, or send to a client, at
// that size: the ceiling the load client's numbers are compared with.
//
// The frames use the IEEE "local experimental" EtherType 0x88B5 by default, so no AoE target
// or initiator on the link ever parses them.
//
// Exit status: 0 measured, 1 failed, 2 bad arguments.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench/packet_socket.h"
#include "bench/tool_args.h"

namespace aoe::bench {
namespace {

using Clock = std::chrono::steady_clock;
// The counter's queue absorbs ~100 ms of 9 KB frames at full rate, so that a moment off the CPU
// (the machine may be shared) does not turn into drops.
constexpr int kSocketBufferBytes = 256 << 20;
constexpr size_t kBatch = 64;

struct Args {
  std::string interface;
  unsigned ethertype = 0x88B5;
  double seconds = 5;
  uint64_t count = 0;  // 0: no frame count limit
  // send
  size_t frame_bytes = 60;
  std::string destination = "ff:ff:ff:ff:ff:ff";
  // count
  unsigned idle_ms = 500;
  std::string ready_file;
};

double SecondsOf(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Round3(double x) { return std::round(x * 1000) / 1000; }

Result<nlohmann::json> Send(const Args& a, const MacAddress& destination) {
  Result<PacketSocket> socket =
      PacketSocket::Open(a.interface, static_cast<uint16_t>(a.ethertype), kSocketBufferBytes);
  if (!socket) return Unexpected{socket.error()};
  if (a.frame_bytes > socket->mtu() + 14) return Err(std::errc::message_size);
  std::vector<std::byte> frame(a.frame_bytes, std::byte{0x5A});
  destination.Store(frame, 0);
  socket->mac().Store(frame, 6);
  StoreBe16(frame, 12, static_cast<uint16_t>(a.ethertype));

  SendBatch batch(kBatch);
  uint64_t sent = 0, dropped = 0;
  Clock::time_point start = Clock::now();
  Clock::time_point stop =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  Clock::time_point now = start;
  while (now < stop && (a.count == 0 || sent + dropped < a.count)) {
    uint64_t n = a.count == 0 ? kBatch : std::min<uint64_t>(kBatch, a.count - sent - dropped);
    for (uint64_t i = 0; i < n; ++i) batch.Add(frame);
    Result<SendBatch::Outcome> outcome = batch.Send(*socket);
    if (!outcome) return Unexpected{outcome.error()};
    sent += outcome->sent;
    dropped += outcome->dropped;
    now = Clock::now();
  }
  double elapsed = SecondsOf(now - start);
  return nlohmann::json{
      {"tool", "aoe_blast"},
      {"mode", "send"},
      {"interface", a.interface},
      {"frame_bytes", a.frame_bytes},
      {"frames", sent},
      {"send_drops", dropped},
      {"elapsed_s", Round3(elapsed)},
      {"frames_per_s", Round3(elapsed > 0 ? static_cast<double>(sent) / elapsed : 0)},
      {"mb_per_s",
       Round3(elapsed > 0 ? static_cast<double>(sent * a.frame_bytes) / elapsed / 1e6 : 0)}};
}

Result<nlohmann::json> Count(const Args& a) {
  Result<PacketSocket> socket =
      PacketSocket::Open(a.interface, static_cast<uint16_t>(a.ethertype), kSocketBufferBytes);
  if (!socket) return Unexpected{socket.error()};
  AOE_TRY(socket->TakeDrops());
  if (!a.ready_file.empty()) std::ofstream(a.ready_file) << "ready\n";

  ReceiveBatch batch(kBatch, 64);  // truncated: only the real length is needed
  uint64_t frames = 0, bytes = 0;
  size_t min_length = SIZE_MAX, max_length = 0;
  Clock::time_point start = Clock::now(), first{}, last{};
  auto give_up =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  auto idle = std::chrono::milliseconds(a.idle_ms);
  for (;;) {
    Result<size_t> n = batch.Receive(*socket);
    if (!n) return Unexpected{n.error()};
    Clock::time_point now = Clock::now();
    if (*n > 0) {
      if (frames == 0) first = now;
      last = now;
      for (size_t i = 0; i < *n; ++i) {
        bytes += batch.length(i);
        min_length = std::min(min_length, batch.length(i));
        max_length = std::max(max_length, batch.length(i));
      }
      frames += *n;
      if (a.count != 0 && frames >= a.count) break;
      continue;
    }
    if (now >= give_up || (frames > 0 && now - last >= idle)) break;
    Clock::time_point wake = frames > 0 ? std::min(give_up, last + idle) : give_up;
    AOE_TRY(WaitReadable(*socket, wake - now));
  }
  Result<uint64_t> drops = socket->TakeDrops();
  double elapsed = frames > 1 ? SecondsOf(last - first) : 0;
  return nlohmann::json{
      {"tool", "aoe_blast"},
      {"mode", "count"},
      {"interface", a.interface},
      {"frames", frames},
      {"bytes", bytes},
      {"min_frame_bytes", frames ? min_length : 0},
      {"max_frame_bytes", max_length},
      {"socket_drops", drops ? *drops : 0},
      {"elapsed_s", Round3(elapsed)},
      {"frames_per_s", Round3(elapsed > 0 ? static_cast<double>(frames - 1) / elapsed : 0)},
      {"mb_per_s", Round3(elapsed > 0 ? static_cast<double>(bytes) / elapsed / 1e6 : 0)}};
}

int Main(int argc, char** argv) {
  CLI::App app("", "aoe_blast");
  app.description("Measure a link's one-way frame limit: `send` on one end, `count` on the other.");
  app.require_subcommand(1);
  Args a;
  CLI::App* send = app.add_subcommand("send", "Send frames of one size as fast as possible.");
  CLI::App* count = app.add_subcommand("count", "Count the frames that arrive; print when idle.");
  for (CLI::App* sub : {send, count}) {
    sub->add_option("-i,--interface", a.interface, "Interface (a veth of your own).")->required();
    sub->add_option("--ethertype", a.ethertype, "EtherType (default 0x88B5, local experimental).")
        ->check(CLI::Range(0x0600u, 0xFFFFu));
    sub->add_option("--seconds", a.seconds, "Stop after this long (default 5).")
        ->check(CLI::Range(0.001, 3600.0));
    sub->add_option("--count", a.count, "Stop after this many frames (default: no limit).");
  }
  send->add_option("--size", a.frame_bytes, "Frame length in bytes without FCS, 60 to MTU+14.")
      ->check(CLI::Range(size_t{60}, size_t{65549}));
  send->add_option("--dst", a.destination, "Destination MAC (default broadcast).");
  count->add_option("--idle-ms", a.idle_ms, "Stop this long after the last frame (default 500).");
  count->add_option("--ready-file", a.ready_file, "Create this file once the socket is bound.");
  if (std::optional<int> status = ParseArgs(app, argc, argv)) return *status;

  Result<nlohmann::json> out = Err(std::errc::invalid_argument);
  if (send->parsed()) {
    std::optional<MacAddress> destination = MacAddress::Parse(a.destination);
    if (!destination) {
      return Fail(app, kExitUsage,
                  fmt::format("--dst '{}' is not a MAC address; e.g. --dst 02:00:00:00:00:01",
                              a.destination));
    }
    out = Send(a, *destination);
  } else {
    out = Count(a);
  }
  if (!out) {
    return Fail(app, kExitFailure, fmt::format("on {}: {}", a.interface, out.error().message()));
  }
  fmt::print("{}\n", out->dump());
  return kExitOk;
}

}  // namespace
}  // namespace aoe::bench

int main(int argc, char** argv) { return aoe::bench::Main(argc, argv); }
