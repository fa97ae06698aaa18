// NetbootOptions: everything `aoe netboot` (or a [netboot] section of `aoe serve`) configures.
// A plain struct; ValidateNetbootOptions checks what can be checked without the interface, and
// ValidateSubnet what needs its netmask.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/mac_address.h"
#include "netboot/boot_policy.h"
#include "netboot/dhcp_responder.h"
#include "netboot/ipv4.h"

namespace aoe::netboot {

struct NetbootOptions {
  std::string interface_name;
  // As given (--proxy, mode = "..."), so that an explicit proxy mode with a range is an error
  // rather than silently becoming a second DHCP server; mode() says what runs.
  std::optional<DhcpMode> given_mode;

  // Full mode only. Each is kept as given (unset or empty when not), so that proxy mode can
  // refuse them rather than ignore them.
  std::optional<Ipv4Address> range_first;
  std::optional<Ipv4Address> range_last;
  std::optional<Ipv4Address> netmask;  // default: the interface's
  std::optional<Ipv4Address> router;
  std::optional<uint32_t> lease_seconds;  // default: kDefaultLeaseSeconds
  std::string lease_file;                 // default: DefaultLeaseFile(interface_name)

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

inline constexpr uint32_t kDefaultLeaseSeconds = 3600;
std::string DefaultLeaseFile(const std::string& interface_name);

// Empty when usable; otherwise one line saying what is wrong and how to fix it.
std::string ValidateNetbootOptions(const NetbootOptions& options);

// Full mode: whether the range and the router fit the subnet that `netmask` (the given one, or
// else the interface's) makes of the range: a real mask, the whole range in one subnet without
// its network and broadcast address, the router in it. "" or one line, like the above.
std::string ValidateSubnet(const NetbootOptions& options, Ipv4Address netmask);

// "" when `mac` can be a client's own address; else why not (broadcast, multicast, zero).
std::string ClientMacProblem(const MacAddress& mac);

}  // namespace aoe::netboot
