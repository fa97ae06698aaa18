// Shared pieces of the initiator subcommands (scan, ping, cp, bench, config, mask, reserve,
// release): the CLI11 set-up every one of them uses, parsers for the values a person types
// (disk names, sizes, seconds, MACs), human formatting of sizes and rates, and opening a Client
// with error messages a person can act on.
//
// The parsers are pure and unit-tested (initiator_args_test.cc).
// Thread-safety: none needed; everything is used from main's thread.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/mac_address.h"
#include "cli/parse_result.h"
#include "initiator/client.h"
#include "initiator/types.h"

namespace aoe::cli {

// What `aoe NAME --help` shows around CLI11's option list.
struct CommandHelp {
  std::string_view name;         // "cp"
  std::string_view usage;        // "Usage: aoe cp ...\n" (one or more lines)
  std::string_view description;  // a paragraph
  std::string_view footer;       // examples, exit statuses
};

// Applies the conventions of `aoe serve` to `app`: our usage lines, -h/--help, unknown options
// collected (so that we word the message) instead of thrown.
void SetUpCommand(CLI::App& app, const CommandHelp& help);

// Adds the repeatable -i/--interface option.
void AddInterfaceOption(CLI::App& app, std::vector<std::string>& interfaces);

// Parses `args` (the words after the command name). Returns nullopt when the command should
// run; otherwise it has printed the help (exit 0) or one error line on stderr (exit 2) and
// returns that exit status.
std::optional<int> ParseCommand(CLI::App& app, std::string_view name,
                                const std::vector<std::string>& args);

// Prints "aoe NAME: MESSAGE" on stderr and returns `status`.
int Fail(std::string_view name, int status, std::string_view message);

// Makes the engine's notices (a second MAC answering a disk's shelf.slot with another disk, or
// under another serial: InitiatorOptions::on_notice) lines "aoe NAME: MESSAGE" on stderr.
void PrintNotices(std::string_view name, initiator::ClientOptions& options);

// "e0.1": one disk; wildcard shelf (65535) or slot (255) are refused with a hint.
ParseResult<proto::DiskAddress> ParseDiskName(std::string_view text);
// True when `text` has the shape of a disk name ("e" digits "." digits), valid or not: how cp
// tells a disk from a local file.
bool LooksLikeDiskName(std::string_view text);

// A positive number of seconds, decimals allowed ("0.5", "2"), at most `max_seconds`.
ParseResult<Duration> ParseSeconds(std::string_view option, std::string_view text,
                                   double max_seconds = 24 * 3600.0);
// A byte count with an optional binary suffix: 4096, 4k, 4K, 4KiB, 1M, 1MiB, 2G, 2GiB, 1T.
// `example`: a value the option takes, for the message.
ParseResult<uint64_t> ParseByteSize(std::string_view option, std::string_view text,
                                    std::string_view example);
ParseResult<MacAddress> ParseMac(std::string_view option, std::string_view text);

// 268435456 -> "256 MiB", 1536 -> "1.5 KiB", 100 -> "100 B".
std::string HumanBytes(uint64_t bytes);
// A duration in seconds as a person writes it: "2 s", "0.5 s", "30 s".
std::string HumanSeconds(Duration d);
// Opaque bytes (a config string) in double quotes, with quotes, backslashes and anything
// unprintable escaped, so that an odd string cannot garble a table or the terminal.
std::string QuoteBytes(std::string_view bytes);
// "enp1s0, enp2s0".
std::string JoinNames(const std::vector<std::string>& names);
// A duration in milliseconds with three decimals: "0.215".
std::string Milliseconds(Duration d);

// Per-path counters of a disk as a JSON array (for --json summaries), and as one line per path
// on stderr prefixed "aoe NAME: " (for -v).
nlohmann::json PathStatsJson(const std::vector<initiator::PathStats>& paths);
void PrintPathStats(std::string_view name, const std::vector<initiator::PathStats>& paths);

// For an error the target answered with "reserved": reads the reserve list and returns
// "target reserved by another host (aa:bb:cc:dd:ee:ff); ..." with a hint. Otherwise returns
// the error's own message.
std::string ExplainError(initiator::Client& client, proto::DiskAddress address,
                         const initiator::Error& error);

}  // namespace aoe::cli
