// UDP sockets tied to one interface, and the interface's IPv4 address.
//
// DHCP clients have no address yet: requests arrive as broadcasts to 255.255.255.255 and replies
// go out the same way. A socket bound to 0.0.0.0 with SO_BINDTODEVICE receives exactly the
// broadcasts of that interface and sends its broadcasts only there, never on another
// interface, which is what keeps a netboot service on a boot network off the office LAN.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "netboot/ipv4.h"

namespace aoe::netboot {

struct InterfaceIpv4 {
  Ipv4Address address;
  Ipv4Address netmask;
  size_t mtu = 1500;
};

// The first IPv4 address of `interface_name`. ENODEV if there is no such interface,
// EADDRNOTAVAIL if it has no IPv4 address.
Result<InterfaceIpv4> LookupInterfaceIpv4(const std::string& interface_name);

struct UdpSocketOptions {
  Ipv4Address bind_address;  // Any() to receive broadcasts
  uint16_t port = 0;         // 0: an ephemeral port (TFTP transfer ids)
  bool broadcast = false;    // SO_BROADCAST
  // SO_REUSEPORT: share the port with another server that also sets it (dnsmasq run with
  // --bind-interfaces does, on port 67), for proxy DHCP next to it on the same host.
  bool reuse_port = false;
};

// A non-blocking, close-on-exec UDP socket bound to the device. Errors keep bind()'s errno
// (EADDRINUSE, EACCES) so that the caller can explain them.
Result<UniqueFd> OpenUdpSocket(const std::string& interface_name, const UdpSocketOptions& options);

struct Datagram {
  size_t size = 0;
  Ipv4Address source;
  uint16_t source_port = 0;
};
// One non-blocking receive; nullopt when nothing is queued (EAGAIN) or on a transient error.
std::optional<Datagram> ReceiveFrom(int fd, ByteSpan buffer);
Result<void> SendTo(int fd, ConstByteSpan payload, Ipv4Address destination, uint16_t port);

}  // namespace aoe::netboot
