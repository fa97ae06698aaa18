#include "netboot/netboot_options.h"

#include <fmt/format.h>

namespace aoe::netboot {

std::string DefaultLeaseFile(const std::string& interface_name) {
  return fmt::format("/var/lib/aoekit/netboot-{}.leases", interface_name);
}

std::string ValidateNetbootOptions(const NetbootOptions& o) {
  if (o.interface_name.empty()) return "no interface given; e.g. -i eth1";
  if (o.mode == DhcpMode::kFull) {
    if (!o.range_first || !o.range_last) {
      return "full DHCP mode needs an address range; e.g. --range 10.77.0.100-10.77.0.200";
    }
    if (*o.range_first > *o.range_last) {
      return fmt::format("range {}-{} is backwards; give the lower address first",
                         o.range_first->ToString(), o.range_last->ToString());
    }
    if (o.range_last->value() - o.range_first->value() > 65535) {
      return "the address range is larger than 65536 addresses; a boot network needs fewer";
    }
    if (o.lease_seconds < 60) return "the lease time must be at least 60 seconds";
  } else if (o.range_first || o.router || o.netmask) {
    return "--range, --netmask and --router are for full DHCP mode; proxy mode leaves addresses "
           "to the existing DHCP server";
  }
  if (!o.targets.default_target && o.targets.by_mac.empty()) {
    return "no AoE target to boot; give --boot eSHELF.SLOT (e.g. --boot e0.1) or --client "
           "MAC=eSHELF.SLOT";
  }
  if (o.files.bios.empty() || o.files.efi.empty()) return "the boot file names must not be empty";
  return "";
}

}  // namespace aoe::netboot
