// PacketIo: how a server's ports move frames, and the one place a packet port is chosen.
//
//   kRing    PACKET_MMAP rings (RingPacketPort), read replies built in TX ring slots on every
//            interface; opening fails where the kernel has no rings.
//   kSocket  recvmmsg/sendmmsg on a packet socket (PacketPort).
//   kAuto    rings, with read replies in TX ring slots only where the driver sends from the
//            ring's pages (not veth or tun/tap: TxLending); falling back to the socket path
//            when the rings cannot be set up (the reason is returned so the caller can log it
//            once); `aoe serve`'s default.
//
// Thread-safety: pure functions.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "net/port.h"
#include "net/role_filter.h"

namespace aoe {

enum class PacketIo { kAuto, kRing, kSocket };

// "auto", "ring", "socket"; ParsePacketIo is its inverse (nullopt for anything else).
std::string_view PacketIoName(PacketIo mode);
std::optional<PacketIo> ParsePacketIo(std::string_view text);

struct OpenedPort {
  std::unique_ptr<Port> port;
  PacketIo used = PacketIo::kSocket;  // kRing or kSocket
  // kAuto only: why the rings were not used ("" when they were).
  std::string fallback_reason;
  // Read replies are built in TX ring slots (Port::LendTxFrame), as the interface is at open;
  // a ring port decides again on every Refresh() (TxLending).
  bool lends_tx_frames = false;
};

// Opens `ifname` the way `mode` asks. Errors are those of PacketPort::Open (the socket path's,
// in kAuto, when neither works) or RingPacketPort::Open (kRing).
Result<OpenedPort> OpenPacketPort(const std::string& ifname, PacketIo mode, PortRole role);

// One line for a person on why `ifname` could not be opened, with what to do about it: no such
// interface, not an Ethernet interface (lo, a tun device), no CAP_NET_RAW, or the system's text.
// What the initiator's commands and aoe serve both say.
std::string DescribeOpenError(const std::string& ifname, const std::error_code& error);

}  // namespace aoe
