// PortRole and the receive filter it implies: which AoE frames a port delivers to its owner.
//
// A target only ever needs requests and an initiator only responses, so each port drops the other
// direction (and every non-AoE frame) before the frame reaches user code. PacketPort compiles this
// rule into a kernel classic-BPF program; MemoryPort calls AcceptsFrame() directly. Both must
// agree, so the rule lives here once. (Which host a frame is for is the other half of what a
// port takes: the kernel program drops unicast frames for another MAC except on kAny ports,
// packet_socket.cc; MemoryWire delivers only to the destination MAC and broadcasts, for every
// role.) Pure functions, no state: thread-safe.
//
// The few wire constants below are duplicated from proto/ on purpose: net/ may depend only on
// base/, and the filter needs just these three facts about the frame.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/bytes.h"

namespace aoe {

// Wire facts the filter relies on (offsets from the start of the Ethernet frame):
//   12..13  EtherType, big-endian; AoE is 0x88A2.
//   14      Ver (bits 7-4) | Flags (bits 3-0); flag 0x08 (R) marks a response.
inline constexpr uint16_t kAoeEtherType = 0x88A2;
inline constexpr size_t kEthernetHeaderBytes = 14;
inline constexpr size_t kEtherTypeOffset = 12;
inline constexpr size_t kAoeVerFlagsOffset = 14;
inline constexpr uint8_t kAoeResponseFlag = 0x08;

enum class PortRole {
  kTarget,     // receives AoE requests only (R flag clear)
  kInitiator,  // receives AoE responses only (R flag set)
  kAny,        // receives every AoE frame; for monitoring tools and tests
};

// True when a port with `role` should deliver `frame`. Frames too short to carry the flags byte
// are rejected, as the kernel BPF filter rejects them.
inline bool AcceptsFrame(PortRole role, ConstByteSpan frame) {
  if (frame.size() <= kAoeVerFlagsOffset) return false;
  if (LoadBe16(frame, kEtherTypeOffset) != kAoeEtherType) return false;
  bool response = (LoadU8(frame, kAoeVerFlagsOffset) & kAoeResponseFlag) != 0;
  switch (role) {
    case PortRole::kTarget:
      return !response;
    case PortRole::kInitiator:
      return response;
    case PortRole::kAny:
      return true;
  }
  return false;
}

}  // namespace aoe
