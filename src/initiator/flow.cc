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

Duration RttEstimator::Rto(uint32_t retries) const {
  Duration base = has_sample_ ? srtt_ + 4 * rttvar_ : options_.initial_rto;
  base = std::clamp(base, options_.min_rto, options_.max_rto);
  // Double per retry, stopping once the cap is reached (also avoids overflow).
  for (uint32_t i = 0; i < retries && base < options_.max_rto; ++i) base *= 2;
  return std::min(base, options_.max_rto);
}

CongestionWindow::CongestionWindow(uint32_t limit)
    : limit_(std::max<uint32_t>(limit, 1)),
      window_(std::max<uint32_t>(limit_ / 2, 1)),
      ssthresh_(limit_) {}

void CongestionWindow::OnReply() {
  if (window_ < ssthresh_) {
    ++window_;
    acked_in_window_ = 0;
  } else if (++acked_in_window_ >= window_) {
    ++window_;
    acked_in_window_ = 0;
  }
  window_ = std::min(window_, limit_);
}

void CongestionWindow::OnTimeout(uint64_t sent_seq) {
  if (sent_seq <= reduced_at_seq_) return;  // same loss event as the last reduction
  ssthresh_ = std::max<uint32_t>(window_ / 2, 1);
  window_ = 1;
  acked_in_window_ = 0;
  reduced_at_seq_ = seq_;
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
}

}  // namespace aoe::initiator
