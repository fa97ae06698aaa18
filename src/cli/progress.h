// Progress: the one-line progress bar of `aoe cp` on stderr (bytes done, rate, ETA), redrawn
// at most a few times a second, and silent unless stderr is a terminal.
//
// Format() is pure so that the line can be unit-tested; Update() and Finish() write to the
// terminal. Not thread-safe; one per copy.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/clock.h"

namespace aoe::cli {

class Progress {
 public:
  // `enabled` false makes every call a no-op (no terminal, or --no-progress).
  Progress(uint64_t total_bytes, bool enabled);

  void Update(uint64_t done_bytes);
  // Clears the line, so that the summary that follows starts on a clean line.
  void Finish();

  // "  64 MiB / 256 MiB  25%  112.3 MB/s  ETA 0:02". `elapsed` is the time since the start.
  static std::string Format(uint64_t done_bytes, uint64_t total_bytes, Duration elapsed);

 private:
  uint64_t total_;
  bool enabled_;
  TimePoint start_;
  TimePoint last_draw_{};
  size_t last_width_ = 0;
};

// True when stderr is a terminal (so a progress bar can be redrawn in place).
bool StderrIsTerminal();

}  // namespace aoe::cli
