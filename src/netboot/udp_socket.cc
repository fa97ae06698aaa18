#include "netboot/udp_socket.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace aoe::netboot {

Result<InterfaceIpv4> LookupInterfaceIpv4(const std::string& interface_name) {
  if (if_nametoindex(interface_name.c_str()) == 0) return Errno(ENODEV);
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return Errno();
  std::optional<InterfaceIpv4> found;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if (interface_name != i->ifa_name) continue;
    InterfaceIpv4 info;
    sockaddr_in address{};
    std::memcpy(&address, i->ifa_addr, sizeof address);
    info.address = Ipv4Address(ntohl(address.sin_addr.s_addr));
    if (i->ifa_netmask != nullptr) {
      sockaddr_in mask{};
      std::memcpy(&mask, i->ifa_netmask, sizeof mask);
      info.netmask = Ipv4Address(ntohl(mask.sin_addr.s_addr));
    }
    found = info;
    break;
  }
  freeifaddrs(list);
  if (!found) return Errno(EADDRNOTAVAIL);

  UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq request{};
  std::strncpy(request.ifr_name, interface_name.c_str(), IFNAMSIZ - 1);
  if (probe && ::ioctl(probe.get(), SIOCGIFMTU, &request) == 0 && request.ifr_mtu > 0) {
    found->mtu = static_cast<size_t>(request.ifr_mtu);
  }
  return *found;
}

Result<UniqueFd> OpenUdpSocket(const std::string& interface_name, const UdpSocketOptions& options) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Errno();
  // Before bind: a device-bound socket only conflicts with sockets on the same device or on
  // none, so one netboot service per interface can run side by side.
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, interface_name.c_str(),
                   static_cast<socklen_t>(interface_name.size())) != 0) {
    return Errno();
  }
  const int one = 1;
  if (options.broadcast &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_BROADCAST, &one, sizeof one) != 0) {
    return Errno();
  }
  if (options.reuse_port &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return Errno();
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.port);
  address.sin_addr.s_addr = htonl(options.bind_address.value());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return Errno();
  }
  return fd;
}

std::optional<Datagram> ReceiveFrom(int fd, ByteSpan buffer) {
  sockaddr_in from{};
  socklen_t from_size = sizeof from;
  ssize_t n = ::recvfrom(fd, buffer.data(), buffer.size(), MSG_TRUNC,
                         reinterpret_cast<sockaddr*>(&from), &from_size);
  // Errors here are transient (EAGAIN, ICMP-reported ECONNREFUSED on a connected socket).
  if (n < 0) return std::nullopt;
  Datagram d;
  // MSG_TRUNC reports the real size; a datagram larger than the buffer is cut to the buffer.
  d.size = std::min(static_cast<size_t>(n), buffer.size());
  d.source = Ipv4Address(ntohl(from.sin_addr.s_addr));
  d.source_port = ntohs(from.sin_port);
  return d;
}

Result<void> SendTo(int fd, ConstByteSpan payload, Ipv4Address destination, uint16_t port) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(destination.value());
  ssize_t n = ::sendto(fd, payload.data(), payload.size(), 0,
                       reinterpret_cast<const sockaddr*>(&to), sizeof to);
  if (n < 0) return Errno();
  return {};
}

}  // namespace aoe::netboot
