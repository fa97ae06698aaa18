#include "initiator/unsettled_writes.h"

#include <algorithm>

namespace aoe::initiator {

UnsettledWrites::UnsettledWrites(size_t reserve) : buckets_(kBuckets, kNone) {
  copies_.reserve(reserve);
  free_.reserve(reserve);
}

std::optional<uint32_t> UnsettledWrites::Add(uint64_t lba, uint64_t sectors, uint32_t tag,
                                             TimePoint gone_at) {
  // Never before the copy added earlier: keeps expiries_ in gone_at order (see the header).
  gone_at = std::max(gone_at, last_gone_at_);
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
  last_gone_at_ = gone_at;
  Copy& c = copies_[index];
  c.lba = lba;
  c.sectors = sectors;
  c.tag = tag;
  ++c.generation;
  c.gone_at = gone_at;
  c.live = true;
  uint32_t& head = buckets_[Bucket(lba >> kBlockShift)];
  c.prev = kNone;
  c.next = head;
  if (head != kNone) copies_[head].prev = index;
  head = index;
  expiries_.push_back(Expiry{index, c.generation});
  max_sectors_ = std::max(max_sectors_, sectors);
  ++live_;
  return index;
}

void UnsettledWrites::Unlink(uint32_t index) {
  Copy& c = copies_[index];
  if (c.prev != kNone) {
    copies_[c.prev].next = c.next;
  } else {
    buckets_[Bucket(c.lba >> kBlockShift)] = c.next;
  }
  if (c.next != kNone) copies_[c.next].prev = c.prev;
  c.prev = c.next = kNone;
  c.live = false;
  free_.push_back(index);
  --live_;
}

void UnsettledWrites::PruneExpiries() {
  while (!expiries_.empty()) {
    const Copy& c = copies_[expiries_.front().index];
    if (c.live && c.generation == expiries_.front().generation) return;
    expiries_.pop_front();
  }
}

bool UnsettledWrites::Settle(uint32_t index, uint32_t tag) {
  if (index >= copies_.size() || !copies_[index].live || copies_[index].tag != tag) return false;
  Unlink(index);
  PruneExpiries();
  return true;
}

void UnsettledWrites::Expire(TimePoint now, const std::function<void(uint32_t tag)>& release) {
  if (hold_all_until_ != TimePoint{} && hold_all_until_ <= now) hold_all_until_ = TimePoint{};
  PruneExpiries();
  while (!expiries_.empty() && copies_[expiries_.front().index].gone_at <= now) {
    const uint32_t index = expiries_.front().index;
    expiries_.pop_front();
    const uint32_t tag = copies_[index].tag;
    Unlink(index);
    release(tag);
    PruneExpiries();
  }
}

bool UnsettledWrites::HoldsBack(uint64_t lba, uint64_t sectors, TimePoint now) const {
  if (now < hold_all_until_) return true;
  if (live_ == 0) return false;
  // An overlapping copy starts before the write ends and at most max_sectors_ - 1 before it.
  const uint64_t first = (lba >= max_sectors_ ? lba - max_sectors_ + 1 : 0) >> kBlockShift;
  const uint64_t last = (lba + sectors - 1) >> kBlockShift;
  const uint64_t blocks = std::min<uint64_t>(last - first + 1, kBuckets);
  for (uint64_t b = 0; b < blocks; ++b) {
    for (uint32_t i = buckets_[Bucket(first + b)]; i != kNone; i = copies_[i].next) {
      const Copy& c = copies_[i];
      if (c.gone_at > now && lba < c.lba + c.sectors && c.lba < lba + sectors) return true;
    }
  }
  return false;
}

std::optional<TimePoint> UnsettledWrites::NextExpiry() const {
  std::optional<TimePoint> next;
  if (hold_all_until_ != TimePoint{}) next = hold_all_until_;
  // Pruned after every change, so the front is live.
  if (!expiries_.empty()) {
    const TimePoint t = copies_[expiries_.front().index].gone_at;
    if (!next || t < *next) next = t;
  }
  return next;
}

}  // namespace aoe::initiator
