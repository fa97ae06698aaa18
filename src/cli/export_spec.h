// Parsing of the pieces a person writes to name an export: the target name "e1.2" and the
// command-line EXPORT argument of `aoe serve`:
//
//   eSHELF.SLOT=PATH[,ro][,offset=N][,length=N][,durability=cache|auto|sync][,sync][,direct]
//                   [,mask=MAC;MAC...][,iface=NAME][,fail=FIRST-LAST[:read|:write]]
//                   [,overlay=DIR][,lifetime=persist|discard-on-boot][,lifetime.MAC=...]
//                   [,ceph_conf=PATH][,ceph_id=NAME][,keyring=PATH]
//
// PATH is a BackendSpec (an image file or block device, "file:PATH", or an RBD image
// "rbd:POOL/IMAGE[@SNAP]", which the ceph_* and keyring options are for); `sync` is short for
// durability=sync.
//
// The syntax of every key is documented in docs/configuration.md. Parsing checks only the
// syntax and the ranges the types can hold; target::ValidateOptions checks the meaning
// (broadcast addresses, duplicates, interfaces that are not served).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "cli/parse_result.h"
#include "proto/disk_address.h"
#include "target/options.h"

namespace aoe::cli {

// Parses "e<shelf>.<slot>" (proto::ParseDiskAddress) with a message for a person on failure.
// The broadcast values (65535, 255) are accepted here so that ValidateOptions can explain why
// they cannot be served.
ParseResult<proto::DiskAddress> ParseTargetAddress(std::string_view text);

// Parses an unsigned decimal number with no sign, spaces or suffix.
std::optional<uint64_t> ParseUnsigned(std::string_view text);

// Parses the value of fail= (also an entry of TOML's fail = [...]): "FIRST-LAST", a single
// sector "N", optionally followed by ":read" or ":write" to fail only that direction.
ParseResult<target::InjectedFault> ParseInjectedFault(std::string_view text);

// Server-wide settings an export starts from (--durability or --sync, --direct).
struct ExportDefaults {
  target::Durability durability = target::Durability::kAuto;
  bool direct = false;
};

// Parses one EXPORT argument. The spec's own durability replaces the default; `direct` can only
// be turned on.
ParseResult<target::ExportOptions> ParseExportSpec(std::string_view spec,
                                                   const ExportDefaults& defaults = {});

// The file system paths of a well-formed export spec (its image unless rbd:, and the values of
// overlay=, ceph_conf= and keyring=), each replaced by `map(path)`; the rest of the spec as it
// was. For the control socket, where a relative path would be resolved in the server's working
// directory: `aoe ctl` makes them absolute in its own, and the server refuses any left relative.
std::string MapExportSpecPaths(std::string_view spec,
                               const std::function<std::string(const std::string&)>& map);
// The first relative path of the spec, or "" if every path is absolute.
std::string RelativePathIn(std::string_view spec);

// Parses an overlay lifetime for `option` ("lifetime", "lifetime.MAC"): one line naming the
// choices otherwise, ending with `example` (as the setting is written where it came from).
ParseResult<overlay::Lifetime> ParseLifetimeValue(std::string_view option, std::string_view text,
                                                  std::string_view example);

// Parses a durability name for `option` ("--durability", "durability"): one line naming the
// choices otherwise.
ParseResult<target::Durability> ParseDurabilityValue(std::string_view option,
                                                     std::string_view text);

}  // namespace aoe::cli
