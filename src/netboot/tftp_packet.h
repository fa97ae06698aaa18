// TFTP packets (RFC 1350) with option negotiation (RFC 2347 OACK, 2348 blksize, 2349 tsize and
// timeout): decode from and encode to UDP payload bytes. Pure and bounds-checked; a malformed
// packet decodes to nullopt.
//
// Wire layouts (big-endian opcode first):
//   RRQ/WRQ  1/2 | filename NUL | mode NUL | (option NUL value NUL)*
//   DATA     3   | block(2) | 0..blksize bytes
//   ACK      4   | block(2)
//   ERROR    5   | code(2) | message NUL
//   OACK     6   | (option NUL value NUL)*
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/bytes.h"

namespace aoe::netboot {

enum class TftpOpcode : uint16_t {
  kReadRequest = 1,
  kWriteRequest = 2,
  kData = 3,
  kAck = 4,
  kError = 5,
  kOptionAck = 6,
};

enum class TftpErrorCode : uint16_t {
  kNotDefined = 0,
  kFileNotFound = 1,
  kAccessViolation = 2,
  kIllegalOperation = 4,
  kUnknownTransferId = 5,
  kOptionRefused = 8,
};

inline constexpr size_t kTftpDefaultBlockSize = 512;
inline constexpr size_t kTftpMinBlockSize = 8;      // RFC 2348
inline constexpr size_t kTftpMaxBlockSize = 65464;  // RFC 2348
inline constexpr size_t kTftpHeaderBytes = 4;

using TftpOptions = std::vector<std::pair<std::string, std::string>>;

struct TftpPacket {
  TftpOpcode opcode = TftpOpcode::kReadRequest;
  // RRQ/WRQ
  std::string filename;
  std::string mode;     // lower-cased: "octet", "netascii"
  TftpOptions options;  // RRQ and OACK; names lower-cased, in wire order
  // DATA/ACK
  uint16_t block = 0;
  ConstByteSpan data;  // DATA: points into the decoded buffer
  // ERROR
  TftpErrorCode error_code = TftpErrorCode::kNotDefined;
  std::string error_message;
};

std::optional<TftpPacket> DecodeTftp(ConstByteSpan payload);

// Encoders return the byte count, or 0 if `out` is too small.
size_t EncodeTftpData(ByteSpan out, uint16_t block, ConstByteSpan data);
size_t EncodeTftpAck(ByteSpan out, uint16_t block);
size_t EncodeTftpError(ByteSpan out, TftpErrorCode code, std::string_view message);
size_t EncodeTftpOptionAck(ByteSpan out, const TftpOptions& options);
size_t EncodeTftpReadRequest(ByteSpan out, std::string_view filename, std::string_view mode,
                             const TftpOptions& options);

}  // namespace aoe::netboot
