// Logger: one line per event, with a level and the subject (an export such as "e1.2", an
// interface, or a component) in every line.
//
// A Logger is created by main and passed by reference; nothing logs through a global.
// Thread-safety: Log() may be called from several threads; each line is written with one
// fwrite-style call so lines do not interleave.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace aoe {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

std::optional<LogLevel> ParseLogLevel(std::string_view text);  // "error", "warn", "info", "debug"
std::string_view LogLevelName(LogLevel level);

// Text a peer sent (a file name, an error message), made safe to log: every byte outside
// printable ASCII, and the backslash, becomes \xNN, so a peer cannot end the line or forge one.
std::string Printable(std::string_view peer_text);

// A Logger::Sink for a thread that must never wait (aoe serve's signal thread): each line goes
// to stderr in one write(2), past stdio's lock, and only when poll() says stderr takes it at
// once; a stopped terminal or a full pipe drops the line.
void WriteToStderrWithoutWaiting(LogLevel level, std::string_view line);

class Logger {
 public:
  // Receives each finished line (without trailing newline).
  using Sink = std::function<void(LogLevel, std::string_view line)>;

  // Writes to stderr.
  explicit Logger(LogLevel level = LogLevel::kInfo);
  Logger(LogLevel level, Sink sink);

  void set_level(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
  LogLevel level() const { return level_.load(std::memory_order_relaxed); }
  bool Enabled(LogLevel level) const { return level <= this->level(); }

  template <typename... Args>
  void Log(LogLevel level, std::string_view subject, fmt::format_string<Args...> format,
           Args&&... args) {
    if (!Enabled(level)) return;
    Write(level, subject, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Error(std::string_view subject, fmt::format_string<Args...> f, Args&&... a) {
    Log(LogLevel::kError, subject, f, std::forward<Args>(a)...);
  }
  template <typename... Args>
  void Warn(std::string_view subject, fmt::format_string<Args...> f, Args&&... a) {
    Log(LogLevel::kWarn, subject, f, std::forward<Args>(a)...);
  }
  template <typename... Args>
  void Info(std::string_view subject, fmt::format_string<Args...> f, Args&&... a) {
    Log(LogLevel::kInfo, subject, f, std::forward<Args>(a)...);
  }
  template <typename... Args>
  void Debug(std::string_view subject, fmt::format_string<Args...> f, Args&&... a) {
    Log(LogLevel::kDebug, subject, f, std::forward<Args>(a)...);
  }

 private:
  void Write(LogLevel level, std::string_view subject, std::string_view message);

  // Atomic: a reload changes it while other threads (aoe serve --loops) log.
  std::atomic<LogLevel> level_;
  Sink sink_;
};

}  // namespace aoe
