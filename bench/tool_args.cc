#include "bench/tool_args.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>

namespace aoe::bench {

namespace {

std::optional<uint64_t> ParseNumber(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<DiskName> ParseDiskName(std::string_view text) {
  if (text.size() < 4 || text[0] != 'e') return std::nullopt;
  size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::optional<uint64_t> shelf = ParseNumber(text.substr(1, dot - 1));
  std::optional<uint64_t> slot = ParseNumber(text.substr(dot + 1));
  if (!shelf || !slot || *shelf >= 0xFFFF || *slot >= 0xFF) return std::nullopt;
  return DiskName{static_cast<uint16_t>(*shelf), static_cast<uint8_t>(*slot)};
}

std::optional<uint64_t> ParseByteSize(std::string_view text) {
  uint64_t multiplier = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K':
        multiplier = uint64_t{1} << 10;
        break;
      case 'M':
        multiplier = uint64_t{1} << 20;
        break;
      case 'G':
        multiplier = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (multiplier != 1) text.remove_suffix(1);
  }
  std::optional<uint64_t> number = ParseNumber(text);
  if (!number || *number > UINT64_MAX / multiplier) return std::nullopt;
  return *number * multiplier;
}

std::optional<int> ParseArgs(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    return Fail(app, kExitUsage, fmt::format("{}; see {} --help", error.what(), app.get_name()));
  }
  return std::nullopt;
}

int Fail(const CLI::App& app, int status, std::string_view message) {
  fmt::print(stderr, "{}: {}\n", app.get_name(), message);
  return status;
}

}  // namespace aoe::bench
