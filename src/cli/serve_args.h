// Command-line parsing for `aoe serve`. Pure: reads the arguments (and the --config file when
// one is named), never opens a socket or an image, so it is unit-tested on its own.
//
// Two forms, never mixed:
//   aoe serve -i IFACE [-i IFACE ...] [options] EXPORT...
//   aoe serve --config FILE [--log-level LEVEL]
// With --config the file is the whole configuration, because SIGHUP re-reads it and a reload
// must not quietly drop settings that only existed on the command line. --log-level is the one
// exception: it is how a person turns on debug output without editing the file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "cli/parse_result.h"
#include "cli/serve_config.h"

namespace aoe::cli {

struct ServeArgs {
  // Set when -h/--help was given: print it to stdout and exit 0. Nothing else is filled in.
  std::optional<std::string> help;
  // The --config file, re-read on SIGHUP; empty when the configuration came from the command
  // line.
  std::string config_path;
  // --log-level given next to --config; it wins over the file's log_level, on reloads too.
  std::optional<LogLevel> log_level_override;
  // Parsed and validated with target::ValidateOptions.
  ServeConfig config;
};

// Parses the arguments that follow "serve". The error is one line without the "aoe serve: "
// prefix, which the caller adds.
ParseResult<ServeArgs> ParseServeArgs(const std::vector<std::string>& args);

}  // namespace aoe::cli
