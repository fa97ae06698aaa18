// Counters the target keeps: per class of bad input (so hostile or broken peers show up in
// logs instead of crashing anything) and per kind of work.
#pragma once

#include <cstdint>

namespace aoe::target {

struct Stats {
  // Requests answered.
  uint64_t ata_commands = 0;
  uint64_t config_commands = 0;
  uint64_t mask_commands = 0;
  uint64_t reserve_commands = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t flushes = 0;
  uint64_t trims = 0;  // DATA SET MANAGEMENT / TRIM commands completed
  // Reads whose reply data left straight from storage's memory (BlockBackend::View).
  uint64_t reads_from_memory = 0;
  // Writes whose data went to storage from where the port received it (Port::ReceiveInPlace).
  uint64_t writes_from_port = 0;
  // Dropped or refused input, by class.
  uint64_t dropped_runt = 0;             // shorter than the command's header
  uint64_t dropped_truncated = 0;        // larger than our receive buffer
  uint64_t dropped_not_for_us = 0;       // other shelf.slot (normal with several targets)
  uint64_t dropped_wildcard_io = 0;      // READ/WRITE/FLUSH addressed to a wildcard
  uint64_t dropped_masked = 0;           // sender not on a non-empty mask list
  uint64_t dropped_response = 0;         // response flag set (another target's reply)
  uint64_t dropped_bad_config = 0;       // config string longer than 1024 or than the frame
  uint64_t dropped_rate_limited = 0;     // state change over its source's rate limit
  uint64_t dropped_state_busy = 0;       // state command while kMaxHeldReplies replies wait
  uint64_t refused_bad_version = 0;      // answered with error 5
  uint64_t refused_unknown_command = 0;  // answered with error 1
  uint64_t refused_bad_argument = 0;     // answered with error 2
  uint64_t refused_reserved = 0;         // answered with error 6
  uint64_t refused_trim = 0;             // TRIM on a read-only export, bad range, other DSM
  uint64_t ata_errors = 0;               // ATA ABRT/IDNF/UNC replies
  uint64_t send_dropped = 0;             // replies the OS would not take (queue full)
  // Busy polling (--busy-poll): polls started after work, and polls that found a frame (each
  // one a sleep and a wake-up saved).
  uint64_t busy_polls = 0;
  uint64_t busy_poll_hits = 0;
};

}  // namespace aoe::target
