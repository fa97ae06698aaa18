// Initiator (initiator.h): its ports, the dispatch of received frames to disks and exchanges by
// tag, the table of disks learnt from config replies (and their periodic re-discovery), timers,
// and the callbacks run at the end of each public call. Disk I/O is in disk.cc, admin exchanges
// in admin_exchanges.cc.
#include "initiator/initiator.h"

#include <fmt/format.h>

#include <algorithm>

#include "initiator/messages.h"

namespace aoe::initiator {
namespace {

// Frames received per Receive() call (one recvmmsg on the socket path, PacketPort's largest
// batch). The frames the replies of one batch free room for leave together after it
// (SendQueue), so a batch is as large as a window.
constexpr size_t kRxBatch = 64;
// Receive batches one OnReadable handles before it returns (1,024 frames).
constexpr int kRxRounds = 16;
constexpr size_t kMinRxSlotBytes = 9216 + proto::kEthernetHeaderSize;
// An MTU raised while the initiator runs is used up to this (FrameMtu): the receive slots above
// and a ring port's frames (RingPacketPort) take frames of it.
constexpr size_t kJumboMtu = 9000;
constexpr Duration kPortRefreshInterval = std::chrono::seconds(1);

}  // namespace

Initiator::Initiator(Clock& clock, std::vector<Port*> ports, InitiatorOptions options)
    : clock_(clock),
      ports_(std::move(ports)),
      options_(std::move(options)),
      tags_(options_.tag_session.value_or(TagTable::RandomSession())) {
  size_t slot_bytes = kMinRxSlotBytes;
  for (const Port* p : ports_) {
    slot_bytes = std::max(slot_bytes, p->mtu() + proto::kEthernetHeaderSize);
    open_mtus_.push_back(p->mtu());
    frame_mtus_.push_back(p->mtu());
  }
  rx_storage_.resize(slot_bytes * kRxBatch);
  rx_slots_.resize(kRxBatch);
  for (size_t i = 0; i < kRxBatch; ++i) {
    rx_slots_[i].buffer = ByteSpan(rx_storage_).subspan(i * slot_bytes, slot_bytes);
  }
}

Initiator::~Initiator() = default;

std::vector<int> Initiator::fds() const {
  std::vector<int> out;
  for (const Port* p : ports_) {
    if (p->fd() >= 0) out.push_back(p->fd());
  }
  return out;
}

std::optional<TimePoint> Initiator::NextDeadline() const {
  std::optional<TimePoint> next;
  auto consider = [&](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& d : disks_) {
    if (auto t = d->NextDeadline()) consider(*t);
  }
  if (!lingering_tags_.empty()) consider(lingering_tags_.front().gone_at);
  for (const ExchangeState& ex : exchanges_) {
    if (!ex.live) continue;
    consider(ex.deadline);
    if (ex.resend_interval > Duration::zero()) consider(ex.next_resend);
  }
  return next;
}

size_t Initiator::OnReadable(int fd) {
  Batch batch(*this);
  size_t total = 0;
  for (size_t port = 0; port < ports_.size(); ++port) {
    if (ports_[port]->fd() != fd) continue;
    // Bounded so that one busy port cannot starve the others and the timers.
    for (int round = 0; round < kRxRounds; ++round) {
      Result<size_t> n = ports_[port]->Receive(rx_slots_);
      if (!n || *n == 0) break;
      for (size_t i = 0; i < *n; ++i) {
        const RxSlot& s = rx_slots_[i];
        if (!s.truncated) HandleFrame(port, ConstByteSpan(s.buffer.data(), s.length));
      }
      total += *n;
      // The frames these replies freed room for go out before the next batch is read, so the
      // target is not left idle while a long queue of replies drains.
      FlushSends();
    }
  }
  return total;
}

size_t Initiator::OnTimer() {
  Batch batch(*this);
  TimePoint now = clock_.Now();
  size_t fired = 0;
  for (uint32_t slot = 0; slot < exchanges_.size(); ++slot) {
    ExchangeState& ex = exchanges_[slot];
    if (!ex.live) continue;
    if (now >= ex.deadline) {
      ++fired;
      if (ex.collect) {
        std::function<void()> end = std::move(ex.on_end);
        FinishExchange(slot);
        if (end) Defer(std::move(end));
      } else {
        Error e(InitiatorErrc::kTimeout,
                fmt::format("no reply from {} to {} within {}", ex.address.ToString(), ex.what,
                            FormatDuration(ex.timeout)));
        auto done = std::move(ex.on_done);
        FinishExchange(slot);
        if (done) Defer([done = std::move(done), e = std::move(e)] { done(e); });
      }
    } else if (ex.resend_interval > Duration::zero() && now >= ex.next_resend) {
      ++fired;
      ex.next_resend = now + ex.resend_interval;
      SendExchange(ex);
    }
  }
  while (!lingering_tags_.empty() && lingering_tags_.front().gone_at <= now) {
    tags_.Release(lingering_tags_.front().tag);
    lingering_tags_.pop_front();
  }
  for (size_t i = 0; i < disks_.size(); ++i) {
    std::optional<TimePoint> t = disks_[i]->NextDeadline();
    if (t && *t <= now) {
      ++fired;
      disks_[i]->OnTimer(now);
    }
  }
  return fired;
}

size_t Initiator::FrameMtu(size_t port) const {
  return std::min(ports_[port]->mtu(), std::max(open_mtus_[port], kJumboMtu));
}

void Initiator::RefreshPorts(TimePoint now) {
  if (ports_refreshed_at_ && now - *ports_refreshed_at_ < kPortRefreshInterval) return;
  ports_refreshed_at_ = now;
  for (size_t port = 0; port < ports_.size(); ++port) {
    (void)ports_[port]->Refresh();  // a missing interface keeps its last MTU
    const size_t mtu = FrameMtu(port);
    if (mtu != frame_mtus_[port] && options_.logger) {
      options_.logger->Info(ports_[port]->name(), "MTU {} (was {}): frames are sized again", mtu,
                            frame_mtus_[port]);
    }
    frame_mtus_[port] = mtu;
  }
  // Every time, not only on a change seen here: a port whose MTU() is read live (MemoryPort)
  // may have changed since the disk last sized its frames.
  for (const auto& d : disks_) d->RecomputeSectorsPerFrame();
}

size_t Initiator::Poll() {
  Batch batch(*this);
  size_t n = 0;
  for (Port* p : ports_) {
    if (p->fd() >= 0) n += OnReadable(p->fd());
  }
  if (auto t = NextDeadline(); t && *t <= clock_.Now()) n += OnTimer();
  return n;
}

void Initiator::HandleFrame(size_t port, ConstByteSpan frame) {
  std::optional<proto::Header> h = proto::DecodeHeader(frame);
  if (!h || !h->is_response()) return;
  // A target's own address is never a wildcard (Linux drops these too).
  if (h->shelf == proto::kWildcardShelf || h->slot == proto::kWildcardSlot) {
    ++unmatched_replies_;
    return;
  }
  DiskAddress address{h->shelf, h->slot};
  if (std::optional<uint32_t> owner = tags_.Find(h->tag)) {
    if (*owner == kLingeringExchange) {  // late or duplicate: its exchange is over
      ++unmatched_replies_;
      return;
    }
    uint32_t kind = *owner & 0xC000'0000;
    if (kind == kKindFrame) {
      uint32_t disk_id = (*owner >> 16) & 0x3FFF;
      Disk& d = *disks_[disk_id];
      if (d.address() != address || h->command != static_cast<uint8_t>(proto::Command::kAta)) {
        ++unmatched_replies_;
        return;
      }
      d.OnReply(*owner & 0xFFFF, h->tag, port, h->source, frame);
      return;
    }
    uint32_t slot = *owner & 0xFFFF;
    const ExchangeState& sent = exchanges_[slot];
    bool port_ok = std::find(sent.ports.begin(), sent.ports.end(), port) != sent.ports.end();
    bool address_ok =
        (sent.address.shelf == proto::kWildcardShelf || sent.address.shelf == h->shelf) &&
        (sent.address.slot == proto::kWildcardSlot || sent.address.slot == h->slot);
    bool source_ok = sent.destination.is_broadcast() || sent.destination == h->source;
    if (!sent.live || !port_ok || !address_ok || !source_ok || h->command != sent.command) {
      ++unmatched_replies_;
      return;
    }
    if (h->command == static_cast<uint8_t>(proto::Command::kConfig)) {
      HandleConfigReply(port, *h, frame);
    }
    // Learning a path may start exchanges (a new path's IDENTIFY), which can move exchanges_.
    ExchangeState& ex = exchanges_[slot];
    if (ex.collect) {
      if (ex.on_reply) ex.on_reply(port, frame);
      return;
    }
    auto done = std::move(ex.on_done);
    FinishExchange(slot);
    std::vector<std::byte> bytes(frame.begin(), frame.end());
    Defer([done = std::move(done), bytes = std::move(bytes)]() mutable { done(std::move(bytes)); });
    return;
  }
  // Raw exchanges use the caller's tag, so they are matched by value.
  for (uint32_t slot = 0; slot < exchanges_.size(); ++slot) {
    ExchangeState& ex = exchanges_[slot];
    if (!ex.live || ex.ours || ex.tag != h->tag || ex.ports.front() != port) continue;
    if ((ex.address.shelf != proto::kWildcardShelf && ex.address.shelf != h->shelf) ||
        (ex.address.slot != proto::kWildcardSlot && ex.address.slot != h->slot)) {
      continue;
    }
    auto done = std::move(ex.on_done);
    FinishExchange(slot);
    std::vector<std::byte> bytes(frame.begin(), frame.end());
    Defer([done = std::move(done), bytes = std::move(bytes)]() mutable { done(std::move(bytes)); });
    return;
  }
  // Unsolicited announcements (vblade and `aoe serve` broadcast one at start, tag 0) teach us
  // about targets just like replies to our own queries.
  if (h->tag == 0 && h->command == static_cast<uint8_t>(proto::Command::kConfig)) {
    HandleConfigReply(port, *h, frame);
    // A target announces itself at start: it may be a new process that forgot that we flush.
    if (Disk* d = disk(address)) d->TargetAnnounced(port, h->source);
    return;
  }
  // A late or duplicate reply to one of our frames still proves the path works.
  if (tags_.IsOurs(h->tag) && h->command == static_cast<uint8_t>(proto::Command::kAta)) {
    if (Disk* d = disk(address)) d->NoteReply(port, h->source);
  }
  ++unmatched_replies_;
}

void Initiator::Rediscover(DiskAddress address) {
  // Replies update the disk in HandleFrame.
  ExchangeState ex =
      BroadcastConfigQuery(address, std::chrono::seconds(1), Duration::zero(), "re-discovery");
  StartExchange(std::move(ex));
}

void Initiator::HandleConfigReply(size_t port, const proto::Header& header, ConstByteSpan frame) {
  if (header.is_error()) return;
  std::optional<proto::ConfigArg> config = proto::DecodeConfig(frame);
  if (!config) return;
  Disk* d = GetOrCreateDisk(DiskAddress{header.shelf, header.slot});
  if (d != nullptr) d->LearnPath(port, header.source, *config);
}

Disk* Initiator::GetOrCreateDisk(DiskAddress address) {
  if (auto it = disk_ids_.find(address); it != disk_ids_.end()) return disks_[it->second].get();
  if (disks_.size() >= 0x4000) return nullptr;  // the tag owner cookie has 14 bits for it
  auto id = static_cast<uint16_t>(disks_.size());
  disks_.push_back(std::unique_ptr<Disk>(new Disk(*this, id, address)));
  disk_ids_.emplace(address, id);
  return disks_.back().get();
}

Disk* Initiator::disk(DiskAddress address) {
  auto it = disk_ids_.find(address);
  return it == disk_ids_.end() ? nullptr : disks_[it->second].get();
}

std::vector<TargetInfo> Initiator::targets() const {
  std::vector<TargetInfo> out;
  for (const auto& [address, id] : disk_ids_) out.push_back(disks_[id]->info());
  return out;
}

void Initiator::Defer(std::function<void()> fn) { completions_.push_back(std::move(fn)); }

void Initiator::FlushSends() { sends_.Flush(options_.logger); }

void Initiator::DrainCompletions() {
  if (in_batch_) return;  // nested: the outermost call drains
  in_batch_ = true;
  for (size_t i = 0; i < completions_.size(); ++i) {
    std::function<void()> fn = std::move(completions_[i]);
    fn();
  }
  completions_.clear();
  // The callbacks may have submitted more: everything this call produced leaves together.
  FlushSends();
  in_batch_ = false;
}

}  // namespace aoe::initiator
