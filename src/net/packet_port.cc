#include "net/packet_port.h"

#include <arpa/inet.h>

#include <algorithm>
#include <climits>

namespace aoe {

namespace {

// Sets a socket buffer size, preferring the FORCE option (needs CAP_NET_ADMIN) because the plain
// one is silently capped at net.core.*mem_max, which is too small for jumbo frames by default.
// Returns the size the kernel actually granted.
Result<int> SetBufferSize(int fd, int force_option, int option, size_t size_bytes) {
  // The kernel doubles the value for bookkeeping overhead and stores it in an int.
  int requested = static_cast<int>(std::min(size_bytes, size_t{INT_MAX / 2}));
  if (setsockopt(fd, SOL_SOCKET, force_option, &requested, sizeof(requested)) != 0) {
    if (errno != EPERM) return Errno();
    if (setsockopt(fd, SOL_SOCKET, option, &requested, sizeof(requested)) != 0) return Errno();
  }
  int granted = 0;
  socklen_t length = sizeof(granted);
  if (getsockopt(fd, SOL_SOCKET, option, &granted, &length) != 0) return Errno();
  return granted;
}

}  // namespace

Result<std::unique_ptr<PacketPort>> PacketPort::Open(const std::string& ifname, Options options) {
  auto socket = PacketSocket::Create(ifname, options.role);
  AOE_TRY(socket);
  const int fd = socket->fd();
  auto rcvbuf = SetBufferSize(fd, SO_RCVBUFFORCE, SO_RCVBUF, options.buffer_size_bytes);
  AOE_TRY(rcvbuf);
  auto sndbuf = SetBufferSize(fd, SO_SNDBUFFORCE, SO_SNDBUF, options.buffer_size_bytes);
  AOE_TRY(sndbuf);
  AOE_TRY(socket->Attach());
  std::unique_ptr<PacketPort> port(new PacketPort(std::move(*socket)));
  port->rcvbuf_bytes_ = *rcvbuf;
  port->sndbuf_bytes_ = *sndbuf;
  return port;
}

PacketPort::PacketPort(PacketSocket socket) : socket_(std::move(socket)) {
  tx_addr_.sll_family = AF_PACKET;
  tx_addr_.sll_protocol = htons(kAoeEtherType);
  // sll_halen stays 0: on a SOCK_RAW socket the destination comes from the frame's own header.
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

Result<size_t> PacketPort::Send(std::span<const ConstByteSpan> frames) {
  if (socket_.ifindex() == 0) {
    tx_dropped_ += frames.size();
    return frames.size();
  }
  tx_addr_.sll_ifindex = socket_.ifindex();
  size_t sent = 0;
  bool retried_after_stale_error = false;
  while (sent < frames.size()) {
    size_t batch = std::min(frames.size() - sent, kMaxBatch);
    for (size_t i = 0; i < batch; ++i) {
      ConstByteSpan frame = frames[sent + i];
      // iovec is shared with receiving and so not const; sendmmsg only reads through it.
      iovs_[i] = {const_cast<std::byte*>(frame.data()), frame.size()};
      msgs_[i].msg_hdr = {};
      msgs_[i].msg_hdr.msg_name = &tx_addr_;
      msgs_[i].msg_hdr.msg_namelen = sizeof(tx_addr_);
      msgs_[i].msg_hdr.msg_iov = &iovs_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
      msgs_[i].msg_len = 0;
    }
    int result = sendmmsg(socket_.fd(), msgs_.data(), static_cast<unsigned>(batch), MSG_DONTWAIT);
    int err = 0;
    if (result >= 0) {
      sent += static_cast<size_t>(result);
      if (static_cast<size_t>(result) == batch) continue;
      // A short count hides the error of the first unsent frame in the socket's pending error
      // (except EAGAIN). Take it now so it does not surface later from Receive().
      err = socket_.TakeSocketError();
      if (err == 0) err = EAGAIN;
    } else {
      err = errno;
    }
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) return sent;  // queue full
    if (err == EMSGSIZE) {
      // The MTU shrank under the caller (`ip link set mtu`); drop this frame like a NIC would.
      ++tx_dropped_;
      ++sent;
      continue;
    }
    if (IsInterfaceGone(err) && !retried_after_stale_error) {
      // The socket remembers an ENETDOWN from when the link last went down and fails the next
      // send with it (consuming it), even if the link is up again. Retry once: a link that is
      // really down fails again at once.
      retried_after_stale_error = true;
      continue;
    }
    if (IsInterfaceGone(err)) {
      // Documented choice: drop silently while the link is down or the interface is gone.
      socket_.MarkLinkDown();
      tx_dropped_ += frames.size() - sent;
      return frames.size();
    }
    if (sent > 0) return sent;
    return Errno(err);
  }
  return sent;
}

}  // namespace aoe
