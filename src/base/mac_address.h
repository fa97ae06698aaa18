// MacAddress: a 48-bit Ethernet address, a regular value type.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace aoe {

class MacAddress {
 public:
  constexpr MacAddress() = default;
  constexpr explicit MacAddress(const std::array<uint8_t, 6>& octets) : octets_(octets) {}

  static constexpr MacAddress Broadcast() {
    return MacAddress({0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  }
  // Parses "aa:bb:cc:dd:ee:ff" (also '-' separated, any case). nullopt if malformed.
  static std::optional<MacAddress> Parse(std::string_view text);
  // Reads 6 bytes at `off`; the caller has checked the length.
  static MacAddress Load(ConstByteSpan b, size_t off);
  void Store(ByteSpan b, size_t off) const;

  std::string ToString() const;  // "aa:bb:cc:dd:ee:ff"
  const std::array<uint8_t, 6>& octets() const { return octets_; }
  bool is_broadcast() const { return *this == Broadcast(); }
  bool is_multicast() const { return (octets_[0] & 1) != 0; }
  bool is_zero() const { return *this == MacAddress(); }

  auto operator<=>(const MacAddress&) const = default;

 private:
  std::array<uint8_t, 6> octets_{};
};

}  // namespace aoe
