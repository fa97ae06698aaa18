#include "cli/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "cli/initiator_args.h"

namespace aoe::cli {

Progress::Progress(uint64_t total_bytes, bool enabled)
    : total_(total_bytes), enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

void Progress::Update(uint64_t done_bytes) {
  if (!enabled_) return;
  TimePoint now = std::chrono::steady_clock::now();
  // A redraw costs a write to the terminal; 5 per second is smooth enough.
  if (now - last_draw_ < std::chrono::milliseconds(200) && done_bytes < total_) return;
  last_draw_ = now;
  std::string line = Format(done_bytes, total_, now - start_);
  // Pad with spaces over a longer previous line.
  size_t width = line.size();
  if (width < last_width_) line.append(last_width_ - width, ' ');
  last_width_ = width;
  fmt::print(stderr, "\r{}", line);
  std::fflush(stderr);
}

void Progress::Finish() {
  if (!enabled_ || last_width_ == 0) return;
  fmt::print(stderr, "\r{}\r", std::string(last_width_, ' '));
  std::fflush(stderr);
}

std::string Progress::Format(uint64_t done_bytes, uint64_t total_bytes, Duration elapsed) {
  double seconds = std::chrono::duration<double>(elapsed).count();
  double rate = seconds > 0 ? static_cast<double>(done_bytes) / seconds : 0;  // bytes/s
  int percent = total_bytes > 0 ? static_cast<int>(done_bytes * 100 / total_bytes) : 100;
  std::string eta = "--:--";
  if (rate > 0 && done_bytes <= total_bytes) {
    auto left = static_cast<uint64_t>(static_cast<double>(total_bytes - done_bytes) / rate + 0.5);
    eta = left >= 3600 ? fmt::format("{}:{:02}:{:02}", left / 3600, left / 60 % 60, left % 60)
                       : fmt::format("{}:{:02}", left / 60, left % 60);
  }
  return fmt::format("{} / {}  {}%  {:.1f} MB/s  ETA {}", HumanBytes(done_bytes),
                     HumanBytes(total_bytes), percent, rate / 1e6, eta);
}

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

}  // namespace aoe::cli
