#include "cli/cli_error.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace aoe::cli {

std::string CliErrorLine(const CLI::ParseError& error) {
  std::string text = error.what();
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  // CLI11's ArgumentMismatch::AtMost: "OPTION: At Most 1 required but received N".
  constexpr std::string_view kAtMostOnce = ": At Most 1 required but received ";
  if (const size_t at = text.find(kAtMostOnce); at != std::string::npos) {
    return fmt::format("{} is given {} times; give it once", text.substr(0, at),
                       text.substr(at + kAtMostOnce.size()));
  }
  return text;
}

}  // namespace aoe::cli
