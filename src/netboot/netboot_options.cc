#include "netboot/netboot_options.h"

#include <fmt/format.h>

#include "base/interface_name.h"

namespace aoe::netboot {

namespace {

// Range, netmask, router and the lease settings describe the addresses full mode hands out; in
// proxy mode the existing DHCP server does that, and we must not pose as a second one. Given
// there, they are a mistake to point out, not to ignore: the admin expects them to apply.
std::string FullModeSettingsProblem(const NetbootOptions& o) {
  if (!o.range_first && !o.netmask && !o.router && !o.lease_seconds && o.lease_file.empty()) {
    return "";
  }
  if (o.given_mode == DhcpMode::kProxy) {
    return "proxy mode (--proxy, mode = \"proxy\") takes no range, netmask, router, lease time "
           "or lease file: the existing DHCP server gives addresses; remove them, or remove the "
           "proxy mode to make this the DHCP server (full mode)";
  }
  // No mode given and no range: proxy mode, which has no use for them.
  return "netmask, router, lease time and lease file are for full DHCP mode, which needs a range "
         "too (--range FROM-TO, range = \"FROM-TO\"); add one, or remove them";
}

}  // namespace

std::string DefaultLeaseFile(const std::string& interface_name) {
  return fmt::format("/var/lib/aoekit/netboot-{}.leases", interface_name);
}

std::string ValidateNetbootOptions(const NetbootOptions& o) {
  if (o.interface_name.empty()) return "no interface given; e.g. -i eth1";
  if (std::string problem = InterfaceNameProblem(o.interface_name); !problem.empty()) {
    return fmt::format("interface '{}' {}", o.interface_name, problem);
  }
  if (o.mode() == DhcpMode::kFull) {
    if (!o.range_first || !o.range_last) {
      // Only an explicit mode can be full without a range, and only a config file says that.
      return "mode = \"full\" needs an address range; add one, e.g. range = "
             "\"10.77.0.100-10.77.0.200\"";
    }
    if (*o.range_first > *o.range_last) {
      return fmt::format("range {}-{} is backwards; give the lower address first",
                         o.range_first->ToString(), o.range_last->ToString());
    }
    if (o.range_last->value() - o.range_first->value() > 65535) {
      return "the address range is larger than 65536 addresses; a boot network needs fewer";
    }
    if (o.lease_seconds && *o.lease_seconds < 60) {
      return "the lease time must be at least 60 seconds";
    }
    // Without a netmask the interface's applies: the service checks that once it knows it.
    if (o.netmask) {
      if (std::string problem = ValidateSubnet(o, *o.netmask); !problem.empty()) return problem;
    }
  } else if (std::string problem = FullModeSettingsProblem(o); !problem.empty()) {
    return problem;
  }
  if (!o.targets.default_target && o.targets.by_mac.empty()) {
    return "no AoE target to boot; give --boot eSHELF.SLOT (e.g. --boot e0.1) or --client "
           "MAC=eSHELF.SLOT";
  }
  if (o.files.bios.empty() || o.files.efi.empty()) return "the boot file names must not be empty";
  return "";
}

std::string ValidateSubnet(const NetbootOptions& o, Ipv4Address netmask) {
  if (!IsSubnetMask(netmask)) {
    return fmt::format("netmask {} is not a subnet mask (ones, then zeros); e.g. 255.255.255.0",
                       netmask.ToString());
  }
  const Ipv4Address first = *o.range_first;
  const Ipv4Address last = *o.range_last;
  const Ipv4Address network = NetworkAddress(first, netmask);
  const Ipv4Address broadcast = BroadcastAddress(first, netmask);
  const std::string subnet = fmt::format("{}/{}", network.ToString(), netmask.ToString());
  if (!SameSubnet(first, last, netmask)) {
    return fmt::format("range {}-{} spans more than one subnet of netmask {}; keep it within {}",
                       first.ToString(), last.ToString(), netmask.ToString(), subnet);
  }
  // A /31 (RFC 3021, a point-to-point link) has no network or broadcast address: both are
  // hosts. (A /32 has room for no client besides the server: StartLeasePool says so.)
  const bool point_to_point = (~netmask.value()) <= 1;
  // Handed out, these would make a client answer (or flood) the whole subnet.
  if (!point_to_point && first == network) {
    return fmt::format(
        "range {}-{} includes {}, the network address of {}; start it at {} or above",
        first.ToString(), last.ToString(), network.ToString(), subnet,
        Ipv4Address(network.value() + 1).ToString());
  }
  if (!point_to_point && last == broadcast) {
    return fmt::format(
        "range {}-{} includes {}, the broadcast address of {}; end it at {} or below",
        first.ToString(), last.ToString(), broadcast.ToString(), subnet,
        Ipv4Address(broadcast.value() - 1).ToString());
  }
  const bool router_is_a_host =
      o.router && SameSubnet(*o.router, first, netmask) &&
      (point_to_point || (*o.router != network && *o.router != broadcast));
  if (o.router && !router_is_a_host) {
    return fmt::format(
        "router {} is not a host of the clients' subnet {}, so they could not reach it; give an "
        "address inside it",
        o.router->ToString(), subnet);
  }
  return "";
}

std::string ClientMacProblem(const MacAddress& mac) {
  if (mac.is_zero()) return "00:00:00:00:00:00 is no network card's address";
  if (mac.is_broadcast()) return "ff:ff:ff:ff:ff:ff is the broadcast address, not one client's";
  if (mac.is_multicast()) {
    return fmt::format("{} is a multicast address (first octet odd), not one client's",
                       mac.ToString());
  }
  return "";
}

}  // namespace aoe::netboot
