#include "net/packet_socket.h"

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

namespace aoe {

namespace {

// Classic BPF program run by the kernel on every frame of our EtherType before it is queued.
// Frames shorter than 15 bytes fail the byte load at offset 14, which drops them.
//   0: A = frame[12..13]
//   1: if A != 0x88A2 goto drop
//   2: A = the kernel's class of the frame by its destination (skb->pkt_type)
//   3: if A == PACKET_OTHERHOST goto drop, except for kAny (monitors)
//   4: A = frame[14]
//   5: if A & 0x08 (response) goto <role-specific: accept or drop>
//   6: accept (keep the whole frame)
//   7: drop
// Why step 3: a unicast frame for another host reaches our socket wherever the interface is
// promiscuous (a bridge port, a veth, tcpdump running) or a switch floods it (its table aged
// out). A target must not serve a request meant for another target that has the same shelf and
// slot (that host's writes would land on our disk), nor an initiator take another initiator's
// reply. Broadcasts (discovery, announcements) and our own MAC pass. (MemoryWire delivers only
// to the destination MAC and broadcasts, for kAny too: role_filter.h.)
constexpr uint8_t kAcceptAt = 0;  // jump offsets are relative to the next instruction (6)
constexpr uint8_t kDropAt = 1;

Result<void> AttachRoleFilter(int fd, PortRole role) {
  uint8_t if_response = kAcceptAt;
  uint8_t if_request = kAcceptAt;
  if (role == PortRole::kTarget) if_response = kDropAt;
  if (role == PortRole::kInitiator) if_request = kDropAt;
  const uint8_t if_other_host = role == PortRole::kAny ? 0 : 3;  // on to 4, or to drop
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, kEtherTypeOffset),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAoeEtherType, 0, 5),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OTHERHOST, if_other_host, 0),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kAoeVerFlagsOffset),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, kAoeResponseFlag, if_response, if_request),
      BPF_STMT(BPF_RET | BPF_K, UINT32_MAX),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(code)), code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) != 0) return Errno();
  return {};
}

ifreq MakeIfreq(const std::string& name) {
  ifreq ifr{};
  // Create() checked that the name fits with its terminating NUL.
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), size_t{IFNAMSIZ - 1}));
  return ifr;
}

}  // namespace

Result<PacketSocket> PacketSocket::Create(const std::string& ifname, PortRole role) {
  // An over-long name cannot name an interface; report it the way a missing one is reported.
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return Errno(ENODEV);

  // Protocol 0 receives nothing until bind(), so no unfiltered frame can be queued between
  // socket creation and attaching the filter.
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Errno();
  AOE_TRY(AttachRoleFilter(fd.get(), role));
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
  return PacketSocket(ifname, role, std::move(fd));
}

Result<void> PacketSocket::Attach() {
  auto ifindex = LookUpIfindex();
  AOE_TRY(ifindex);
  AOE_TRY(ReadAttributes());  // before Bind: rejects non-Ethernet interfaces
  return Bind(*ifindex);
}

Result<size_t> PacketSocket::InterfaceMtu() const {
  ifreq ifr = MakeIfreq(name_);
  if (ioctl(fd_.get(), SIOCGIFMTU, &ifr) != 0) return Errno();
  return static_cast<size_t>(std::max(ifr.ifr_mtu, 0));
}

Result<int> PacketSocket::LookUpIfindex() const {
  // The ioctl runs in the socket's network namespace, not the calling thread's, so a port opened
  // inside a namespace keeps resolving names there.
  ifreq ifr = MakeIfreq(name_);
  if (ioctl(fd_.get(), SIOCGIFINDEX, &ifr) != 0) return Errno();
  return ifr.ifr_ifindex;
}

Result<void> PacketSocket::ReadAttributes() {
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

  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifr = MakeIfreq(name_);
  ifr.ifr_data = reinterpret_cast<char*>(&info);
  // Not every interface answers (EOPNOTSUPP); the driver is then unknown, which is no error.
  std::string driver;
  if (ioctl(fd_.get(), SIOCETHTOOL, &ifr) == 0) {
    driver.assign(info.driver, strnlen(info.driver, sizeof(info.driver)));
  }

  mac_ = mac;
  mtu_ = static_cast<size_t>(std::max(mtu, 0));
  link_up_ = up;
  driver_ = std::move(driver);
  return {};
}

Result<void> PacketSocket::Bind(int ifindex) {
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(kAoeEtherType);
  addr.sll_ifindex = ifindex;
  if (bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) return Errno();
  ifindex_ = ifindex;
  return {};
}

void PacketSocket::MarkMissing() {
  // mac_ and mtu_ keep their last known values: callers sizing buffers need a sane MTU.
  ifindex_ = 0;
  link_up_ = false;
}

int PacketSocket::TakeSocketError() const { return aoe::TakeSocketError(fd_.get()); }

int TakeSocketError(int fd) {
  int err = 0;
  socklen_t length = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length) != 0) return errno;
  return err;
}

Result<UniqueFd> CreateSendOnlySocket(bool bypass_qdisc) {
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Errno();
  if (bypass_qdisc) {
    // Straight to the driver. Not fatal where unsupported: the qdisc path works, a little slower.
    int one = 1;
    (void)setsockopt(fd.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
  }
  return fd;
}

Result<int> SetSocketBufferSize(int fd, int force_option, int option, size_t size_bytes) {
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

Result<void> PacketSocket::Refresh() {
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

}  // namespace aoe
