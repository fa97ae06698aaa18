// PacketSocket: an AF_PACKET raw socket bound to one interface for EtherType 0x88A2, with the
// role's receive filter in the kernel. What both packet ports build on: PacketPort moves frames
// through it with recvmmsg/sendmmsg, RingPacketPort through PACKET_MMAP rings.
//
// It owns the interface's life cycle (see README.md, "When the interface goes away"): the
// interface's MAC, MTU and link state, and re-binding the same socket when an interface of the
// same name comes back, so fd() stays stable and the socket stays in the network namespace it
// was opened in.
//
// Opening takes two steps so that a port can configure the socket (buffer sizes, rings) while
// it still receives nothing: Create() makes the socket with protocol 0, which receives no frame
// until Attach() binds it.
//
// Ownership: owns the socket. Thread-safety: none; one thread at a time.
#pragma once

#include <string>

#include "base/mac_address.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "net/role_filter.h"

namespace aoe {

class PacketSocket {
 public:
  // A non-blocking socket with the role filter attached, not bound yet. Errors: ENODEV for a
  // name that cannot be an interface, EPERM/EACCES without CAP_NET_RAW, else the errno of
  // socket() or setsockopt().
  static Result<PacketSocket> Create(const std::string& ifname, PortRole role);

  // Looks the interface up, reads its attributes and binds to it. ENODEV: no such interface;
  // EAFNOSUPPORT: not Ethernet (e.g. a tun device).
  Result<void> Attach();

  // The interface's MTU, read by name before Attach() (to size buffers). ENODEV: no such
  // interface.
  Result<size_t> InterfaceMtu() const;

  // Re-reads MTU, MAC, link state and driver; re-binds when the interface was deleted and
  // re-created. ENODEV while the name does not exist.
  Result<void> Refresh();

  const std::string& name() const { return name_; }
  PortRole role() const { return role_; }
  int fd() const { return fd_.get(); }
  // 0 while the interface is missing.
  int ifindex() const { return ifindex_; }
  MacAddress mac() const { return mac_; }
  size_t mtu() const { return mtu_; }
  bool link_up() const { return link_up_; }
  // The interface's driver as ethtool names it ("veth", "tun", "virtio_net", "mlx5_core"); ""
  // where the kernel does not say.
  const std::string& driver() const { return driver_; }

  // A send or receive saw the interface go down or away; Refresh() tells which.
  void MarkLinkDown() { link_up_ = false; }
  // Takes (and clears) the socket's pending asynchronous error, 0 if none.
  int TakeSocketError() const;

 private:
  PacketSocket(std::string name, PortRole role, UniqueFd fd)
      : name_(std::move(name)), role_(role), fd_(std::move(fd)) {}

  // Looks up the interface's ifindex through our own socket, so in the socket's namespace.
  Result<int> LookUpIfindex() const;
  Result<void> Bind(int ifindex);
  // Re-reads MTU, MAC, flags and driver for the bound interface into the cached fields.
  Result<void> ReadAttributes();
  void MarkMissing();

  std::string name_;
  PortRole role_;
  UniqueFd fd_;
  int ifindex_ = 0;
  MacAddress mac_;
  size_t mtu_ = 0;
  bool link_up_ = false;
  std::string driver_;
};

// A socket for sending only, in the calling thread's network namespace: AF_PACKET, SOCK_RAW,
// protocol 0 and never bound, so it receives nothing; each send names the interface. With
// `bypass_qdisc`, PACKET_QDISC_BYPASS where the kernel has it. For RingPacketPort's frames that
// are not in its ring.
Result<UniqueFd> CreateSendOnlySocket(bool bypass_qdisc);

// Sets SO_SNDBUF or SO_RCVBUF (`option`), preferring its FORCE variant (`force_option`, needs
// CAP_NET_ADMIN), because the plain one is silently capped at net.core.*mem_max, which is too
// small for jumbo frames by default. Returns the size the kernel granted.
Result<int> SetSocketBufferSize(int fd, int force_option, int option, size_t size_bytes);

// Takes (and clears) the pending asynchronous error of socket `fd`, 0 if none.
int TakeSocketError(int fd);

// Errors that mean "the interface went down or away", not "this socket is broken".
inline bool IsInterfaceGone(int err) { return err == ENETDOWN || err == ENXIO || err == ENODEV; }

}  // namespace aoe
