#include "proto/ata.h"

namespace aoe::proto {

std::optional<AtaArg> DecodeAta(ConstByteSpan frame) {
  if (frame.size() < kAtaHeaderSize) return std::nullopt;
  AtaArg a;
  a.aflags = LoadU8(frame, 24);
  a.err_feature = LoadU8(frame, 25);
  a.sector_count = LoadU8(frame, 26);
  a.cmd_status = LoadU8(frame, 27);
  for (size_t i = 0; i < 6; ++i) a.lba |= uint64_t{LoadU8(frame, 28 + i)} << (8 * i);
  return a;
}

bool IsWriteRequestWithData(ConstByteSpan frame) {
  if (frame.size() <= kAtaHeaderSize) return false;
  const uint8_t flags = LoadU8(frame, 14) & 0x0F;
  const uint8_t command = LoadU8(frame, 19);
  const uint8_t opcode = LoadU8(frame, 27);
  return (flags & kFlagResponse) == 0 && command == static_cast<uint8_t>(Command::kAta) &&
         (opcode == ata_op::kWriteSectors || opcode == ata_op::kWriteSectorsExt);
}

void EncodeAta(const AtaArg& a, ByteSpan frame) {
  StoreU8(frame, 24, a.aflags);
  StoreU8(frame, 25, a.err_feature);
  StoreU8(frame, 26, a.sector_count);
  StoreU8(frame, 27, a.cmd_status);
  for (size_t i = 0; i < 6; ++i) StoreU8(frame, 28 + i, static_cast<uint8_t>(a.lba >> (8 * i)));
  StoreU8(frame, 34, 0);
  StoreU8(frame, 35, 0);
}

DsmRange DecodeDsmRange(ConstByteSpan ranges, size_t index) {
  uint64_t entry = 0;
  for (size_t i = 0; i < kDsmRangeSize; ++i) {
    entry |= uint64_t{LoadU8(ranges, index * kDsmRangeSize + i)} << (8 * i);
  }
  return DsmRange{entry & kLba48Mask, static_cast<uint16_t>(entry >> 48)};
}

void EncodeDsmRange(const DsmRange& range, ByteSpan ranges, size_t index) {
  const uint64_t entry = (range.lba & kLba48Mask) | (uint64_t{range.sector_count} << 48);
  for (size_t i = 0; i < kDsmRangeSize; ++i) {
    StoreU8(ranges, index * kDsmRangeSize + i, static_cast<uint8_t>(entry >> (8 * i)));
  }
}

bool IsLba48Opcode(uint8_t opcode) {
  return opcode == ata_op::kReadSectorsExt || opcode == ata_op::kWriteSectorsExt ||
         opcode == ata_op::kFlushCacheExt;
}

uint64_t AddressedLba(const AtaArg& arg) {
  return arg.lba & (IsLba48Opcode(arg.cmd_status) ? kLba48Mask : kLba28Mask);
}

}  // namespace aoe::proto
