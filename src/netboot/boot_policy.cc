#include "netboot/boot_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace aoe::netboot {

namespace {

constexpr std::string_view kScriptPrefix = "aoekit/";
constexpr std::string_view kScriptSuffix = ".ipxe";
constexpr uint8_t kIpxeFeatureAoe = 0x12;  // iPXE include/ipxe/features.h DHCP_EB_FEATURE_AOE

std::optional<uint32_t> ParseDecimal(std::string_view text) {
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Option 77 is either the raw string (iPXE, gPXE) or an RFC 3004 list of length-prefixed
// entries; accept "iPXE" in both forms.
bool HasIpxeUserClass(const DhcpMessage& m) {
  const DhcpOption* o = m.Find(kOptUserClass);
  if (o == nullptr) return false;
  std::string_view raw(reinterpret_cast<const char*>(o->data.data()), o->data.size());
  if (raw == "iPXE") return true;
  size_t i = 0;
  while (i < raw.size()) {
    size_t length = static_cast<uint8_t>(raw[i]);
    if (length == 0 || i + 1 + length > raw.size()) return false;
    if (raw.substr(i + 1, length) == "iPXE") return true;
    i += 1 + length;
  }
  return false;
}

// iPXE lists its features as sub-options of option 175. Without the option we cannot tell, and
// assume a full build rather than chain-loading forever.
bool IpxeHasAoe(const DhcpMessage& m) {
  const DhcpOption* o = m.Find(kOptIpxeEncap);
  if (o == nullptr) return true;
  std::optional<std::vector<DhcpOption>> features = DecodeSubOptions(o->data);
  if (!features) return true;
  return std::any_of(features->begin(), features->end(),
                     [](const DhcpOption& f) { return f.code == kIpxeFeatureAoe; });
}

// "PXEClient:Arch:00007:UNDI:003016" -> 7
std::optional<uint16_t> ArchFromVendorClass(std::string_view vendor) {
  constexpr std::string_view kArch = "PXEClient:Arch:";
  if (!vendor.starts_with(kArch)) return std::nullopt;
  std::string_view digits = vendor.substr(kArch.size(), 5);
  std::optional<uint32_t> arch = ParseDecimal(digits);
  if (!arch || *arch > 0xffff) return std::nullopt;
  return static_cast<uint16_t>(*arch);
}

}  // namespace

std::optional<proto::DiskAddress> ParseAoeTarget(std::string_view text) {
  Result<proto::DiskAddress> address = proto::ParseDiskAddress(text);
  if (!address || address->is_wildcard()) return std::nullopt;
  return *address;
}

std::string_view FirmwareName(Firmware firmware) {
  switch (firmware) {
    case Firmware::kOther:
      return "not a netboot client";
    case Firmware::kPxeBios:
      return "PXE BIOS";
    case Firmware::kPxeEfi:
      return "PXE UEFI";
    case Firmware::kPxeUnknown:
      return "PXE (unsupported arch)";
    case Firmware::kIpxe:
      return "iPXE";
    case Firmware::kIpxeNoAoe:
      return "iPXE without AoE";
  }
  return "?";
}

ClientInfo ClassifyClient(const DhcpMessage& m) {
  ClientInfo info;
  std::string_view vendor = m.FindString(kOptVendorClass).value_or("");
  info.pxe = vendor.starts_with("PXEClient");
  // Option 93 may list several architectures; the first is the one running.
  if (const DhcpOption* o = m.Find(kOptClientArch); o != nullptr && o->data.size() >= 2) {
    info.arch = static_cast<uint16_t>((o->data[0] << 8) | o->data[1]);
  } else {
    info.arch = ArchFromVendorClass(vendor);
  }
  const uint16_t arch = info.arch.value_or(0);
  info.efi = arch == 6 || arch == 7 || arch == 9;
  if (HasIpxeUserClass(m)) {
    info.firmware = IpxeHasAoe(m) ? Firmware::kIpxe : Firmware::kIpxeNoAoe;
  } else if (!info.pxe) {
    info.firmware = Firmware::kOther;
  } else if (arch == 0) {
    info.firmware = Firmware::kPxeBios;
  } else if (info.efi) {
    info.firmware = Firmware::kPxeEfi;
  } else {
    info.firmware = Firmware::kPxeUnknown;
  }
  return info;
}

std::optional<proto::DiskAddress> BootTargets::For(const MacAddress& mac) const {
  if (auto it = by_mac.find(mac); it != by_mac.end()) return it->second;
  return default_target;
}

BootDecision DecideBoot(const ClientInfo& client, const MacAddress& mac, const BootTargets& targets,
                        const BootFiles& files) {
  BootDecision d;
  if (client.firmware == Firmware::kOther) {
    d.why = "not a PXE or iPXE client";
    return d;
  }
  if (client.firmware == Firmware::kPxeUnknown) {
    d.why = fmt::format("client architecture {} has no iPXE build here (BIOS 0, UEFI 6/7/9)",
                        client.arch.value_or(0));
    return d;
  }
  std::optional<proto::DiskAddress> target = targets.For(mac);
  if (!target) {
    d.why = "no AoE target for this MAC; give --boot eX.Y or --client MAC=eX.Y";
    return d;
  }
  d.target = *target;
  if (client.firmware == Firmware::kIpxe) {
    d.stage = BootDecision::Stage::kScript;
    d.file = ScriptName(mac);
  } else {
    d.stage = BootDecision::Stage::kFirstStage;
    d.file = client.efi ? files.efi : files.bios;
  }
  return d;
}

std::string ScriptName(const MacAddress& mac) {
  std::string text = mac.ToString();
  std::replace(text.begin(), text.end(), ':', '-');
  return fmt::format("{}{}{}", kScriptPrefix, text, kScriptSuffix);
}

std::optional<MacAddress> ParseScriptName(std::string_view name) {
  if (name.starts_with('/')) name.remove_prefix(1);
  if (!name.starts_with(kScriptPrefix) || !name.ends_with(kScriptSuffix)) return std::nullopt;
  name.remove_prefix(kScriptPrefix.size());
  name.remove_suffix(kScriptSuffix.size());
  if (name.size() != 17) return std::nullopt;
  return MacAddress::Parse(name);
}

std::string RenderScript(const proto::DiskAddress& target, const MacAddress& mac) {
  // sanboot uses the last opened netdev (aoe: URIs have no interface), which after the DHCP
  // that fetched this script is the one it came in on. A failed sanboot drops to a prompt
  // instead of rebooting in a loop, so the message stays on screen.
  return fmt::format(
      "#!ipxe\n"
      "# Generated by aoe netboot for {mac}\n"
      "echo aoekit: booting {mac} from AoE target {t} (sanboot aoe:{t})\n"
      "sanboot aoe:{t} || goto failed\n"
      "exit\n"
      ":failed\n"
      "echo aoekit: sanboot aoe:{t} failed; is `aoe serve` exporting {t} on this network?\n"
      "prompt --timeout 30000 Press any key for the iPXE shell... && shell ||\n"
      "exit 1\n",
      fmt::arg("mac", mac.ToString()), fmt::arg("t", target.ToString()));
}

}  // namespace aoe::netboot
