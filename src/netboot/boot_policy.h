// Boot policy: what a netbooting client is (BIOS PXE ROM, UEFI PXE, iPXE with or without AoE)
// and which file it gets next. Pure: reads decoded DHCP requests only.
//
// The chain (docs/netboot.md):
//   PXE ROM  --DHCP-->  first stage: Debian's iPXE (undionly.kpxe for BIOS, snponly.efi for UEFI)
//   iPXE     --DHCP-->  second stage: a per-client iPXE script that runs `sanboot aoe:eX.Y`
// iPXE announces itself with user class "iPXE" (option 77) and lists its features in option 175;
// an iPXE that lacks AoE (feature 0x12), e.g. a small NIC ROM, is chained to the full Debian
// build like a plain PXE ROM. A client that already runs an AoE-capable iPXE (QEMU's NIC ROMs)
// gets the script directly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/mac_address.h"
#include "netboot/dhcp_message.h"
#include "proto/disk_address.h"

namespace aoe::netboot {

// Parses "e1.2"; shelf 0-65534, slot 0-254 (the broadcast values cannot be booted).
std::optional<proto::DiskAddress> ParseAoeTarget(std::string_view text);

enum class Firmware {
  kOther,       // not a netboot client (no PXEClient vendor class, not iPXE)
  kPxeBios,     // PXE ROM, client arch 0
  kPxeEfi,      // UEFI PXE, client arch 6, 7 or 9
  kPxeUnknown,  // PXE with an architecture we have no iPXE build for
  kIpxe,        // iPXE with AoE: ready for the script
  kIpxeNoAoe,   // iPXE built without AoE: chain to the full build first
};
std::string_view FirmwareName(Firmware firmware);

struct ClientInfo {
  Firmware firmware = Firmware::kOther;
  std::optional<uint16_t> arch;  // option 93, or the Arch field of option 60
  bool efi = false;              // arch says UEFI
  bool pxe = false;              // vendor class starts with "PXEClient"
};
ClientInfo ClassifyClient(const DhcpMessage& request);

struct BootFiles {
  std::string bios = "undionly.kpxe";  // relative to the TFTP root
  std::string efi = "snponly.efi";
  bool operator==(const BootFiles&) const = default;
};

// Which AoE target each client boots: per-MAC entries, else the default.
struct BootTargets {
  std::optional<proto::DiskAddress> default_target;
  std::map<MacAddress, proto::DiskAddress> by_mac;
  std::optional<proto::DiskAddress> For(const MacAddress& mac) const;
  bool operator==(const BootTargets&) const = default;
};

struct BootDecision {
  enum class Stage { kNone, kFirstStage, kScript } stage = Stage::kNone;
  std::string file;  // boot file name for the DHCP reply; empty for kNone
  proto::DiskAddress target;
  std::string why;  // for the log when stage is kNone
};
BootDecision DecideBoot(const ClientInfo& client, const MacAddress& mac, const BootTargets& targets,
                        const BootFiles& files);

// The TFTP name of a client's script: "aoekit/52-54-00-a0-e0-01.ipxe" (no colons: some TFTP
// clients treat them specially). ParseScriptName is its inverse; nullopt for other names.
std::string ScriptName(const MacAddress& mac);
std::optional<MacAddress> ParseScriptName(std::string_view name);

// The iPXE script that boots `target`.
std::string RenderScript(const proto::DiskAddress& target, const MacAddress& mac);

}  // namespace aoe::netboot
