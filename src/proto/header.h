// The AoE common header (AoE r11 §2), shared by every message.
//
// Byte offsets from the start of the Ethernet frame (no FCS):
//    0  6  destination MAC
//    6  6  source MAC
//   12  2  EtherType 0x88A2
//   14  1  version (high nibble, always 1) | flags (low nibble: 0x08 response, 0x04 error)
//   15  1  error code (meaningful when the error flag is set)
//   16  2  major = shelf, big-endian
//   18  1  minor = slot
//   19  1  command
//   20  4  tag, opaque to the target, echoed unchanged
//   24  …  command argument
// The spec's major/minor are called shelf/slot everywhere else in aoekit.
//
// Pure functions over byte spans: no allocation, no I/O.
#pragma once

#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "base/mac_address.h"

namespace aoe::proto {

inline constexpr uint16_t kEtherType = 0x88A2;
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kEthernetHeaderSize = 14;
inline constexpr size_t kHeaderSize = 24;    // Ethernet + AoE common header
inline constexpr size_t kMinFrameSize = 60;  // ETH_ZLEN: replies are padded to this
inline constexpr size_t kSectorSize = 512;   // always 512 in AoE
inline constexpr uint16_t kWildcardShelf = 0xFFFF;
inline constexpr uint8_t kWildcardSlot = 0xFF;

inline constexpr uint8_t kFlagResponse = 0x08;
inline constexpr uint8_t kFlagError = 0x04;

enum class Command : uint8_t {
  kAta = 0,
  kConfig = 1,
  kMacMask = 2,
  kReserve = 3,
};

// AoE-level error codes (byte 15). Per-command ATA failures do NOT use these: Linux drops
// replies with the error flag and retransmits until it declares the device dead.
enum class AoeError : uint8_t {
  kNone = 0,
  kUnrecognizedCommand = 1,
  kBadArgument = 2,
  kDeviceUnavailable = 3,
  kConfigStringPresent = 4,
  kUnsupportedVersion = 5,
  kTargetReserved = 6,
};

struct Header {
  MacAddress destination;
  MacAddress source;
  uint8_t version = kVersion;
  uint8_t flags = 0;  // kFlagResponse | kFlagError; the low two bits must be zero
  AoeError error = AoeError::kNone;
  uint16_t shelf = 0;
  uint8_t slot = 0;
  uint8_t command = 0;  // raw: unknown commands must be answered, not rejected here
  uint32_t tag = 0;

  bool is_response() const { return (flags & kFlagResponse) != 0; }
  bool is_error() const { return (flags & kFlagError) != 0; }
};

// Decodes the common header. nullopt if the frame is shorter than 24 bytes or is not AoE.
std::optional<Header> DecodeHeader(ConstByteSpan frame);

// Writes the 24-byte common header. `frame` must hold at least kHeaderSize bytes.
void EncodeHeader(const Header& header, ByteSpan frame);

// Turns a request header, in place, into the header of its reply: destination = requester,
// source = `own_mac`, shelf/slot = the target's real address (never the wildcard the request
// used), response flag set, version 1, tag and command kept.
void MakeReplyHeader(ByteSpan frame, const MacAddress& own_mac, uint16_t shelf, uint8_t slot);

// Sets the error flag and code in an encoded header.
void SetError(ByteSpan frame, AoeError error);

// Sectors that fit in one frame on a link with this MTU: (MTU - 36) / 512 capped at 255, the
// arithmetic Linux and vblade use (it also subtracts the Ethernet header: conservative).
uint8_t SectorsPerFrame(size_t mtu);

}  // namespace aoe::proto
