#include "initiator/initiator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "proto/ata.h"
#include "proto/identify.h"

namespace aoe::initiator {
namespace {

// Frames received per Receive() call (one recvmmsg on the socket path, PacketPort's largest
// batch). The frames the
// replies of one batch free room for leave together after it (SendQueue), so a batch is as large
// as a window.
constexpr size_t kRxBatch = 64;
// Receive batches one OnReadable handles before it returns (1,024 frames).
constexpr int kRxRounds = 16;
// A frame that timed out this many times backs off even when the path works for others.
constexpr uint32_t kBackoffAfterRetries = 4;
constexpr size_t kMinRxSlotBytes = 9216 + proto::kEthernetHeaderSize;
// Any of these ATA status bits means the command failed (as the Linux driver checks, 0xA9).
constexpr uint8_t kAtaFailureBits =
    proto::kAtaStatusBusy | proto::kAtaStatusFault | proto::kAtaStatusDrq | proto::kAtaStatusError;
// ATA IDENTIFY word numbers (see proto/identify.h).
constexpr size_t kWordSerial = 10, kSerialWords = 10;
constexpr size_t kWordFirmware = 23, kFirmwareWords = 4;
constexpr size_t kWordModel = 27, kModelWords = 20;

std::string FormatDuration(Duration d) {
  using namespace std::chrono;
  if (d % seconds(1) == Duration::zero())
    return fmt::format("{} s", duration_cast<seconds>(d).count());
  return fmt::format("{} ms", duration_cast<milliseconds>(d).count());
}

std::string_view AoeErrorName(proto::AoeError e) {
  switch (e) {
    case proto::AoeError::kNone:
      return "no error code";
    case proto::AoeError::kUnrecognizedCommand:
      return "unrecognized command";
    case proto::AoeError::kBadArgument:
      return "bad argument";
    case proto::AoeError::kDeviceUnavailable:
      return "device unavailable";
    case proto::AoeError::kConfigStringPresent:
      return "config string already set";
    case proto::AoeError::kUnsupportedVersion:
      return "unsupported AoE version";
    case proto::AoeError::kTargetReserved:
      return "target reserved by another host";
  }
  return "unknown error";
}

std::string AtaErrorBits(uint8_t error) {
  std::string out;
  auto add = [&](std::string_view s) {
    if (!out.empty()) out += ", ";
    out += s;
  };
  if (error & proto::kAtaErrorIdNotFound) add("IDNF: sector not found");
  if (error & proto::kAtaErrorUncorrectable) add("UNC: uncorrectable media error");
  if (error & proto::kAtaErrorAbort) add("ABRT: command aborted");
  return out;
}

// The error for an admin reply with the AoE error flag set.
Error AdminAoeError(DiskAddress address, std::string_view what, proto::AoeError code,
                    std::string_view detail = {}) {
  InitiatorErrc errc = code == proto::AoeError::kTargetReserved ? InitiatorErrc::kTargetReserved
                                                                : InitiatorErrc::kAoeError;
  return Error(errc, fmt::format("{} refused {}: {} (AoE error {}){}", address.ToString(), what,
                                 AoeErrorName(code), static_cast<int>(code), detail));
}

ConstByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

// ============================================================================================
// Disk
// ============================================================================================

Disk::Disk(Initiator& owner, uint16_t id, DiskAddress address)
    : owner_(owner), id_(id), unsettled_(owner.options_.max_frames_per_disk * kMaxTransmissions) {
  assert(owner.options_.max_frames_per_disk <= kCopyBit);
  info_.address = address;
  next_rediscover_ = owner.clock_.Now() + owner.options_.rediscover_interval;
  // Reserve every slot now: frames_ never reallocates, so Frame references stay valid and the
  // data path allocates nothing once the frame buffers have grown to the frame size.
  frames_.reserve(owner.options_.max_frames_per_disk);
}

Disk::~Disk() = default;

void Disk::Read(uint64_t lba, ByteSpan buffer, IoCallback done) {
  if (buffer.empty() || buffer.size() % proto::kSectorSize != 0) {
    owner_.Defer([done = std::move(done), a = info_.address, n = buffer.size()] {
      done(Error(InitiatorErrc::kInvalidArgument,
                 fmt::format("{}: read of {} bytes: size must be a non-zero multiple of 512",
                             a.ToString(), n)));
    });
    owner_.DrainCompletions();
    return;
  }
  Submit(Op::kRead, lba, buffer.size() / proto::kSectorSize, buffer.data(), std::move(done), {});
}

void Disk::Write(uint64_t lba, ConstByteSpan data, IoCallback done) {
  if (data.empty() || data.size() % proto::kSectorSize != 0) {
    owner_.Defer([done = std::move(done), a = info_.address, n = data.size()] {
      done(Error(InitiatorErrc::kInvalidArgument,
                 fmt::format("{}: write of {} bytes: size must be a non-zero multiple of 512",
                             a.ToString(), n)));
    });
    owner_.DrainCompletions();
    return;
  }
  // The source is only read; Request keeps one pointer type for both directions.
  Submit(Op::kWrite, lba, data.size() / proto::kSectorSize, const_cast<std::byte*>(data.data()),
         std::move(done), {});
}

void Disk::Flush(IoCallback done) { Submit(Op::kFlush, 0, 0, nullptr, std::move(done), {}); }

void Disk::Identify(IdentifyCallback done) {
  Submit(Op::kIdentify, 0, 1, nullptr, {}, std::move(done));
}

void Disk::Trim(uint64_t lba, uint64_t sectors, IoCallback done) {
  if (sectors == 0 || sectors > kMaxTrimSectors) {
    owner_.Defer([done = std::move(done), a = info_.address, sectors] {
      done(Error(InitiatorErrc::kInvalidArgument,
                 fmt::format("{}: trim of {} sectors: must be 1 to {} per command", a.ToString(),
                             sectors, kMaxTrimSectors)));
    });
    owner_.DrainCompletions();
    return;
  }
  Submit(Op::kTrim, lba, sectors, nullptr, std::move(done), {});
}

void Disk::Abort(const std::string& why) {
  FailAll(InitiatorErrc::kCancelled, why);
  owner_.DrainCompletions();
}

void Disk::Submit(Op op, uint64_t lba, uint64_t sectors, std::byte* data, IoCallback done,
                  IdentifyCallback identify_done) {
  if (op == Op::kRead || op == Op::kWrite || op == Op::kTrim) {
    uint64_t capacity = info_.identify ? info_.identify->sector_count : proto::kLba48Mask + 1;
    if (lba > capacity || sectors > capacity - lba) {
      std::string msg =
          fmt::format("{}: {} of sectors {}-{} is beyond the end of the disk ({} sectors)",
                      info_.address.ToString(),
                      op == Op::kRead    ? "READ"
                      : op == Op::kWrite ? "WRITE"
                                         : "TRIM",
                      lba, lba + sectors - 1, capacity);
      owner_.Defer([done = std::move(done), msg = std::move(msg)] {
        done(Error(InitiatorErrc::kOutOfRange, msg));
      });
      owner_.DrainCompletions();
      return;
    }
  }
  Request& r = requests_.emplace_back();
  r.self = std::prev(requests_.end());
  r.op = op;
  r.lba = lba;
  r.sectors = sectors;
  r.data = data;
  r.done = std::move(done);
  r.identify_done = std::move(identify_done);
  if (op == Op::kIdentify || op == Op::kTrim) {
    r.identify_page = std::make_unique<std::array<std::byte, 512>>();
    r.data = r.identify_page->data();
  }
  if (op == Op::kTrim) {
    // Ranges of at most 65535 sectors; unused entries stay zero (a count of 0 means none).
    for (size_t i = 0; sectors > 0; ++i) {
      const auto n = static_cast<uint16_t>(std::min<uint64_t>(sectors, proto::kDsmMaxRangeSectors));
      proto::EncodeDsmRange({lba, n}, ByteSpan(*r.identify_page), i);
      lba += n;
      sectors -= n;
    }
  }
  unframed_.push_back(&r);
  Pump();
  owner_.DrainCompletions();
}

std::optional<uint32_t> Disk::ChoosePath(std::optional<uint32_t> avoid) const {
  // Most free window first, so load spreads by outstanding work; a retransmission prefers any
  // other path with room over the one that just lost the frame.
  std::optional<uint32_t> best;
  bool best_other = false;
  uint32_t best_free = 0;
  bool any_up = false;
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    const Path& p = paths_[i];
    if (!p.up) continue;
    any_up = true;
    if (p.in_flight >= p.window.size()) continue;
    uint32_t free = p.window.size() - p.in_flight;
    bool other = !avoid || *avoid != i;
    if (!best || (other && !best_other) || (other == best_other && free > best_free)) {
      best = i;
      best_other = other;
      best_free = free;
    }
  }
  if (best || any_up) return best;
  // Every path is down: keep the I/O going with one frame at a time per path, which also
  // serves as the probe that brings a path back.
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    if (paths_[i].in_flight == 0 && (!best || (avoid && *best == *avoid))) best = i;
  }
  return best;
}

Disk::Frame* Disk::AcquireFrameSlot() {
  if (!free_frames_.empty()) {
    uint32_t slot = free_frames_.back();
    free_frames_.pop_back();
    return &frames_[slot];
  }
  if (frames_.size() >= frames_.capacity()) return nullptr;
  return &frames_.emplace_back();
}

void Disk::Pump() {
  while (true) {
    while (!resend_queue_.empty() &&
           frames_[resend_queue_.front()].state != Frame::State::kAwaitingResend) {
      resend_queue_.pop_front();  // completed or cancelled meanwhile
    }
    if (!resend_queue_.empty()) {
      uint32_t slot = resend_queue_.front();
      const Frame& f = frames_[slot];
      std::optional<uint32_t> avoid;
      if (f.tx_count > 0) avoid = f.tx[f.tx_count - 1].path;
      std::optional<uint32_t> path = ChoosePath(avoid);
      if (!path) return;
      resend_queue_.pop_front();
      Transmit(slot, *path);
      continue;
    }
    if (unframed_.empty()) return;
    std::optional<uint32_t> path = ChoosePath(std::nullopt);
    if (!path) return;
    Request* next = NextRequestToFrame();
    if (next == nullptr) return;
    Frame* f = AcquireFrameSlot();
    if (f == nullptr) return;
    Request& r = *next;
    f->request = &r;
    f->retries = 0;
    f->backoff = 0;
    f->paths_tried = 0;
    f->tx_count = 0;
    if (r.op == Op::kRead || r.op == Op::kWrite) {
      uint64_t n = std::min<uint64_t>(r.sectors - r.framed, info_.sectors_per_frame);
      f->lba = r.lba + r.framed;
      f->sectors = static_cast<uint8_t>(n);
      f->data_offset = r.framed * proto::kSectorSize;
      r.framed += n;
    } else {
      f->lba = 0;
      f->sectors = r.op == Op::kIdentify || r.op == Op::kTrim ? 1 : 0;
      f->data_offset = 0;
      r.framed = r.sectors;
    }
    if (r.framed >= r.sectors) {
      r.fully_framed = true;
      unframed_.erase(std::find(unframed_.begin(), unframed_.end(), &r));
    }
    ++r.frames_active;
    BuildFrame(*f);
    Transmit(static_cast<uint32_t>(f - frames_.data()), *path);
  }
}

Disk::Request* Disk::NextRequestToFrame() {
  const TimePoint now = owner_.clock_.Now();
  for (Request* r : unframed_) {
    // A TRIM changes the disk like a write: an old write copy landing after it would bring
    // back data the trim dropped.
    if (r->op == Op::kTrim) {
      if (!unsettled_.HoldsBack(r->lba, r->sectors, now)) return r;
    } else if (r->op != Op::kWrite) {
      return r;
    } else {
      uint64_t n = std::min<uint64_t>(r->sectors - r->framed, info_.sectors_per_frame);
      if (!unsettled_.HoldsBack(r->lba + r->framed, n, now)) return r;
    }
    if (!r->held_back) {
      r->held_back = true;
      ++writes_held_back_;
    }
  }
  return nullptr;
}

void Disk::SendIfQueued(const Frame& f) {
  if (f.queued_batch == owner_.sends_.batch()) owner_.FlushSends();
}

void Disk::BuildFrame(Frame& f) {
  SendIfQueued(f);
  const Request& r = *f.request;
  size_t data_bytes =
      r.op == Op::kWrite || r.op == Op::kTrim ? size_t{f.sectors} * proto::kSectorSize : 0;
  f.length = std::max(proto::kMinFrameSize, proto::kAtaHeaderSize + data_bytes);
  if (f.buffer.size() < f.length) f.buffer.resize(f.length);
  std::fill(f.buffer.begin(), f.buffer.begin() + static_cast<std::ptrdiff_t>(f.length - data_bytes),
            std::byte{0});
  proto::Header h;
  h.shelf = info_.address.shelf;
  h.slot = info_.address.slot;
  h.command = static_cast<uint8_t>(proto::Command::kAta);
  proto::EncodeHeader(h, f.buffer);  // MACs and tag are filled in per transmission
  proto::AtaArg a;
  a.sector_count = f.sectors;
  a.lba = f.lba;
  switch (r.op) {
    case Op::kRead:
      a.aflags = proto::kAtaFlagExtended;
      a.cmd_status = proto::ata_op::kReadSectorsExt;
      break;
    case Op::kWrite:
      a.aflags = proto::kAtaFlagExtended | proto::kAtaFlagWrite;
      a.cmd_status = proto::ata_op::kWriteSectorsExt;
      break;
    case Op::kFlush:
      f.flush_ext = !flush_ext_refused_;
      a.aflags = f.flush_ext ? proto::kAtaFlagExtended : uint8_t{0};
      a.cmd_status = f.flush_ext ? proto::ata_op::kFlushCacheExt : proto::ata_op::kFlushCache;
      break;
    case Op::kIdentify:
      a.cmd_status = proto::ata_op::kIdentifyDevice;
      break;
    case Op::kTrim:
      a.aflags = proto::kAtaFlagExtended | proto::kAtaFlagWrite;
      a.cmd_status = proto::ata_op::kDataSetManagement;
      a.err_feature = proto::kDsmTrim;
      break;
  }
  proto::EncodeAta(a, f.buffer);
  if (data_bytes > 0) {
    std::memcpy(f.buffer.data() + proto::kAtaHeaderSize, r.data + f.data_offset, data_bytes);
  }
}

void Disk::Transmit(uint32_t slot, uint32_t path) {
  Frame& f = frames_[slot];
  Path& p = paths_[path];
  Port& port = *owner_.ports_[p.port];
  if (f.tx_count == kMaxTransmissions) {
    // Forget the oldest transmission: its reply, should it still come, no longer completes the
    // frame (a write's copy stays tracked until it is settled: ForgetTransmission).
    Transmission& old = f.tx[0];
    if (old.counted) --paths_[old.path].in_flight;
    ForgetTransmission(f, old);
    std::move(f.tx.begin() + 1, f.tx.end(), f.tx.begin());
    --f.tx_count;
  }
  SendIfQueued(f);  // its previous transmission must leave before the tag is rewritten
  std::optional<uint32_t> tag =
      owner_.tags_.Allocate(Initiator::kKindFrame | (uint32_t{id_} << 16) | slot);
  // Frames are capped per disk and exchanges are few, so 65536 live tags cannot happen.
  assert(tag.has_value());
  p.target_mac.Store(f.buffer, 0);
  port.mac().Store(f.buffer, 6);
  StoreBe32(f.buffer, 20, *tag);
  TimePoint now = owner_.clock_.Now();
  if (f.tx_count == 0 && f.retries == 0) f.first_sent = now;
  f.tx[f.tx_count++] = Transmission{*tag, path, now, p.window.NextSeq(), true, false, 0, false};
  ++p.in_flight;
  ++p.sent;
  if (f.retries > 0) ++p.retransmits;
  f.state = Frame::State::kInFlight;
  p.rtt.Age(now);
  f.deadline = now + p.rtt.Rto(f.backoff);
  if (path < 32) f.paths_tried |= 1u << path;
  // Sent with the pass's other frames (SendQueue); until then nothing may rewrite the buffer.
  owner_.sends_.Add(p.port, ConstByteSpan(f.buffer.data(), f.length));
  f.queued_batch = owner_.sends_.batch();
}

std::optional<uint32_t> Disk::FindPath(size_t port, const MacAddress& mac) const {
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    if (paths_[i].port == port && paths_[i].target_mac == mac) return i;
  }
  return std::nullopt;
}

void Disk::OnReply(uint32_t slot, uint32_t tag, size_t port, const MacAddress& source,
                   ConstByteSpan frame) {
  if ((slot & kCopyBit) != 0) {
    OnCopyReply(slot & ~kCopyBit, tag, port, source);
    return;
  }
  if (slot >= frames_.size() || frames_[slot].state == Frame::State::kFree) {
    ++owner_.unmatched_replies_;
    return;
  }
  Frame& f = frames_[slot];
  size_t k = 0;
  while (k < f.tx_count && f.tx[k].tag != tag) ++k;
  if (k == f.tx_count) {
    ++owner_.unmatched_replies_;
    return;
  }
  Transmission& t = f.tx[k];
  Path& p = paths_[t.path];
  // Only accept the reply on the port we sent on, and from the MAC we sent to or another MAC
  // of this target on the same segment (multiport targets may answer from any port).
  if (p.port != port || (source != p.target_mac && !FindPath(port, source))) {
    ++owner_.unmatched_replies_;
    return;
  }
  TimePoint now = owner_.clock_.Now();
  t.answered = true;
  p.rtt.AddSample(now - t.sent_at);
  ++p.replies;
  p.consecutive_timeouts = 0;
  p.last_reply = now;
  if (t.counted) {
    --p.in_flight;
    t.counted = false;
    p.window.OnReply(t.seq);
  } else if (t.timed_out) {
    // The frame was late, not lost: the retransmission was spurious, and the RTO too short
    // for this path's stalls.
    t.timed_out = false;
    ++p.spurious_timeouts;
    p.rtt.OnLateReply(now - t.sent_at, now);
    p.window.OnSpuriousTimeout(t.loss_event);
  }
  if (!p.up) MarkPathUp(t.path);

  std::optional<Error> error;
  std::optional<proto::Header> h = proto::DecodeHeader(frame);
  std::optional<proto::AtaArg> ata = proto::DecodeAta(frame);
  Request& r = *f.request;
  if (r.op == Op::kFlush && f.flush_ext && !h->is_error() && ata &&
      (ata->cmd_status & kAtaFailureBits) != 0 && (ata->err_feature & proto::kAtaErrorAbort) != 0) {
    // FLUSH CACHE EXT is optional (vblade implements only FLUSH CACHE): use 0xE7 from now on.
    flush_ext_refused_ = true;
    if (owner_.options_.logger) {
      owner_.options_.logger->Debug(info_.address.ToString(),
                                    "FLUSH CACHE EXT aborted; using FLUSH CACHE (0xE7)");
    }
    uint32_t path = t.path;
    RetireTransmissions(f);
    f.retries = 0;
    f.backoff = 0;
    f.paths_tried = 0;
    BuildFrame(f);
    Transmit(slot, path);
    Pump();
    return;
  }
  if (h->is_error()) {
    error = AoeErrorFor(f, h->error);
  } else if (!ata) {
    error = Error(InitiatorErrc::kShortReply,
                  fmt::format("{}: {}: reply of {} bytes has no ATA header",
                              info_.address.ToString(), DescribeRange(f), frame.size()));
  } else if ((ata->cmd_status & kAtaFailureBits) != 0) {
    error = AtaError(f, ata->cmd_status, ata->err_feature);
  } else if (r.op == Op::kRead || r.op == Op::kIdentify) {
    size_t want =
        r.op == Op::kRead ? size_t{f.sectors} * proto::kSectorSize : proto::kIdentifyPageSize;
    if (frame.size() < proto::kAtaHeaderSize + want) {
      error =
          Error(InitiatorErrc::kShortReply,
                fmt::format("{}: {}: reply carried {} of {} data bytes", info_.address.ToString(),
                            DescribeRange(f), frame.size() - proto::kAtaHeaderSize, want));
    } else {
      std::memcpy(r.data + f.data_offset, frame.data() + proto::kAtaHeaderSize, want);
    }
  }
  FinishFrame(slot, std::move(error));
  Pump();
}

void Disk::RetireTransmissions(Frame& f) {
  for (size_t i = 0; i < f.tx_count; ++i) {
    if (f.tx[i].counted) --paths_[f.tx[i].path].in_flight;
    ForgetTransmission(f, f.tx[i]);
  }
  f.tx_count = 0;
}

void Disk::ForgetTransmission(const Frame& f, const Transmission& t) {
  const Op op = f.request->op;
  if ((op != Op::kWrite && op != Op::kTrim) || t.answered) {
    owner_.tags_.Release(t.tag);
    return;
  }
  if (op == Op::kTrim) {
    // A late TRIM copy would drop whatever is written to its ranges after it.
    unsettled_.HoldAllUntil(t.sent_at + CopyLifetime(t.path));
    owner_.tags_.Release(t.tag);
    return;
  }
  const TimePoint gone_at = t.sent_at + CopyLifetime(t.path);
  std::optional<uint32_t> index = unsettled_.Add(f.lba, f.sectors, t.tag, gone_at);
  if (!index) {
    owner_.tags_.Release(t.tag);  // untracked: UnsettledWrites holds back every write instead
    return;
  }
  owner_.tags_.Rebind(t.tag, Initiator::kKindFrame | (uint32_t{id_} << 16) | kCopyBit | *index);
}

void Disk::OnCopyReply(uint32_t index, uint32_t tag, size_t port, const MacAddress& source) {
  // Only a reply from this target on the port the copy went out on settles it, as for frames.
  if (!FindPath(port, source) || !unsettled_.Settle(index, tag)) {
    ++owner_.unmatched_replies_;
    return;
  }
  owner_.tags_.Release(tag);
  NoteReply(port, source);
  Pump();
}

Duration Disk::CopyLifetime(uint32_t path) const {
  return std::max<Duration>(owner_.options_.write_copy_lifetime, 4 * paths_[path].rtt.Rto());
}

void Disk::FinishFrame(uint32_t slot, std::optional<Error> error) {
  Frame& f = frames_[slot];
  Request* r = f.request;
  RetireTransmissions(f);
  f.state = Frame::State::kFree;
  f.request = nullptr;
  free_frames_.push_back(slot);
  --r->frames_active;
  if (error && !r->error) {
    r->error = std::move(error);
    // The request has failed: drop its other frames now so the callback can run (the caller's
    // buffer is released then, so no late reply may write into it: their tags are released).
    for (uint32_t i = 0; i < frames_.size(); ++i) {
      Frame& other = frames_[i];
      if (other.state == Frame::State::kFree || other.request != r) continue;
      RetireTransmissions(other);
      other.state = Frame::State::kFree;
      other.request = nullptr;
      free_frames_.push_back(i);
      --r->frames_active;
    }
    if (!r->fully_framed) {
      unframed_.erase(std::find(unframed_.begin(), unframed_.end(), r));
      r->fully_framed = true;
    }
  }
  MaybeComplete(*r);
}

void Disk::MaybeComplete(Request& r) {
  if (!r.fully_framed || r.frames_active > 0) return;
  if (r.op == Op::kIdentify) {
    IdentifyCallback done = std::move(r.identify_done);
    if (r.error) {
      owner_.Defer([done = std::move(done), e = std::move(*r.error)] { done(e); });
    } else {
      ConstByteSpan page(r.identify_page->data(), r.identify_page->size());
      IdentifyData d;
      d.sector_count = proto::ReadIdentifyCapacity(page);
      d.model = proto::ReadIdentifyString(page, kWordModel, kModelWords);
      d.serial = proto::ReadIdentifyString(page, kWordSerial, kSerialWords);
      d.firmware = proto::ReadIdentifyString(page, kWordFirmware, kFirmwareWords);
      d.page = *r.identify_page;
      info_.identify = d;
      owner_.Defer([done = std::move(done), d = std::move(d)] { done(d); });
    }
  } else {
    IoCallback done = std::move(r.done);
    if (r.error) {
      owner_.Defer([done = std::move(done), e = std::move(*r.error)] { done(e); });
    } else {
      owner_.Defer([done = std::move(done)] { done(Outcome<void>()); });
    }
  }
  requests_.erase(r.self);
}

void Disk::FailAll(InitiatorErrc code, const std::string& why) {
  for (uint32_t i = 0; i < frames_.size(); ++i) {
    Frame& f = frames_[i];
    if (f.state == Frame::State::kFree) continue;
    RetireTransmissions(f);
    f.state = Frame::State::kFree;
    f.request = nullptr;
    free_frames_.push_back(i);
  }
  resend_queue_.clear();
  unframed_.clear();
  std::vector<Request*> all;
  for (Request& r : requests_) all.push_back(&r);
  for (Request* r : all) {
    r->frames_active = 0;
    r->fully_framed = true;
    if (!r->error) r->error = Error(code, fmt::format("{}: {}", DescribeRequest(*r), why));
    MaybeComplete(*r);
  }
}

void Disk::OnTimer(TimePoint now) {
  unsettled_.Expire(now, [this](uint32_t tag) { owner_.tags_.Release(tag); });
  const Duration dead = owner_.options_.dead_timeout;
  for (uint32_t slot = 0; slot < frames_.size(); ++slot) {
    Frame& f = frames_[slot];
    if (f.state == Frame::State::kFree) continue;
    if (dead > Duration::zero() && now - f.first_sent >= dead) {
      std::string where;
      for (uint32_t i = 0; i < paths_.size(); ++i) {
        if (i < 32 && (f.paths_tried & (1u << i)) == 0) continue;
        if (!where.empty()) where += ", ";
        where += PathName(i);
      }
      std::string why = fmt::format("no reply from {} for {} on {}", info_.address.ToString(),
                                    FormatDuration(dead), where);
      if (owner_.options_.logger) {
        owner_.options_.logger->Error(info_.address.ToString(), "{}: {}",
                                      DescribeRequest(*f.request), why);
      }
      FailAll(InitiatorErrc::kDeadTarget, why);
      return;
    }
    if (f.state != Frame::State::kInFlight || now < f.deadline) continue;
    Transmission& t = f.tx[f.tx_count - 1];
    Path& p = paths_[t.path];
    if (t.counted) {
      --p.in_flight;
      t.counted = false;
    }
    ++p.timeouts;
    // Consecutive *loss events*: a timeout counts only if its frame was sent after the last
    // counted one was detected. Frames that were in flight together and time out in the same
    // tick (a stall, a burst of drops) are one event, and the path gets a fresh chance.
    if (t.seq > p.loss_counted_seq) {
      ++p.consecutive_timeouts;
      p.loss_counted_seq = p.window.seq();
    }
    // Exponential back-off per frame when the path delivered nothing since the frame was
    // sent (a stall, a dead target) or the frame was unlucky kBackoffAfterRetries times: an
    // isolated loss on a working link is retried after the plain RTO, as TCP's fast
    // retransmit and RACK do, instead of waiting twice as long each time.
    if (p.window.answered_seq() <= t.seq || f.retries + 1 >= kBackoffAfterRetries) ++f.backoff;
    t.timed_out = true;
    t.loss_event = p.window.OnTimeout(t.seq);
    if (p.up && p.consecutive_timeouts >= owner_.options_.down_after_timeouts &&
        now - p.last_reply >= owner_.options_.down_after_silence) {
      MarkPathDown(t.path);
    }
    ++f.retries;
    f.state = Frame::State::kAwaitingResend;
    resend_queue_.push_back(slot);
  }
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    Path& p = paths_[i];
    if (!p.up && !p.probe_pending && now >= p.next_probe) SendProbe(i, now);
  }
  const Duration rediscover = owner_.options_.rediscover_interval;
  if (rediscover > Duration::zero() && now >= next_rediscover_) {
    next_rediscover_ = now + rediscover;
    owner_.Rediscover(info_.address);
  }
  Pump();
}

std::optional<TimePoint> Disk::NextDeadline() const {
  std::optional<TimePoint> next;
  auto consider = [&](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  const Duration dead = owner_.options_.dead_timeout;
  for (const Frame& f : frames_) {
    if (f.state == Frame::State::kFree) continue;
    if (f.state == Frame::State::kInFlight) consider(f.deadline);
    if (dead > Duration::zero()) consider(f.first_sent + dead);
  }
  for (const Path& p : paths_) {
    if (!p.up && !p.probe_pending) consider(p.next_probe);
  }
  if (std::optional<TimePoint> t = unsettled_.NextExpiry()) consider(*t);
  if (owner_.options_.rediscover_interval > Duration::zero()) consider(next_rediscover_);
  return next;
}

void Disk::MarkPathDown(uint32_t path) {
  Path& p = paths_[path];
  p.up = false;
  p.next_probe = owner_.clock_.Now() + owner_.options_.probe_interval;
  // The target may have moved to another port or MAC: look for it everywhere soon.
  next_rediscover_ = std::min(next_rediscover_, owner_.clock_.Now());
  if (owner_.options_.logger) {
    owner_.options_.logger->Warn(info_.address.ToString(),
                                 "path {} down after {} loss events in a row", PathName(path),
                                 p.consecutive_timeouts);
  }
}

void Disk::MarkPathUp(uint32_t path) {
  Path& p = paths_[path];
  p.up = true;
  p.consecutive_timeouts = 0;
  p.last_reply = owner_.clock_.Now();
  p.window.Restart();
  if (owner_.options_.logger) {
    owner_.options_.logger->Info(info_.address.ToString(), "path {} answers again", PathName(path));
  }
}

void Disk::SendProbe(uint32_t path, TimePoint now) {
  Path& p = paths_[path];
  p.probe_pending = true;
  ExchangeOptions o;
  o.port = p.port;
  o.target_mac = p.target_mac;
  o.timeout = std::min<Duration>(owner_.options_.probe_interval, std::chrono::seconds(1));
  o.resend_interval = Duration::zero();
  // A config read answered on this path brings it back up (Initiator::HandleConfigReply ->
  // LearnPath); the callback only schedules the next probe.
  owner_.Config(info_.address, proto::ConfigCommand::kRead, {}, o,
                [this, path, now](Outcome<ConfigReply>) {
                  Path& q = paths_[path];
                  q.probe_pending = false;
                  q.next_probe = now + owner_.options_.probe_interval;
                  Pump();
                });
}

void Disk::LearnPath(size_t port, const MacAddress& mac, const proto::ConfigArg& config) {
  uint32_t limit = std::clamp<uint32_t>(config.buffer_count, 1, owner_.options_.max_window);
  std::optional<uint32_t> idx = FindPath(port, mac);
  if (!idx) {
    Path p;
    p.port = port;
    p.target_mac = mac;
    p.last_reply = owner_.clock_.Now();
    p.window = CongestionWindow(limit);
    p.rtt = RttEstimator(owner_.options_.flow);
    paths_.push_back(std::move(p));
    idx = static_cast<uint32_t>(paths_.size() - 1);
  } else {
    Path& p = paths_[*idx];
    if (p.window.limit() != limit) p.window.SetLimit(limit);
    if (!p.up) MarkPathUp(*idx);
  }
  Path& p = paths_[*idx];
  p.buffer_count = config.buffer_count;
  p.advertised_sectors = config.sector_count == 0 ? 2 : config.sector_count;
  info_.buffer_count = config.buffer_count;
  info_.firmware_version = config.firmware_version;
  if (config.string_complete) {
    info_.config_string.assign(reinterpret_cast<const char*>(config.string.data()),
                               config.string.size());
  }
  RecomputeSectorsPerFrame();
  info_.paths.clear();
  for (const Path& q : paths_) info_.paths.push_back(MakePathInfo(q));
  Pump();
}

void Disk::RecomputeSectorsPerFrame() {
  uint8_t n = 255;
  for (const Path& p : paths_) {
    n = std::min(n, p.advertised_sectors);
    n = std::min(n, proto::SectorsPerFrame(owner_.ports_[p.port]->mtu()));
  }
  info_.sectors_per_frame = std::max<uint8_t>(n, 1);
}

PathInfo Disk::MakePathInfo(const Path& p) const {
  const Port& port = *owner_.ports_[p.port];
  return PathInfo{port.name(), port.mac(), p.target_mac, p.buffer_count, p.advertised_sectors};
}

std::vector<PathStats> Disk::path_stats() const {
  std::vector<PathStats> out;
  for (const Path& p : paths_) {
    const Port& port = *owner_.ports_[p.port];
    PathStats s;
    s.port = port.name();
    s.local_mac = port.mac();
    s.target_mac = p.target_mac;
    s.window = p.window.size();
    s.window_limit = p.window.limit();
    s.ssthresh = p.window.ssthresh();
    s.in_flight = p.in_flight;
    s.sent = p.sent;
    s.retransmits = p.retransmits;
    s.timeouts = p.timeouts;
    s.spurious_timeouts = p.spurious_timeouts;
    s.replies = p.replies;
    s.rtt_avg = p.rtt.srtt();
    s.rto = p.rtt.Rto();
    s.up = p.up;
    out.push_back(std::move(s));
  }
  return out;
}

std::string Disk::PathName(uint32_t path) const {
  const Path& p = paths_[path];
  return fmt::format("{} (mac {})", owner_.ports_[p.port]->name(), p.target_mac.ToString());
}

void Disk::NoteReply(size_t port, const MacAddress& mac) {
  std::optional<uint32_t> path = FindPath(port, mac);
  if (!path) return;
  paths_[*path].consecutive_timeouts = 0;
  paths_[*path].last_reply = owner_.clock_.Now();
  if (!paths_[*path].up) MarkPathUp(*path);
}

std::string Disk::DescribeRequest(const Request& r) const {
  std::string disk = info_.address.ToString();
  switch (r.op) {
    case Op::kRead:
      return fmt::format("reading {} sectors {}-{}", disk, r.lba, r.lba + r.sectors - 1);
    case Op::kWrite:
      return fmt::format("writing {} sectors {}-{}", disk, r.lba, r.lba + r.sectors - 1);
    case Op::kFlush:
      return fmt::format("flushing {}", disk);
    case Op::kIdentify:
      return fmt::format("identifying {}", disk);
    case Op::kTrim:
      return fmt::format("trimming {} sectors {}-{}", disk, r.lba, r.lba + r.sectors - 1);
  }
  return disk;
}

std::string Disk::DescribeRange(const Frame& f) const {
  switch (f.request->op) {
    case Op::kRead:
      return fmt::format("READ of sectors {}-{}", f.lba, f.lba + f.sectors - 1);
    case Op::kWrite:
      return fmt::format("WRITE of sectors {}-{}", f.lba, f.lba + f.sectors - 1);
    case Op::kFlush:
      return f.flush_ext ? "FLUSH CACHE EXT" : "FLUSH CACHE";
    case Op::kIdentify:
      return "IDENTIFY DEVICE";
    case Op::kTrim:
      return fmt::format("TRIM of sectors {}-{}", f.request->lba,
                         f.request->lba + f.request->sectors - 1);
  }
  return "command";
}

Error Disk::AtaError(const Frame& f, uint8_t status, uint8_t error) const {
  std::string bits = AtaErrorBits(error);
  return Error(
      InitiatorErrc::kAtaError,
      fmt::format("{}: {} failed: ATA status 0x{:02x}, error 0x{:02x}{}", info_.address.ToString(),
                  DescribeRange(f), status, error, bits.empty() ? "" : " (" + bits + ")"));
}

Error Disk::AoeErrorFor(const Frame& f, proto::AoeError code) const {
  // An ATA reply has no room for the reserve list, so the holders stay unknown here.
  return AdminAoeError(
      info_.address, DescribeRange(f), code,
      code == proto::AoeError::kTargetReserved ? "; the ATA reply does not say who holds it" : "");
}

// ============================================================================================
// Initiator
// ============================================================================================

Initiator::Initiator(Clock& clock, std::vector<Port*> ports, InitiatorOptions options)
    : clock_(clock),
      ports_(std::move(ports)),
      options_(std::move(options)),
      tags_(options_.tag_session.value_or(TagTable::RandomSession())) {
  size_t slot_bytes = kMinRxSlotBytes;
  for (const Port* p : ports_)
    slot_bytes = std::max(slot_bytes, p->mtu() + proto::kEthernetHeaderSize);
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
  for (size_t i = 0; i < disks_.size(); ++i) {
    std::optional<TimePoint> t = disks_[i]->NextDeadline();
    if (t && *t <= now) {
      ++fired;
      disks_[i]->OnTimer(now);
    }
  }
  return fired;
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
    ExchangeState& ex = exchanges_[slot];
    bool port_ok = std::find(ex.ports.begin(), ex.ports.end(), port) != ex.ports.end();
    bool address_ok = (ex.address.shelf == proto::kWildcardShelf || ex.address.shelf == h->shelf) &&
                      (ex.address.slot == proto::kWildcardSlot || ex.address.slot == h->slot);
    bool source_ok = ex.destination.is_broadcast() || ex.destination == h->source;
    if (!ex.live || !port_ok || !address_ok || !source_ok || h->command != ex.command) {
      ++unmatched_replies_;
      return;
    }
    if (h->command == static_cast<uint8_t>(proto::Command::kConfig))
      HandleConfigReply(port, *h, frame);
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
    return;
  }
  // A late or duplicate reply to one of our frames still proves the path works.
  if (tags_.IsOurs(h->tag) && h->command == static_cast<uint8_t>(proto::Command::kAta)) {
    if (Disk* d = disk(address)) d->NoteReply(port, h->source);
  }
  ++unmatched_replies_;
}

void Initiator::Rediscover(DiskAddress address) {
  ExchangeState ex;
  ex.collect = true;
  ex.address = address;
  ex.command = static_cast<uint8_t>(proto::Command::kConfig);
  ex.frame = NewFrame(address, ex.command, proto::kConfigHeaderSize - proto::kHeaderSize);
  proto::EncodeConfig(proto::ConfigArg{}, ex.frame);
  for (size_t i = 0; i < ports_.size(); ++i) ex.ports.push_back(i);
  ex.destination = MacAddress::Broadcast();
  ex.timeout = std::chrono::seconds(1);  // replies update the disk in HandleFrame
  ex.resend_interval = Duration::zero();
  ex.what = "re-discovery";
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

// --- Exchanges ------------------------------------------------------------------------------

std::vector<std::byte> Initiator::NewFrame(DiskAddress address, uint8_t command,
                                           size_t arg_size) const {
  std::vector<std::byte> frame(std::max(proto::kMinFrameSize, proto::kHeaderSize + arg_size));
  proto::Header h;
  h.shelf = address.shelf;
  h.slot = address.slot;
  h.command = command;
  proto::EncodeHeader(h, frame);
  return frame;
}

void Initiator::RouteExchange(DiskAddress address, const ExchangeOptions& options,
                              ExchangeState& ex) const {
  const Disk* d = nullptr;
  if (auto it = disk_ids_.find(address); it != disk_ids_.end()) d = disks_[it->second].get();
  if (options.port) {
    ex.ports = {*options.port};
    ex.destination = options.target_mac.value_or(MacAddress::Broadcast());
    if (!options.target_mac && d != nullptr) {
      for (const Disk::Path& p : d->paths_) {
        if (p.port == *options.port) {
          ex.destination = p.target_mac;
          break;
        }
      }
    }
    return;
  }
  if (d != nullptr && !d->paths_.empty()) {
    const Disk::Path* chosen = &d->paths_.front();
    for (const Disk::Path& p : d->paths_) {
      if (p.up) {
        chosen = &p;
        break;
      }
    }
    ex.ports = {chosen->port};
    ex.destination = options.target_mac.value_or(chosen->target_mac);
    return;
  }
  ex.ports.clear();
  for (size_t i = 0; i < ports_.size(); ++i) ex.ports.push_back(i);
  ex.destination = options.target_mac.value_or(MacAddress::Broadcast());
}

uint32_t Initiator::StartExchange(ExchangeState state) {
  uint32_t slot = 0;
  while (slot < exchanges_.size() && exchanges_[slot].live) ++slot;
  if (slot == exchanges_.size()) exchanges_.emplace_back();
  ExchangeState& ex = exchanges_[slot];
  ex = std::move(state);
  ex.live = true;
  if (ex.ours) {
    std::optional<uint32_t> tag = tags_.Allocate(kKindExchange | slot);
    assert(tag.has_value());
    ex.tag = *tag;
    StoreBe32(ex.frame, 20, ex.tag);
  }
  TimePoint now = clock_.Now();
  ex.deadline = now + ex.timeout;
  ex.next_resend = now + ex.resend_interval;
  SendExchange(ex);
  return slot;
}

void Initiator::SendExchange(ExchangeState& ex) {
  for (size_t port : ex.ports) {
    if (port >= ports_.size()) continue;
    Port& p = *ports_[port];
    if (ex.ours) {
      ex.destination.Store(ex.frame, 0);
      p.mac().Store(ex.frame, 6);
    } else if (MacAddress::Load(ex.frame, 6).is_zero()) {
      p.mac().Store(ex.frame, 6);
    }
    const TxFrame bytes{ConstByteSpan(ex.frame)};
    (void)p.Send(std::span(&bytes, 1));  // loss is handled by resends / the timeout
  }
}

void Initiator::FinishExchange(uint32_t slot) {
  ExchangeState& ex = exchanges_[slot];
  if (ex.ours) tags_.Release(ex.tag);
  ex = ExchangeState{};
}

void Initiator::Exchange(DiskAddress address, uint8_t command, ConstByteSpan arg,
                         const ExchangeOptions& options, FrameCallback done) {
  AdminExchange(address, command, arg, options, fmt::format("command {}", command),
                std::move(done));
}

void Initiator::AdminExchange(DiskAddress address, uint8_t command, ConstByteSpan arg,
                              const ExchangeOptions& options, std::string what,
                              FrameCallback done) {
  ExchangeState ex;
  ex.address = address;
  ex.command = command;
  ex.frame = NewFrame(address, command, arg.size());
  if (!arg.empty()) std::memcpy(ex.frame.data() + proto::kHeaderSize, arg.data(), arg.size());
  ex.timeout = options.timeout;
  ex.resend_interval = options.resend_interval;
  ex.what = std::move(what);
  ex.on_done = std::move(done);
  RouteExchange(address, options, ex);
  if (ex.ports.empty() || ex.ports.front() >= ports_.size()) {
    Defer([done = std::move(ex.on_done)] {
      done(Error(InitiatorErrc::kNoPorts, "no usable network interface for the request"));
    });
    DrainCompletions();
    return;
  }
  StartExchange(std::move(ex));
  DrainCompletions();
}

void Initiator::SendRaw(size_t port, ConstByteSpan frame, Duration timeout, FrameCallback done) {
  if (port >= ports_.size() || frame.size() < proto::kHeaderSize) {
    Defer([done = std::move(done)] {
      done(Error(InitiatorErrc::kInvalidArgument,
                 "raw frame needs a valid port and at least a 24-byte AoE header"));
    });
    DrainCompletions();
    return;
  }
  ExchangeState ex;
  ex.ours = false;
  ex.tag = LoadBe32(frame, 20);
  ex.address = DiskAddress{LoadBe16(frame, 16), LoadU8(frame, 18)};
  ex.command = LoadU8(frame, 19);
  ex.frame.assign(frame.begin(), frame.end());
  if (ex.frame.size() < proto::kMinFrameSize) ex.frame.resize(proto::kMinFrameSize);
  ex.ports = {port};
  ex.destination = MacAddress::Load(frame, 0);
  ex.timeout = timeout;
  ex.resend_interval = Duration::zero();
  ex.what = "raw request";
  ex.on_done = std::move(done);
  StartExchange(std::move(ex));
  DrainCompletions();
}

void Initiator::Discover(DiskAddress where, Duration timeout,
                         std::function<void(std::vector<DiskAddress>)> done) {
  auto found = std::make_shared<std::vector<DiskAddress>>();
  ExchangeState ex;
  ex.collect = true;
  ex.address = where;
  ex.command = static_cast<uint8_t>(proto::Command::kConfig);
  ex.frame = NewFrame(where, ex.command, proto::kConfigHeaderSize - proto::kHeaderSize);
  proto::EncodeConfig(proto::ConfigArg{}, ex.frame);
  for (size_t i = 0; i < ports_.size(); ++i) ex.ports.push_back(i);
  ex.destination = MacAddress::Broadcast();
  ex.timeout = timeout;
  // One broadcast lost on a lossy link would hide every target: ask again a few times while
  // collecting (the same targets answering twice are counted once).
  ex.resend_interval = std::max<Duration>(timeout / 4, std::chrono::milliseconds(250));
  ex.what = "discovery";
  ex.on_reply = [found](size_t, ConstByteSpan frame) {
    std::optional<proto::Header> h = proto::DecodeHeader(frame);
    if (!h || h->is_error()) return;
    DiskAddress a{h->shelf, h->slot};
    if (std::find(found->begin(), found->end(), a) == found->end()) found->push_back(a);
  };
  ex.on_end = [found, done = std::move(done)] {
    std::sort(found->begin(), found->end());
    done(std::move(*found));
  };
  StartExchange(std::move(ex));
  DrainCompletions();
}

// --- Typed admin commands --------------------------------------------------------------------

void Initiator::Config(DiskAddress address, proto::ConfigCommand command, std::string_view value,
                       const ExchangeOptions& options,
                       std::function<void(Outcome<ConfigReply>)> done) {
  static constexpr std::string_view kNames[] = {"config read", "config test", "config test-prefix",
                                                "config set-if-empty", "config force-set"};
  auto ccmd = static_cast<uint8_t>(command);
  std::string what = ccmd < 5 ? std::string(kNames[ccmd]) : fmt::format("config command {}", ccmd);
  if (value.size() > proto::kMaxConfigStringSize) {
    Defer([done = std::move(done), n = value.size()] {
      done(Error(InitiatorErrc::kInvalidArgument,
                 fmt::format("config string of {} bytes is longer than the 1024 AoE allows", n)));
    });
    DrainCompletions();
    return;
  }
  proto::ConfigArg arg;
  arg.command = ccmd;
  arg.string = AsBytes(value);
  std::vector<std::byte> frame(proto::kConfigHeaderSize + value.size());
  proto::EncodeConfig(arg, frame);
  AdminExchange(
      address, static_cast<uint8_t>(proto::Command::kConfig),
      ConstByteSpan(frame).subspan(proto::kHeaderSize), options, what,
      [address, what, done = std::move(done)](Outcome<std::vector<std::byte>> r) {
        if (!r) return done(r.error());
        ConstByteSpan f(*r);
        std::optional<proto::Header> h = proto::DecodeHeader(f);
        std::optional<proto::ConfigArg> c = proto::DecodeConfig(f);
        if (h->is_error()) {
          std::string detail;
          if (h->error == proto::AoeError::kConfigStringPresent && c && c->string_complete) {
            detail = fmt::format(": it is '{}'",
                                 std::string_view(reinterpret_cast<const char*>(c->string.data()),
                                                  c->string.size()));
          }
          return done(AdminAoeError(address, what, h->error, detail));
        }
        if (!c) {
          return done(Error(InitiatorErrc::kShortReply,
                            fmt::format("{}: config reply too short", address.ToString())));
        }
        ConfigReply out;
        out.target_mac = h->source;
        out.address = DiskAddress{h->shelf, h->slot};
        out.buffer_count = c->buffer_count;
        out.firmware_version = c->firmware_version;
        out.sector_count = c->sector_count;
        out.command = c->command;
        out.config_string.assign(reinterpret_cast<const char*>(c->string.data()), c->string.size());
        done(std::move(out));
      });
}

namespace {

Outcome<MaskReply> DecodeMaskReply(DiskAddress address, std::string_view what,
                                   Outcome<std::vector<std::byte>> r) {
  if (!r) return r.error();
  ConstByteSpan f(*r);
  std::optional<proto::Header> h = proto::DecodeHeader(f);
  if (h->is_error()) return AdminAoeError(address, what, h->error);
  std::optional<proto::MaskArg> m = proto::DecodeMask(f);
  if (!m)
    return Error(InitiatorErrc::kShortReply,
                 fmt::format("{}: mask reply too short", address.ToString()));
  MaskReply out;
  out.error = static_cast<proto::MaskError>(m->error);
  if (m->error != 0) {
    out.failed_index = m->directive_count;
    static constexpr std::string_view kWhy[] = {"ok", "unspecified error", "bad directive",
                                                "list full"};
    return Error(InitiatorErrc::kMaskError,
                 fmt::format("{} refused {}: directive {} failed: {}", address.ToString(), what,
                             m->directive_count, m->error < 4 ? kWhy[m->error] : "unknown error"));
  }
  for (size_t i = 0; i < m->available_directives(); ++i) out.macs.push_back(m->DirectiveAt(i).mac);
  return out;
}

}  // namespace

void Initiator::ReadMask(DiskAddress address, const ExchangeOptions& options,
                         std::function<void(Outcome<MaskReply>)> done) {
  std::vector<std::byte> frame(proto::kMaskHeaderSize);
  proto::EncodeMask(static_cast<uint8_t>(proto::MaskCommand::kRead), proto::MaskError::kOk, {},
                    frame);
  AdminExchange(address, static_cast<uint8_t>(proto::Command::kMacMask),
                ConstByteSpan(frame).subspan(proto::kHeaderSize), options, "mask read",
                [address, done = std::move(done)](Outcome<std::vector<std::byte>> r) {
                  done(DecodeMaskReply(address, "mask read", std::move(r)));
                });
}

void Initiator::EditMask(DiskAddress address, std::span<const proto::MaskDirective> directives,
                         const ExchangeOptions& options,
                         std::function<void(Outcome<MaskReply>)> done) {
  std::vector<std::byte> frame(proto::kMaskHeaderSize +
                               directives.size() * proto::kMaskDirectiveSize);
  if (directives.size() > 255 || proto::EncodeMaskDirectives(directives, frame) == 0) {
    Defer([done = std::move(done)] {
      done(Error(InitiatorErrc::kInvalidArgument, "at most 255 mask directives per request"));
    });
    DrainCompletions();
    return;
  }
  AdminExchange(address, static_cast<uint8_t>(proto::Command::kMacMask),
                ConstByteSpan(frame).subspan(proto::kHeaderSize), options, "mask edit",
                [address, done = std::move(done)](Outcome<std::vector<std::byte>> r) {
                  done(DecodeMaskReply(address, "mask edit", std::move(r)));
                });
}

void Initiator::Reserve(DiskAddress address, proto::ReserveCommand command,
                        std::span<const MacAddress> macs, const ExchangeOptions& options,
                        std::function<void(Outcome<ReserveReply>)> done) {
  if (command == proto::ReserveCommand::kRead) macs = {};
  std::vector<std::byte> frame(proto::kReserveHeaderSize + macs.size() * 6);
  if (macs.size() > 255 || proto::EncodeReserve(static_cast<uint8_t>(command), macs, frame) == 0) {
    Defer([done = std::move(done)] {
      done(Error(InitiatorErrc::kInvalidArgument, "at most 255 MACs in a reserve list"));
    });
    DrainCompletions();
    return;
  }
  std::string what = command == proto::ReserveCommand::kRead  ? "reserve read"
                     : command == proto::ReserveCommand::kSet ? "reserve set"
                                                              : "reserve force-set";
  AdminExchange(
      address, static_cast<uint8_t>(proto::Command::kReserve),
      ConstByteSpan(frame).subspan(proto::kHeaderSize), options, what,
      [address, what, done = std::move(done)](Outcome<std::vector<std::byte>> r) {
        if (!r) return done(r.error());
        ConstByteSpan f(*r);
        std::optional<proto::Header> h = proto::DecodeHeader(f);
        std::optional<proto::ReserveArg> a = proto::DecodeReserve(f);
        if (h->is_error()) {
          if (h->error != proto::AoeError::kTargetReserved) {
            return done(AdminAoeError(address, what, h->error));
          }
          // aoe serve and vblade send the current list with the refusal.
          std::optional<std::vector<MacAddress>> holders;
          std::string detail = "; the reply does not say who holds it";
          if (a && a->available_macs() > 0) {
            holders.emplace();
            std::string names;
            for (size_t i = 0; i < a->available_macs(); ++i) {
              holders->push_back(a->MacAt(i));
              names += (i > 0 ? ", " : "") + a->MacAt(i).ToString();
            }
            detail = fmt::format(": held by {}", names);
          }
          Error e = AdminAoeError(address, what, h->error, detail);
          e.holders = std::move(holders);
          return done(std::move(e));
        }
        if (!a) {
          return done(Error(InitiatorErrc::kShortReply,
                            fmt::format("{}: reserve reply too short", address.ToString())));
        }
        ReserveReply out;
        for (size_t i = 0; i < a->available_macs(); ++i) out.macs.push_back(a->MacAt(i));
        done(std::move(out));
      });
}

}  // namespace aoe::initiator
