// What `aoe ctl` and `aoe overlay` share: their common options (--socket, --json, --timeout),
// one request to `aoe serve`'s control socket, and turning its answer into output and an exit
// status (docs/control.md).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/parse_result.h"
#include "control/control_protocol.h"

namespace aoe::cli {

struct ControlCliArgs {
  std::string socket;                     // --socket / -S, default control::kDefaultSocketPath
  bool json = false;                      // --json: print the result object as JSON
  std::chrono::milliseconds timeout{-1};  // --timeout S; negative: wait as long as it takes
  bool help = false;                      // -h / --help
  std::vector<std::string> words;         // the command and its operands
};

// Options may stand anywhere among the words.
ParseResult<ControlCliArgs> ParseControlCliArgs(const std::vector<std::string>& args);

// Prints "aoe NAME: MESSAGE; see 'aoe NAME --help'" and returns the usage exit code (2).
int ControlUsage(std::string_view name, std::string_view message);

// The common start of `aoe ctl` and `aoe overlay`: parses `arguments` into `cli`. Returns the
// exit code to end with at once (bad arguments, --help printed as `help`, no command given),
// or nullopt to go on with cli.words[0], the command.
std::optional<int> StartControlCli(std::string_view name, std::string_view help,
                                   const std::vector<std::string>& arguments, ControlCliArgs& cli);

// Sends {"command": command, "args": args}. On success prints the result (as JSON with --json,
// else through `print`) and returns 0; on an error answer prints "aoe NAME: MESSAGE" and returns
// 1; when the socket cannot be reached, says why and returns 1.
int RunControlCommand(std::string_view name, const ControlCliArgs& cli, const std::string& command,
                      const control::Json& args,
                      const std::function<void(const control::Json&)>& print);

// The same for a whole request object, sent as it is (`aoe ctl send`).
int RunControlRequest(std::string_view name, const ControlCliArgs& cli,
                      const control::Json& request,
                      const std::function<void(const control::Json&)>& print);

// Operands that name an export ("e0.1") or a client (a MAC), checked before anything is sent:
// what is wrong with one, for ControlUsage, or nullopt when it is well formed.
std::optional<std::string> BadExportOperand(std::string_view text);
std::optional<std::string> BadMacOperand(std::string_view text);

// "3.0 GiB"; "-" for null.
std::string BytesText(const control::Json& bytes);
// "2025-01-02 03:04:05 UTC (12 s ago)"; "-" for 0 or null.
std::string TimeText(const control::Json& unix_seconds);

}  // namespace aoe::cli
