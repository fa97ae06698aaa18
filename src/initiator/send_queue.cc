#include "initiator/send_queue.h"

namespace aoe::initiator {

SendQueue::SendQueue(const std::vector<Port*>& ports) : ports_(ports), pending_(ports.size()) {
  // A pass sends at most a window per path plus a few exchanges; reserve so that the data path
  // does not allocate.
  for (auto& frames : pending_) frames.reserve(256);
}

void SendQueue::Add(size_t port, TxFrame frame) {
  pending_[port].push_back(frame);
  ++queued_;
}

void SendQueue::Flush(Logger* logger) {
  if (queued_ == 0) return;
  for (size_t port = 0; port < pending_.size(); ++port) {
    std::vector<TxFrame>& frames = pending_[port];
    if (frames.empty()) continue;
    Port& p = *ports_[port];
    Result<size_t> sent = p.Send(frames);
    if (logger != nullptr && !sent) {
      logger->Debug(p.name(), "send of {} frames failed: {}", frames.size(),
                    sent.error().message());
    } else if (logger != nullptr && *sent < frames.size()) {
      logger->Debug(p.name(), "send queue full: {} of {} frames not sent", frames.size() - *sent,
                    frames.size());
    }
    frames.clear();
  }
  queued_ = 0;
  ++batch_;
}

}  // namespace aoe::initiator
