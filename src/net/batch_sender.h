// BatchSender: sends frames from the caller's own memory with sendmmsg on an AF_PACKET socket,
// out of the interface a PacketSocket is bound to. The one copy of the socket send path:
// PacketPort sends every frame this way on its own socket; RingPacketPort sends this way every
// frame that was not built in one of its TX ring slots (ring_packet_port.h says why).
//
// The rules are Port::Send's: frames are handed over in order without blocking; a full send
// queue gives a short count; a frame longer than the MTU (a race with `ip link set mtu`), and
// every frame while the interface is missing or the link down, is dropped, counted in the
// caller's `tx_dropped` and reported as sent (AoE initiators retransmit; a caller that took it
// for back-pressure would spin).
//
// The message headers for a batch of up to kMaxBatch frames are preallocated in the object: no
// heap allocation per call. Ownership: owns no socket. Thread-safety: none.
#pragma once

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <span>

#include "base/bytes.h"
#include "base/result.h"
#include "net/packet_socket.h"
#include "net/port.h"

namespace aoe {

class BatchSender {
 public:
  // Largest batch handed to one sendmmsg call; Send() loops over longer spans.
  static constexpr size_t kMaxBatch = 64;

  BatchSender();

  // Sends `frames` on `fd` (an AF_PACKET SOCK_RAW socket, bound or not) out of `link`'s
  // interface. `link` is also told when the send sees the link go down (MarkLinkDown). Returns
  // how many frames were handed over or dropped; an error only when none was.
  Result<size_t> Send(int fd, PacketSocket& link, std::span<const TxFrame> frames,
                      uint64_t& tx_dropped);

 private:
  sockaddr_ll address_{};
  std::array<mmsghdr, kMaxBatch> messages_{};
  std::array<std::array<iovec, 2>, kMaxBatch> iovs_{};  // a frame's head and tail
};

}  // namespace aoe
