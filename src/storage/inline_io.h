// InlineIo: reads and writes that cannot wait, served on the calling thread (the target's
// event loop) before io_uring is asked.
//
// Why: io_uring hands a buffered read or write to one of its kernel worker threads (iou-wrk)
// whenever the file cannot promise not to block, which on Linux 6.x means every request on
// tmpfs (no FMODE_NOWAIT) and every buffered write on ext4. For data already in memory the
// hand-off (a wake-up and two context switches per batch) costs more than the copy itself:
// 30 % of the target's CPU ran in iou-wrk when serving a tmpfs image (docs/PERFORMANCE.md,
// "Where the target spends its time"). vblade, with plain pread/pwrite, paid none of it.
//
// How, decided once per file at open (ModeFor):
//  - kMemory (tmpfs, ramfs): the file is memory. Plain pread/pwrite on the calling thread, as
//    vblade does; it waits only if the pages were swapped out. fdatasync too: on these
//    filesystems it returns at once (there is nothing to write back), so sending it to an
//    io_uring worker only added a context switch to every durable write.
//  - kNoWait (other filesystems and block devices, buffered): preadv2/pwritev2 with RWF_NOWAIT,
//    which copies what is in the page cache and returns EAGAIN instead of waiting for the disk.
//    Whatever is not transferred goes to io_uring. Where the kernel refuses RWF_NOWAIT for an
//    operation (EOPNOTSUPP: buffered writes on ext4 today), that operation stops trying.
//  - kOff (O_DIRECT): every request needs the device, so io_uring does all of it.
//
// Read and write errors are never reported from here: a failed inline attempt transfers nothing,
// and io_uring then does the request and reports the error the usual way. Durability is
// unaffected: an inline write lands in the page cache exactly as an io_uring write does, and a
// flush is the same fdatasync(2) call wherever it runs; it runs inline only where it cannot
// wait (kMemory), and its result is reported as is.
//
// Thread-safety: none; one per file backend, used from the thread that drives it.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "base/bytes.h"

namespace aoe {

class InlineIo {
 public:
  enum class Mode { kOff, kNoWait, kMemory };

  // The mode for an open file: kOff with O_DIRECT, kMemory for a regular file on tmpfs or
  // ramfs, else kNoWait (a block device too, although its node is on devtmpfs).
  static Mode ModeFor(int fd, bool direct);

  explicit InlineIo(Mode mode) : mode_(mode) {}

  // Bytes transferred at once, from the start: all of it, part of it (the rest is not cached,
  // or end of file), or 0 (do it all through io_uring). The buffers are filled or written one
  // after the other from offset_bytes, with one system call.
  size_t Read(int fd, uint64_t offset_bytes, std::span<const iovec> into);
  size_t Write(int fd, uint64_t offset_bytes, std::span<const iovec> from);
  // Whether Read() and Write() may still transfer anything (not O_DIRECT; RWF_NOWAIT not
  // refused for that operation).
  bool reads_inline() const {
    return mode_ == Mode::kMemory || (mode_ == Mode::kNoWait && read_nowait_supported_);
  }
  bool writes_inline() const {
    return mode_ == Mode::kMemory || (mode_ == Mode::kNoWait && write_nowait_supported_);
  }
  // A flush done at once (0), or nullopt: queue fdatasync(2) on io_uring. On tmpfs and ramfs
  // it is done at once, and is nothing.
  std::optional<int64_t> Flush() const;

  Mode mode() const { return mode_; }

 private:
  Mode mode_;
  bool read_nowait_supported_ = true;
  bool write_nowait_supported_ = true;
};

}  // namespace aoe
