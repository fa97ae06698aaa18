#include "initiator/tags.h"

#include <random>

namespace aoe::initiator {

TagTable::TagTable(uint16_t session)
    : session_(static_cast<uint16_t>(session & 0x7FFF)),
      prefix_(kOurBit | (uint32_t{session_} << 16)),
      owners_(size_t{1} << 16, kFree) {
  // Start the rolling index at a random point too, so two runs with the same session (e.g. a
  // test pinning it) still differ and a restarted process does not reuse recent tags.
  std::random_device rd;
  next_ = static_cast<uint16_t>(rd());
}

uint16_t TagTable::RandomSession() {
  std::random_device rd;
  return static_cast<uint16_t>(rd() & 0x7FFF);
}

std::optional<uint32_t> TagTable::Allocate(uint32_t owner) {
  if (in_use_ >= owners_.size()) return std::nullopt;
  // Bounded: fewer than 65536 slots are in use, so a free one exists.
  while (owners_[next_] != kFree) ++next_;
  uint16_t index = next_++;
  owners_[index] = owner;
  ++in_use_;
  return prefix_ | index;
}

std::optional<uint32_t> TagTable::Find(uint32_t tag) const {
  if (!IsOurs(tag)) return std::nullopt;
  uint32_t owner = owners_[tag & 0xFFFF];
  if (owner == kFree) return std::nullopt;
  return owner;
}

void TagTable::Release(uint32_t tag) {
  if (!IsOurs(tag)) return;
  uint32_t& owner = owners_[tag & 0xFFFF];
  if (owner == kFree) return;
  owner = kFree;
  --in_use_;
}

void TagTable::Rebind(uint32_t tag, uint32_t owner) {
  if (!IsOurs(tag) || owner == kFree) return;
  uint32_t& current = owners_[tag & 0xFFFF];
  if (current != kFree) current = owner;
}

}  // namespace aoe::initiator
