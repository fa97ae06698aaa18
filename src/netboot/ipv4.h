// Ipv4Address: an IPv4 address as a regular value type, kept in host byte order so that ranges
// and subnet arithmetic are plain integer operations. Pure; no syscalls.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace aoe::netboot {

class Ipv4Address {
 public:
  constexpr Ipv4Address() = default;
  constexpr explicit Ipv4Address(uint32_t host_order) : value_(host_order) {}

  static constexpr Ipv4Address Any() { return Ipv4Address(0); }
  static constexpr Ipv4Address Broadcast() { return Ipv4Address(0xffffffff); }
  // Parses dotted quad "10.0.0.1"; nullopt for anything else (no shorthand forms).
  static std::optional<Ipv4Address> Parse(std::string_view text);
  // Reads/writes 4 network-order bytes at `off`; the caller has checked the length.
  static Ipv4Address Load(ConstByteSpan b, size_t off) { return Ipv4Address(LoadBe32(b, off)); }
  void Store(ByteSpan b, size_t off) const { StoreBe32(b, off, value_); }

  constexpr uint32_t value() const { return value_; }
  constexpr bool is_any() const { return value_ == 0; }
  std::string ToString() const;

  auto operator<=>(const Ipv4Address&) const = default;

 private:
  uint32_t value_ = 0;
};

// True when `a` and `b` are in the same subnet under `netmask`.
inline bool SameSubnet(Ipv4Address a, Ipv4Address b, Ipv4Address netmask) {
  return (a.value() & netmask.value()) == (b.value() & netmask.value());
}

// True for a mask of leading ones then zeros, such as 255.255.255.0; false for 255.0.255.0,
// which has no network and broadcast address, and for 0.0.0.0, which is no subnet.
bool IsSubnetMask(Ipv4Address netmask);

// The first (network) and last (broadcast) address of the subnet of `a` under `netmask`:
// neither may be given to a host.
inline Ipv4Address NetworkAddress(Ipv4Address a, Ipv4Address netmask) {
  return Ipv4Address(a.value() & netmask.value());
}
inline Ipv4Address BroadcastAddress(Ipv4Address a, Ipv4Address netmask) {
  return Ipv4Address(a.value() | ~netmask.value());
}

}  // namespace aoe::netboot
