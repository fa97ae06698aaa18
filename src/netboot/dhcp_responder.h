// DhcpResponder: the DHCP decisions of the netboot service, sans-I/O. It takes a decoded request
// and the port it arrived on and returns the reply to send (or nothing), plus a log line. The
// service (netboot_service.cc) owns the sockets, the clock and the lease file.
//
// Two modes:
// - Full: a DHCP server for an isolated boot network. Hands out addresses from a LeasePool and
//   puts the boot file in OFFER and ACK.
// - Proxy (PXE 2.1 "ProxyDHCP"): another server hands out addresses. On port 67 we answer only
//   PXE/iPXE DISCOVERs, with an OFFER that has no address (yiaddr 0) but says "PXEClient"
//   (option 60), names us (option 54, siaddr) and carries the boot file. PXE clients, and iPXE,
//   then ask us again on port 4011 with a REQUEST, which gets an ACK with the same boot
//   information. Option 43 sub-option 6 = 8 tells PXE ROMs to boot that file instead of running
//   boot server discovery, as dnsmasq does.
//
// Thread-safety: none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "netboot/boot_policy.h"
#include "netboot/dhcp_message.h"
#include "netboot/ipv4.h"
#include "netboot/lease_pool.h"

namespace aoe::netboot {

inline constexpr uint16_t kDhcpServerPort = 67;
inline constexpr uint16_t kDhcpClientPort = 68;
inline constexpr uint16_t kPxeProxyPort = 4011;

enum class DhcpMode { kFull, kProxy };

struct DhcpResponderConfig {
  DhcpMode mode = DhcpMode::kProxy;
  Ipv4Address server;  // our address on the interface: server identifier and TFTP server
  Ipv4Address netmask;
  std::optional<Ipv4Address> router;
  BootTargets targets;
  BootFiles files;
};

struct DhcpReply {
  DhcpMessage message;
  Ipv4Address destination;  // 255.255.255.255 for broadcast
  uint16_t port = kDhcpClientPort;
};

struct DhcpOutcome {
  std::optional<DhcpReply> reply;
  std::string log;              // one line for the client's progress; empty = nothing worth saying
  bool leases_changed = false;  // the caller saves the lease file
};

class DhcpResponder {
 public:
  // `pool` is required in full mode and ignored in proxy mode; it must outlive the responder.
  DhcpResponder(DhcpResponderConfig config, LeasePool* pool);

  // `arrival_port` is 67 or 4011; `source`/`source_port` are the datagram's sender (4011
  // replies go straight back to it).
  DhcpOutcome Handle(const DhcpMessage& request, uint16_t arrival_port, Ipv4Address source,
                     uint16_t source_port, int64_t now_unix);

  const DhcpResponderConfig& config() const { return config_; }

 private:
  DhcpOutcome HandleFull(const DhcpMessage& request, DhcpMessageType type, const MacAddress& mac,
                         int64_t now_unix);
  DhcpOutcome HandleProxy(const DhcpMessage& request, DhcpMessageType type, const MacAddress& mac,
                          uint16_t arrival_port, Ipv4Address source, uint16_t source_port);
  // A reply skeleton: op, xid, flags, giaddr, chaddr copied; server id set.
  DhcpMessage ReplyTo(const DhcpMessage& request, DhcpMessageType type) const;
  // Adds the boot file (file, option 67, siaddr) and the PXE options a PXE client needs.
  void AddBootInfo(const DhcpMessage& request, const ClientInfo& client,
                   const BootDecision& decision, DhcpMessage& reply) const;
  DhcpReply Broadcast(DhcpMessage message, const DhcpMessage& request) const;

  DhcpResponderConfig config_;
  LeasePool* pool_;
};

}  // namespace aoe::netboot
