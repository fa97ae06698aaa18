#include "netboot/netboot_options.h"

#include <fmt/format.h>

namespace aoe::netboot {

namespace {

// Range, netmask and router describe the addresses full mode hands out; in proxy mode the
// existing DHCP server does that, and we must not pose as a second one.
std::string AddressSettingsProblem(const NetbootOptions& o) {
  if (!o.range_first && !o.netmask && !o.router) return "";
  if (o.given_mode == DhcpMode::kProxy) {
    return "proxy mode (--proxy, mode = \"proxy\") takes no range, netmask or router: the "
           "existing DHCP server gives addresses; remove them, or remove the proxy mode to make "
           "this the DHCP server (full mode)";
  }
  // No mode given and no range: proxy mode, which has no use for them.
  return "netmask and router are for full DHCP mode, which needs a range too (--range FROM-TO, "
         "range = \"FROM-TO\"); add one, or remove them";
}

}  // namespace

std::string DefaultLeaseFile(const std::string& interface_name) {
  return fmt::format("/var/lib/aoekit/netboot-{}.leases", interface_name);
}

std::string ValidateNetbootOptions(const NetbootOptions& o) {
  if (o.interface_name.empty()) return "no interface given; e.g. -i eth1";
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
    if (o.lease_seconds < 60) return "the lease time must be at least 60 seconds";
  } else if (std::string problem = AddressSettingsProblem(o); !problem.empty()) {
    return problem;
  }
  if (!o.targets.default_target && o.targets.by_mac.empty()) {
    return "no AoE target to boot; give --boot eSHELF.SLOT (e.g. --boot e0.1) or --client "
           "MAC=eSHELF.SLOT";
  }
  if (o.files.bios.empty() || o.files.efi.empty()) return "the boot file names must not be empty";
  return "";
}

}  // namespace aoe::netboot
