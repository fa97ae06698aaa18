// MAC Mask List (AoE command 2) and Reserve/Release (AoE command 3), AoE r11 §3.3-3.4.
//
// MAC Mask List, byte offsets from the start of the Ethernet frame:
//   24  1  reserved
//   25  1  MCmd: 0 read, 1 edit
//   26  1  MError (replies): 0 ok, 1 unspecified, 2 bad directive, 3 list full
//   27  1  Directive Count
//   28  8i directive i: reserved(1), DCmd(1: 0 none, 1 add, 2 delete), MAC(6)
//
// Reserve/Release:
//   24  1  RCmd: 0 read, 1 set, 2 force set
//   25  1  NMacs
//   26  6i MAC i
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <span>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "proto/header.h"

namespace aoe::proto {

inline constexpr size_t kMaskHeaderSize = 28;
inline constexpr size_t kMaskDirectiveSize = 8;
inline constexpr size_t kReserveHeaderSize = 26;

enum class MaskCommand : uint8_t { kRead = 0, kEdit = 1 };
enum class DirectiveCommand : uint8_t { kNone = 0, kAdd = 1, kDelete = 2 };
enum class MaskError : uint8_t { kOk = 0, kUnspecified = 1, kBadDirective = 2, kListFull = 3 };

struct MaskDirective {
  uint8_t command = 0;  // raw DCmd
  MacAddress mac;
};

struct MaskArg {
  uint8_t command = 0;              // raw MCmd
  uint8_t error = 0;                // MError
  uint8_t directive_count = 0;      // as declared
  bool directives_complete = true;  // every declared directive is inside the received frame
  ConstByteSpan directives;         // the complete directives only (8 bytes each)

  size_t available_directives() const { return directives.size() / kMaskDirectiveSize; }
  MaskDirective DirectiveAt(size_t i) const;
};

// nullopt if shorter than 28 bytes.
std::optional<MaskArg> DecodeMask(ConstByteSpan frame);

// Writes the mask argument with the given MACs as directives (DCmd 0). Returns the frame length
// or 0 if `frame` is too small.
size_t EncodeMask(uint8_t command, MaskError error, std::span<const MacAddress> macs,
                  ByteSpan frame);
// Writes a mask argument carrying raw directives (used by initiators to edit the list).
size_t EncodeMaskDirectives(std::span<const MaskDirective> directives, ByteSpan frame);
// Writes a mask failure reply: MError and the index of the failing directive, no list.
size_t EncodeMaskFailure(uint8_t command, MaskError error, uint8_t failed_index, ByteSpan frame);

enum class ReserveCommand : uint8_t { kRead = 0, kSet = 1, kForceSet = 2 };

struct ReserveArg {
  uint8_t command = 0;    // raw RCmd
  uint8_t mac_count = 0;  // as declared
  bool macs_complete = true;
  ConstByteSpan macs;  // complete MACs only (6 bytes each)

  size_t available_macs() const { return macs.size() / 6; }
  MacAddress MacAt(size_t i) const {
    assert(i < available_macs());
    return MacAddress::Load(macs, i * 6);
  }
};

// nullopt if shorter than 26 bytes.
std::optional<ReserveArg> DecodeReserve(ConstByteSpan frame);
// Returns the frame length or 0 if `frame` is too small.
size_t EncodeReserve(uint8_t command, std::span<const MacAddress> macs, ByteSpan frame);

}  // namespace aoe::proto
