#include "netboot/ipv4.h"

#include <fmt/format.h>

namespace aoe::netboot {

std::optional<Ipv4Address> Ipv4Address::Parse(std::string_view text) {
  uint32_t value = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') return std::nullopt;
    uint32_t part = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      part = part * 10 + static_cast<uint32_t>(text[i] - '0');
      if (++digits > 3 || part > 255) return std::nullopt;
      ++i;
    }
    value = (value << 8) | part;
    ++parts;
    if (parts < 4) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != text.size()) return std::nullopt;
  return Ipv4Address(value);
}

bool IsSubnetMask(Ipv4Address netmask) {
  // Leading ones then zeros: inverted, the zeros are a block of low bits, one less than a power
  // of two.
  const uint32_t host_bits = ~netmask.value();
  return netmask.value() != 0 && (host_bits & (host_bits + 1)) == 0;
}

std::string Ipv4Address::ToString() const {
  return fmt::format("{}.{}.{}.{}", value_ >> 24, (value_ >> 16) & 0xff, (value_ >> 8) & 0xff,
                     value_ & 0xff);
}

}  // namespace aoe::netboot
