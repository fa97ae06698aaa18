#include "bench/command_window.h"

#include <cassert>

namespace aoe::bench {

CommandWindow::CommandWindow(size_t slots, Duration rto)
    : rto_(rto), slots_(slots), generations_(slots, 0) {
  assert(slots >= 1 && slots <= kMaxSlots);
  free_.reserve(slots);
  for (size_t i = slots; i-- > 0;) free_.push_back(i);  // slot 0 is taken first
}

uint32_t CommandWindow::NextTag(size_t index) {
  generations_[index] = (generations_[index] + 1) & kGenerationMask;
  return (generations_[index] << kSlotBits) | static_cast<uint32_t>(index);
}

size_t CommandWindow::Start(uint64_t lba, uint8_t sector_count, TimePoint now) {
  assert(!free_.empty());
  size_t index = free_.back();
  free_.pop_back();
  slots_[index] = Slot{.busy = true,
                       .tag = NextTag(index),
                       .lba = lba,
                       .sector_count = sector_count,
                       .first_sent = now,
                       .last_sent = now,
                       .sends = 1};
  return index;
}

void CommandWindow::Resend(size_t index, TimePoint now) {
  Slot& slot = slots_[index];
  assert(slot.busy);
  slot.tag = NextTag(index);
  slot.last_sent = now;
  ++slot.sends;
}

std::optional<size_t> CommandWindow::Match(uint32_t tag) const {
  size_t index = tag & (kMaxSlots - 1);
  if (index >= slots_.size() || !slots_[index].busy || slots_[index].tag != tag) {
    return std::nullopt;
  }
  return index;
}

void CommandWindow::Finish(size_t index) {
  assert(slots_[index].busy);
  slots_[index].busy = false;
  free_.push_back(index);
}

std::optional<TimePoint> CommandWindow::NextDeadline() const {
  std::optional<TimePoint> earliest;
  for (const Slot& slot : slots_) {
    if (slot.busy && (!earliest || slot.last_sent + rto_ < *earliest)) {
      earliest = slot.last_sent + rto_;
    }
  }
  return earliest;
}

}  // namespace aoe::bench
