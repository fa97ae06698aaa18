// DHCP/BOOTP messages (RFC 2131, 2132): decode from and encode to UDP payload bytes.
//
// Pure functions over byte spans, no sockets. Decoding is bounds-checked: a truncated header, a
// missing magic cookie or an option running past the end yields nullopt, never a crash, so the
// caller drops the datagram. Allocation per message is fine here: DHCP is a handful of packets
// per boot, not a data path.
//
// Wire layout of the fixed BOOTP header (byte offsets in the UDP payload):
//   0 op (1 request, 2 reply)   1 htype (1 Ethernet)   2 hlen (6)   3 hops
//   4 xid (4)   8 secs (2)   10 flags (2; bit 15 = broadcast)
//   12 ciaddr   16 yiaddr   20 siaddr   24 giaddr   28 chaddr (16)
//   44 sname (64, NUL-padded)   108 file (128, NUL-padded)
//   236 magic cookie 99.130.83.99   240 options: code(1) len(1) data, 0 = pad, 255 = end
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "netboot/ipv4.h"

namespace aoe::netboot {

inline constexpr size_t kDhcpFixedHeaderBytes = 236;
inline constexpr size_t kDhcpOptionsOffset = 240;  // after the magic cookie
inline constexpr uint32_t kDhcpMagicCookie = 0x63825363;
// BOOTP relays and some PXE ROMs drop replies shorter than this (RFC 1542 section 2.1).
inline constexpr size_t kDhcpMinimumMessageBytes = 300;
inline constexpr size_t kDhcpSnameBytes = 64;
inline constexpr size_t kDhcpFileBytes = 128;
inline constexpr uint16_t kDhcpBroadcastFlag = 0x8000;

inline constexpr uint8_t kBootRequest = 1;
inline constexpr uint8_t kBootReply = 2;

// Option codes used by the netboot service.
enum DhcpOptionCode : uint8_t {
  kOptPad = 0,
  kOptSubnetMask = 1,
  kOptRouter = 3,
  kOptVendorSpecific = 43,  // PXE: encapsulated sub-options (PXE 2.1 section 2.4)
  kOptRequestedIp = 50,
  kOptLeaseTime = 51,
  kOptOverload = 52,
  kOptMessageType = 53,
  kOptServerId = 54,
  kOptParameterList = 55,
  kOptMaxMessageSize = 57,
  kOptVendorClass = 60,  // "PXEClient:Arch:00000:UNDI:002001"
  kOptTftpServer = 66,
  kOptBootFile = 67,
  kOptUserClass = 77,   // iPXE sends "iPXE"
  kOptClientArch = 93,  // RFC 4578: 0 BIOS, 6 EFI IA32, 7 EFI BC, 9 EFI x86-64
  kOptClientNdi = 94,
  kOptClientGuid = 97,
  kOptIpxeEncap = 175,  // iPXE's feature list (sub-option code = feature, e.g. 0x12 AoE)
  kOptEnd = 255,
};

enum class DhcpMessageType : uint8_t {
  kDiscover = 1,
  kOffer = 2,
  kRequest = 3,
  kDecline = 4,
  kAck = 5,
  kNak = 6,
  kRelease = 7,
  kInform = 8,
};
std::string_view DhcpMessageTypeName(DhcpMessageType type);  // "DISCOVER", ...

struct DhcpOption {
  uint8_t code = 0;
  std::vector<uint8_t> data;
  bool operator==(const DhcpOption&) const = default;
};

struct DhcpMessage {
  uint8_t op = kBootRequest;
  uint8_t htype = 1;
  uint8_t hlen = 6;
  uint8_t hops = 0;
  uint32_t xid = 0;
  uint16_t secs = 0;
  uint16_t flags = 0;
  Ipv4Address ciaddr;
  Ipv4Address yiaddr;
  Ipv4Address siaddr;
  Ipv4Address giaddr;
  std::array<uint8_t, 16> chaddr{};
  std::string sname;  // up to 63 characters on the wire (NUL-terminated)
  std::string file;   // up to 127 characters on the wire
  // In wire order. A code that appeared several times was concatenated (RFC 3396).
  std::vector<DhcpOption> options;

  // The client's Ethernet address (chaddr), or nullopt when htype/hlen are not Ethernet.
  std::optional<MacAddress> client_mac() const;
  // nullopt when option 53 is absent or malformed (a plain BOOTP message).
  std::optional<DhcpMessageType> message_type() const;

  const DhcpOption* Find(uint8_t code) const;
  std::optional<std::string_view> FindString(uint8_t code) const;
  std::optional<Ipv4Address> FindAddress(uint8_t code) const;  // exactly 4 bytes
  std::optional<uint16_t> FindU16(uint8_t code) const;         // exactly 2 bytes

  // Appends an option (replacing an earlier one with the same code).
  void Set(uint8_t code, std::vector<uint8_t> data);
  void SetString(uint8_t code, std::string_view text);
  void SetAddress(uint8_t code, Ipv4Address address);
  void SetU32(uint8_t code, uint32_t value);
  void SetU8(uint8_t code, uint8_t value);
};

// Decodes a UDP payload; nullopt if it is not a well-formed BOOTP/DHCP message.
std::optional<DhcpMessage> DecodeDhcp(ConstByteSpan payload);

// Encodes into `out`, padded to kDhcpMinimumMessageBytes. Returns the byte count, or 0 if `out`
// is too small or sname/file are too long.
size_t EncodeDhcp(const DhcpMessage& message, ByteSpan out);

// Parses encapsulated sub-options (option 43, 175): code(1) len(1) data, 0 pad, 255 end.
// nullopt if a sub-option runs past the end.
std::optional<std::vector<DhcpOption>> DecodeSubOptions(std::span<const uint8_t> data);

}  // namespace aoe::netboot
