#include "os/byte_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <utility>

#include "proto/identify.h"

namespace aoe::os {

namespace {

// Fills in the sector range an op covers.
void Cover(uint64_t offset, size_t size, uint64_t& first_lba, uint64_t& sectors) {
  first_lba = offset / kSectorBytes;
  const uint64_t end_lba = (offset + size + kSectorBytes - 1) / kSectorBytes;
  sectors = end_lba - first_lba;
}

}  // namespace

void SectorDevice::Trim(uint64_t, uint64_t, IoCallback done) {
  done(Error(std::make_error_code(std::errc::operation_not_supported), "the disk cannot trim"));
}

AoeSectorDevice::AoeSectorDevice(initiator::Disk& disk, uint64_t sector_count)
    : disk_(disk), sector_count_(sector_count) {
  if (disk.info().identify) {
    const proto::IdentifyFeatures f = proto::ReadIdentifyFeatures(disk.info().identify->page);
    trim_reads_zeroes_ = f.trim && f.trim_reads_zeroes;
    read_only_ = f.write_protected;
  }
}

void AoeSectorDevice::Flush(IoCallback done) {
  disk_.Flush([this, done](Outcome<void> flushed) {
    if (!flushed) return done(std::move(flushed));
    disk_.CheckForRestarts([this, done](Outcome<initiator::RestartCheck> check) {
      Outcome<void> result;
      if (!check) {
        result = check.error();
      } else if (!check->restarts.empty()) {
        std::string macs;
        for (const initiator::TargetRestart& r : check->restarts) {
          macs += fmt::format("{}{} ({})", macs.empty() ? "" : ", ", r.target_mac.ToString(),
                              r.answered ? "restarted" : "silent after the flush");
        }
        result = Error(std::make_error_code(std::errc::io_error),
                       fmt::format("the flush was answered, but the target may have lost writes it "
                                   "acknowledged since the last one: {}",
                                   macs));
      }
      // The check's IDENTIFY starts a new session at aoe serve, which then makes each of our
      // writes durable before its reply: one more FLUSH (on each port) says again that we
      // flush (DeclareFlushing sends nothing to a target without a volatile cache).
      if (!check || !check->asked) return done(std::move(result));
      disk_.DeclareFlushing([done, result](Outcome<void> again) {
        done(result && !again ? std::move(again) : result);
      });
    });
  });
}

void ByteIo::Discard(uint64_t offset, uint64_t size, DiscardDone done) {
  const uint64_t disk = size_bytes();
  if (device_.read_only()) {
    done(Error(std::make_error_code(std::errc::read_only_file_system), "the disk is read-only"));
    return;
  }
  if (!device_.trim_reads_zeroes()) {
    done(Error(std::make_error_code(std::errc::operation_not_supported),
               "the disk does not read trimmed sectors as zeroes"));
    return;
  }
  if (offset >= disk || size == 0) {
    done({});
    return;
  }
  size = std::min(size, disk - offset);
  // Up to three parts, in submission order: a zeroed head, the trimmed middle, a zeroed tail.
  struct Parts {
    int pending = 1;  // held until every part is submitted
    std::optional<Error> error;
    DiscardDone done;
  };
  auto parts = std::make_shared<Parts>();
  parts->done = std::move(done);
  auto part_done = [parts](Outcome<void> r) {
    if (!r && !parts->error) parts->error = r.error();
    if (--parts->pending > 0) return;
    if (parts->error) {
      parts->done(*parts->error);
    } else {
      parts->done({});
    }
  };
  const uint64_t end = offset + size;
  const uint64_t first_whole = (offset + kSectorBytes - 1) / kSectorBytes;
  const uint64_t end_whole = end / kSectorBytes;
  auto zero = [&](uint64_t from, uint64_t to) {
    if (to <= from) return;
    ++parts->pending;
    std::vector<std::byte> zeros(static_cast<size_t>(to - from));
    Write(from, zeros, [part_done](Outcome<size_t> w) {
      part_done(w ? Outcome<void>() : Outcome<void>(w.error()));
    });
  };
  if (first_whole >= end_whole) {
    zero(offset, end);  // inside one sector (or two partial ones)
  } else {
    zero(offset, first_whole * kSectorBytes);
    auto op = std::make_unique<Op>();
    op->kind = Op::Kind::kTrim;
    op->exclusive = true;
    op->offset = first_whole * kSectorBytes;
    op->first_lba = first_whole;
    op->sectors = end_whole - first_whole;
    op->size = static_cast<size_t>(op->sectors * kSectorBytes);
    ++parts->pending;
    op->flush_done = part_done;
    Enqueue(std::move(op));
    zero(end_whole * kSectorBytes, end);
  }
  part_done({});
}

void ByteIo::TrimFrom(Op& op, uint64_t lba) {
  const uint64_t end = op.first_lba + op.sectors;
  const uint64_t n = std::min(end - lba, initiator::Disk::kMaxTrimSectors);
  device_.Trim(lba, n, [this, &op, lba, n, end](Outcome<void> r) {
    if (!r || lba + n >= end) return Finish(op, r);
    TrimFrom(op, lba + n);
  });
}

void ByteIo::Read(uint64_t offset, size_t size, ReadDone done) {
  const uint64_t disk = size_bytes();
  if (size == 0 || offset >= disk) {
    done({}, {});  // end of file
    return;
  }
  auto op = std::make_unique<Op>();
  op->kind = Op::Kind::kRead;
  op->offset = offset;
  op->size = static_cast<size_t>(std::min<uint64_t>(size, disk - offset));
  Cover(op->offset, op->size, op->first_lba, op->sectors);
  op->read_done = std::move(done);
  Enqueue(std::move(op));
}

void ByteIo::Write(uint64_t offset, ConstByteSpan data, WriteDone done) {
  const uint64_t disk = size_bytes();
  if (data.empty()) {
    done(size_t{0});
    return;
  }
  if (device_.read_only()) {
    done(Error(std::make_error_code(std::errc::read_only_file_system), "the disk is read-only"));
    return;
  }
  if (offset >= disk) {
    done(Error(
        std::make_error_code(std::errc::no_space_on_device),
        fmt::format("write at byte {} is beyond the end of the disk ({} bytes)", offset, disk)));
    return;
  }
  auto op = std::make_unique<Op>();
  op->kind = Op::Kind::kWrite;
  op->offset = offset;
  op->size = static_cast<size_t>(std::min<uint64_t>(data.size(), disk - offset));
  Cover(op->offset, op->size, op->first_lba, op->sectors);
  const bool aligned = offset % kSectorBytes == 0 && op->size % kSectorBytes == 0;
  if (aligned) {
    op->buffer.assign(data.begin(), data.begin() + static_cast<ptrdiff_t>(op->size));
  } else {
    op->exclusive = true;
    op->data.assign(data.begin(), data.begin() + static_cast<ptrdiff_t>(op->size));
  }
  op->write_done = std::move(done);
  Enqueue(std::move(op));
}

void ByteIo::Flush(FlushDone done) {
  auto op = std::make_unique<Op>();
  op->kind = Op::Kind::kFlush;
  op->exclusive = true;
  op->flush_done = std::move(done);
  Enqueue(std::move(op));
}

void ByteIo::Enqueue(std::unique_ptr<Op> op) {
  waiting_.push_back(std::move(op));
  Pump();
}

// Starts waiting ops in order while the ordering rules (see the header) allow. Start() may
// complete an op synchronously, whose Finish() calls Pump() again: that nested call only asks
// this loop to go round once more, so ops still start in submission order.
void ByteIo::Pump() {
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    while (!waiting_.empty()) {
      Op& next = *waiting_.front();
      const bool may_start = next.exclusive ? running_.empty() : !exclusive_running_;
      if (!may_start) break;
      running_.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
      Op& op = *running_.back();
      op.self = std::prev(running_.end());
      if (op.exclusive) exclusive_running_ = true;
      Start(op);  // may Finish (and destroy) op
    }
  } while (pump_again_);
  pumping_ = false;
}

void ByteIo::Start(Op& op) {
  const uint64_t sector_bytes = op.sectors * kSectorBytes;
  switch (op.kind) {
    case Op::Kind::kRead:
      op.buffer.resize(sector_bytes);
      device_.Read(op.first_lba, op.buffer, [this, &op](Outcome<void> r) { Finish(op, r); });
      return;
    case Op::Kind::kWrite:
      if (!op.exclusive) {
        device_.Write(op.first_lba, op.buffer, [this, &op](Outcome<void> r) { Finish(op, r); });
      } else {
        StartModifyWrite(op);
      }
      return;
    case Op::Kind::kTrim:
      TrimFrom(op, op.first_lba);
      return;
    case Op::Kind::kFlush: {
      const uint64_t generation = write_generation_;
      device_.Flush([this, &op, generation](Outcome<void> r) {
        if (r) flushed_generation_ = generation;
        Finish(op, r);
      });
      return;
    }
  }
}

// Reads the partially written first and last sectors, then WriteMerged.
void ByteIo::StartModifyWrite(Op& op) {
  op.buffer.assign(op.sectors * kSectorBytes, std::byte{0});
  const bool head_partial = op.offset % kSectorBytes != 0;
  const bool tail_partial = (op.offset + op.size) % kSectorBytes != 0;
  const uint64_t last_lba = op.first_lba + op.sectors - 1;
  std::vector<uint64_t> reads;
  if (head_partial) reads.push_back(op.first_lba);
  if (tail_partial && (last_lba != op.first_lba || !head_partial)) reads.push_back(last_lba);
  // Set before the first submission: a read may complete inside the submitting call.
  op.parts_pending = static_cast<int>(reads.size());
  for (uint64_t lba : reads) {
    ByteSpan sector(op.buffer.data() + (lba - op.first_lba) * kSectorBytes, kSectorBytes);
    device_.Read(lba, sector, [this, &op](Outcome<void> r) {
      if (!r && !op.error) op.error = r.error();
      if (--op.parts_pending > 0) return;
      if (op.error) {
        Finish(op, *op.error);
      } else {
        WriteMerged(op);
      }
    });
  }
}

void ByteIo::WriteMerged(Op& op) {
  std::memcpy(op.buffer.data() + op.offset % kSectorBytes, op.data.data(), op.size);
  device_.Write(op.first_lba, op.buffer, [this, &op](Outcome<void> r) { Finish(op, r); });
}

void ByteIo::Finish(Op& op, Outcome<void> status) {
  // Take the op out of the running list first: the user callback may submit more work.
  std::unique_ptr<Op> owned = std::move(*op.self);
  running_.erase(op.self);
  if (op.exclusive) exclusive_running_ = false;
  if (!status) ++counters_.errors;
  switch (op.kind) {
    case Op::Kind::kRead:
      ++counters_.reads;
      if (status) {
        counters_.bytes_read += op.size;
        op.read_done({}, ConstByteSpan(op.buffer).subspan(op.offset % kSectorBytes, op.size));
      } else {
        op.read_done(status, {});
      }
      break;
    case Op::Kind::kWrite:
      ++counters_.writes;
      if (status) {
        ++write_generation_;
        counters_.bytes_written += op.size;
        op.write_done(op.size);
      } else {
        // The disk may hold part of the data: count it as a write for the next flush.
        ++write_generation_;
        op.write_done(status.error());
      }
      break;
    case Op::Kind::kFlush:
      ++counters_.flushes;
      op.flush_done(status);
      break;
    case Op::Kind::kTrim:
      // Like a write: the next close flushes it.
      ++counters_.trims;
      ++write_generation_;
      op.flush_done(status);
      break;
  }
  Pump();
}

}  // namespace aoe::os
