// Issue ATA Command (AoE command 0), AoE r11 §3.1.
//
// Byte offsets from the start of the Ethernet frame:
//   24  1  AFlags: 0x40 E (LBA48), 0x10 D (device bit), 0x02 A (async write), 0x01 W (write)
//   25  1  Err/Feature: ATA Features in requests, ATA Error register in replies
//   26  1  Sector Count: sectors to transfer; in replies the sectors NOT transferred
//   27  1  Cmd/Status: ATA opcode in requests, ATA Status register in replies
//   28  6  LBA, least significant byte first
//   34  2  reserved, zero
//   36  …  data: write payload (requests) or read data / IDENTIFY page (replies)
#pragma once

#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "proto/header.h"

namespace aoe::proto {

inline constexpr size_t kAtaHeaderSize = 36;  // Ethernet + common header + ATA argument

inline constexpr uint8_t kAtaFlagExtended = 0x40;
inline constexpr uint8_t kAtaFlagDevice = 0x10;
inline constexpr uint8_t kAtaFlagAsync = 0x02;
inline constexpr uint8_t kAtaFlagWrite = 0x01;

// ATA opcodes a target implements (aoe-protocol.md §2.5).
namespace ata_op {
inline constexpr uint8_t kDataSetManagement = 0x06;  // with Features bit 0: TRIM
inline constexpr uint8_t kReadSectors = 0x20;
inline constexpr uint8_t kReadSectorsExt = 0x24;
inline constexpr uint8_t kWriteSectors = 0x30;
inline constexpr uint8_t kWriteSectorsExt = 0x34;
inline constexpr uint8_t kCheckPowerMode = 0xE5;
inline constexpr uint8_t kFlushCache = 0xE7;
inline constexpr uint8_t kFlushCacheExt = 0xEA;
inline constexpr uint8_t kIdentifyDevice = 0xEC;
inline constexpr uint8_t kSmart = 0xB0;
}  // namespace ata_op

// ATA Status and Error register bits.
inline constexpr uint8_t kAtaStatusBusy = 0x80;
inline constexpr uint8_t kAtaStatusReady = 0x40;  // DRDY
inline constexpr uint8_t kAtaStatusFault = 0x20;  // DF
inline constexpr uint8_t kAtaStatusDrq = 0x08;
inline constexpr uint8_t kAtaStatusError = 0x01;         // ERR
inline constexpr uint8_t kAtaErrorUncorrectable = 0x40;  // UNC
inline constexpr uint8_t kAtaErrorIdNotFound = 0x10;     // IDNF: LBA out of range
inline constexpr uint8_t kAtaErrorAbort = 0x04;          // ABRT

// DATA SET MANAGEMENT (ACS-2 §7.5): the Features register selects the operation (bit 0 = TRIM),
// Sector Count gives the 512-byte blocks of range entries in the data (sent like WRITE data,
// with the W flag). Each entry is 8 bytes, little-endian:
//   bits 0-47   first LBA
//   bits 48-63  sector count; 0 marks an unused entry
inline constexpr uint8_t kDsmTrim = 0x01;
inline constexpr size_t kDsmRangeSize = 8;
inline constexpr size_t kDsmRangesPerBlock = kSectorSize / kDsmRangeSize;  // 64
inline constexpr uint16_t kDsmMaxRangeSectors = 0xFFFF;

struct DsmRange {
  uint64_t lba = 0;
  uint16_t sector_count = 0;
  bool operator==(const DsmRange&) const = default;
};
// Entry `index` of a range list; `ranges` must hold (index + 1) * 8 bytes.
DsmRange DecodeDsmRange(ConstByteSpan ranges, size_t index);
void EncodeDsmRange(const DsmRange& range, ByteSpan ranges, size_t index);

inline constexpr uint64_t kLba28Mask = 0x0FFFFFFF;
inline constexpr uint64_t kLba48Mask = 0xFFFFFFFFFFFF;

struct AtaArg {
  uint8_t aflags = 0;
  uint8_t err_feature = 0;
  uint8_t sector_count = 0;
  uint8_t cmd_status = 0;
  uint64_t lba = 0;  // all 48 bits as on the wire; see AddressedLba()

  bool is_write_flagged() const { return (aflags & kAtaFlagWrite) != 0; }
};

// Decodes bytes 24..35. nullopt if the frame is shorter than 36 bytes.
std::optional<AtaArg> DecodeAta(ConstByteSpan frame);
// Writes bytes 24..35 (reserved bytes zeroed). `frame` must hold kAtaHeaderSize bytes.
void EncodeAta(const AtaArg& arg, ByteSpan frame);

// Whether `frame` is a WRITE SECTORS request (a request, ATA, opcode 0x30 or 0x34) with data
// past its ATA header: the one request whose data a target may leave where it was received.
bool IsWriteRequestWithData(ConstByteSpan frame);

// Whether an opcode uses 48-bit addressing. Decided from the opcode, not the E flag, as vblade
// does: initiators disagree about E, but the opcode is unambiguous.
bool IsLba48Opcode(uint8_t opcode);

// The LBA a read/write addresses: 28-bit opcodes are masked to 0x0FFFFFFF because Linux and
// iPXE put device-register bits (0xE0) in the top nibble of lba3.
uint64_t AddressedLba(const AtaArg& arg);

}  // namespace aoe::proto
