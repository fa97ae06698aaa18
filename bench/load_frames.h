// The frames the load client sends and the replies it accepts, built on src/proto/'s encoders.
// This is the client's own small view of the protocol: one ATA command per frame, a config
// query to find the target, and strict matching of replies (response flag, command, shelf.slot
// and the target's MAC) so that a stray frame can never count as a completed command.
//
// Pure functions over byte spans, no allocation.
#pragma once

#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "proto/ata.h"

namespace aoe::bench {

// Who talks to whom: the client's interface MAC, the target's MAC (broadcast before
// discovery), and the disk's shelf.slot.
struct DiskAddress {
  MacAddress client;
  MacAddress target = MacAddress::Broadcast();
  uint16_t shelf = 0;
  uint8_t slot = 0;
};

struct AtaRequest {
  uint8_t opcode = proto::ata_op::kReadSectorsExt;
  uint64_t lba = 0;
  uint8_t sector_count = 0;
  bool write = false;  // the frame carries sector_count * 512 data bytes after the header
};

// Writes the 36-byte header of `request` into `frame`; the caller has put any write data at
// frame[36..]. Returns the frame length to send (header + data, at least 60 bytes), or 0 if
// `frame` is too small.
size_t EncodeAtaRequest(ByteSpan frame, const DiskAddress& address, uint32_t tag,
                        const AtaRequest& request);

struct AtaReply {
  uint32_t tag = 0;
  uint8_t aoe_error = 0;     // AoE error code; nonzero only when the error flag was set
  uint8_t status = 0;        // ATA status register
  uint8_t ata_error = 0;     // ATA error register
  uint8_t sectors_left = 0;  // sectors not transferred (0 on success)
  ConstByteSpan data;        // what was received after the 36-byte header, padding included
  size_t data_bytes = 0;     // what the frame carried after the header: data.size(), unless
                             // the frame was read truncated (then its real length says)

  bool ok() const { return aoe_error == 0 && (status & proto::kAtaStatusError) == 0; }
};

// Accepts only an ATA reply from `address.target` for `address`'s shelf.slot. `wire_length`
// is the frame's real length when `frame` holds only its first bytes (a truncated read).
std::optional<AtaReply> DecodeAtaReply(ConstByteSpan frame, const DiskAddress& address,
                                       size_t wire_length);
inline std::optional<AtaReply> DecodeAtaReply(ConstByteSpan frame, const DiskAddress& address) {
  return DecodeAtaReply(frame, address, frame.size());
}

// A Query Config (read) to the broadcast address for address.shelf.slot. Returns the length.
size_t EncodeConfigQuery(ByteSpan frame, const DiskAddress& address, uint32_t tag);

struct ConfigReply {
  MacAddress target;
  uint16_t buffer_count = 0;
  uint8_t max_sectors = 0;  // per ATA command; a 0 on the wire means 2 and is reported as 2
  uint16_t firmware_version = 0;
};

// Accepts a config reply for address.shelf.slot carrying `tag`, from any MAC.
std::optional<ConfigReply> DecodeConfigReply(ConstByteSpan frame, const DiskAddress& address,
                                             uint32_t tag);

}  // namespace aoe::bench
