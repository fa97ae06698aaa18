// CliErrorLine: CLI11's parse errors as the one line a subcommand prints (parse_result.h), in
// words a person can act on where CLI11's own are unclear.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace aoe::cli {

// The error on one line (CLI11's messages may hold newlines). An option given more often than
// it may be ("--loops: At Most 1 required but received 2") becomes "--loops is given 2 times;
// give it once".
std::string CliErrorLine(const CLI::ParseError& error);

}  // namespace aoe::cli
