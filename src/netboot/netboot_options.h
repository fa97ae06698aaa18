// NetbootOptions: everything `aoe netboot` (or a [netboot] section of `aoe serve`) configures.
// A plain struct; ValidateNetbootOptions checks what can be checked without the interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "netboot/boot_policy.h"
#include "netboot/dhcp_responder.h"
#include "netboot/ipv4.h"

namespace aoe::netboot {

struct NetbootOptions {
  std::string interface_name;
  // As given (--proxy, mode = "..."), so that an explicit proxy mode with a range is an error
  // rather than silently becoming a second DHCP server; mode() says what runs.
  std::optional<DhcpMode> given_mode;

  // Full mode only.
  std::optional<Ipv4Address> range_first;
  std::optional<Ipv4Address> range_last;
  std::optional<Ipv4Address> netmask;  // default: the interface's
  std::optional<Ipv4Address> router;
  uint32_t lease_seconds = 3600;
  std::string lease_file;  // default: DefaultLeaseFile(interface_name)

  std::string tftp_root = "/usr/lib/ipxe";  // Debian's ipxe package
  BootFiles files;
  BootTargets targets;

  // The given mode; without one, a range means full mode (docs/netboot.md), else proxy.
  DhcpMode mode() const {
    return given_mode.value_or(range_first ? DhcpMode::kFull : DhcpMode::kProxy);
  }

  // `aoe serve` re-creates its [netboot] service on SIGHUP only when this changed.
  bool operator==(const NetbootOptions&) const = default;
};

std::string DefaultLeaseFile(const std::string& interface_name);

// Empty when usable; otherwise one line saying what is wrong and how to fix it.
std::string ValidateNetbootOptions(const NetbootOptions& options);

}  // namespace aoe::netboot
