// TagTable: allocates the 32-bit AoE tags of one initiator and maps a reply's tag back to the
// request that owns it.
//
// Layout (aoe-protocol.md §1.6):
//   bit  31      always 1. The Linux aoe driver only uses tags with bit 31 clear and drops
//                replies with it set, so we can never answer for (or steal replies of) aoe.ko.
//   bits 30..16  a random 15-bit session id chosen per TagTable (per process in practice).
//                aoetools also set bit 31 but fill the rest with a microsecond clock or a small
//                counter; a random session makes it unlikely (1 in 32768) that another aoekit
//                process or aoetools run on the same host matches our replies.
//   bits 15..0   a rolling index. It doubles as the slot of a 65536-entry lookup table, so
//                matching a reply is one array access, and allocation skips indexes still in
//                flight, so a tag is unique while in flight. An index is reused only after the
//                counter wraps; a tag whose reply may still come must be kept (Rebind it) until
//                it cannot, as the Disk does for unanswered copies, since at full speed the
//                counter wraps in well under a second.
//
// The table owns no requests: it stores a 32-bit owner cookie per live tag.
// Thread-safety: none (single-threaded, like the Initiator that owns it).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace aoe::initiator {

class TagTable {
 public:
  static constexpr uint32_t kOurBit = 0x8000'0000;
  static constexpr uint32_t kFree = 0xFFFF'FFFF;  // owner value meaning "not in use"

  // `session` is masked to 15 bits.
  explicit TagTable(uint16_t session);

  // A random 15-bit session id from std::random_device.
  static uint16_t RandomSession();

  // Allocates a tag that is not in flight and binds `owner` (!= kFree) to it. nullopt when all
  // 65536 tags are in flight.
  std::optional<uint32_t> Allocate(uint32_t owner);
  // The owner of a live tag of ours; nullopt for foreign, released or unknown tags.
  std::optional<uint32_t> Find(uint32_t tag) const;
  // Releases a live tag (no-op if it is not live).
  void Release(uint32_t tag);
  // Hands a live tag to a new owner (!= kFree); its reply then reaches that owner. No-op if the
  // tag is not live.
  void Rebind(uint32_t tag, uint32_t owner);

  bool IsOurs(uint32_t tag) const { return (tag & 0xFFFF'0000) == prefix_; }
  uint16_t session() const { return session_; }
  size_t in_use() const { return in_use_; }

 private:
  uint16_t session_;
  uint32_t prefix_;
  uint16_t next_ = 0;
  size_t in_use_ = 0;
  std::vector<uint32_t> owners_;  // indexed by the low 16 bits
};

}  // namespace aoe::initiator
