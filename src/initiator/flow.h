// Per-path flow control: the round-trip estimator and the congestion window, modelled on TCP
// (RFC 6298 for the RTO, RFC 5681/6582 for the window, RFC 4015 for undoing a spurious
// timeout) and on the Linux aoe driver (aoe-protocol.md §5.1). See README.md for the policy.
//
// Pure value types, no clock: callers pass durations and events in. Thread-safety: none.
#pragma once

#include <chrono>
#include <cstdint>

#include "base/clock.h"

namespace aoe::initiator {

struct FlowOptions {
  Duration initial_rto = std::chrono::milliseconds(250);  // before the first sample
  // The absolute floor of the RTO. The RTO follows the measured RTT (a veth or a LAN answers
  // in 0.1-1 ms), so this only needs to cover what the samples do not show: the timer's 1 ms
  // granularity and brief scheduling jitter of a small host, where the target, the initiator
  // and io_uring completions share a couple of cores (longer stalls: the stall floor below).
  // A timeout that was too early costs one duplicate frame: the late reply to the first
  // transmission is still accepted, and it undoes the window reduction
  // (CongestionWindow::OnSpuriousTimeout). (It was a fixed 50 ms, which at 5 % loss each way
  // made every tenth frame wait 50 times the RTT.)
  Duration min_rto = std::chrono::milliseconds(5);
  // The RTO is never below this multiple of the smoothed RTT, however steady the samples: a
  // slow disk whose every command takes about 20 ms has a tiny variance, but a command that
  // takes twice as long as usual is not lost yet.
  uint32_t min_rto_srtt_multiple = 2;
  Duration max_rto = std::chrono::seconds(4);
  // A reply to a transmission that had already timed out proves a stall the samples do not
  // show: the target or this host was not scheduled for a while, or a queue held the frame.
  // On a busy host such stalls recur (every few hundred ms with two cores and a compiler
  // running) and last longer than min_rto, yet the RTO forgets them within one window of
  // timely replies. So a late reply raises a floor under the RTO to stall_floor_multiple times
  // its round trip; the floor holds for stall_floor_hold, then halves every stall_floor_hold
  // until it is below min_rto. Only late replies raise it: on a lossy link, where timeouts are
  // real losses and nothing answers late, the RTO keeps following the RTT down to min_rto. The
  // hold is short because every loss waits for the floor while it holds: with a 10 s hold, the
  // 5 % loss test's 256 MiB download took 6.3 s instead of 4.3 (two late replies had raised it).
  uint32_t stall_floor_multiple = 2;
  Duration stall_floor_hold = std::chrono::seconds(1);
};

// Jacobson/Karels: srtt += (sample - srtt)/8, rttvar += (|sample - srtt| - rttvar)/4,
// RTO = max(srtt + 4 * rttvar, min_rto_srtt_multiple * srtt), clamped to
// [max(min_rto, stall floor), max_rto].
// Every transmission has its own tag, so every reply is an unambiguous sample (no Karn
// filtering needed), late replies to superseded transmissions included: they raise the
// estimate, as RFC 4015's response to a spurious timeout does.
class RttEstimator {
 public:
  explicit RttEstimator(const FlowOptions& options = {}) : options_(options) {}

  void AddSample(Duration rtt);
  // A reply `rtt` after a transmission whose timeout had already fired (a spurious timeout):
  // raises the stall floor (FlowOptions::stall_floor_multiple). Pass the sample to AddSample
  // too.
  void OnLateReply(Duration rtt, TimePoint now);
  // Lets the stall floor decay (FlowOptions::stall_floor_hold); call before Rto.
  void Age(TimePoint now);
  // The retransmission timeout for a frame sent `retries` times before (exponential back-off
  // per frame, up to max_rto).
  Duration Rto(uint32_t retries = 0) const;
  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  bool has_sample() const { return has_sample_; }
  // The RTO's floor learnt from late replies (zero when none holds).
  Duration stall_floor() const { return stall_floor_; }

 private:
  FlowOptions options_;
  Duration srtt_{};
  Duration rttvar_{};
  bool has_sample_ = false;
  Duration stall_floor_{};
  TimePoint stall_floor_until_{};  // the floor halves at this time
};

// The number of frames a path may have in flight. Starts at half the target's buffer count
// (at least 1), grows by one per timely reply below ssthresh (slow start) and by one per full
// window of replies above it (congestion avoidance), never beyond `limit` (the buffer count,
// capped by max_window) nor below 1.
//
// Every loss is seen as a timeout (AoE has no acknowledgements of later frames to count), and
// the window reacts once per *loss event*: a timeout reduces it only if its frame was sent after
// the last reduction, so a burst of losses from one window is one event. How much depends on
// whether the path still delivers:
//   - a frame sent after the lost one was answered (the analogue of TCP's fast retransmit:
//     the loss is isolated, the pipe still flows): window = window/2, then slow start back to
//     the window before the loss (ssthresh), then congestion avoidance;
//   - nothing sent since the lost frame was answered (a stall, a dead link, a full target; the
//     analogue of TCP's RTO): ssthresh = window/2 (at least 2), window = 1, then slow start;
//     more such timeouts before the next reply leave ssthresh alone.
// A reply to a transmission that had timed out proves that timeout spurious (the frame was
// late, not lost); when every timeout of the current loss event turns out spurious, the
// reduction is undone (RFC 4015's Eifel response, as Linux TCP's undo does).
class CongestionWindow {
 public:
  explicit CongestionWindow(uint32_t limit);

  uint32_t size() const { return window_; }
  uint32_t ssthresh() const { return ssthresh_; }
  uint32_t limit() const { return limit_; }

  // A reply to transmission `sent_seq` that had not timed out.
  void OnReply(uint64_t sent_seq);
  // Transmission `sent_seq` timed out. Returns the id of the loss event it was counted in, to
  // be passed to OnSpuriousTimeout should the reply still come.
  uint64_t OnTimeout(uint64_t sent_seq);
  // A reply came for a transmission whose timeout was counted in loss event `event`.
  void OnSpuriousTimeout(uint64_t event);
  // A new buffer count from a config reply: adopt it, shrinking the window if needed.
  void SetLimit(uint32_t limit);
  // Back to slow start at 1 (a path that was down answered again).
  void Restart();
  // Numbers each transmission on the path.
  uint64_t NextSeq() { return ++seq_; }
  // The sequence number of the latest transmission.
  uint64_t seq() const { return seq_; }
  // The newest transmission answered in time: one sent after a lost frame proves the path
  // still delivers.
  uint64_t answered_seq() const { return answered_seq_; }

 private:
  uint32_t limit_;
  uint32_t window_;
  uint32_t ssthresh_;
  uint32_t acked_in_window_ = 0;
  uint64_t seq_ = 0;
  uint64_t answered_seq_ = 0;    // the newest transmission answered in time
  uint64_t reduced_at_seq_ = 0;  // transmissions up to here belong to the last loss event
  // Undo state of the current loss event (the one that set reduced_at_seq_).
  uint32_t prior_window_ = 0;
  uint32_t prior_ssthresh_ = 0;
  uint32_t event_timeouts_ = 0;  // timeouts counted in it and not yet proved spurious
  bool undone_ = false;
  bool collapsed_ = false;  // down to 1 by a timeout, no reply since
};

}  // namespace aoe::initiator
