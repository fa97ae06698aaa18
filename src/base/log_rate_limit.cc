#include "base/log_rate_limit.h"

#include <algorithm>

namespace aoe {

LogRateLimiter::LogRateLimiter(Logger& log, const Clock& clock, Limits limits)
    : log_(log), clock_(clock), limits_(limits) {}

LogRateLimiter::~LogRateLimiter() { ReportAll(); }

bool LogRateLimiter::Admit(LogLevel level, std::string_view subject, std::string_view kind) {
  if (!log_.Enabled(level)) return false;
  const TimePoint now = clock_.Now();
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& entry) {
    return entry.subject == subject && entry.kind == kind;
  });
  if (it == entries_.end()) {
    entries_.push_back(Entry{std::string(subject), std::string(kind), level, now, 1, 0});
    return true;
  }
  Entry& entry = *it;
  if (Ended(entry, now)) {
    // The count comes before the line that starts the next interval, so the log reads in order.
    Summarize(entry, now);
    entry.level = level;
    entry.started = now;
    entry.logged = 0;
    entry.suppressed = 0;
  }
  if (entry.logged < limits_.burst) {
    ++entry.logged;
    return true;
  }
  ++entry.suppressed;
  return false;
}

void LogRateLimiter::ReportEnded() {
  const TimePoint now = clock_.Now();
  std::erase_if(entries_, [&](const Entry& entry) {
    if (!Ended(entry, now)) return false;
    Summarize(entry, now);
    return true;
  });
}

void LogRateLimiter::ReportAll() {
  const TimePoint now = clock_.Now();
  for (const Entry& entry : entries_) Summarize(entry, now);
  entries_.clear();
}

void LogRateLimiter::Summarize(const Entry& entry, TimePoint now) {
  if (entry.suppressed == 0) return;
  // Whole seconds, rounded up: every suppressed line came within them.
  const auto seconds =
      std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(now - entry.started).count());
  log_.Log(entry.level, entry.subject, "{} more \"{}\" {} suppressed in the last {} s",
           entry.suppressed, entry.kind, entry.suppressed == 1 ? "line" : "lines", seconds);
}

}  // namespace aoe
