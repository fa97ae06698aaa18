#include "netboot/dhcp_message.h"

#include <algorithm>
#include <cstring>

namespace aoe::netboot {

namespace {

// Option 52 (overload) says sname and/or file carry options instead of text.
constexpr uint8_t kOverloadFile = 1;
constexpr uint8_t kOverloadSname = 2;

// Appends the options in `area` to `options`, concatenating repeated codes (RFC 3396).
// Returns false if an option runs past the end of the area.
bool ParseOptionArea(ConstByteSpan area, std::vector<DhcpOption>& options) {
  ByteReader reader(area);
  while (reader.remaining() > 0) {
    uint8_t code = reader.U8();
    if (code == kOptPad) continue;
    if (code == kOptEnd) return true;
    uint8_t length = reader.U8();
    ConstByteSpan data = reader.Bytes(length);
    if (!reader.ok()) return false;
    auto existing = std::find_if(options.begin(), options.end(),
                                 [code](const DhcpOption& o) { return o.code == code; });
    const auto* first = reinterpret_cast<const uint8_t*>(data.data());
    if (existing != options.end()) {
      existing->data.insert(existing->data.end(), first, first + data.size());
    } else {
      options.push_back({code, std::vector<uint8_t>(first, first + data.size())});
    }
  }
  // No end option: tolerated, many clients pad to the end instead.
  return true;
}

// The NUL-terminated text in a fixed-size field.
std::string FieldText(ConstByteSpan field) {
  const char* chars = reinterpret_cast<const char*>(field.data());
  return std::string(chars, strnlen(chars, field.size()));
}

}  // namespace

std::string_view DhcpMessageTypeName(DhcpMessageType type) {
  switch (type) {
    case DhcpMessageType::kDiscover:
      return "DISCOVER";
    case DhcpMessageType::kOffer:
      return "OFFER";
    case DhcpMessageType::kRequest:
      return "REQUEST";
    case DhcpMessageType::kDecline:
      return "DECLINE";
    case DhcpMessageType::kAck:
      return "ACK";
    case DhcpMessageType::kNak:
      return "NAK";
    case DhcpMessageType::kRelease:
      return "RELEASE";
    case DhcpMessageType::kInform:
      return "INFORM";
  }
  return "UNKNOWN";
}

std::optional<MacAddress> DhcpMessage::client_mac() const {
  if (htype != 1 || hlen != 6) return std::nullopt;
  std::array<uint8_t, 6> octets{};
  std::copy_n(chaddr.begin(), 6, octets.begin());
  return MacAddress(octets);
}

std::optional<DhcpMessageType> DhcpMessage::message_type() const {
  const DhcpOption* o = Find(kOptMessageType);
  if (o == nullptr || o->data.size() != 1 || o->data[0] < 1 || o->data[0] > 8) return std::nullopt;
  return static_cast<DhcpMessageType>(o->data[0]);
}

const DhcpOption* DhcpMessage::Find(uint8_t code) const {
  for (const DhcpOption& o : options) {
    if (o.code == code) return &o;
  }
  return nullptr;
}

std::optional<std::string_view> DhcpMessage::FindString(uint8_t code) const {
  const DhcpOption* o = Find(code);
  if (o == nullptr) return std::nullopt;
  std::string_view text(reinterpret_cast<const char*>(o->data.data()), o->data.size());
  // Some clients count a trailing NUL in the length.
  while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
  return text;
}

std::optional<Ipv4Address> DhcpMessage::FindAddress(uint8_t code) const {
  const DhcpOption* o = Find(code);
  if (o == nullptr || o->data.size() != 4) return std::nullopt;
  return Ipv4Address::Load(std::as_bytes(std::span(o->data)), 0);
}

std::optional<uint16_t> DhcpMessage::FindU16(uint8_t code) const {
  const DhcpOption* o = Find(code);
  if (o == nullptr || o->data.size() != 2) return std::nullopt;
  return static_cast<uint16_t>((o->data[0] << 8) | o->data[1]);
}

void DhcpMessage::Set(uint8_t code, std::vector<uint8_t> data) {
  std::erase_if(options, [code](const DhcpOption& o) { return o.code == code; });
  options.push_back({code, std::move(data)});
}

void DhcpMessage::SetString(uint8_t code, std::string_view text) {
  Set(code, std::vector<uint8_t>(text.begin(), text.end()));
}

void DhcpMessage::SetAddress(uint8_t code, Ipv4Address address) {
  uint32_t v = address.value();
  Set(code, {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
             static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
}

void DhcpMessage::SetU32(uint8_t code, uint32_t v) {
  Set(code, {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
             static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
}

void DhcpMessage::SetU8(uint8_t code, uint8_t value) { Set(code, {value}); }

std::optional<DhcpMessage> DecodeDhcp(ConstByteSpan payload) {
  if (payload.size() < kDhcpOptionsOffset) return std::nullopt;
  ByteReader r(payload);
  DhcpMessage m;
  m.op = r.U8();
  m.htype = r.U8();
  m.hlen = r.U8();
  m.hops = r.U8();
  m.xid = r.Be32();
  m.secs = r.Be16();
  m.flags = r.Be16();
  m.ciaddr = Ipv4Address(r.Be32());
  m.yiaddr = Ipv4Address(r.Be32());
  m.siaddr = Ipv4Address(r.Be32());
  m.giaddr = Ipv4Address(r.Be32());
  ConstByteSpan chaddr = r.Bytes(16);
  ConstByteSpan sname = r.Bytes(kDhcpSnameBytes);
  ConstByteSpan file = r.Bytes(kDhcpFileBytes);
  uint32_t cookie = r.Be32();
  if (!r.ok() || cookie != kDhcpMagicCookie) return std::nullopt;
  if (m.op != kBootRequest && m.op != kBootReply) return std::nullopt;
  if (m.hlen > 16) return std::nullopt;
  std::memcpy(m.chaddr.data(), chaddr.data(), 16);

  if (!ParseOptionArea(r.rest(), m.options)) return std::nullopt;
  uint8_t overload = 0;
  if (const DhcpOption* o = m.Find(kOptOverload); o != nullptr && o->data.size() == 1) {
    overload = o->data[0];
  }
  // RFC 2131 section 4.1: options in `file` come before those in `sname`.
  if ((overload & kOverloadFile) != 0) {
    if (!ParseOptionArea(file, m.options)) return std::nullopt;
  } else {
    m.file = FieldText(file);
  }
  if ((overload & kOverloadSname) != 0) {
    if (!ParseOptionArea(sname, m.options)) return std::nullopt;
  } else {
    m.sname = FieldText(sname);
  }
  return m;
}

size_t EncodeDhcp(const DhcpMessage& m, ByteSpan out) {
  if (m.sname.size() >= kDhcpSnameBytes || m.file.size() >= kDhcpFileBytes) return 0;
  ByteWriter w(out);
  w.U8(m.op);
  w.U8(m.htype);
  w.U8(m.hlen);
  w.U8(m.hops);
  w.Be32(m.xid);
  w.Be16(m.secs);
  w.Be16(m.flags);
  w.Be32(m.ciaddr.value());
  w.Be32(m.yiaddr.value());
  w.Be32(m.siaddr.value());
  w.Be32(m.giaddr.value());
  w.Bytes(std::as_bytes(std::span(m.chaddr)));
  w.Bytes(std::as_bytes(std::span(m.sname.data(), m.sname.size())));
  w.Zeros(kDhcpSnameBytes - m.sname.size());
  w.Bytes(std::as_bytes(std::span(m.file.data(), m.file.size())));
  w.Zeros(kDhcpFileBytes - m.file.size());
  w.Be32(kDhcpMagicCookie);
  for (const DhcpOption& o : m.options) {
    // Longer values are split into several options with the same code (RFC 3396).
    size_t done = 0;
    do {
      size_t chunk = std::min<size_t>(o.data.size() - done, 255);
      w.U8(o.code);
      w.U8(static_cast<uint8_t>(chunk));
      w.Bytes(std::as_bytes(std::span(o.data.data() + done, chunk)));
      done += chunk;
    } while (done < o.data.size());
  }
  w.U8(kOptEnd);
  if (w.position() < kDhcpMinimumMessageBytes) w.Zeros(kDhcpMinimumMessageBytes - w.position());
  return w.ok() ? w.position() : 0;
}

std::optional<std::vector<DhcpOption>> DecodeSubOptions(std::span<const uint8_t> data) {
  std::vector<DhcpOption> options;
  if (!ParseOptionArea(std::as_bytes(data), options)) return std::nullopt;
  return options;
}

}  // namespace aoe::netboot
