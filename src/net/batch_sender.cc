#include "net/batch_sender.h"

#include <arpa/inet.h>

#include <algorithm>

namespace aoe {

BatchSender::BatchSender() {
  address_.sll_family = AF_PACKET;
  address_.sll_protocol = htons(kAoeEtherType);
  // sll_halen stays 0: on a SOCK_RAW socket the destination comes from the frame's own header.
}

Result<size_t> BatchSender::Send(int fd, PacketSocket& link, std::span<const TxFrame> frames,
                                 uint64_t& tx_dropped) {
  if (link.ifindex() == 0) {
    tx_dropped += frames.size();
    return frames.size();
  }
  address_.sll_ifindex = link.ifindex();
  size_t sent = 0;
  bool retried_after_stale_error = false;
  while (sent < frames.size()) {
    size_t batch = std::min(frames.size() - sent, kMaxBatch);
    for (size_t i = 0; i < batch; ++i) {
      const TxFrame& frame = frames[sent + i];
      // sendmmsg only reads through the iovec, which is not const in its declaration.
      iovs_[i][0] = {const_cast<std::byte*>(frame.head.data()), frame.head.size()};
      iovs_[i][1] = {const_cast<std::byte*>(frame.tail.data()), frame.tail.size()};
      messages_[i].msg_hdr = {};
      messages_[i].msg_hdr.msg_name = &address_;
      messages_[i].msg_hdr.msg_namelen = sizeof(address_);
      messages_[i].msg_hdr.msg_iov = iovs_[i].data();
      messages_[i].msg_hdr.msg_iovlen = frame.tail.empty() ? 1 : 2;
      messages_[i].msg_len = 0;
    }
    int result = sendmmsg(fd, messages_.data(), static_cast<unsigned>(batch), MSG_DONTWAIT);
    if (result > 0) {
      // A short count drops the error of the first unsent frame (sendmmsg reports an error
      // only when it sent nothing), so the loop sends again from that frame at once: a full
      // queue then says EAGAIN, and a frame that cannot go says why, below.
      sent += static_cast<size_t>(result);
      continue;
    }
    const int err = result < 0 ? errno : EAGAIN;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) return sent;  // queue full
    if (err == EMSGSIZE || err == EFAULT) {
      // The MTU shrank under the caller (`ip link set mtu`), or the frame's data lies in a
      // mapping of a file that shrank since (port.h); drop this frame like a NIC would.
      ++tx_dropped;
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
      link.MarkLinkDown();
      tx_dropped += frames.size() - sent;
      return frames.size();
    }
    if (sent > 0) return sent;
    return Errno(err);
  }
  return sent;
}

}  // namespace aoe
