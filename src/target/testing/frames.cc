#include "target/testing/frames.h"

#include <algorithm>
#include <cstring>

namespace aoe::target::testkit {

namespace {

void Put8(Frame& f, size_t off, uint8_t v) { f[off] = std::byte{v}; }
void Put16(Frame& f, size_t off, uint16_t v) {
  Put8(f, off, static_cast<uint8_t>(v >> 8));
  Put8(f, off + 1, static_cast<uint8_t>(v));
}
void PutMac(Frame& f, size_t off, const MacAddress& mac) {
  for (size_t i = 0; i < 6; ++i) Put8(f, off + i, mac.octets()[i]);
}
void Append(Frame& f, const Frame& more) { f.insert(f.end(), more.begin(), more.end()); }

}  // namespace

Frame BuildHeader(const RequestHeader& a, uint8_t command, size_t size) {
  Frame f(std::max<size_t>(size, 24));
  PutMac(f, 0, a.destination);
  PutMac(f, 6, a.source);
  Put16(f, 12, 0x88A2);
  Put8(f, 14, a.ver_flags);
  Put8(f, 15, 0);
  Put16(f, 16, a.disk.shelf);
  Put8(f, 18, a.disk.slot);
  Put8(f, 19, command);
  Put16(f, 20, static_cast<uint16_t>(a.tag >> 16));
  Put16(f, 22, static_cast<uint16_t>(a.tag));
  return f;
}

Frame BuildAta(const RequestHeader& a, const AtaRequest& r) {
  Frame f = BuildHeader(a, 0, 36);
  Put8(f, 24, r.aflags);
  Put8(f, 25, r.feature);
  Put8(f, 26, r.sector_count);
  Put8(f, 27, r.opcode);
  for (size_t i = 0; i < 6; ++i) Put8(f, 28 + i, static_cast<uint8_t>(r.lba >> (8 * i)));
  Append(f, r.data);
  if (f.size() < r.pad_to) f.resize(r.pad_to);
  return f;
}

Frame BuildConfig(const RequestHeader& a, uint8_t ccmd, const Frame& string,
                  std::optional<uint16_t> declared_length) {
  Frame f = BuildHeader(a, 1, 32);
  Put8(f, 29, static_cast<uint8_t>(0x10 | (ccmd & 0x0F)));
  Put16(f, 30, declared_length.value_or(static_cast<uint16_t>(string.size())));
  Append(f, string);
  return f;
}

Frame BuildConfig(const RequestHeader& a, uint8_t ccmd, std::string_view string,
                  std::optional<uint16_t> declared_length) {
  return BuildConfig(a, ccmd, Bytes(string), declared_length);
}

Frame BuildMask(const RequestHeader& a, uint8_t mcmd, const std::vector<Directive>& directives,
                std::optional<uint8_t> declared_count) {
  Frame f = BuildHeader(a, 2, 28 + 8 * directives.size());
  Put8(f, 25, mcmd);
  Put8(f, 27, declared_count.value_or(static_cast<uint8_t>(directives.size())));
  for (size_t i = 0; i < directives.size(); ++i) {
    Put8(f, 28 + 8 * i + 1, directives[i].dcmd);
    PutMac(f, 28 + 8 * i + 2, directives[i].mac);
  }
  return f;
}

Frame BuildReserve(const RequestHeader& a, uint8_t rcmd, const std::vector<MacAddress>& macs,
                   std::optional<uint8_t> declared_count) {
  Frame f = BuildHeader(a, 3, 26 + 6 * macs.size());
  Put8(f, 24, rcmd);
  Put8(f, 25, declared_count.value_or(static_cast<uint8_t>(macs.size())));
  for (size_t i = 0; i < macs.size(); ++i) PutMac(f, 26 + 6 * i, macs[i]);
  return f;
}

Frame Pattern(size_t size, uint8_t seed) {
  Frame f(size);
  uint32_t x = 0x9E3779B9u * (seed + 1u);
  for (auto& b : f) {
    x = x * 1664525u + 1013904223u;
    b = std::byte{static_cast<uint8_t>(x >> 24)};
  }
  return f;
}

uint64_t Checksum(ConstByteSpan bytes) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (std::byte b : bytes) {
    h ^= static_cast<uint8_t>(b);
    h *= 1099511628211ull;
  }
  return h;
}

Frame Bytes(std::string_view text) {
  Frame f(text.size());
  if (!text.empty()) std::memcpy(f.data(), text.data(), text.size());
  return f;
}

MacAddress Reply::destination() const {
  if (size() < 6) return {};
  return MacAddress::Load(bytes_, 0);
}

MacAddress Reply::source() const {
  if (size() < 12) return {};
  return MacAddress::Load(bytes_, 6);
}

std::string Reply::config_string() const {
  Frame s = Slice(32, config_length());
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

std::vector<Directive> Reply::directives() const {
  std::vector<Directive> out;
  for (size_t i = 0; i < directive_count() && 28 + 8 * (i + 1) <= size(); ++i) {
    out.push_back({U8(28 + 8 * i + 1), MacAddress::Load(bytes_, 28 + 8 * i + 2)});
  }
  return out;
}

std::vector<MacAddress> Reply::reserve_macs() const {
  std::vector<MacAddress> out;
  for (size_t i = 0; i < mac_count() && 26 + 6 * (i + 1) <= size(); ++i) {
    out.push_back(MacAddress::Load(bytes_, 26 + 6 * i));
  }
  return out;
}

Frame Reply::Slice(size_t offset, size_t length) const {
  if (offset >= size()) return {};
  length = std::min(length, size() - offset);
  return Frame(bytes_.begin() + static_cast<ptrdiff_t>(offset),
               bytes_.begin() + static_cast<ptrdiff_t>(offset + length));
}

uint8_t Reply::U8(size_t offset) const {
  return offset < size() ? static_cast<uint8_t>(bytes_[offset]) : 0;
}

uint16_t Reply::Be16(size_t offset) const {
  return static_cast<uint16_t>((U8(offset) << 8) | U8(offset + 1));
}

uint32_t Reply::Be32(size_t offset) const {
  return (uint32_t{Be16(offset)} << 16) | Be16(offset + 2);
}

}  // namespace aoe::target::testkit
