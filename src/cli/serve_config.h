// The configuration of `aoe serve`, and its TOML form (`aoe serve --config FILE`).
//
// The schema, with every key and default, is in docs/configuration.md; an annotated example is
// docs/examples/serve.toml. Unknown keys are errors with file:line, so a typo cannot silently
// change what is served.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/log.h"
#include "cli/parse_result.h"
#include "netboot/netboot_options.h"
#include "target/options.h"

namespace aoe::cli {

// Everything `aoe serve` needs: what the Server is given, plus what only the CLI uses.
struct ServeConfig {
  target::ServerOptions server;
  LogLevel log_level = LogLevel::kInfo;
  // After opening its sockets, images and state files, `aoe serve` switches to this user
  // (--user, `user = "..."`), keeping only CAP_NET_RAW; empty: keep the starting user.
  std::string user;
  // The [netboot] section: DHCP and TFTP that PXE-boot clients from the exports, run on the
  // Server's own loop (same keys as `aoe netboot --config`, see docs/netboot.md). Validated;
  // interface defaults to the only entry of `interfaces`.
  std::optional<netboot::NetbootOptions> netboot;
  // The control socket (--control-socket, `control_socket = "..."`; docs/control.md): unset
  // means the default path, where another aoe serve already listening is only a warning;
  // "none" turns it off.
  std::optional<std::string> control_socket;
};

// Parses TOML text. Checks the schema (keys, types, ranges) but not the meaning; see
// LoadServeConfigFile. `source_name` starts each message: "serve.toml:12: ...".
ParseResult<ServeConfig> ParseServeToml(std::string_view text, std::string_view source_name);

// Reads and parses the file at `path`, then runs target::ValidateOptions on the result, so a
// config that loads is one the Server can be given (at start and on SIGHUP).
ParseResult<ServeConfig> LoadServeConfigFile(const std::string& path);

}  // namespace aoe::cli
