#include "bench/packet_socket.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace aoe::bench {

namespace {

void SetBuffer(int fd, int force_option, int option, int bytes) {
  // SO_*BUFFORCE goes past net.core.[rw]mem_max, which is what a benchmark client needs so
  // that its own socket never drops replies; without privilege fall back to the capped value.
  if (setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof(bytes)) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof(bytes));
  }
}

}  // namespace

Result<PacketSocket> PacketSocket::Open(const std::string& interface, uint16_t ethertype,
                                        int buffer_bytes) {
  if (interface.empty() || interface.size() >= IFNAMSIZ) return Err(std::errc::invalid_argument);
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ethertype)));
  if (!fd) return Errno();

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, interface.data(), interface.size());
  if (ioctl(fd.get(), SIOCGIFINDEX, &ifr) != 0) return Errno();
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd.get(), SIOCGIFHWADDR, &ifr) != 0) return Errno();
  std::array<uint8_t, 6> octets{};
  std::memcpy(octets.data(), ifr.ifr_hwaddr.sa_data, octets.size());
  if (ioctl(fd.get(), SIOCGIFMTU, &ifr) != 0) return Errno();
  size_t mtu = static_cast<size_t>(ifr.ifr_mtu);

  SetBuffer(fd.get(), SO_RCVBUFFORCE, SO_RCVBUF, buffer_bytes);
  SetBuffer(fd.get(), SO_SNDBUFFORCE, SO_SNDBUF, buffer_bytes);
  int one = 1;
  // Our own frames must never come back as if they were replies (kernel >= 4.20).
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0) {
    return Errno();
  }
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ethertype);
  addr.sll_ifindex = ifindex;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return Errno();
  return PacketSocket(std::move(fd), MacAddress(octets), mtu);
}

Result<uint64_t> PacketSocket::TakeDrops() {
  tpacket_stats stats{};
  socklen_t len = sizeof(stats);
  if (getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &len) != 0) return Errno();
  return uint64_t{stats.tp_drops};
}

SendBatch::SendBatch(size_t capacity) : iov_(capacity), msgs_(capacity) {}

void SendBatch::Add(ConstByteSpan frame) {
  iov_[count_] = iovec{const_cast<std::byte*>(frame.data()), frame.size()};
  msgs_[count_] = mmsghdr{};
  msgs_[count_].msg_hdr.msg_iov = &iov_[count_];
  msgs_[count_].msg_hdr.msg_iovlen = 1;
  ++count_;
}

Result<SendBatch::Outcome> SendBatch::Send(const PacketSocket& socket) {
  Outcome outcome;
  size_t done = 0;
  while (done < count_) {
    int n = sendmmsg(socket.fd(), msgs_.data() + done, static_cast<unsigned>(count_ - done), 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
      outcome.sent += static_cast<size_t>(n);
    } else if (errno == ENOBUFS) {  // this frame was dropped on the way out; go on
      ++done;
      ++outcome.dropped;
    } else if (errno != EINTR) {
      count_ = 0;
      return Errno();
    }
  }
  count_ = 0;
  return outcome;
}

ReceiveBatch::ReceiveBatch(size_t capacity, size_t frame_bytes)
    : frame_bytes_(frame_bytes), storage_(capacity * frame_bytes), iov_(capacity), msgs_(capacity) {
  for (size_t i = 0; i < capacity; ++i) {
    iov_[i] = iovec{storage_.data() + i * frame_bytes, frame_bytes};
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

Result<size_t> ReceiveBatch::Receive(const PacketSocket& socket) {
  for (;;) {
    int n = recvmmsg(socket.fd(), msgs_.data(), static_cast<unsigned>(msgs_.size()),
                     MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
    if (errno != EINTR) return Errno();
  }
}

ConstByteSpan ReceiveBatch::frame(size_t i) const {
  return ConstByteSpan(storage_.data() + i * frame_bytes_,
                       std::min<size_t>(msgs_[i].msg_len, frame_bytes_));
}

Result<bool> WaitReadable(const PacketSocket& socket, std::chrono::nanoseconds timeout) {
  pollfd pfd{.fd = socket.fd(), .events = POLLIN, .revents = 0};
  timeout = std::max(timeout, std::chrono::nanoseconds(0));
  timespec ts{.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000),
              .tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000)};
  int r = ppoll(&pfd, 1, &ts, nullptr);
  if (r < 0) return errno == EINTR ? Result<bool>(false) : Result<bool>(Errno());
  return r > 0;
}

}  // namespace aoe::bench
