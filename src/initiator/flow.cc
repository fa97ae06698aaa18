#include "initiator/flow.h"

#include <algorithm>

namespace aoe::initiator {

void RttEstimator::AddSample(Duration rtt) {
  if (rtt < Duration::zero()) rtt = Duration::zero();
  if (!has_sample_) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    has_sample_ = true;
    return;
  }
  Duration err = rtt - srtt_;
  srtt_ += err / 8;
  Duration abs_err = err < Duration::zero() ? -err : err;
  rttvar_ += (abs_err - rttvar_) / 4;
}

void RttEstimator::OnLateReply(Duration rtt, TimePoint now) {
  const Duration floor = std::min(rtt * options_.stall_floor_multiple, options_.max_rto);
  stall_floor_ = std::max(stall_floor_, floor);
  stall_floor_until_ = now + options_.stall_floor_hold;
}

void RttEstimator::Age(TimePoint now) {
  // At most log2(max_rto / min_rto) rounds, however long the path was idle.
  while (stall_floor_ > Duration::zero() && now >= stall_floor_until_) {
    stall_floor_ /= 2;
    stall_floor_until_ += options_.stall_floor_hold;
    if (stall_floor_ < options_.min_rto || options_.stall_floor_hold <= Duration::zero()) {
      stall_floor_ = Duration::zero();
    }
  }
}

Duration RttEstimator::Rto(uint32_t retries) const {
  Duration base = options_.initial_rto;
  if (has_sample_) {
    base = std::max(srtt_ + 4 * rttvar_, srtt_ * options_.min_rto_srtt_multiple);
  }
  base = std::clamp(base, std::max(options_.min_rto, stall_floor_), options_.max_rto);
  // Double per retry, stopping once the cap is reached (also avoids overflow).
  for (uint32_t i = 0; i < retries && base < options_.max_rto; ++i) base *= 2;
  return std::min(base, options_.max_rto);
}

CongestionWindow::CongestionWindow(uint32_t limit)
    : limit_(std::max<uint32_t>(limit, 1)),
      window_(std::max<uint32_t>(limit_ / 2, 1)),
      ssthresh_(limit_) {}

void CongestionWindow::OnReply(uint64_t sent_seq) {
  answered_seq_ = std::max(answered_seq_, sent_seq);
  collapsed_ = false;
  if (window_ < ssthresh_) {
    ++window_;
    acked_in_window_ = 0;
  } else if (++acked_in_window_ >= window_) {
    ++window_;
    acked_in_window_ = 0;
  }
  window_ = std::min(window_, limit_);
}

uint64_t CongestionWindow::OnTimeout(uint64_t sent_seq) {
  if (sent_seq <= reduced_at_seq_) {
    // Sent before the last reduction: part of that loss event, which must not be undone
    // unless this timeout too proves spurious.
    ++event_timeouts_;
    return reduced_at_seq_;
  }
  prior_window_ = window_;
  prior_ssthresh_ = ssthresh_;
  event_timeouts_ = 1;
  undone_ = false;
  if (answered_seq_ > sent_seq) {
    // An isolated loss: later frames were answered, so the path still delivers. Halve, then
    // grow back in slow start to where the window was: on a lossy but uncongested link loss
    // events come every RTO whatever the window, and congestion avoidance's one frame per
    // window would let them grind it down to a couple of frames.
    ssthresh_ = window_;
    window_ = std::max<uint32_t>(window_ / 2, 1);
  } else {
    // Nothing answered since the lost frame was sent (a stall, a dead link, an overrun
    // target): start over from one frame. Further timeouts before the next reply say nothing
    // new about the path, so they leave ssthresh alone (as Linux TCP does for repeated RTOs);
    // otherwise random loss of the lone probe frames would ratchet it down to 1.
    if (!collapsed_) ssthresh_ = std::min(std::max<uint32_t>(window_ / 2, 2), limit_);
    window_ = 1;
    collapsed_ = true;
  }
  acked_in_window_ = 0;
  reduced_at_seq_ = seq_;
  return reduced_at_seq_;
}

void CongestionWindow::OnSpuriousTimeout(uint64_t event) {
  if (event != reduced_at_seq_ || undone_ || event_timeouts_ == 0) return;
  if (--event_timeouts_ > 0) return;
  // Every timeout of this event was a late reply, not a loss: restore the window.
  window_ = std::min(std::max(window_, prior_window_), limit_);
  ssthresh_ = std::min(std::max(ssthresh_, prior_ssthresh_), limit_);
  undone_ = true;
}

void CongestionWindow::SetLimit(uint32_t limit) {
  limit_ = std::max<uint32_t>(limit, 1);
  window_ = std::min(window_, limit_);
  ssthresh_ = std::min(ssthresh_, limit_);
}

void CongestionWindow::Restart() {
  window_ = 1;
  ssthresh_ = std::max<uint32_t>(limit_ / 2, 1);
  acked_in_window_ = 0;
  reduced_at_seq_ = seq_;
  event_timeouts_ = 0;
  undone_ = true;  // a down path's losses were real: nothing to undo
  collapsed_ = false;
}

}  // namespace aoe::initiator
