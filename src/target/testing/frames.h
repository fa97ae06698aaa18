// Frame builders and a reply reader for target tests. They write and read AoE frames at the byte
// offsets of aoe-protocol.md §1-4 directly, without going through proto/, so that a test checks
// the target against the wire format rather than against the code the target itself uses.
//
// Pure values; no I/O. Test-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "proto/disk_address.h"

namespace aoe::target::testkit {

using Frame = std::vector<std::byte>;

// The common header of a request (bytes 0-23).
struct RequestHeader {
  MacAddress destination = MacAddress::Broadcast();
  MacAddress source;
  proto::DiskAddress disk{0, 0};
  uint32_t tag = 0x80000001;
  uint8_t ver_flags = 0x10;  // version 1, no flags
};

// A zero-filled frame of `size` bytes with the common header written (command at byte 19).
Frame BuildHeader(const RequestHeader& address, uint8_t command, size_t size);

struct AtaRequest {
  uint8_t aflags = 0;
  uint8_t feature = 0;
  uint8_t sector_count = 0;
  uint8_t opcode = 0;
  uint64_t lba = 0;   // the six LBA bytes, least significant first, exactly as sent
  Frame data;         // appended after the 36-byte header
  size_t pad_to = 0;  // zero bytes appended until the frame is this long

  // Chainable setters: AtaOp(0x24).Flags(0x40).Count(2).Lba(100).
  AtaRequest& Flags(uint8_t v) {
    aflags = v;
    return *this;
  }
  AtaRequest& Feature(uint8_t v) {
    feature = v;
    return *this;
  }
  AtaRequest& Count(uint8_t v) {
    sector_count = v;
    return *this;
  }
  AtaRequest& Lba(uint64_t v) {
    lba = v;
    return *this;
  }
  AtaRequest& Data(Frame v) {
    data = std::move(v);
    return *this;
  }
  AtaRequest& PadTo(size_t v) {
    pad_to = v;
    return *this;
  }
};
inline AtaRequest AtaOp(uint8_t opcode) {
  AtaRequest r;
  r.opcode = opcode;
  return r;
}
Frame BuildAta(const RequestHeader& address, const AtaRequest& request);

// Query Config. `declared_length` overrides the length field (to lie about the string size).
Frame BuildConfig(const RequestHeader& address, uint8_t ccmd, std::string_view string,
                  std::optional<uint16_t> declared_length = std::nullopt);
Frame BuildConfig(const RequestHeader& address, uint8_t ccmd, const Frame& string,
                  std::optional<uint16_t> declared_length = std::nullopt);

struct Directive {
  uint8_t dcmd = 0;
  MacAddress mac;
};
Frame BuildMask(const RequestHeader& address, uint8_t mcmd,
                const std::vector<Directive>& directives,
                std::optional<uint8_t> declared_count = std::nullopt);

Frame BuildReserve(const RequestHeader& address, uint8_t rcmd, const std::vector<MacAddress>& macs,
                   std::optional<uint8_t> declared_count = std::nullopt);

// Deterministic test data and a checksum to compare regions of a disk.
Frame Pattern(size_t size, uint8_t seed);
uint64_t Checksum(ConstByteSpan bytes);
Frame Bytes(std::string_view text);

// Reads fields of a received frame at their wire offsets. Accessors that read past the end of
// the frame return 0 (and the test's size checks catch it).
class Reply {
 public:
  explicit Reply(Frame bytes) : bytes_(std::move(bytes)) {}

  const Frame& bytes() const { return bytes_; }
  size_t size() const { return bytes_.size(); }

  // Common header.
  MacAddress destination() const;
  MacAddress source() const;
  uint16_t ether_type() const { return Be16(12); }
  uint8_t ver_flags() const { return U8(14); }
  uint8_t version() const { return U8(14) >> 4; }
  bool response_flag() const { return (U8(14) & 0x08) != 0; }
  bool error_flag() const { return (U8(14) & 0x04) != 0; }
  uint8_t error() const { return U8(15); }
  uint16_t shelf() const { return Be16(16); }
  uint8_t slot() const { return U8(18); }
  uint8_t command() const { return U8(19); }
  uint32_t tag() const { return Be32(20); }

  // Issue ATA Command.
  uint8_t aflags() const { return U8(24); }
  uint8_t ata_error() const { return U8(25); }
  uint8_t sector_count() const { return U8(26); }
  uint8_t status() const { return U8(27); }
  // `size` bytes of data after the 36-byte header (fewer if the frame is shorter).
  Frame ata_data(size_t size) const { return Slice(36, size); }

  // Query Config.
  uint16_t buffer_count() const { return Be16(24); }
  uint16_t firmware_version() const { return Be16(26); }
  uint8_t config_sector_count() const { return U8(28); }
  uint8_t config_version() const { return U8(29) >> 4; }
  uint8_t ccmd() const { return U8(29) & 0x0F; }
  uint16_t config_length() const { return Be16(30); }
  std::string config_string() const;

  // MAC Mask List.
  uint8_t mcmd() const { return U8(25); }
  uint8_t merror() const { return U8(26); }
  uint8_t directive_count() const { return U8(27); }
  std::vector<Directive> directives() const;  // directive_count() of them, as far as present

  // Reserve/Release.
  uint8_t rcmd() const { return U8(24); }
  uint8_t mac_count() const { return U8(25); }
  std::vector<MacAddress> reserve_macs() const;

  Frame Slice(size_t offset, size_t size) const;
  uint8_t U8(size_t offset) const;
  uint16_t Be16(size_t offset) const;
  uint32_t Be32(size_t offset) const;

 private:
  Frame bytes_;
};

}  // namespace aoe::target::testkit
