// Parsing a command's arguments with CLI11, and CLI11's parse errors as the one line a
// subcommand prints (parse_result.h), in words a person can act on where CLI11's own are unclear.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/parse_result.h"

namespace aoe::cli {

// Parses `args` (the words after the command's name) with `app`, which collects unknown options
// (allow_extras) so that they are worded here. True when they ask for help (-h, --help: print
// app.help()), false when the command should run, or one error line without the "aoe NAME: "
// prefix: "unknown option '--frob'; see 'aoe NAME --help'". "--" ends the options: what follows
// is an operand even if it starts with '-' (an image file named -x.img), as in every POSIX tool.
ParseResult<bool> ParseWithCli11(CLI::App& app, std::string_view name,
                                 const std::vector<std::string>& args);

// The error on one line (CLI11's messages may hold newlines). An option given more often than
// it may be ("--loops: At Most 1 required but received 2") becomes "--loops is given 2 times;
// give it once".
std::string CliErrorLine(const CLI::ParseError& error);

}  // namespace aoe::cli
