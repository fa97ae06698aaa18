#include "net/memory_port.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <tuple>

#include "net/fanout.h"

namespace aoe {

// ---- MemoryWire -------------------------------------------------------------------------------

MemoryWire::~MemoryWire() { assert(ports_.empty() && "destroy MemoryPorts before their wire"); }

void MemoryWire::SetFaults(const FaultConfig& faults) {
  std::lock_guard lock(mutex_);
  faults_ = faults;
  rng_.seed(faults.seed);
}

void MemoryWire::FlushHeld() {
  std::lock_guard lock(mutex_);
  if (!held_) return;
  Frame held = std::move(*held_);
  held_.reset();
  DeliverLocked(held.sender, held.bytes);
}

WireStats MemoryWire::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void MemoryWire::SetClock(const Clock& clock) {
  std::lock_guard lock(mutex_);
  clock_ = &clock;
}

void MemoryWire::DelayNext(Duration delay, std::function<bool(ConstByteSpan frame)> match) {
  std::lock_guard lock(mutex_);
  delay_next_ = DelayRequest{delay, std::move(match)};
}

void MemoryWire::DeliverDue() {
  std::lock_guard lock(mutex_);
  DeliverDueLocked();
}

std::optional<TimePoint> MemoryWire::NextDue() const {
  std::lock_guard lock(mutex_);
  std::optional<TimePoint> next;
  for (const DelayedFrame& d : delayed_) {
    if (!next || d.due < *next) next = d.due;
  }
  return next;
}

void MemoryWire::DelayLocked(const MemoryPort* sender, ConstByteSpan frame, Duration delay) {
  assert(clock_ != nullptr && "delays need MemoryWire::SetClock");
  ++stats_.delayed;
  delayed_.push_back(
      DelayedFrame{clock_->Now() + delay, delayed_order_++,
                   Frame{sender, std::vector<std::byte>(frame.begin(), frame.end())}});
}

void MemoryWire::DeliverDueLocked() {
  if (delayed_.empty()) return;
  const TimePoint now = clock_->Now();
  while (true) {
    auto next = delayed_.end();
    for (auto it = delayed_.begin(); it != delayed_.end(); ++it) {
      if (it->due > now) continue;
      if (next == delayed_.end() ||
          std::tie(it->due, it->order) < std::tie(next->due, next->order)) {
        next = it;
      }
    }
    if (next == delayed_.end()) return;
    Frame frame = std::move(next->frame);
    delayed_.erase(next);
    DeliverLocked(frame.sender, frame.bytes);
  }
}

void MemoryWire::Attach(MemoryPort* port) {
  std::lock_guard lock(mutex_);
  ports_.push_back(port);
}

void MemoryWire::Detach(MemoryPort* port) {
  std::lock_guard lock(mutex_);
  std::erase(ports_, port);
  if (port->fanout_group_ != 0) {
    // As the kernel does (__fanout_unlink): the last member takes the leaver's place.
    std::vector<MemoryPort*>& members = fanout_groups_[port->fanout_group_].members;
    auto at = std::find(members.begin(), members.end(), port);
    *at = members.back();
    members.pop_back();
    if (members.empty()) fanout_groups_.erase(port->fanout_group_);
  }
  // A held frame must not outlive its sender's pointer; it is simply lost, as on a real wire.
  if (held_ && held_->sender == port) held_.reset();
  std::erase_if(delayed_, [port](const DelayedFrame& d) { return d.frame.sender == port; });
}

double MemoryWire::DrawLocked() {
  // The top 53 bits of a 64-bit draw give a uniform double in [0, 1). std::mt19937_64's output
  // is fully specified by the standard, unlike std::uniform_real_distribution's.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

void MemoryWire::TransmitLocked(const MemoryPort* sender, ConstByteSpan frame) {
  // Frames whose delay is over were sent earlier: they arrive first.
  DeliverDueLocked();
  ++stats_.frames_sent;
  // Always draw all three numbers so that one frame's fate never shifts the next frame's draws
  // (and the fourth whenever delays are configured).
  double drop_draw = DrawLocked();
  double reorder_draw = DrawLocked();
  double duplicate_draw = DrawLocked();
  double delay_draw = faults_.delay_probability > 0 ? DrawLocked() : 1.0;
  const bool delay_this = delay_next_ && (!delay_next_->match || delay_next_->match(frame));

  // A frame held back earlier goes out after this one, whatever happens to this one.
  std::optional<Frame> previously_held = std::move(held_);
  held_.reset();

  if (faults_.max_frame_bytes != 0 && frame.size() > faults_.max_frame_bytes) {
    ++stats_.dropped;
  } else if (delay_this) {
    Duration delay = delay_next_->delay;
    delay_next_.reset();
    DelayLocked(sender, frame, delay);
  } else if (drop_draw < faults_.drop_probability) {
    ++stats_.dropped;
  } else if (delay_draw < faults_.delay_probability) {
    DelayLocked(sender, frame, faults_.delay);
  } else if (!previously_held && reorder_draw < faults_.reorder_probability) {
    ++stats_.reordered;
    held_ = Frame{sender, std::vector<std::byte>(frame.begin(), frame.end())};
  } else {
    DeliverLocked(sender, frame);
    if (duplicate_draw < faults_.duplicate_probability) {
      ++stats_.duplicated;
      DeliverLocked(sender, frame);
    }
  }
  if (previously_held) DeliverLocked(previously_held->sender, previously_held->bytes);
}

void MemoryWire::DeliverLocked(const MemoryPort* sender, ConstByteSpan frame) {
  MacAddress destination = MacAddress::Load(frame, 0);
  for (MemoryPort* port : ports_) {
    if (port == sender) continue;
    if (!destination.is_multicast() && destination != port->mac_) continue;
    if (port->fanout_group_ != 0) {
      const FanoutGroup& group = fanout_groups_.at(port->fanout_group_);
      if (group.members[FanoutMember(frame, group.members.size(), group.first)] != port) continue;
    }
    port->OfferLocked(frame);
  }
}

// ---- MemoryPort -------------------------------------------------------------------------------

Result<std::unique_ptr<MemoryPort>> MemoryPort::Create(MemoryWire& wire, Options options) {
  UniqueFd event_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!event_fd) return Errno();
  std::unique_ptr<MemoryPort> port(new MemoryPort(wire, std::move(options), std::move(event_fd)));
  wire.Attach(port.get());
  return port;
}

MemoryPort::MemoryPort(MemoryWire& wire, Options options, UniqueFd event_fd)
    : wire_(wire),
      name_(std::move(options.name)),
      event_fd_(std::move(event_fd)),
      mac_(options.mac),
      role_(options.role),
      mtu_(options.mtu),
      rx_queue_frames_(options.rx_queue_frames) {}

MemoryPort::~MemoryPort() { wire_.Detach(this); }

Result<uint16_t> MemoryPort::JoinFanout(uint16_t group) {
  std::lock_guard lock(wire_.mutex_);
  if (fanout_group_ != 0) return Errno(EINVAL);
  if (group == 0) {
    group = 1;
    while (wire_.fanout_groups_.contains(group)) ++group;
  } else {
    auto members = wire_.fanout_groups_.find(group);
    if (members == wire_.fanout_groups_.end() || members->second.members.front()->name_ != name_) {
      return Errno(EINVAL);
    }
  }
  wire_.fanout_groups_[group].members.push_back(this);
  fanout_group_ = group;
  return group;
}

Result<void> MemoryPort::SetFanoutFirstDisks(std::span<const FanoutDisk> first) {
  std::lock_guard lock(wire_.mutex_);
  if (fanout_group_ == 0 || first.size() > kMaxFanoutFirstDisks) return Errno(EINVAL);
  wire_.fanout_groups_.at(fanout_group_).first.assign(first.begin(), first.end());
  return {};
}

MacAddress MemoryPort::mac() const {
  std::lock_guard lock(wire_.mutex_);
  return mac_;
}

size_t MemoryPort::mtu() const {
  std::lock_guard lock(wire_.mutex_);
  return mtu_;
}

bool MemoryPort::link_up() const {
  std::lock_guard lock(wire_.mutex_);
  return link_up_ && present_;
}

Result<void> MemoryPort::Refresh() {
  std::lock_guard lock(wire_.mutex_);
  if (!present_) return Errno(ENODEV);
  return {};
}

Result<size_t> MemoryPort::Receive(std::span<RxSlot> slots) {
  std::lock_guard lock(wire_.mutex_);
  size_t count = 0;
  while (count < slots.size() && !queue_.empty()) {
    const std::vector<std::byte>& frame = queue_.front();
    RxSlot& slot = slots[count];
    slot.length = std::min(frame.size(), slot.buffer.size());
    slot.truncated = frame.size() > slot.buffer.size();
    if (slot.length != 0) std::memcpy(slot.buffer.data(), frame.data(), slot.length);
    queue_.pop_front();
    ++count;
  }
  SyncEventFdLocked();
  return count;
}

Result<size_t> MemoryPort::Send(std::span<const TxFrame> frames) {
  std::lock_guard lock(wire_.mutex_);
  for (const TxFrame& pieces : frames) {
    // The wire carries frames in one piece.
    ConstByteSpan frame = pieces.head;
    if (!pieces.tail.empty()) {
      joined_.assign(pieces.head.begin(), pieces.head.end());
      joined_.insert(joined_.end(), pieces.tail.begin(), pieces.tail.end());
      frame = joined_;
    }
    if (!present_ || !link_up_ || frame.size() < kEthernetHeaderBytes) {
      ++stats_.tx_dropped;
    } else if (frame.size() > mtu_ + kEthernetHeaderBytes) {
      ++stats_.tx_oversize;
    } else {
      ++stats_.tx_frames;
      wire_.TransmitLocked(this, frame);
    }
  }
  return frames.size();
}

void MemoryPort::OfferLocked(ConstByteSpan frame) {
  if (!present_ || !link_up_) return;
  if (frame.size() > mtu_ + kEthernetHeaderBytes) {
    ++stats_.rx_oversize;
    return;
  }
  if (!AcceptsFrame(role_, frame)) {
    ++stats_.rx_filtered;
    return;
  }
  if (queue_.size() >= rx_queue_frames_) {
    ++stats_.rx_overflow;
    return;
  }
  ++stats_.rx_frames;
  queue_.emplace_back(frame.begin(), frame.end());
  SyncEventFdLocked();
}

void MemoryPort::SyncEventFdLocked() {
  bool want_readable = !queue_.empty();
  if (want_readable == event_fd_readable_) return;
  uint64_t value = 1;
  // An eventfd is readable while its counter is non-zero; write sets it, read clears it. Neither
  // can fail here (counter far from overflow, fd non-blocking and known non-zero on read).
  ssize_t done = want_readable ? write(event_fd_.get(), &value, sizeof(value))
                               : read(event_fd_.get(), &value, sizeof(value));
  assert(done == static_cast<ssize_t>(sizeof(value)));
  (void)done;
  event_fd_readable_ = want_readable;
}

void MemoryPort::set_mtu(size_t mtu) {
  std::lock_guard lock(wire_.mutex_);
  mtu_ = mtu;
}

void MemoryPort::set_link_up(bool up) {
  std::lock_guard lock(wire_.mutex_);
  link_up_ = up;
}

void MemoryPort::set_mac(MacAddress mac) {
  std::lock_guard lock(wire_.mutex_);
  mac_ = mac;
}

void MemoryPort::set_role(PortRole role) {
  std::lock_guard lock(wire_.mutex_);
  role_ = role;
}

void MemoryPort::set_present(bool present) {
  std::lock_guard lock(wire_.mutex_);
  present_ = present;
}

MemoryPortStats MemoryPort::stats() const {
  std::lock_guard lock(wire_.mutex_);
  return stats_;
}

size_t MemoryPort::queued_frames() const {
  std::lock_guard lock(wire_.mutex_);
  return queue_.size();
}

}  // namespace aoe
