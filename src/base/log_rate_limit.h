// LogRateLimiter: keeps a line that a peer or failing storage can cause once per frame from
// flooding the log, the way the kernel's printk_ratelimit does.
//
// Lines are grouped by key: a subject (an export such as "e1.2") and a kind ("write failed").
// Within an interval (5 s by default), the first `burst` lines of a key (10) are logged in full;
// later ones are only counted. Once the interval has passed, one summary line gives the count,
// at the level of the lines it stands for:
//   e1.2: 122 more "write failed" lines suppressed in the last 5 s
// and a new interval starts with the next line. The summary comes before the next line of that
// key, or from ReportEnded(), which the owner calls periodically so that a count is reported even
// when no further line comes, or at the latest from ReportAll() (the destructor calls it). Keys
// are independent: one export's failures never hide another's, nor one kind another kind.
//
// The defaults are the kernel's (DEFAULT_RATELIMIT_INTERVAL 5 s, DEFAULT_RATELIMIT_BURST 10),
// so a failure that lasts shows the pattern administrators know from dmesg: at most 11 lines per
// key per 5 s, the first of them at once.
//
// Keys must come from a bounded set (the exports, fixed kinds), never from what a peer sends,
// such as its MAC: every key is remembered until its interval has ended. A line whose level the
// logger does not print is neither logged nor counted. Looking a key up and counting a line
// allocate nothing, so the suppressed path costs no heap work; a key's first line does.
//
// Single-threaded: one per event loop (each loop's Target has its own). The Logger and the
// Clock must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/log.h"

namespace aoe {

class LogRateLimiter {
 public:
  struct Limits {
    size_t burst = 10;
    Duration interval = std::chrono::seconds(5);
  };

  LogRateLimiter(Logger& log, const Clock& clock) : LogRateLimiter(log, clock, Limits{}) {}
  LogRateLimiter(Logger& log, const Clock& clock, Limits limits);
  // Reports what is still suppressed (ReportAll): a count is never lost at shutdown.
  ~LogRateLimiter();
  LogRateLimiter(const LogRateLimiter&) = delete;
  LogRateLimiter& operator=(const LogRateLimiter&) = delete;

  // Whether a line of (subject, kind) at `level` is to be logged now; if not, it is counted.
  // Logs the summary of the key's last interval first if that interval has ended. For callers
  // that build the line's text only when it is logged.
  bool Admit(LogLevel level, std::string_view subject, std::string_view kind);

  template <typename... Args>
  void Log(LogLevel level, std::string_view subject, std::string_view kind,
           fmt::format_string<Args...> format, Args&&... args) {
    if (Admit(level, subject, kind)) log_.Log(level, subject, format, std::forward<Args>(args)...);
  }

  // Logs the summary of every key whose interval has ended with lines suppressed, and forgets
  // those keys. Call it periodically (aoe serve: once a second, on each event loop).
  void ReportEnded();
  // Logs the summary of every key with lines suppressed, ended or not, and forgets every key.
  void ReportAll();

  // Keys remembered now (tests).
  size_t tracked_keys() const { return entries_.size(); }

 private:
  struct Entry {
    std::string subject;
    std::string kind;
    LogLevel level;
    TimePoint started;  // the interval began with the key's first line in it
    size_t logged = 0;
    uint64_t suppressed = 0;
  };

  void Summarize(const Entry& entry, TimePoint now);
  bool Ended(const Entry& entry, TimePoint now) const {
    return now - entry.started >= limits_.interval;
  }

  Logger& log_;
  const Clock& clock_;
  Limits limits_;
  // A few keys at a time (exports with failures right now, times a handful of kinds): a vector
  // searched in order beats a map here and needs no key built to look one up.
  std::vector<Entry> entries_;
};

}  // namespace aoe
