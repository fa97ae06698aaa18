// Disk: requests into frames, frames onto paths, replies, retransmission and the dead-target
// timeout (disk.h). Which path a frame takes, and how paths are learnt and probed, is in
// disk_paths.cc.
#include "initiator/disk.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "initiator/initiator.h"
#include "initiator/messages.h"
#include "proto/identify.h"

namespace aoe::initiator {
namespace {

// A frame that timed out this many times backs off even when the path works for others.
constexpr uint32_t kBackoffAfterRetries = 4;
// ATA IDENTIFY word numbers (see proto/identify.h).
constexpr size_t kWordSerial = 10, kSerialWords = 10;
constexpr size_t kWordFirmware = 23, kFirmwareWords = 4;
constexpr size_t kWordModel = 27, kModelWords = 20;

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

}  // namespace

Disk::Disk(Initiator& owner, uint16_t id, DiskAddress address)
    : owner_(owner), id_(id), unsettled_(owner.options_.max_frames_per_disk * kMaxTransmissions) {
  assert(owner.options_.max_frames_per_disk <= kStaleSlot);
  info_.address = address;
  next_rediscover_ = owner.clock_.Now() + owner.options_.rediscover_interval;
  // Reserve every slot now: frames_ never reallocates, so Frame references stay valid and the
  // data path allocates nothing once the frame buffers have grown to the frame size.
  frames_.reserve(owner.options_.max_frames_per_disk);
}

Disk::~Disk() = default;

void Disk::Read(uint64_t lba, ByteSpan buffer, IoCallback done) {
  if (buffer.empty() || buffer.size() % proto::kSectorSize != 0) {
    owner_.FailLater(std::move(done),
                     Error(InitiatorErrc::kInvalidArgument,
                           fmt::format("{}: read of {} bytes: size must be a non-zero multiple "
                                       "of 512",
                                       info_.address.ToString(), buffer.size())));
    return;
  }
  Submit(Op::kRead, lba, buffer.size() / proto::kSectorSize, buffer.data(), std::move(done), {});
}

void Disk::Write(uint64_t lba, ConstByteSpan data, IoCallback done) {
  if (data.empty() || data.size() % proto::kSectorSize != 0) {
    owner_.FailLater(std::move(done),
                     Error(InitiatorErrc::kInvalidArgument,
                           fmt::format("{}: write of {} bytes: size must be a non-zero multiple "
                                       "of 512",
                                       info_.address.ToString(), data.size())));
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
    owner_.FailLater(std::move(done),
                     Error(InitiatorErrc::kInvalidArgument,
                           fmt::format("{}: trim of {} sectors: must be 1 to {} per command",
                                       info_.address.ToString(), sectors, kMaxTrimSectors)));
    return;
  }
  Submit(Op::kTrim, lba, sectors, nullptr, std::move(done), {});
}

void Disk::Abort(const std::string& why) {
  FailAll(InitiatorErrc::kCancelled, why);
  CancelRestartChecks(why);
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
      owner_.FailLater(std::move(done), Error(InitiatorErrc::kOutOfRange, std::move(msg)));
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
      Frame& f = frames_[slot];
      CutToFrameSize(f);
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
      const Request::Range piece = NextPiece(r, info_.sectors_per_frame);
      f->lba = r.lba + piece.offset;
      f->sectors = static_cast<uint8_t>(piece.sectors);
      f->data_offset = piece.offset * proto::kSectorSize;
      TakePiece(r, piece);
    } else {
      f->lba = 0;
      f->sectors = r.op == Op::kIdentify || r.op == Op::kTrim ? 1 : 0;
      f->data_offset = 0;
      r.framed = r.sectors;
    }
    if (r.framed >= r.sectors && r.taken_back.empty()) {
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
      const Request::Range piece = NextPiece(*r, info_.sectors_per_frame);
      if (!unsettled_.HoldsBack(r->lba + piece.offset, piece.sectors, now)) return r;
    }
    if (!r->held_back) {
      r->held_back = true;
      ++writes_held_back_;
    }
  }
  return nullptr;
}

Disk::Request::Range Disk::NextPiece(const Request& r, uint64_t max) {
  if (!r.taken_back.empty()) {
    return {r.taken_back.front().offset, std::min(r.taken_back.front().sectors, max)};
  }
  return {r.framed, std::min(r.sectors - r.framed, max)};
}

void Disk::TakePiece(Request& r, const Request::Range& piece) {
  if (r.taken_back.empty()) {
    r.framed += piece.sectors;
    return;
  }
  Request::Range& front = r.taken_back.front();
  front.offset += piece.sectors;
  front.sectors -= piece.sectors;
  if (front.sectors == 0) r.taken_back.erase(r.taken_back.begin());
}

void Disk::CutToFrameSize(Frame& f) {
  Request& r = *f.request;
  if ((r.op != Op::kRead && r.op != Op::kWrite) || f.sectors <= info_.sectors_per_frame) return;
  // A late reply to a longer copy, should one have left, no longer completes the frame; an
  // unanswered write copy stays tracked over its whole range (UnsettledWrites), so what is
  // written after it is held back until it can no longer land.
  RetireTransmissions(f);
  const uint64_t keep = info_.sectors_per_frame;
  r.taken_back.push_back({f.data_offset / proto::kSectorSize + keep, f.sectors - keep});
  f.sectors = static_cast<uint8_t>(keep);
  if (r.fully_framed) {
    // First: the rest of a request already partly sent.
    r.fully_framed = false;
    unframed_.push_front(&r);
  }
  BuildFrame(f);
}

void Disk::SendIfQueued(const Frame& f) {
  if (f.queued_batch == owner_.sends_.batch()) owner_.FlushSends();
}

void Disk::BuildFrame(Frame& f) {
  SendIfQueued(f);
  const Request& r = *f.request;
  size_t data_bytes =
      r.op == Op::kWrite || r.op == Op::kTrim ? size_t{f.sectors} * proto::kSectorSize : 0;
  // The data is not copied: the port sends it from the request's buffer, which the caller keeps
  // until the request completes, and a request completes only once its frames have left
  // (MaybeComplete). With data the frame is well over the 60-byte minimum.
  f.data = data_bytes > 0 ? ConstByteSpan(r.data + f.data_offset, data_bytes) : ConstByteSpan{};
  f.length = data_bytes > 0 ? proto::kAtaHeaderSize : proto::kMinFrameSize;
  if (f.buffer.size() < f.length) f.buffer.resize(f.length);
  std::fill(f.buffer.begin(), f.buffer.begin() + static_cast<std::ptrdiff_t>(f.length),
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
  owner_.sends_.Add(p.port, TxFrame(ConstByteSpan(f.buffer.data(), f.length), f.data));
  f.queued_batch = owner_.sends_.batch();
  f.request->queued_batch = f.queued_batch;
}

void Disk::OnReply(uint32_t slot, uint32_t tag, size_t port, const MacAddress& source,
                   ConstByteSpan frame) {
  if ((slot & kCopyBit) != 0) {
    OnCopyReply(slot & ~kCopyBit, tag, port, source);
    return;
  }
  if (slot == kStaleSlot) {  // a late reply to a copy of a finished read, flush or IDENTIFY
    ++owner_.unmatched_replies_;
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
  // Never from a MAC that serves another disk under this shelf.slot.
  std::optional<uint32_t> from = FindPath(port, source);
  if (p.port != port || (source != p.target_mac && (!from || !Usable(paths_[*from])))) {
    ++owner_.unmatched_replies_;
    return;
  }
  TimePoint now = owner_.clock_.Now();
  t.answered = true;
  p.rtt.AddSample(now - t.sent_at);
  ++p.replies;
  // What a restart of the target could lose (CheckForRestarts): a write or trim it acknowledged.
  if (f.request->op == Op::kWrite || f.request->op == Op::kTrim) ++p.writes_acked;
  p.consecutive_timeouts = 0;
  p.last_reply = now;
  NoteFrameAnswered(t.path, f.sectors);
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
  if ((r.op == Op::kRead || r.op == Op::kWrite) && h->is_error() &&
      h->error == proto::AoeError::kBadArgument && f.sectors > 1) {
    // The target takes fewer sectors a command than this frame has (aoe-protocol.md, section 8;
    // its MTU was lowered, or the link's) and did nothing. Frames on this path get at most half
    // as many (Path::refusal_cap) until a config reply says how many (re-discovery is asked for
    // at once), and this one is cut and sent again (CutToFrameSize). A one-sector frame refused
    // so fails.
    const auto cap = static_cast<uint8_t>(f.sectors / 2);
    p.refusal_cap = p.refusal_cap == 0 ? cap : std::min(p.refusal_cap, cap);
    p.advertised_at_refusal = p.advertised_sectors;
    RecomputeSectorsPerFrame();
    next_rediscover_ = std::min(next_rediscover_, now);
    owner_.RefreshPorts(now);
    RetireTransmissions(f);
    ++f.retries;  // a retransmission: the dead-target timeout still counts from the first
    if (f.state != Frame::State::kAwaitingResend) {  // not queued already by a timeout
      f.state = Frame::State::kAwaitingResend;
      resend_queue_.push_back(slot);
    }
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
  if (t.answered) {
    owner_.tags_.Release(t.tag);
    return;
  }
  if (op != Op::kWrite && op != Op::kTrim) {
    // An unanswered copy of a read, flush or IDENTIFY may still be answered. Were its tag
    // handed out again meanwhile (tags roll over every 65536, well under a second at full
    // speed), the late reply would complete the new request: another read's data, or a FLUSH
    // the target never did. So the tag stays taken, its replies dropped, until the copy can no
    // longer arrive. Bounded like the write copies: beyond that the tag goes back at once.
    if (stale_tags_.size() >= owner_.options_.max_frames_per_disk * kMaxTransmissions) {
      owner_.tags_.Release(t.tag);
      return;
    }
    owner_.tags_.Rebind(t.tag, Initiator::kKindFrame | (uint32_t{id_} << 16) | kStaleSlot);
    stale_tags_.push_back(StaleTag{t.sent_at + CopyLifetime(t.path), t.tag});
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
  std::optional<uint32_t> from = FindPath(port, source);
  if (!from || !Usable(paths_[*from]) || !unsettled_.Settle(index, tag)) {
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
  // A frame of this pass may still wait in the send queue, pointing into the request's data
  // (a retransmission queued before the reply that completes the request, or a frame of a
  // request that failed or was aborted): it leaves now, before the data's owner gets it back.
  if (r.queued_batch == owner_.sends_.batch()) owner_.FlushSends();
  if (r.op == Op::kIdentify) {
    IdentifyCallback done = std::move(r.identify_done);
    if (r.error) {
      owner_.Defer([done = std::move(done), e = std::move(*r.error)] { done(e); });
    } else {
      ConstByteSpan page(r.identify_page->data(), r.identify_page->size());
      IdentifyData d;
      DiskIdentity id = IdentityOf(page);
      // The request went over a path of this disk (verdict kSame, as the first path is): its
      // identity is the one other MACs are judged by, even if the first path dies before it is
      // asked on its own (it is asked only once a second MAC answers).
      if (!paths_.empty() && !paths_[0].identity) {
        paths_[0].identity = id;
        JudgePaths();
      }
      d.sector_count = id.sector_count;
      d.model = std::move(id.model);
      d.serial = std::move(id.serial);
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

DiskIdentity Disk::IdentityOf(ConstByteSpan page) {
  return DiskIdentity{proto::ReadIdentifyCapacity(page),
                      proto::ReadIdentifyString(page, kWordModel, kModelWords),
                      proto::ReadIdentifyString(page, kWordSerial, kSerialWords),
                      proto::ReadIdentifyFeatures(page).incarnation};
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
  while (!stale_tags_.empty() && stale_tags_.front().gone_at <= now) {
    owner_.tags_.Release(stale_tags_.front().tag);
    stale_tags_.pop_front();
  }
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
    owner_.RefreshPorts(now);  // the MTU may have been lowered under the frame
    // A link between may drop frames this long (jumbo frames on the hosts, not on a switch).
    // Safe inside this loop: a probe's exchange runs no callback before OnTimer returns (the
    // Initiator batches them), and touches neither frames_ nor paths_.
    if (f.request->op == Op::kRead || f.request->op == Op::kWrite) NoteFrameLost(t.path, f.sectors);
  }
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    Path& p = paths_[i];
    if (!p.up && !p.probe_pending && now >= p.next_probe) SendProbe(i, now);
  }
  ReprobeFrameSizes(now);
  IdentifyPaths(now);
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
    if (p.size_cap != 0 && !p.size_probe_pending) consider(p.next_size_probe);
    if (paths_.size() > 1 && !p.identity && !p.identify_pending) consider(p.next_identify);
  }
  if (std::optional<TimePoint> t = unsettled_.NextExpiry()) consider(*t);
  if (!stale_tags_.empty()) consider(stale_tags_.front().gone_at);
  if (owner_.options_.rediscover_interval > Duration::zero()) consider(next_rediscover_);
  return next;
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
  return AoeRefusal(
      info_.address, DescribeRange(f), code,
      code == proto::AoeError::kTargetReserved ? "; the ATA reply does not say who holds it" : "");
}

}  // namespace aoe::initiator
