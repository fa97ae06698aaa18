// PacketPort: a Port over a Linux AF_PACKET raw socket bound to one interface, for EtherType
// 0x88A2 only.
//
// - A kernel classic-BPF filter (see role_filter.h) drops every frame the role does not want, so
//   a target never wakes up for responses or for other protocols' traffic.
// - Receive/Send are batched with recvmmsg/sendmmsg (BatchSender) and never block. The message
//   headers for a batch of up to kMaxBatch frames are preallocated in the object: no heap
//   allocation per call.
// - Frames are sent exactly as given. The kernel does not pad short frames on virtual links
//   (veth, tap), so callers pad to 60 bytes themselves.
//
// Interface disappearance (e.g. a USB NIC unplugged, a veth deleted and re-created): the object
// stays usable (PacketSocket does the bookkeeping). While the interface is missing, Refresh()
// returns ENODEV, link_up() is false, Receive() returns 0 and Send() drops frames silently but
// reports them as sent (AoE tolerates loss and initiators retransmit; a caller that treated it as
// back-pressure would spin). Frames are dropped the same way while the link is down (ENETDOWN).
// Once the interface is back, Refresh() re-binds the same socket to its new ifindex. Re-binding
// instead of re-opening keeps fd() stable, so an event loop registration stays valid, and keeps the
// socket in the network namespace it was opened in.
//
// Ownership: owns its socket. Thread-safety: none; use one PacketPort from one thread at a time
// (as for every Port). The fd may be polled from the owning thread's event loop.
#pragma once

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "base/mac_address.h"
#include "base/result.h"
#include "net/batch_sender.h"
#include "net/packet_socket.h"
#include "net/port.h"
#include "net/role_filter.h"

namespace aoe {

struct PacketPortOptions {
  // Which direction of AoE traffic the kernel filter lets through.
  PortRole role = PortRole::kTarget;
  // Requested SO_RCVBUF and SO_SNDBUF. The FORCE variants are used when the process has
  // CAP_NET_ADMIN; otherwise the kernel caps the request at net.core.{r,w}mem_max. Jumbo frames
  // cost far more than their length in buffer accounting, hence a few MiB.
  size_t buffer_size_bytes = size_t{4} << 20;
};

class PacketPort final : public Port {
 public:
  using Options = PacketPortOptions;
  using Role = PortRole;

  // Largest batch handed to one recvmmsg call: Receive fills at most this many slots per call.
  // (Send loops over longer spans, BatchSender::kMaxBatch at a time.)
  static constexpr size_t kMaxBatch = 64;

  // Opens a socket on `ifname` in the calling thread's network namespace. Errors (compare with
  // std::errc, e.g. `r.error() == std::errc::no_such_device`):
  //   ENODEV         no interface of that name ("no such interface 'x'")
  //   EPERM/EACCES   the process lacks CAP_NET_RAW ("needs root or CAP_NET_RAW")
  //   EAFNOSUPPORT   the interface is not Ethernet (e.g. a tun device)
  //   other          an unexpected system failure, worth printing as is
  static Result<std::unique_ptr<PacketPort>> Open(const std::string& ifname, Options options = {});

  PacketPort(const PacketPort&) = delete;
  PacketPort& operator=(const PacketPort&) = delete;
  ~PacketPort() override = default;

  const std::string& name() const override { return socket_.name(); }
  MacAddress mac() const override { return socket_.mac(); }
  size_t mtu() const override { return socket_.mtu(); }
  bool link_up() const override { return socket_.link_up(); }
  Result<void> Refresh() override { return socket_.Refresh(); }
  int fd() const override { return socket_.fd(); }
  Result<size_t> Receive(std::span<RxSlot> slots) override;
  Result<size_t> Send(std::span<const TxFrame> frames) override;

  PortRole role() const { return socket_.role(); }
  // Frames Send() reported as sent but dropped because the interface was missing or down, or
  // because a frame exceeded the current MTU (a race with `ip link set mtu`). Diagnostics only.
  uint64_t tx_dropped() const { return tx_dropped_; }
  // Effective kernel buffer sizes after Open (the kernel doubles and caps requests).
  int receive_buffer_bytes() const { return rcvbuf_bytes_; }
  int send_buffer_bytes() const { return sndbuf_bytes_; }

 private:
  explicit PacketPort(PacketSocket socket) : socket_(std::move(socket)) {}

  PacketSocket socket_;
  uint64_t tx_dropped_ = 0;
  int rcvbuf_bytes_ = 0;
  int sndbuf_bytes_ = 0;

  // Preallocated batch state for recvmmsg.
  std::array<mmsghdr, kMaxBatch> msgs_{};
  std::array<iovec, kMaxBatch> iovs_{};
  BatchSender sender_;
};

}  // namespace aoe
