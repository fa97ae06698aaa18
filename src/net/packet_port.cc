#include "net/packet_port.h"

#include <algorithm>

namespace aoe {

Result<std::unique_ptr<PacketPort>> PacketPort::Open(const std::string& ifname, Options options) {
  auto socket = PacketSocket::Create(ifname, options.role);
  AOE_TRY(socket);
  const int fd = socket->fd();
  auto rcvbuf = SetSocketBufferSize(fd, SO_RCVBUFFORCE, SO_RCVBUF, options.buffer_size_bytes);
  AOE_TRY(rcvbuf);
  auto sndbuf = SetSocketBufferSize(fd, SO_SNDBUFFORCE, SO_SNDBUF, options.buffer_size_bytes);
  AOE_TRY(sndbuf);
  AOE_TRY(socket->Attach());
  std::unique_ptr<PacketPort> port(new PacketPort(std::move(*socket)));
  port->rcvbuf_bytes_ = *rcvbuf;
  port->sndbuf_bytes_ = *sndbuf;
  return port;
}

Result<size_t> PacketPort::Receive(std::span<RxSlot> slots) {
  // Always read the socket, even while the interface is missing: a pending socket error (set
  // when the interface went down) makes the fd poll readable until it is consumed, and frames
  // queued before the interface vanished are still worth delivering.
  size_t count = std::min(slots.size(), kMaxBatch);
  if (count == 0) return size_t{0};
  for (size_t i = 0; i < count; ++i) {
    iovs_[i] = {slots[i].buffer.data(), slots[i].buffer.size()};
    msgs_[i].msg_hdr = {};
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_len = 0;
  }
  int received =
      recvmmsg(socket_.fd(), msgs_.data(), static_cast<unsigned>(count), MSG_DONTWAIT, nullptr);
  if (received < 0) {
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ENOBUFS) return size_t{0};
    if (IsInterfaceGone(err)) {
      // Refresh() tells "down" from "deleted" and re-binds if needed.
      socket_.MarkLinkDown();
      return size_t{0};
    }
    return Errno(err);
  }
  for (size_t i = 0; i < static_cast<size_t>(received); ++i) {
    RxSlot& slot = slots[i];
    slot.length = std::min(size_t{msgs_[i].msg_len}, slot.buffer.size());
    slot.truncated = (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
  }
  return static_cast<size_t>(received);
}

Result<size_t> PacketPort::Send(std::span<const TxFrame> frames) {
  return sender_.Send(socket_.fd(), socket_, frames, tx_dropped_);
}

}  // namespace aoe
