// The load client's engine: finds the disk, then keeps a FIXED number of ATA commands
// outstanding (no congestion control, no adaptation to what the target advertises or drops)
// until a time or byte budget is spent, and counts what happened.
//
// One thread, one socket. Retransmission is a fixed RTO per command with a new tag; it exists
// so that one lost frame cannot stall a run, and every retransmit is counted and reported.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "bench/latency_histogram.h"
#include "bench/load_frames.h"
#include "bench/packet_socket.h"

namespace aoe::bench {

struct LoadTarget {
  DiskAddress address;
  uint16_t buffer_count = 0;  // advertised in the config reply
  uint8_t max_sectors = 0;    // advertised sectors per ATA command
  uint16_t firmware_version = 0;
  uint64_t capacity_sectors = 0;  // from IDENTIFY
};

// Sends config queries for shelf.slot (broadcast) until one is answered, then IDENTIFY to the
// MAC that answered. Fails with errc::timed_out after `timeout`.
Result<LoadTarget> DiscoverTarget(const PacketSocket& socket, uint16_t shelf, uint8_t slot,
                                  std::chrono::nanoseconds timeout);

enum class Direction { kRead, kWrite };
enum class Order { kSequential, kRandom };

struct LoadSpec {
  Direction direction = Direction::kRead;
  Order order = Order::kSequential;
  size_t window = 16;               // commands outstanding, 1..CommandWindow::kMaxSlots
  uint8_t sectors_per_command = 0;  // 1..255
  uint64_t first_sector = 0;        // the region the commands address
  uint64_t region_sectors = 0;
  std::chrono::nanoseconds warmup{};                 // completions before this are not measured
  std::optional<std::chrono::nanoseconds> duration;  // measured time after the warmup
  std::optional<uint64_t> byte_budget;               // stop issuing after this many bytes
  std::chrono::nanoseconds rto{std::chrono::milliseconds(100)};
  std::chrono::nanoseconds stall_timeout{std::chrono::seconds(5)};  // no reply at all: fail
  std::optional<uint64_t> data_seed;  // write the pattern / check reads against it
  uint64_t random_seed = 1;
  bool flush_after_writes = true;
  // One FLUSH CACHE before the first write: a durability=auto target then treats this client
  // as an initiator that flushes (the cached path), as it does aoekit's own writers.
  bool flush_before_writes = false;
};

struct LoadResult {
  // The measured interval: from the end of the warmup to the last completion.
  std::chrono::nanoseconds elapsed{};
  uint64_t bytes = 0;
  uint64_t commands = 0;
  LatencyHistogram latency;  // first transmission to reply, retransmits included
  // The whole run, warmup included: what the target moved (for CPU seconds per GB).
  uint64_t bytes_total = 0;
  uint64_t commands_total = 0;
  uint64_t retransmits = 0;
  uint64_t stale_replies = 0;  // replies to a superseded tag (after a retransmit) or duplicates
  uint64_t aoe_errors = 0;     // replies with the AoE error flag
  uint64_t ata_errors = 0;     // replies with ATA status ERR
  uint64_t short_replies = 0;  // read replies without all the data asked for
  uint64_t unfinished = 0;     // outstanding when the drain gave up
  uint64_t verified_sectors = 0;
  uint64_t verify_failures = 0;  // sectors that did not match the pattern
  std::optional<uint64_t> first_bad_lba;
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;  // every AoE frame that reached the socket
  uint64_t send_drops = 0;       // ENOBUFS on send
  uint64_t socket_drops = 0;     // the kernel dropped frames for our socket (receive buffer)
  std::optional<std::chrono::nanoseconds> flush_latency;  // FLUSH CACHE after writes
  bool flush_ok = false;                                  // the FLUSH was answered without an error
  std::optional<bool> flush_first_ok;  // the FLUSH before the writes (flush_before_writes)

  uint64_t errors() const {
    return aoe_errors + ata_errors + short_replies + unfinished + verify_failures;
  }
};

// Runs the load. Fails only on socket errors or when the target stops answering entirely
// (spec.stall_timeout without any reply while commands are outstanding).
Result<LoadResult> RunLoad(PacketSocket& socket, const LoadTarget& target, const LoadSpec& spec);

}  // namespace aoe::bench
