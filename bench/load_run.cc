#include "bench/load_run.h"

#include <algorithm>
#include <vector>

#include "bench/command_window.h"
#include "bench/pattern.h"
#include "proto/identify.h"

namespace aoe::bench {

namespace {

using std::chrono::nanoseconds;
using Clock = std::chrono::steady_clock;

constexpr nanoseconds kResendEvery = std::chrono::milliseconds(250);  // discovery and FLUSH
constexpr size_t kReceiveBatch = 64;
constexpr uint32_t kControlTag = 0x80000000;  // bit 31: never a data command's tag

size_t ReceiveFrameBytes(const PacketSocket& socket, uint8_t sectors) {
  // Room for the largest frame the link carries and for the largest reply we ask for, plus a
  // little, so that an oversized reply is seen whole rather than silently cut.
  return std::max(socket.mtu() + 14, proto::kAtaHeaderSize + size_t{sectors} * 512) + 64;
}

// What the load engine reads of each reply. Without a pattern to check, only the headers: the
// kernel copies that much into user space and reports the real length (MSG_TRUNC), so a short
// reply is still seen, and the client spends its CPU on commands, not on copying data it
// throws away (at MTU 9000 the copy was most of its cost per reply).
size_t ReplyBytesRead(const PacketSocket& socket, const LoadSpec& spec) {
  if (spec.data_seed) return ReceiveFrameBytes(socket, spec.sectors_per_command);
  return proto::kMinFrameSize;
}

// Sends `request` every kResendEvery until a received frame satisfies `accept` (which keeps
// what it needs from it) or `timeout` passes.
template <typename Accept>
Result<void> Exchange(const PacketSocket& socket, ConstByteSpan request, Accept&& accept,
                      nanoseconds timeout) {
  ReceiveBatch rx(16, ReceiveFrameBytes(socket, 255));
  SendBatch tx(1);
  TimePoint deadline = Clock::now() + timeout;
  TimePoint next_send = Clock::now();
  for (;;) {
    TimePoint now = Clock::now();
    if (now >= next_send) {
      tx.Add(request);
      AOE_TRY(tx.Send(socket));
      next_send = now + kResendEvery;
    }
    Result<size_t> n = rx.Receive(socket);
    if (!n) return Unexpected{n.error()};
    for (size_t i = 0; i < *n; ++i) {
      if (accept(rx.frame(i))) return {};
    }
    if (*n > 0) continue;
    if (now >= deadline) return Err(std::errc::timed_out);
    AOE_TRY(WaitReadable(socket, std::min(next_send, deadline) - now));
  }
}

class LoadEngine {
 public:
  LoadEngine(PacketSocket& socket, const LoadTarget& target, const LoadSpec& spec)
      : socket_(socket),
        target_(target),
        spec_(spec),
        window_(spec.window, spec.rto),
        frame_capacity_(std::max(proto::kMinFrameSize,
                                 proto::kAtaHeaderSize + size_t{spec.sectors_per_command} * 512)),
        frames_(spec.window * frame_capacity_),
        frame_lengths_(spec.window, 0),
        tx_(spec.window),
        rx_(kReceiveBatch, ReplyBytesRead(socket, spec)),
        next_sequential_lba_(spec.first_sector) {
    if (spec.byte_budget) sectors_left_ = (*spec.byte_budget + 511) / 512;
    if (spec_.direction == Direction::kWrite && !spec_.data_seed) {
      // Without a pattern every write carries its slot's fixed bytes: no per-command cost.
      for (size_t i = 0; i < spec.window; ++i) {
        FillPattern(0xB0B0, i * spec.sectors_per_command, DataArea(i, spec.sectors_per_command));
      }
    }
  }

  Result<LoadResult> Run();

 private:
  ByteSpan Frame(size_t slot) {
    return ByteSpan(frames_.data() + slot * frame_capacity_, frame_capacity_);
  }
  ByteSpan DataArea(size_t slot, uint8_t sectors) {
    return Frame(slot).subspan(proto::kAtaHeaderSize, size_t{sectors} * 512);
  }
  // The next command's first sector and length; length 0 when the byte budget is spent.
  std::pair<uint64_t, uint8_t> NextCommand();
  void IssueNew(TimePoint now);
  void Retransmit(TimePoint now);
  void Complete(size_t slot, const AtaReply& reply, TimePoint now);
  Result<void> SendQueued();
  Result<void> FlushCache();

  PacketSocket& socket_;
  const LoadTarget& target_;
  const LoadSpec& spec_;
  CommandWindow window_;
  size_t frame_capacity_;
  std::vector<std::byte> frames_;  // one frame buffer per slot, kept for retransmission
  std::vector<size_t> frame_lengths_;
  SendBatch tx_;
  ReceiveBatch rx_;
  uint64_t next_sequential_lba_;
  uint64_t random_counter_ = 0;
  std::optional<uint64_t> sectors_left_;
  TimePoint measure_start_{};
  TimePoint last_completion_{};
  LoadResult result_;
};

std::pair<uint64_t, uint8_t> LoadEngine::NextCommand() {
  uint64_t sectors = spec_.sectors_per_command;
  uint64_t lba = 0;
  uint64_t region_end = spec_.first_sector + spec_.region_sectors;
  if (spec_.order == Order::kSequential) {
    lba = next_sequential_lba_;
    sectors = std::min(sectors, region_end - lba);
    next_sequential_lba_ = lba + sectors == region_end ? spec_.first_sector : lba + sectors;
  } else {
    uint64_t units = std::max<uint64_t>(1, spec_.region_sectors / sectors);
    sectors = std::min(sectors, spec_.region_sectors);
    uint64_t r = SplitMix64(spec_.random_seed * 0x9E3779B97F4A7C15ull + random_counter_++);
    lba = spec_.first_sector + (r % units) * spec_.sectors_per_command;
  }
  if (sectors_left_) {
    sectors = std::min(sectors, *sectors_left_);
    *sectors_left_ -= sectors;
  }
  return {lba, static_cast<uint8_t>(sectors)};
}

void LoadEngine::IssueNew(TimePoint now) {
  bool write = spec_.direction == Direction::kWrite;
  while (!window_.full()) {
    auto [lba, sectors] = NextCommand();
    if (sectors == 0) return;
    size_t slot = window_.Start(lba, sectors, now);
    if (write && spec_.data_seed) FillPattern(*spec_.data_seed, lba, DataArea(slot, sectors));
    AtaRequest request{
        .opcode = write ? proto::ata_op::kWriteSectorsExt : proto::ata_op::kReadSectorsExt,
        .lba = lba,
        .sector_count = sectors,
        .write = write};
    frame_lengths_[slot] =
        EncodeAtaRequest(Frame(slot), target_.address, window_.slot(slot).tag, request);
    tx_.Add(Frame(slot).first(frame_lengths_[slot]));
  }
}

void LoadEngine::Retransmit(TimePoint now) {
  window_.ForEachExpired(now, [&](size_t slot) {
    window_.Resend(slot, now);
    StoreBe32(Frame(slot), 20, window_.slot(slot).tag);  // the frame is unchanged but its tag
    tx_.Add(Frame(slot).first(frame_lengths_[slot]));
    ++result_.retransmits;
  });
}

Result<void> LoadEngine::SendQueued() {
  if (tx_.size() == 0) return {};
  size_t queued = tx_.size();
  Result<SendBatch::Outcome> sent = tx_.Send(socket_);
  if (!sent) return Unexpected{sent.error()};
  result_.frames_sent += queued;
  result_.send_drops += sent->dropped;
  return {};
}

void LoadEngine::Complete(size_t slot, const AtaReply& reply, TimePoint now) {
  const CommandWindow::Slot& command = window_.slot(slot);
  uint64_t bytes = uint64_t{command.sector_count} * 512;
  if (reply.aoe_error != 0) {
    ++result_.aoe_errors;
  } else if (!reply.ok()) {
    ++result_.ata_errors;
  } else if (spec_.direction == Direction::kRead) {
    if (reply.data_bytes < bytes) {
      ++result_.short_replies;
    } else if (spec_.data_seed) {
      uint64_t bad = CountPatternMismatches(*spec_.data_seed, command.lba, reply.data.first(bytes));
      result_.verified_sectors += command.sector_count;
      result_.verify_failures += bad;
      if (bad != 0 && !result_.first_bad_lba) result_.first_bad_lba = command.lba;
    }
  }
  result_.bytes_total += bytes;
  ++result_.commands_total;
  if (now >= measure_start_) {
    result_.bytes += bytes;
    ++result_.commands;
    result_.latency.Record(now - command.first_sent);
    last_completion_ = now;
  }
  window_.Finish(slot);
}

Result<void> LoadEngine::FlushCache() {
  std::vector<std::byte> frame(proto::kMinFrameSize);
  // FLUSH CACHE (0xE7), not the EXT form: vblade 25 implements only 0xE7.
  AtaRequest request{.opcode = proto::ata_op::kFlushCache};
  EncodeAtaRequest(frame, target_.address, kControlTag | 1, request);
  TimePoint start = Clock::now();
  Result<void> done = Exchange(
      socket_, frame,
      [&](ConstByteSpan reply_frame) {
        std::optional<AtaReply> reply = DecodeAtaReply(reply_frame, target_.address);
        if (!reply || reply->tag != (kControlTag | 1)) return false;
        result_.flush_ok = reply->ok();
        return true;
      },
      std::chrono::seconds(30));
  if (!done) return done;
  result_.flush_latency = Clock::now() - start;
  return {};
}

Result<LoadResult> LoadEngine::Run() {
  if (spec_.direction == Direction::kWrite && spec_.flush_before_writes) {
    AOE_TRY(FlushCache());
    result_.flush_first_ok = result_.flush_ok;
    result_.flush_latency.reset();
    result_.flush_ok = false;
  }
  AOE_TRY(socket_.TakeDrops());  // forget drops from before the run
  const nanoseconds scan_every = std::max<nanoseconds>(spec_.rto / 8, std::chrono::milliseconds(1));
  TimePoint start = Clock::now();
  measure_start_ = start + spec_.warmup;
  last_completion_ = measure_start_;
  TimePoint stop_issuing = spec_.duration ? measure_start_ + *spec_.duration : TimePoint::max();
  TimePoint next_scan = start + scan_every;
  TimePoint last_reply = start;
  std::optional<TimePoint> drain_deadline;

  for (;;) {
    TimePoint now = Clock::now();
    if (!drain_deadline && (now >= stop_issuing || (sectors_left_ && *sectors_left_ == 0))) {
      drain_deadline = now + spec_.stall_timeout;
    }
    if (!drain_deadline) IssueNew(now);
    if (now >= next_scan) {
      Retransmit(now);
      next_scan = now + scan_every;
    }
    AOE_TRY(SendQueued());
    if (window_.busy() == 0) {
      if (drain_deadline) break;
      if (sectors_left_ && *sectors_left_ == 0) continue;
    }
    if (drain_deadline && now >= *drain_deadline) {
      result_.unfinished = window_.busy();
      break;
    }
    if (window_.busy() > 0 && now - last_reply >= spec_.stall_timeout) {
      return Err(std::errc::timed_out);
    }

    Result<size_t> received = rx_.Receive(socket_);
    if (!received) return Unexpected{received.error()};
    if (*received == 0) {
      TimePoint wake = std::min(next_scan, last_reply + spec_.stall_timeout);
      wake = std::min(wake, drain_deadline ? *drain_deadline : stop_issuing);
      AOE_TRY(WaitReadable(socket_, wake - now));
      continue;
    }
    now = Clock::now();
    result_.frames_received += *received;
    for (size_t i = 0; i < *received; ++i) {
      std::optional<AtaReply> reply = DecodeAtaReply(rx_.frame(i), target_.address, rx_.length(i));
      if (!reply) continue;
      std::optional<size_t> slot = window_.Match(reply->tag);
      if (!slot) {
        ++result_.stale_replies;
        continue;
      }
      last_reply = now;
      Complete(*slot, *reply, now);
    }
  }
  result_.elapsed = std::max<nanoseconds>(last_completion_ - measure_start_, nanoseconds(0));
  Result<uint64_t> drops = socket_.TakeDrops();
  if (drops) result_.socket_drops = *drops;
  if (spec_.direction == Direction::kWrite && spec_.flush_after_writes) AOE_TRY(FlushCache());
  return std::move(result_);
}

}  // namespace

Result<LoadTarget> DiscoverTarget(const PacketSocket& socket, uint16_t shelf, uint8_t slot,
                                  nanoseconds timeout) {
  LoadTarget target;
  target.address = DiskAddress{.client = socket.mac(), .shelf = shelf, .slot = slot};
  TimePoint deadline = Clock::now() + timeout;

  std::vector<std::byte> frame(proto::kMinFrameSize);
  EncodeConfigQuery(frame, target.address, kControlTag | 2);
  AOE_TRY(Exchange(
      socket, frame,
      [&](ConstByteSpan reply_frame) {
        std::optional<ConfigReply> reply =
            DecodeConfigReply(reply_frame, target.address, kControlTag | 2);
        if (!reply) return false;
        target.address.target = reply->target;
        target.buffer_count = reply->buffer_count;
        target.max_sectors = reply->max_sectors;
        target.firmware_version = reply->firmware_version;
        return true;
      },
      timeout));

  AtaRequest identify{.opcode = proto::ata_op::kIdentifyDevice, .sector_count = 1};
  EncodeAtaRequest(frame, target.address, kControlTag | 3, identify);
  bool identified = false;
  AOE_TRY(Exchange(
      socket, frame,
      [&](ConstByteSpan reply_frame) {
        std::optional<AtaReply> reply = DecodeAtaReply(reply_frame, target.address);
        if (!reply || reply->tag != (kControlTag | 3)) return false;
        if (reply->ok() && reply->data.size() >= proto::kIdentifyPageSize) {
          target.capacity_sectors = proto::ReadIdentifyCapacity(reply->data);
          identified = true;
        }
        return true;
      },
      std::max<nanoseconds>(deadline - Clock::now(), kResendEvery)));
  if (!identified) return Err(std::errc::io_error);
  return target;
}

Result<LoadResult> RunLoad(PacketSocket& socket, const LoadTarget& target, const LoadSpec& spec) {
  LoadEngine engine(socket, target, spec);
  return engine.Run();
}

}  // namespace aoe::bench
