// Command-line helpers shared by the benchmark tools (aoe_load, aoe_blast, aoe_pattern): the
// disk name, byte sizes, and CLI11 parsing that ends bad input with one line and exit code 2.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aoe::bench {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // ran, but failed or found errors
inline constexpr int kExitUsage = 2;    // bad arguments; nothing was sent

struct DiskName {
  uint16_t shelf = 0;
  uint8_t slot = 0;
};

// "e0.1" -> shelf 0, slot 1 (shelf 0-65534, slot 0-254: never a wildcard).
std::optional<DiskName> ParseDiskName(std::string_view text);

// "4096", "64K", "256M", "1G" (binary multiples) -> bytes.
std::optional<uint64_t> ParseByteSize(std::string_view text);

// Parses argv into `app`. Returns nullopt to go on, or the exit status: 0 after --help,
// kExitUsage after printing "TOOL: what is wrong; see TOOL --help" on stderr.
std::optional<int> ParseArgs(CLI::App& app, int argc, char** argv);

// Prints "TOOL: message" on stderr and returns `status`.
int Fail(const CLI::App& app, int status, std::string_view message);

}  // namespace aoe::bench
