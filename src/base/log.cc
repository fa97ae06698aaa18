#include "base/log.h"

#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace aoe {

std::optional<LogLevel> ParseLogLevel(std::string_view text) {
  if (text == "error") return LogLevel::kError;
  if (text == "warn" || text == "warning") return LogLevel::kWarn;
  if (text == "info") return LogLevel::kInfo;
  if (text == "debug") return LogLevel::kDebug;
  return std::nullopt;
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}

Logger::Logger(LogLevel level)
    : Logger(level, [](LogLevel, std::string_view line) {
        std::string out(line);
        out.push_back('\n');
        std::fwrite(out.data(), 1, out.size(), stderr);
      }) {}

Logger::Logger(LogLevel level, Sink sink) : level_(level), sink_(std::move(sink)) {}

void WriteToStderrWithoutWaiting(LogLevel, std::string_view line) {
  std::string out(line);
  out.push_back('\n');
  pollfd ready{STDERR_FILENO, POLLOUT, 0};
  if (::poll(&ready, 1, 0) != 1 || (ready.revents & POLLOUT) == 0) return;
  // One line, far below PIPE_BUF: a pipe or terminal with room takes it whole.
  if (::write(STDERR_FILENO, out.data(), out.size()) < 0) {
    // Nowhere to say so.
  }
}

void Logger::Write(LogLevel level, std::string_view subject, std::string_view message) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string line = fmt::format("{}.{:03d}Z {:<5} {}: {}", stamp, now.tv_nsec / 1000000,
                                 LogLevelName(level), subject, message);
  sink_(level, line);
}

std::string Printable(std::string_view peer_text) {
  std::string out;
  out.reserve(peer_text.size());
  for (char c : peer_text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\') {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
  }
  return out;
}

}  // namespace aoe
