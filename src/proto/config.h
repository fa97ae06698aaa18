// Query Config Information (AoE command 1), AoE r11 §3.2.
//
// Byte offsets from the start of the Ethernet frame:
//   24  2  Buffer Count (BE): commands the target can queue; ignored in requests
//   26  2  Firmware Version (BE)
//   28  1  Sector Count: largest count per ATA command (0 means 2)
//   29  1  AoE version (high nibble) | CCmd (low nibble)
//   30  2  Config String Length (BE), 0..1024
//   32  n  Config String: opaque bytes, not NUL-terminated
#pragma once

#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "proto/header.h"

namespace aoe::proto {

inline constexpr size_t kConfigHeaderSize = 32;
inline constexpr size_t kMaxConfigStringSize = 1024;

enum class ConfigCommand : uint8_t {
  kRead = 0,        // reply with the current string
  kTestExact = 1,   // reply only if the strings are equal
  kTestPrefix = 2,  // reply only if the request string is a prefix of the current one
  kSetIfEmpty = 3,  // set when empty (or identical), else error 4
  kForceSet = 4,    // set unconditionally
};

struct ConfigArg {
  uint16_t buffer_count = 0;
  uint16_t firmware_version = 0;
  uint8_t sector_count = 0;
  uint8_t aoe_version = kVersion;
  uint8_t command = 0;         // raw CCmd nibble; values > 4 are answered with error 2
  uint16_t string_length = 0;  // as declared in the frame
  // The string bytes actually present: empty when the declared length exceeds the frame (see
  // string_complete), never a view past the received bytes.
  ConstByteSpan string;
  bool string_complete = true;  // declared length fits in the received frame
};

// Decodes bytes 24..(32+n). nullopt if the frame is shorter than 32 bytes.
std::optional<ConfigArg> DecodeConfig(ConstByteSpan frame);

// Writes bytes 24..31 and the string (arg.string; string_length is taken from its size).
// Returns the frame length written (32 + string size), or 0 if `frame` is too small.
size_t EncodeConfig(const ConfigArg& arg, ByteSpan frame);

}  // namespace aoe::proto
