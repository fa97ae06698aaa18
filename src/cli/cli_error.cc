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

ParseResult<bool> ParseWithCli11(CLI::App& app, std::string_view name,
                                 const std::vector<std::string>& args) {
  try {
    // CLI11 takes a vector in reverse order (it pops arguments off the back).
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    return true;
  } catch (const CLI::ParseError& e) {
    return ParseError{fmt::format("{}; see 'aoe {} --help'", CliErrorLine(e), name)};
  }
  // CLI11 takes "--" as the end of the options and then lists it among the remaining
  // arguments, before the operands the command had no place for.
  bool after_options = false;
  for (const std::string& extra : app.remaining()) {
    if (extra == "--" && !after_options) {
      after_options = true;
      continue;
    }
    const bool option = !after_options && extra.starts_with('-');
    return ParseError{fmt::format("{} '{}'; see 'aoe {} --help'",
                                  option ? "unknown option" : "unexpected argument", extra, name)};
  }
  return false;
}

}  // namespace aoe::cli
