// ByteIo: byte-addressed reads, writes and flushes (what a FUSE file sees) turned into
// sector-aligned, asynchronous requests to a SectorDevice (an AoE disk).
//
// - Reads and writes may start and end anywhere. A write that does not cover whole sectors is a
//   read-modify-write of its first and/or last sector.
// - Ordering: aligned reads and writes run concurrently (the kernel and the application order
//   overlapping I/O themselves, exactly as on a block device). Two kinds of operation run alone,
//   after everything submitted before them has completed and before anything submitted after
//   them starts:
//     * an unaligned write, because two concurrent read-modify-writes of the same sector would
//       lose one of the updates even when their byte ranges do not overlap;
//     * a flush, so that FLUSH CACHE EXT covers every write the application saw complete;
//     * a discard's TRIM (fallocate PUNCH_HOLE or ZERO_RANGE), so that it cannot overtake a
//       write to the same sectors.
// - Offsets beyond the disk: a read there returns no bytes (end of file), a write fails with
//   ENOSPC; ranges that straddle the end are cut short, as on a block device.
//
// Completion callbacks run from inside the device's completion (or, for requests answered
// without the device, from inside the submitting call); they may submit more work.
//
// Ownership: borrows the device. Write data is copied at submission, so the caller's buffer is
// free when Write returns. Thread-safety: none; one thread (the mount daemon's loop) makes all
// calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "initiator/error.h"
#include "initiator/initiator.h"

namespace aoe::os {

using initiator::Error;
using initiator::IoCallback;
using initiator::Outcome;

inline constexpr size_t kSectorBytes = 512;

// The async sector I/O seam: initiator::Disk in the daemon, an in-memory fake in tests.
// Buffers are borrowed until the callback has run. Sizes are non-zero multiples of 512.
class SectorDevice {
 public:
  virtual ~SectorDevice() = default;
  virtual uint64_t sector_count() const = 0;
  virtual void Read(uint64_t lba, ByteSpan buffer, IoCallback done) = 0;
  virtual void Write(uint64_t lba, ConstByteSpan data, IoCallback done) = 0;
  virtual void Flush(IoCallback done) = 0;
  // DATA SET MANAGEMENT / TRIM; at most initiator::Disk::kMaxTrimSectors per call. Only used
  // when trim_reads_zeroes(): a discarded range must read back as zeroes.
  virtual bool trim_reads_zeroes() const { return false; }
  virtual void Trim(uint64_t lba, uint64_t sectors, IoCallback done);
  // The target refuses writes and TRIM (a read-only export): ByteIo then fails them itself
  // with EROFS instead of sending what can only come back as an ATA abort (EIO).
  virtual bool read_only() const { return false; }
};

// A SectorDevice over an opened AoE disk of the initiator engine.
class AoeSectorDevice final : public SectorDevice {
 public:
  // Whether the disk trims, and reads zeroes afterwards, comes from its IDENTIFY page.
  AoeSectorDevice(initiator::Disk& disk, uint64_t sector_count);
  uint64_t sector_count() const override { return sector_count_; }
  void Read(uint64_t lba, ByteSpan buffer, IoCallback done) override {
    disk_.Read(lba, buffer, std::move(done));
  }
  void Write(uint64_t lba, ConstByteSpan data, IoCallback done) override {
    disk_.Write(lba, data, std::move(done));
  }
  // FLUSH CACHE EXT, then Disk::CheckForRestarts: a target process that restarted since the
  // last flush may have lost writes it acknowledged, and the flush then fails (EIO for fsync),
  // as a disk that lost its volatile cache would report.
  void Flush(IoCallback done) override;
  bool trim_reads_zeroes() const override { return trim_reads_zeroes_; }
  void Trim(uint64_t lba, uint64_t sectors, IoCallback done) override {
    disk_.Trim(lba, sectors, std::move(done));
  }
  bool read_only() const override { return read_only_; }

 private:
  initiator::Disk& disk_;
  uint64_t sector_count_;
  bool trim_reads_zeroes_ = false;
  bool read_only_ = false;
};

class ByteIo {
 public:
  // `data` is valid only during the call; empty at end of file.
  using ReadDone = std::function<void(Outcome<void> status, ConstByteSpan data)>;
  using WriteDone = std::function<void(Outcome<size_t> bytes_written)>;
  using FlushDone = std::function<void(Outcome<void> status)>;
  using DiscardDone = std::function<void(Outcome<void> status)>;

  struct Counters {
    uint64_t reads = 0, writes = 0, flushes = 0, trims = 0, errors = 0;
    uint64_t bytes_read = 0, bytes_written = 0;
  };

  explicit ByteIo(SectorDevice& device) : device_(device) {}
  ByteIo(const ByteIo&) = delete;
  ByteIo& operator=(const ByteIo&) = delete;

  uint64_t size_bytes() const { return device_.sector_count() * kSectorBytes; }
  bool read_only() const { return device_.read_only(); }

  void Read(uint64_t offset, size_t size, ReadDone done);
  void Write(uint64_t offset, ConstByteSpan data, WriteDone done);
  void Flush(FlushDone done);
  // Makes [offset, offset + size) read as zeroes: the whole sectors inside are trimmed, the
  // partial sectors at either end written with zeroes. Fails with EOPNOTSUPP when the device
  // does not read trimmed sectors as zeroes, with EROFS when it is read-only (then nothing is
  // changed).
  void Discard(uint64_t offset, uint64_t size, DiscardDone done);

  // Writes have completed since the last successful flush began.
  bool dirty() const { return write_generation_ != flushed_generation_; }
  // Operations started and not yet completed, plus those waiting for their turn.
  size_t running() const { return running_.size(); }
  size_t waiting() const { return waiting_.size(); }
  bool idle() const { return running_.empty() && waiting_.empty(); }
  const Counters& counters() const { return counters_; }

 private:
  struct Op {
    enum class Kind { kRead, kWrite, kFlush, kTrim };
    Kind kind = Kind::kRead;
    uint64_t offset = 0;  // bytes
    size_t size = 0;      // bytes, already cut at the end of the disk
    uint64_t first_lba = 0;
    uint64_t sectors = 0;
    std::vector<std::byte> buffer;  // the covered sectors; for writes the merged data
    std::vector<std::byte> data;    // unaligned write: the caller's bytes, merged after the reads
    bool exclusive = false;
    int parts_pending = 0;  // read-modify-write: sector reads still running
    std::optional<Error> error;
    ReadDone read_done;
    WriteDone write_done;
    FlushDone flush_done;  // also a trim's
    std::list<std::unique_ptr<Op>>::iterator self;
  };

  void Enqueue(std::unique_ptr<Op> op);
  void Pump();
  void Start(Op& op);
  void StartModifyWrite(Op& op);
  void WriteMerged(Op& op);
  void TrimFrom(Op& op, uint64_t lba);
  void Finish(Op& op, Outcome<void> status);

  SectorDevice& device_;
  std::deque<std::unique_ptr<Op>> waiting_;
  std::list<std::unique_ptr<Op>> running_;
  bool exclusive_running_ = false;
  bool pumping_ = false;
  bool pump_again_ = false;
  uint64_t write_generation_ = 0;
  uint64_t flushed_generation_ = 0;
  Counters counters_;
};

}  // namespace aoe::os
