// CommandWindow: a fixed number of command slots, each either free or holding one outstanding
// ATA command, with the tag that identifies it on the wire and its retransmit deadline.
//
// The window never grows or shrinks: the load client measures a target at a fixed number of
// outstanding commands, whatever the target advertises or drops. A command that gets no reply
// within the fixed RTO is sent again with a new tag (as Linux does), so a late reply to the
// old transmission is recognised as stale instead of completing the command twice.
//
// Tag layout: bits 0..11 the slot, bits 12..30 a per-slot generation, bit 31 clear.
//
// Pure bookkeeping over a caller-supplied clock; no I/O, no allocation after construction.
// Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/clock.h"

namespace aoe::bench {

class CommandWindow {
 public:
  static constexpr size_t kMaxSlots = size_t{1} << 12;

  struct Slot {
    bool busy = false;
    uint32_t tag = 0;
    uint64_t lba = 0;
    uint8_t sector_count = 0;
    TimePoint first_sent{};  // latency is measured from here, retransmits included
    TimePoint last_sent{};   // the RTO runs from here
    uint32_t sends = 0;
  };

  // `slots` in 1..kMaxSlots.
  CommandWindow(size_t slots, Duration rto);

  size_t size() const { return slots_.size(); }
  size_t busy() const { return slots_.size() - free_.size(); }
  bool full() const { return free_.empty(); }
  const Slot& slot(size_t index) const { return slots_[index]; }

  // Takes a free slot for a new command and returns its index and tag. The window must not be
  // full.
  size_t Start(uint64_t lba, uint8_t sector_count, TimePoint now);
  // Gives a busy slot a new tag for a retransmission and restarts its RTO.
  void Resend(size_t index, TimePoint now);
  // The busy slot a reply's tag belongs to, or nullopt for an unknown or superseded tag.
  std::optional<size_t> Match(uint32_t tag) const;
  // Frees a busy slot.
  void Finish(size_t index);

  // Busy slots whose RTO has run out, oldest transmission first is not guaranteed.
  template <typename F>
  void ForEachExpired(TimePoint now, F&& f) const {
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].busy && now - slots_[i].last_sent >= rto_) f(i);
    }
  }
  // When the earliest RTO runs out; nullopt when nothing is outstanding.
  std::optional<TimePoint> NextDeadline() const;

 private:
  static constexpr int kSlotBits = 12;
  static constexpr uint32_t kGenerationMask = (uint32_t{1} << (31 - kSlotBits)) - 1;

  uint32_t NextTag(size_t index);

  Duration rto_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> generations_;
  std::vector<size_t> free_;  // a stack of free slot indices
};

}  // namespace aoe::bench
