// Counters the target keeps: per class of bad input (so hostile or broken peers show up in
// logs instead of crashing anything) and per kind of work.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

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
  uint64_t dropped_bad_source = 0;       // source MAC a group address or zero: no host to answer
  uint64_t dropped_bad_config = 0;       // config string longer than 1024 or than the frame
  uint64_t dropped_rate_limited = 0;     // state change over its source's rate limit
  uint64_t dropped_state_busy = 0;       // state command while kMaxHeldReplies replies wait
  uint64_t dropped_state_elsewhere = 0;  // non-ATA command on a loop not owning the export's state
  uint64_t refused_bad_version = 0;      // answered with error 5
  uint64_t refused_unknown_command = 0;  // answered with error 1
  uint64_t refused_bad_argument = 0;     // answered with error 2
  uint64_t refused_reserved = 0;         // answered with error 6
  uint64_t refused_trim = 0;             // TRIM on a read-only export, bad range, other DSM
  uint64_t ata_errors = 0;               // ATA ABRT/IDNF/UNC replies
  uint64_t send_dropped = 0;             // replies the OS would not take (queue full)
  // Busy polling (--busy-poll): polls started after work, polls that found a frame (each one a
  // sleep and a wake-up saved), and chances to poll passed up because more than one recent poll
  // in four found nothing (BusyPollPolicy).
  uint64_t busy_polls = 0;
  uint64_t busy_poll_hits = 0;
  uint64_t busy_polls_skipped = 0;
};

// Every counter by name, in the order above: what the control socket's `stats` reports
// (`aoe ctl stats`; docs/control.md). A counter added to Stats must be added here too, or the
// static_assert below fails.
struct StatsCounter {
  std::string_view name;
  uint64_t Stats::*field;
};
inline constexpr std::array kStatsCounters = {
    StatsCounter{"ata_commands", &Stats::ata_commands},
    StatsCounter{"config_commands", &Stats::config_commands},
    StatsCounter{"mask_commands", &Stats::mask_commands},
    StatsCounter{"reserve_commands", &Stats::reserve_commands},
    StatsCounter{"bytes_read", &Stats::bytes_read},
    StatsCounter{"bytes_written", &Stats::bytes_written},
    StatsCounter{"flushes", &Stats::flushes},
    StatsCounter{"trims", &Stats::trims},
    StatsCounter{"reads_from_memory", &Stats::reads_from_memory},
    StatsCounter{"writes_from_port", &Stats::writes_from_port},
    StatsCounter{"dropped_runt", &Stats::dropped_runt},
    StatsCounter{"dropped_truncated", &Stats::dropped_truncated},
    StatsCounter{"dropped_not_for_us", &Stats::dropped_not_for_us},
    StatsCounter{"dropped_wildcard_io", &Stats::dropped_wildcard_io},
    StatsCounter{"dropped_masked", &Stats::dropped_masked},
    StatsCounter{"dropped_response", &Stats::dropped_response},
    StatsCounter{"dropped_bad_source", &Stats::dropped_bad_source},
    StatsCounter{"dropped_bad_config", &Stats::dropped_bad_config},
    StatsCounter{"dropped_rate_limited", &Stats::dropped_rate_limited},
    StatsCounter{"dropped_state_busy", &Stats::dropped_state_busy},
    StatsCounter{"dropped_state_elsewhere", &Stats::dropped_state_elsewhere},
    StatsCounter{"refused_bad_version", &Stats::refused_bad_version},
    StatsCounter{"refused_unknown_command", &Stats::refused_unknown_command},
    StatsCounter{"refused_bad_argument", &Stats::refused_bad_argument},
    StatsCounter{"refused_reserved", &Stats::refused_reserved},
    StatsCounter{"refused_trim", &Stats::refused_trim},
    StatsCounter{"ata_errors", &Stats::ata_errors},
    StatsCounter{"send_dropped", &Stats::send_dropped},
    StatsCounter{"busy_polls", &Stats::busy_polls},
    StatsCounter{"busy_poll_hits", &Stats::busy_poll_hits},
    StatsCounter{"busy_polls_skipped", &Stats::busy_polls_skipped},
};
static_assert(sizeof(Stats) == kStatsCounters.size() * sizeof(uint64_t),
              "every Stats counter needs its entry in kStatsCounters");
consteval bool EveryStatsCounterOnce() {
  for (size_t i = 0; i < kStatsCounters.size(); ++i) {
    for (size_t j = i + 1; j < kStatsCounters.size(); ++j) {
      if (kStatsCounters[i].field == kStatsCounters[j].field ||
          kStatsCounters[i].name == kStatsCounters[j].name) {
        return false;
      }
    }
  }
  return true;
}
static_assert(EveryStatsCounterOnce(), "a counter is named twice in kStatsCounters");

// The counters of several event loops (aoe serve --loops), added up; a loop with none (it did
// not answer) is left out.
inline Stats Sum(const std::vector<std::optional<Stats>>& loops) {
  Stats sum;
  for (const std::optional<Stats>& loop : loops) {
    if (!loop) continue;
    for (const StatsCounter& c : kStatsCounters) sum.*c.field += (*loop).*c.field;
  }
  return sum;
}

}  // namespace aoe::target
