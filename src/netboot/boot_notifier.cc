#include "netboot/boot_notifier.h"

#include <utility>

namespace aoe::netboot {

BootNotifier::BootNotifier(std::function<void(const MacAddress&)> deliver, Logger& log)
    : deliver_(std::move(deliver)), log_(log) {}

BootNotifier::~BootNotifier() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void BootNotifier::Notify(const MacAddress& client) {
  {
    std::lock_guard lock(mutex_);
    if (waiting_.contains(client)) return;
    if (queue_.size() >= kMaxWaiting) {
      ++dropped_;
      return;
    }
    queue_.push_back(client);
    waiting_.insert(client);
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  }
  work_.notify_one();
}

void BootNotifier::WaitIdle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return (queue_.empty() && !delivering_) || stopping_; });
}

void BootNotifier::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const MacAddress client = queue_.front();
    queue_.pop_front();
    waiting_.erase(client);
    delivering_ = true;
    lock.unlock();
    deliver_(client);
    lock.lock();
    delivering_ = false;
    if (queue_.empty()) {
      if (dropped_ > 0) {
        log_.Warn("netboot", "{} boot notices were dropped: more than {} clients were waiting",
                  dropped_, kMaxWaiting);
        dropped_ = 0;
      }
      idle_.notify_all();
    }
  }
}

}  // namespace aoe::netboot
