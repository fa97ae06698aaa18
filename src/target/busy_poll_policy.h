// BusyPollPolicy: whether the loop busy-polls after a turn that handled frames (--busy-poll),
// judged by how often its recent polls found a frame.
//
// A poll that finds the next frame saves a sleep and a wake-up, and their latency; one that finds
// nothing spins the whole budget for nothing and then sleeps anyway. When frames come back to
// back (a window of commands, or an initiator that sends the next command as soon as a reply
// comes) nearly every poll finds one. When commands trickle in (idle initiators, one now and
// then), half or more find nothing, and polling cost the target twice the CPU per command
// for no gain in latency (docs/PERFORMANCE.md, "Busy polling on a trickle of commands"). So
// the loop polls while at least three in four of its recent polls found a frame; otherwise
// it sleeps, and polls anyway at every 16th chance, to notice when frames come back to back
// again. A frame that already waits when the chance comes is found without spinning and counts
// as found, so under load the policy stays on.
//
// Plain value type; single-threaded.
#pragma once

#include <cstdint>

namespace aoe::target {

class BusyPollPolicy {
 public:
  // A turn handled frames and no frame waits yet: whether to spin for one.
  bool ShouldPoll() {
    if (found_share_ >= kPollFrom || ++chances_skipped_ >= kProbeEvery) {
      chances_skipped_ = 0;
      return true;
    }
    return false;
  }
  // What a poll found (or a chance on which a frame already waited: found).
  void Polled(bool found) { found_share_ += ((found ? kAll : 0) - found_share_) / kWeight; }

  // The share of recent polls that found a frame, in 1/1024 (for tests).
  int32_t found_share() const { return found_share_; }

 private:
  static constexpr int32_t kAll = 1024;
  static constexpr int32_t kPollFrom = 3 * kAll / 4;
  static constexpr int32_t kWeight = 8;  // each outcome moves the share by an eighth of the gap
  static constexpr uint32_t kProbeEvery = 16;

  int32_t found_share_ = kAll;  // a moving average: starts as if every poll had found one
  uint32_t chances_skipped_ = 0;
};

}  // namespace aoe::target
