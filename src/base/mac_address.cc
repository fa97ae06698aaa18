#include "base/mac_address.h"

#include <fmt/format.h>

namespace aoe {

namespace {
int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<MacAddress> MacAddress::Parse(std::string_view text) {
  // Exactly six pairs of hex digits separated by one ':' or '-'.
  if (text.size() != 17) return std::nullopt;
  std::array<uint8_t, 6> octets{};
  for (size_t i = 0; i < 6; ++i) {
    size_t at = i * 3;
    int hi = HexDigit(text[at]);
    int lo = HexDigit(text[at + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && text[at + 2] != ':' && text[at + 2] != '-') return std::nullopt;
    octets[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return MacAddress(octets);
}

MacAddress MacAddress::Load(ConstByteSpan b, size_t off) {
  std::array<uint8_t, 6> octets{};
  for (size_t i = 0; i < 6; ++i) octets[i] = LoadU8(b, off + i);
  return MacAddress(octets);
}

void MacAddress::Store(ByteSpan b, size_t off) const {
  for (size_t i = 0; i < 6; ++i) StoreU8(b, off + i, octets_[i]);
}

std::string MacAddress::ToString() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", octets_[0], octets_[1],
                     octets_[2], octets_[3], octets_[4], octets_[5]);
}

}  // namespace aoe
