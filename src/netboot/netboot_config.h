// The netboot settings in TOML: the file of `aoe netboot --config FILE`, and the same keys in a
// [netboot] table of the `aoe serve` config file. Keys (all optional; see docs/netboot.md):
//
//   interface = "br0"
//   mode = "proxy"                      # or "full"; default: full with a range, else proxy
//   boot = "e0.1"                       # default AoE target
//   range = "10.77.0.100-10.77.0.200"   # full mode
//   netmask = "255.255.255.0"           # full mode; default: the interface's
//   router = "10.77.0.1"                # full mode
//   lease_time = 3600                   # seconds, full mode
//   lease_file = "/var/lib/aoekit/netboot-br0.leases"
//   tftp_root = "/usr/lib/ipxe"
//   bios_file = "undionly.kpxe"
//   efi_file = "snponly.efi"
//   [clients]                           # per-client targets ([netboot.clients] inside serve)
//   "52:54:00:12:34:56" = "e0.2"
//
// Unknown keys are errors, so that a typo does not silently change how machines boot.
#pragma once

#include <toml++/toml.h>

#include <string>
#include <string_view>

#include "netboot/netboot_options.h"

namespace aoe::netboot {

// Applies the keys of `table` to `options`. Returns "" or one line naming the bad key, with
// `source_name` (e.g. the file name) as prefix.
std::string ApplyNetbootToml(const toml::table& table, std::string_view source_name,
                             NetbootOptions& options);

// Parses a whole file's text (top-level keys as above) into `options`.
std::string ApplyNetbootTomlText(std::string_view text, std::string_view source_name,
                                 NetbootOptions& options);

// Parses "10.0.0.100-10.0.0.200" into options.range_*; "" or an error line. The mode is left
// alone: a range means full mode only when no mode is given (NetbootOptions::mode).
std::string ParseRange(std::string_view text, NetbootOptions& options);

}  // namespace aoe::netboot
