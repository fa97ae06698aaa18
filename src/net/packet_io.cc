#include "net/packet_io.h"

#include <fmt/format.h>

#include "net/packet_port.h"
#include "net/ring_packet_port.h"

namespace aoe {

std::string_view PacketIoName(PacketIo mode) {
  switch (mode) {
    case PacketIo::kAuto:
      return "auto";
    case PacketIo::kRing:
      return "ring";
    case PacketIo::kSocket:
      return "socket";
  }
  return "auto";
}

std::optional<PacketIo> ParsePacketIo(std::string_view text) {
  for (PacketIo mode : {PacketIo::kAuto, PacketIo::kRing, PacketIo::kSocket}) {
    if (text == PacketIoName(mode)) return mode;
  }
  return std::nullopt;
}

Result<OpenedPort> OpenPacketPort(const std::string& ifname, PacketIo mode, PortRole role) {
  OpenedPort opened;
  if (mode != PacketIo::kSocket) {
    // `ring` asks for the rings in full, so read replies go by TX ring slots on every interface;
    // `auto` lends slots only where that saves a copy (ring_packet_port.h, TxLending).
    const TxLending lending =
        mode == PacketIo::kRing ? TxLending::kAlways : TxLending::kWhereSentFromRing;
    // An initiator's frames pass the qdisc, where egress rules apply (RingPacketPortOptions).
    auto ring = RingPacketPort::Open(
        ifname, {.role = role, .lending = lending, .bypass_qdisc = role != PortRole::kInitiator});
    if (ring) {
      opened.lends_tx_frames = (*ring)->lends_tx_frames();
      opened.port = std::move(*ring);
      opened.used = PacketIo::kRing;
      return opened;
    }
    if (mode == PacketIo::kRing) return Unexpected{ring.error()};
    opened.fallback_reason = ring.error().message();
  }
  auto socket = PacketPort::Open(ifname, {.role = role});
  AOE_TRY(socket);
  opened.port = std::move(*socket);
  opened.used = PacketIo::kSocket;
  return opened;
}

std::string DescribeOpenError(const std::string& ifname, const std::error_code& error) {
  if (error == std::errc::no_such_device) {
    return fmt::format("cannot open interface '{}': no such interface; list the interfaces with "
                       "'ip link'",
                       ifname);
  }
  if (error == std::errc::address_family_not_supported) {
    return fmt::format("cannot open interface '{}': not an Ethernet interface, which AoE needs; "
                       "list the interfaces with 'ip link'",
                       ifname);
  }
  if (error == std::errc::operation_not_permitted || error == std::errc::permission_denied) {
    return fmt::format("cannot open interface '{}': needs root or CAP_NET_RAW (setcap "
                       "cap_net_raw+ep on the binary)",
                       ifname);
  }
  return fmt::format("cannot open interface '{}': {}", ifname, error.message());
}

}  // namespace aoe
