#include "initiator/unsettled_writes.h"

namespace aoe::initiator {

UnsettledWrites::UnsettledWrites(size_t reserve) {
  copies_.reserve(reserve);
  free_.reserve(reserve);
}

std::optional<uint32_t> UnsettledWrites::Add(uint64_t lba, uint64_t sectors, uint32_t tag,
                                             TimePoint gone_at) {
  uint32_t index = 0;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else if (copies_.size() < kMaxCopies) {
    index = static_cast<uint32_t>(copies_.size());
    copies_.emplace_back();
  } else {
    hold_all_until_ = std::max(hold_all_until_, gone_at);
    return std::nullopt;
  }
  copies_[index] = Copy{lba, sectors, tag, gone_at, true};
  ++live_;
  return index;
}

bool UnsettledWrites::Settle(uint32_t index, uint32_t tag) {
  if (index >= copies_.size() || !copies_[index].live || copies_[index].tag != tag) return false;
  copies_[index].live = false;
  free_.push_back(index);
  --live_;
  return true;
}

void UnsettledWrites::Expire(TimePoint now, const std::function<void(uint32_t tag)>& release) {
  if (hold_all_until_ != TimePoint{} && hold_all_until_ <= now) hold_all_until_ = TimePoint{};
  if (live_ == 0) return;
  for (uint32_t i = 0; i < copies_.size(); ++i) {
    Copy& c = copies_[i];
    if (!c.live || c.gone_at > now) continue;
    c.live = false;
    free_.push_back(i);
    --live_;
    release(c.tag);
  }
}

bool UnsettledWrites::HoldsBack(uint64_t lba, uint64_t sectors, TimePoint now) const {
  if (now < hold_all_until_) return true;
  if (live_ == 0) return false;
  for (const Copy& c : copies_) {
    if (c.live && c.gone_at > now && lba < c.lba + c.sectors && c.lba < lba + sectors) return true;
  }
  return false;
}

std::optional<TimePoint> UnsettledWrites::NextExpiry() const {
  std::optional<TimePoint> next;
  if (hold_all_until_ != TimePoint{}) next = hold_all_until_;
  if (live_ == 0) return next;
  for (const Copy& c : copies_) {
    if (c.live && (!next || c.gone_at < *next)) next = c.gone_at;
  }
  return next;
}

}  // namespace aoe::initiator
