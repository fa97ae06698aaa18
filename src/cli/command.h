// The subcommands of the `aoe` program.
//
// Each subcommand lives in its own file (serve.cc, ...) and defines one entry point declared
// here; main.cc lists them in its command table. Adding a subcommand is that file, its
// declaration below and one table line.
#pragma once

#include <string>
#include <vector>

namespace aoe::cli {

// Process exit statuses shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // a runtime failure: interface, image, I/O, ...
inline constexpr int kExitUsage = 2;    // bad arguments or config; nothing was started

// Runs a subcommand with the arguments after its name and returns the exit status. Errors are
// printed to stderr as one line prefixed with "aoe <name>: ".
using CommandMain = int (*)(const std::vector<std::string>& args);

int ServeMain(const std::vector<std::string>& args);

}  // namespace aoe::cli
