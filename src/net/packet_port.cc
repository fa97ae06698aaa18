#include "net/packet_port.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace aoe {

namespace {

// Classic BPF program run by the kernel on every frame of our EtherType before it is queued.
// Frames shorter than 15 bytes fail the byte load at offset 14, which drops them.
//   0: A = frame[12..13]
//   1: if A != 0x88A2 goto drop
//   2: A = frame[14]
//   3: if A & 0x08 (response) goto <role-specific: accept or drop>
//   4: accept (keep the whole frame)
//   5: drop
constexpr uint8_t kAcceptAt = 0;  // jump offsets are relative to the next instruction (4)
constexpr uint8_t kDropAt = 1;

Result<void> AttachRoleFilter(int fd, PortRole role) {
  uint8_t if_response = kAcceptAt;
  uint8_t if_request = kAcceptAt;
  if (role == PortRole::kTarget) if_response = kDropAt;
  if (role == PortRole::kInitiator) if_request = kDropAt;
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, kEtherTypeOffset),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAoeEtherType, 0, 3),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kAoeVerFlagsOffset),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, kAoeResponseFlag, if_response, if_request),
      BPF_STMT(BPF_RET | BPF_K, UINT32_MAX),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(code)), code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) != 0) return Errno();
  return {};
}

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

// Errors that mean "the interface went down or away", not "this socket is broken".
bool IsInterfaceGone(int err) { return err == ENETDOWN || err == ENXIO || err == ENODEV; }

}  // namespace

Result<std::unique_ptr<PacketPort>> PacketPort::Open(const std::string& ifname, Options options) {
  // An over-long name cannot name an interface; report it the way a missing one is reported.
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return Errno(ENODEV);

  // Protocol 0 receives nothing until bind(), so no unfiltered frame can be queued between
  // socket creation and attaching the filter.
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Errno();
  AOE_TRY(AttachRoleFilter(fd.get(), options.role));
  auto rcvbuf = SetBufferSize(fd.get(), SO_RCVBUFFORCE, SO_RCVBUF, options.buffer_size_bytes);
  AOE_TRY(rcvbuf);
  auto sndbuf = SetBufferSize(fd.get(), SO_SNDBUFFORCE, SO_SNDBUF, options.buffer_size_bytes);
  AOE_TRY(sndbuf);
#ifdef PACKET_IGNORE_OUTGOING
  // Linux >= 4.20. A socket bound to one protocol does not see its own transmissions anyway, and
  // the role filter drops our own direction; this also covers kAny ports. ENOPROTOOPT on older
  // kernels is harmless for the same reasons.
  int one = 1;
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0 &&
      errno != ENOPROTOOPT) {
    return Errno();
  }
#endif

  std::unique_ptr<PacketPort> port(new PacketPort(ifname, options.role, std::move(fd)));
  port->rcvbuf_bytes_ = *rcvbuf;
  port->sndbuf_bytes_ = *sndbuf;
  auto ifindex = port->LookUpIfindex();
  AOE_TRY(ifindex);
  AOE_TRY(port->ReadAttributes());  // before Bind: rejects non-Ethernet interfaces
  AOE_TRY(port->Bind(*ifindex));
  return port;
}

PacketPort::PacketPort(std::string name, PortRole role, UniqueFd fd)
    : name_(std::move(name)), role_(role), fd_(std::move(fd)) {
  tx_addr_.sll_family = AF_PACKET;
  tx_addr_.sll_protocol = htons(kAoeEtherType);
  // sll_halen stays 0: on a SOCK_RAW socket the destination comes from the frame's own header.
}

namespace {
ifreq MakeIfreq(const std::string& name) {
  ifreq ifr{};
  // Open() checked that the name fits with its terminating NUL.
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), size_t{IFNAMSIZ - 1}));
  return ifr;
}
}  // namespace

Result<int> PacketPort::LookUpIfindex() const {
  // The ioctl runs in the socket's network namespace, not the calling thread's, so a port opened
  // inside a namespace keeps resolving names there.
  ifreq ifr = MakeIfreq(name_);
  if (ioctl(fd_.get(), SIOCGIFINDEX, &ifr) != 0) return Errno();
  return ifr.ifr_ifindex;
}

Result<void> PacketPort::ReadAttributes() {
  ifreq ifr = MakeIfreq(name_);
  if (ioctl(fd_.get(), SIOCGIFHWADDR, &ifr) != 0) return Errno();
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) return Errno(EAFNOSUPPORT);
  std::array<uint8_t, 6> octets{};
  std::memcpy(octets.data(), ifr.ifr_hwaddr.sa_data, octets.size());
  MacAddress mac(octets);

  ifr = MakeIfreq(name_);
  if (ioctl(fd_.get(), SIOCGIFMTU, &ifr) != 0) return Errno();
  int mtu = ifr.ifr_mtu;

  ifr = MakeIfreq(name_);
  if (ioctl(fd_.get(), SIOCGIFFLAGS, &ifr) != 0) return Errno();
  // IFF_RUNNING is the operational state (carrier); IFF_UP alone is only the admin state, and a
  // veth whose peer is down is IFF_UP but cannot pass frames.
  bool up = (ifr.ifr_flags & IFF_UP) != 0 && (ifr.ifr_flags & IFF_RUNNING) != 0;

  mac_ = mac;
  mtu_ = static_cast<size_t>(std::max(mtu, 0));
  link_up_ = up;
  return {};
}

Result<void> PacketPort::Bind(int ifindex) {
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(kAoeEtherType);
  addr.sll_ifindex = ifindex;
  if (bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) return Errno();
  ifindex_ = ifindex;
  tx_addr_.sll_ifindex = ifindex;
  return {};
}

void PacketPort::MarkMissing() {
  // mac_ and mtu_ keep their last known values: callers sizing buffers need a sane MTU.
  ifindex_ = 0;
  link_up_ = false;
}

int PacketPort::TakeSocketError() const {
  int err = 0;
  socklen_t length = sizeof(err);
  if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &length) != 0) return errno;
  return err;
}

Result<void> PacketPort::Refresh() {
  auto ifindex = LookUpIfindex();
  if (!ifindex) {
    if (ifindex.error() == std::errc::no_such_device) MarkMissing();
    return Unexpected{ifindex.error()};
  }
  if (auto read = ReadAttributes(); !read) {
    // Vanished between the two calls, or re-created as something that is not Ethernet.
    MarkMissing();
    return read;
  }
  // The kernel forgets the binding when the interface is unregistered (getsockname then reports
  // ifindex -1), even if a new interface later gets the same index. So ask the socket what it is
  // bound to instead of trusting our copy.
  sockaddr_ll bound{};
  socklen_t length = sizeof(bound);
  if (getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0) return Errno();
  if (bound.sll_ifindex != *ifindex || ifindex_ != *ifindex) {
    if (auto bind_result = Bind(*ifindex); !bind_result) {
      MarkMissing();
      return bind_result;
    }
  }
  return {};
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
      recvmmsg(fd_.get(), msgs_.data(), static_cast<unsigned>(count), MSG_DONTWAIT, nullptr);
  if (received < 0) {
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ENOBUFS) return size_t{0};
    if (IsInterfaceGone(err)) {
      // Refresh() tells "down" from "deleted" and re-binds if needed.
      link_up_ = false;
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
  if (ifindex_ == 0) {
    tx_dropped_ += frames.size();
    return frames.size();
  }
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
    int result = sendmmsg(fd_.get(), msgs_.data(), static_cast<unsigned>(batch), MSG_DONTWAIT);
    int err = 0;
    if (result >= 0) {
      sent += static_cast<size_t>(result);
      if (static_cast<size_t>(result) == batch) continue;
      // A short count hides the error of the first unsent frame in the socket's pending error
      // (except EAGAIN). Take it now so it does not surface later from Receive().
      err = TakeSocketError();
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
      link_up_ = false;
      tx_dropped_ += frames.size() - sent;
      return frames.size();
    }
    if (sent > 0) return sent;
    return Errno(err);
  }
  return sent;
}

}  // namespace aoe
