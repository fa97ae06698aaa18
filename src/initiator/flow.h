// Per-path flow control: the round-trip estimator and the congestion window, modelled on the
// Linux aoe driver (aoe-protocol.md §5.1) and TCP (RFC 6298). See README.md for the policy.
//
// Pure value types, no clock: callers pass durations and events in. Thread-safety: none.
#pragma once

#include <chrono>
#include <cstdint>

#include "base/clock.h"

namespace aoe::initiator {

struct FlowOptions {
  Duration initial_rto = std::chrono::milliseconds(250);  // before the first sample
  // The floor is far above a LAN's RTT on purpose: on a small host the target, the initiator
  // and the kernel share a couple of cores, and a reply can sit behind a scheduler slice or a
  // batch of io_uring completions for tens of ms. A 10 ms floor turned those stalls into
  // spurious retransmits (and, before loss events were counted, into paths marked down). Linux
  // aoe never times a frame out in less than its 100 ms timer tick.
  Duration min_rto = std::chrono::milliseconds(50);
  Duration max_rto = std::chrono::seconds(4);
};

// Jacobson/Karels: srtt += (sample - srtt)/8, rttvar += (|sample - srtt| - rttvar)/4,
// RTO = srtt + 4 * rttvar, clamped to [min_rto, max_rto]. Every transmission has its own tag, so
// every reply is an unambiguous sample (no Karn filtering needed).
class RttEstimator {
 public:
  explicit RttEstimator(const FlowOptions& options = {}) : options_(options) {}

  void AddSample(Duration rtt);
  // The retransmission timeout for a frame sent `retries` times before (exponential back-off).
  Duration Rto(uint32_t retries = 0) const;
  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  bool has_sample() const { return has_sample_; }

 private:
  FlowOptions options_;
  Duration srtt_{};
  Duration rttvar_{};
  bool has_sample_ = false;
};

// The number of frames a path may have in flight. Starts at half the target's buffer count
// (at least 1), grows by one per timely reply below ssthresh (slow start) and by one per full
// window of replies above it (congestion avoidance), never beyond `limit` (the buffer count,
// capped by max_window). A timeout halves ssthresh and drops the window to 1, once per loss
// event: timeouts of frames sent before the last reduction do not reduce it again.
class CongestionWindow {
 public:
  explicit CongestionWindow(uint32_t limit);

  uint32_t size() const { return window_; }
  uint32_t ssthresh() const { return ssthresh_; }
  uint32_t limit() const { return limit_; }

  // A reply to a frame that had not timed out.
  void OnReply();
  // A frame timed out; `sent_seq` is the send sequence number of the frame (see NextSeq) so that
  // a burst of timeouts from one window counts as one loss event.
  void OnTimeout(uint64_t sent_seq);
  // A new buffer count from a config reply: adopt it, shrinking the window if needed.
  void SetLimit(uint32_t limit);
  // Back to slow start at 1 (a path that was down answered again).
  void Restart();
  // Numbers each transmission on the path.
  uint64_t NextSeq() { return ++seq_; }
  // The sequence number of the latest transmission.
  uint64_t seq() const { return seq_; }

 private:
  uint32_t limit_;
  uint32_t window_;
  uint32_t ssthresh_;
  uint32_t acked_in_window_ = 0;
  uint64_t seq_ = 0;
  uint64_t reduced_at_seq_ = 0;  // transmissions up to here belong to the last loss event
};

}  // namespace aoe::initiator
