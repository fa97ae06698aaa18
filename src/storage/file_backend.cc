#include "storage/file_backend.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "base/unique_fd.h"
#include "storage/inline_io.h"
#include "storage/storage_error.h"

namespace aoe {
namespace {

// AoE addresses 512-byte sectors and the target aligns frame data to 4096 bytes, so O_DIRECT
// works only when the file accepts that alignment.
constexpr uint32_t kSectorBytes = 512;
constexpr uint32_t kBufferAlignment = 4096;

// The device's logical block size; 512 when the kernel does not say.
int LogicalBlockBytes(int fd) {
  int bytes = 0;
  if (::ioctl(fd, BLKSSZGET, &bytes) < 0 || bytes <= 0) return static_cast<int>(kSectorBytes);
  return bytes;
}

// Requests allocated up front; the pool grows (rarely, and never shrinks) beyond this when
// more requests are in flight than ever before.
constexpr size_t kInitialRequests = 64;

// The most reads or writes merged into one preadv or pwritev: a target's whole window of
// commands (AoE targets advertise up to 64 buffers; aoe.ko splits a 512 KiB request into 64
// frames at MTU 9000).
constexpr size_t kMaxMerged = 64;

// How often a mapped file is looked at again (FileBackend::MapsTheWholeFile): often enough that
// an image truncated under the export costs its initiators a few dropped replies at most (they
// retransmit after 100s of ms), rarely enough that the fstat is nothing.
constexpr auto kViewCheckInterval = std::chrono::milliseconds(100);

// The most address space all mapped files of the process may take (MapMemoryFile). A mapping
// costs no memory until it is read, but address space is finite (128 TiB on x86-64), and
// overlays map a sparse data file of the export's whole size per client: a fleet could use it
// all up, and then every other mapping (malloc's large blocks) would fail. Beyond this budget
// files are read as before.
constexpr uint64_t kMappedBytesBudget = uint64_t{16} << 40;  // 16 TiB
std::atomic<uint64_t> mapped_bytes{0};                       // every FileBackend's mapping, summed

class FileBackend final : public BlockBackend, private DeferredIo {
 public:
  FileBackend(IoEngine& engine, UniqueFd fd, std::string path, uint64_t size_bytes,
              bool block_device, FileOptions options)
      : engine_(engine),
        fd_(std::move(fd)),
        path_(std::move(path)),
        size_bytes_(size_bytes),
        block_device_(block_device),
        logical_block_bytes_(block_device ? LogicalBlockBytes(fd_.get()) : kSectorBytes),
        options_(options),
        inline_(InlineIo::ModeFor(fd_.get(), options.direct)) {
    MapMemoryFile();
    for (size_t i = 0; i < kInitialRequests; ++i) AddRequest();
  }

  ~FileBackend() override {
    // Held-back requests are done (and their callers told) as at the end of any turn; a
    // request in flight points at this backend, so let it finish before the memory goes.
    RunHeld(held_reads_);
    RunHeld(held_writes_);
    if (merging_) engine_.CancelDeferred(this);
    if (free_.size() != requests_.size()) engine_.Drain();
    if (mapping_ != nullptr) {
      ::munmap(mapping_, size_bytes_);
      mapped_bytes -= size_bytes_;
    }
  }

  uint64_t size_bytes() const override { return size_bytes_; }
  BackendCapabilities capabilities() const override {
    return {.read_only = options_.read_only,
            .can_trim = !options_.read_only && TrimsSectors(),
            .trim_reads_zeroes = true,
            .no_wait_reads = true,
            // On tmpfs and ramfs every write is copied by the deferred run (RunHeld), even
            // one the filesystem cut short.
            .copies_write_data_in_turn = inline_.mode() == InlineIo::Mode::kMemory,
            .failed_flush_loses_data = true};
  }

  std::string Describe() const override {
    return fmt::format("{}({}{}{})", block_device_ ? "blockdev" : "file", path_,
                       options_.read_only ? ",ro" : "", options_.direct ? ",direct" : "");
  }

  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override {
    if (!Contains(offset_bytes, into.size())) return done->IoDone(-EIO);
    if (into.empty()) return done->IoDone(0);
    const HeldRequest read{offset_bytes, into.data(), into.size(), done};
    // A read sees every write that came before it. (A loop: the callbacks of a run may hold
    // new requests, here and in Hold().)
    while (held_writes_.Overlaps(read)) RunHeld(held_writes_);
    if (!context.no_wait() && inline_.reads_inline()) return Hold(held_reads_, read);
    // A page-cache hit completes here; io_uring gets whatever is left (inline_io.h), unless
    // the caller cannot wait for it (kNoWait): it then asks again with a buffer that may wait.
    const iovec buffer{into.data(), into.size()};
    const size_t at_once = inline_.Read(fd_.get(), offset_bytes, std::span(&buffer, 1));
    if (at_once == into.size()) return done->IoDone(static_cast<int64_t>(at_once));
    if (context.no_wait()) return done->IoDone(-EAGAIN);
    Issue(Op::kRead, read, at_once);
  }

  ConstByteSpan View(const IoContext&, uint64_t offset_bytes, size_t length) override {
    if (!Contains(offset_bytes, length) || !MapsTheWholeFile()) return {};
    // A view sees every write that came before it, as a read does. (Unlike a read's buffer it
    // also shows later writes until its bytes are sent: block_backend.h.)
    const HeldRequest view{offset_bytes, nullptr, length, nullptr};
    while (held_writes_.Overlaps(view)) RunHeld(held_writes_);
    if (may_have_holes_ && (!mincore_tells_ || !AllAllocated(offset_bytes, length))) return {};
    return {mapping_ + offset_bytes, length};
  }

  void Write(const IoContext&, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override {
    if (options_.read_only) return done->IoDone(-EROFS);
    if (!Contains(offset_bytes, from.size())) return done->IoDone(-EIO);
    if (from.empty()) return done->IoDone(0);
    // pwritev and io_uring only read through the pointer.
    const HeldRequest write{offset_bytes, const_cast<std::byte*>(from.data()), from.size(), done};
    // A read that came before a write sees what was there before it.
    while (held_reads_.Overlaps(write)) RunHeld(held_reads_);
    if (inline_.writes_inline()) return Hold(held_writes_, write);
    Issue(Op::kWrite, write, 0);
  }

  void Flush(const IoContext&, IoCallback* done) override {
    // Nothing was written through a read-only fd, so there is nothing to make durable.
    if (options_.read_only) return done->IoDone(0);
    RunHeld(held_writes_);
    if (auto result = inline_.Flush()) return done->IoDone(*result);
    Issue(Acquire(Op::kFlush, 0, 0, done));
  }

  void Trim(const IoContext&, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override {
    if (options_.read_only) return done->IoDone(-EROFS);
    if (!Contains(offset_bytes, length_bytes)) return done->IoDone(-EIO);
    if (length_bytes == 0) return done->IoDone(0);
    RunHeld(held_reads_);
    RunHeld(held_writes_);
    may_have_holes_ = true;  // it punches one (MapMemoryFile says why holes matter)
    Issue(Acquire(Op::kTrim, offset_bytes, length_bytes, done));
  }

 private:
  enum class Op { kRead, kWrite, kFlush, kTrim };

  // One request in flight; its address is the io_uring user_data. Pooled, so the hot path
  // allocates nothing.
  struct Request final : IoCallback {
    void IoDone(int64_t result) override { owner->Completed(*this, result); }

    FileBackend* owner = nullptr;
    IoCallback* done = nullptr;
    Op op = Op::kRead;
    uint64_t offset_bytes = 0;
    std::byte* read_data = nullptr;
    const std::byte* write_data = nullptr;
    uint64_t length = 0;
    uint64_t transferred = 0;
    // A short transfer was already resubmitted once; for a trim, the hole punch was refused
    // and the range is being zeroed instead.
    bool retried = false;
  };

  // Merging (held-back requests). Reads and writes the file backend can do on the caller's
  // thread (InlineIo) are held back until the loop submits, so that adjacent ones of one turn
  // are done with one preadv or pwritev; a run ends early when it is full, when a request does
  // not follow on, or when another request must see it done (an overlapping read or write,
  // a flush, a trim). A held read and a held write never overlap, so the two runs may be done
  // in either order.
  struct HeldRequest {
    uint64_t offset_bytes;
    std::byte* data;
    size_t length;
    IoCallback* done;
  };
  struct HeldRun {
    explicit HeldRun(Op kind) : op(kind) {}
    bool Overlaps(const HeldRequest& r) const {
      return count > 0 && r.offset_bytes < end &&
             requests[0].offset_bytes < r.offset_bytes + r.length;
    }

    Op op;
    std::array<HeldRequest, kMaxMerged> requests{};
    size_t count = 0;
    uint64_t end = 0;  // the run covers [requests[0].offset_bytes, end) on disk
  };

  void Hold(HeldRun& run, const HeldRequest& r) {
    while (run.count == kMaxMerged || (run.count > 0 && r.offset_bytes != run.end)) RunHeld(run);
    if (!merging_) {
      engine_.Defer(this);
      merging_ = true;
    }
    run.requests[run.count++] = r;
    run.end = r.offset_bytes + r.length;
  }

  void RunDeferred() override {
    merging_ = false;
    RunHeld(held_reads_);
    RunHeld(held_writes_);
  }

  // Does the run with one preadv or pwritev; what that did not transfer (a page-cache miss
  // under RWF_NOWAIT) goes to io_uring request by request. Callers are told in their order.
  void RunHeld(HeldRun& held) {
    if (held.count == 0) return;
    // Taken out first: a callback may start a new run.
    std::array<HeldRequest, kMaxMerged> run;
    const size_t count = std::exchange(held.count, 0);
    std::copy_n(held.requests.begin(), count, run.begin());
    std::array<iovec, kMaxMerged> iovecs;
    for (size_t i = 0; i < count; ++i) iovecs[i] = {run[i].data, run[i].length};
    const std::span vectors(iovecs.data(), count);
    size_t transferred = held.op == Op::kRead
                             ? inline_.Read(fd_.get(), run[0].offset_bytes, vectors)
                             : inline_.Write(fd_.get(), run[0].offset_bytes, vectors);
    for (size_t i = 0; i < count; ++i) {
      const size_t mine = std::min(transferred, run[i].length);
      transferred -= mine;
      if (mine == run[i].length) {
        run[i].done->IoDone(static_cast<int64_t>(mine));
      } else if (held.op == Op::kWrite && inline_.mode() == InlineIo::Mode::kMemory) {
        FinishShortWrite(run[i], mine);
      } else {
        Issue(held.op, run[i], mine);
      }
    }
  }

  // A write to a file in memory that the pwritev cut short (a full tmpfs, a file size limit):
  // the rest is tried once more here and the outcome reported, as Completed() would after
  // io_uring. Not on io_uring: the caller's bytes may be gone once the deferred run is over
  // (copies_write_data_in_turn).
  void FinishShortWrite(const HeldRequest& write, size_t at_once) {
    size_t written = at_once;
    const ssize_t more = ::pwrite(fd_.get(), write.data + written, write.length - written,
                                  static_cast<off_t>(write.offset_bytes + written));
    if (more < 0) return write.done->IoDone(-errno);
    written += static_cast<size_t>(more);
    write.done->IoDone(written == write.length ? static_cast<int64_t>(written) : -EIO);
  }

  // Queues a read or write on io_uring, its first `at_once` bytes already transferred.
  void Issue(Op op, const HeldRequest& request, size_t at_once) {
    Request& r = Acquire(op, request.offset_bytes, request.length, request.done);
    if (op == Op::kRead) {
      r.read_data = request.data;
    } else {
      r.write_data = request.data;
    }
    r.transferred = at_once;
    Issue(r);
  }

  // Views (BlockBackend::View) of a file that is memory (tmpfs, ramfs): the whole file mapped
  // read-only, so a read reply's data goes from the page cache straight into the packet. The
  // page cache is the file, so the mapping shows every write the moment it is done, and reading
  // through it never waits for a disk. No mapping where that does not hold (other filesystems,
  // block devices, O_DIRECT) or the mapping fails: reads then go by Read() as before.
  //
  // Holes: reading a hole through a mapping of tmpfs allocates a page for it, where pread
  // returns zeroes and allocates nothing. A sparse image would fill up as it is read, and on a
  // full tmpfs the read would fail (the send gets EFAULT and the reply is dropped). So a file
  // that may have holes (at open, after a trim, or as the periodic look finds it) gets a view
  // only of pages that are there (AllAllocated); one without holes needs no such look.
  void MapMemoryFile() {
    if (inline_.mode() != InlineIo::Mode::kMemory || size_bytes_ == 0) return;
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0 || !Whole(st)) return;
    if (mapped_bytes.fetch_add(size_bytes_) + size_bytes_ > kMappedBytesBudget) {
      mapped_bytes -= size_bytes_;
      return;
    }
    void* at = ::mmap(nullptr, size_bytes_, PROT_READ, MAP_SHARED, fd_.get(), 0);
    if (at == MAP_FAILED) {
      mapped_bytes -= size_bytes_;
      return;
    }
    // The image is not the daemon's memory: keep it out of core dumps.
    (void)::madvise(at, size_bytes_, MADV_DONTDUMP);
    mapping_ = static_cast<std::byte*>(at);
    may_have_holes_ = MayHaveHoles(st);
  }

  // Whether the file is still as long as it was at open.
  bool Whole(const struct stat& st) const {
    return static_cast<uint64_t>(st.st_size) >= size_bytes_;
  }
  // On tmpfs and ramfs every page of data is allocated (st_blocks counts them, in 512-byte
  // units), so a file with fewer blocks than bytes has a hole.
  static bool MayHaveHoles(const struct stat& st) {
    return static_cast<uint64_t>(st.st_blocks) * 512 < static_cast<uint64_t>(st.st_size);
  }

  // Whether every page of [offset, offset + length) is in the file: for tmpfs, in the page
  // cache (mincore), as a page that is not is a hole (or swapped out; then Read() waits for it
  // as it always did).
  bool AllAllocated(uint64_t offset_bytes, size_t length) const {
    // mincore counts in the kernel's pages: 4 KiB here, 16 or 64 KiB on some arm64 kernels.
    static const auto kPage = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t first = offset_bytes / kPage;
    const uint64_t end = (offset_bytes + length + kPage - 1) / kPage;
    std::array<unsigned char, 64> present{};
    if (end - first > present.size()) return false;
    if (::mincore(mapping_ + first * kPage, (end - first) * kPage, present.data()) != 0) {
      return false;
    }
    return std::all_of(present.begin(), present.begin() + static_cast<ptrdiff_t>(end - first),
                       [](unsigned char p) { return (p & 1) != 0; });
  }

  // Whether views may still be offered. Another program may truncate the image under the
  // export (the send of a reply from the lost part would fail with EFAULT and the reply be
  // dropped, over and over as the initiator retries, where a read reports EIO) or punch holes
  // in it; so the file is looked at again at most every kViewCheckInterval. Once it is shorter,
  // views stay off and reads go by Read(), which reports what is gone; once it has a hole,
  // views are of allocated pages only.
  bool MapsTheWholeFile() {
    if (mapping_ == nullptr || views_off_) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_view_check_) return true;
    next_view_check_ = now + kViewCheckInterval;
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0 || !Whole(st)) {
      views_off_ = true;
    } else if (MayHaveHoles(st)) {
      may_have_holes_ = true;
    }
    // mincore shows a file's pages only to a process that owns the file or may write to it;
    // to others it says every page is there (Linux 5.0+, against page-cache side channels), so
    // holes could not be told apart. Looked at again here because `aoe serve --user` gives up
    // root after opening its files.
    mincore_tells_ = ::geteuid() == 0 || st.st_uid == ::geteuid() ||
                     ::faccessat(fd_.get(), "", W_OK, AT_EACCESS | AT_EMPTY_PATH) == 0;
    return !views_off_;
  }

  bool Contains(uint64_t offset_bytes, uint64_t length) const {
    return length <= size_bytes_ && offset_bytes <= size_bytes_ - length;
  }

  void AddRequest() {
    requests_.push_back(std::make_unique<Request>());
    requests_.back()->owner = this;
    free_.reserve(requests_.size());
    free_.push_back(requests_.back().get());
  }

  Request& Acquire(Op op, uint64_t offset_bytes, uint64_t length, IoCallback* done) {
    if (free_.empty()) AddRequest();
    Request& r = *free_.back();
    free_.pop_back();
    r.done = done;
    r.op = op;
    r.offset_bytes = offset_bytes;
    r.read_data = nullptr;
    r.write_data = nullptr;
    r.length = length;
    r.transferred = 0;
    r.retried = false;
    return r;
  }

  // Queues what is left of `r`.
  void Issue(Request& r) {
    const uint64_t at = r.offset_bytes + r.transferred;
    const auto left = static_cast<size_t>(r.length - r.transferred);
    switch (r.op) {
      case Op::kRead:
        return engine_.QueueRead(fd_.get(), at, ByteSpan(r.read_data + r.transferred, left), &r);
      case Op::kWrite:
        return engine_.QueueWrite(fd_.get(), at, ConstByteSpan(r.write_data + r.transferred, left),
                                  &r);
      case Op::kFlush:
        return engine_.QueueFdatasync(fd_.get(), &r);
      case Op::kTrim:
        return engine_.QueueFallocate(
            fd_.get(),
            (r.retried ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE) | FALLOC_FL_KEEP_SIZE,
            r.offset_bytes, r.length, &r);
    }
  }

  void Completed(Request& r, int64_t result) {
    if (r.op == Op::kTrim && result == -EOPNOTSUPP && !r.retried) {
      // No holes here (some filesystems, devices without discard): zero the range instead.
      r.retried = true;
      return Issue(r);
    }
    if (r.op == Op::kFlush || r.op == Op::kTrim || result < 0) return Finish(r, result);
    r.transferred += static_cast<size_t>(result);
    if (r.transferred >= r.length) return Finish(r, static_cast<int64_t>(r.length));
    // Short transfer. Within a fixed-size image this is rare (a signal, memory pressure), so
    // try the remainder once; a second short answer means the image is shorter than it was
    // at open or the device is failing.
    if (r.retried) return Finish(r, -EIO);
    r.retried = true;
    Issue(r);
  }

  void Finish(Request& r, int64_t result) {
    IoCallback* done = r.done;
    // Free the slot first: the callback may start the next request at once.
    free_.push_back(&r);
    done->IoDone(result);
  }

  IoEngine& engine_;
  UniqueFd fd_;
  std::string path_;
  uint64_t size_bytes_;
  bool block_device_;
  // A block device discards (and zeroes) only whole logical blocks: the kernel refuses a
  // fallocate on a 4Kn device that is not 4096-aligned, and a TRIM of AoE's 512-byte sectors
  // would fail. Such a device advertises no TRIM.
  int logical_block_bytes_;
  bool TrimsSectors() const { return logical_block_bytes_ <= static_cast<int>(kSectorBytes); }
  FileOptions options_;  // as in effect: `direct` is false after a fallback
  InlineIo inline_;
  std::byte* mapping_ = nullptr;  // the file, mapped for View(); null without views
  bool views_off_ = false;        // the file shrank: no more views
  bool may_have_holes_ = false;   // views only of allocated pages (MapMemoryFile)
  bool mincore_tells_ = false;    // mincore shows this file's pages to us (MapsTheWholeFile)
  std::chrono::steady_clock::time_point next_view_check_{};
  std::vector<std::unique_ptr<Request>> requests_;  // every request ever allocated
  std::vector<Request*> free_;
  HeldRun held_reads_{Op::kRead};
  HeldRun held_writes_{Op::kWrite};
  bool merging_ = false;  // registered with the engine to run them at its next Submit()
};

// Why O_DIRECT cannot serve AoE's 512-byte sectors on `fd`, or nullopt if it can (or if the
// kernel cannot tell us, in which case we trust the open that succeeded).
std::optional<std::string> DirectIoObstacle(int fd, bool block_device) {
  if (block_device) {
    int logical_block_size = 0;
    if (::ioctl(fd, BLKSSZGET, &logical_block_size) < 0) {
      return fmt::format("cannot read the logical block size (BLKSSZGET): {}",
                         std::error_code(errno, std::system_category()).message());
    }
    if (logical_block_size > static_cast<int>(kSectorBytes)) {
      return fmt::format(
          "the device's logical block size is {} bytes, larger than a {}-byte "
          "AoE sector",
          logical_block_size, kSectorBytes);
    }
    return std::nullopt;
  }
  // Linux 6.1+ reports the alignment a file needs for direct I/O.
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
      (stx.stx_mask & STATX_DIOALIGN) != 0) {
    if (stx.stx_dio_offset_align == 0) return "the filesystem does not support direct I/O";
    if (stx.stx_dio_offset_align > kSectorBytes) {
      return fmt::format("the filesystem needs {}-byte aligned offsets for direct I/O",
                         stx.stx_dio_offset_align);
    }
    if (stx.stx_dio_mem_align > kBufferAlignment) {
      return fmt::format("the filesystem needs {}-byte aligned buffers for direct I/O",
                         stx.stx_dio_mem_align);
    }
    return std::nullopt;
  }
  // tmpfs accepts O_DIRECT since Linux 6.6 but its pages live in memory anyway; say so rather
  // than claim a cache bypass that does not happen.
  struct statfs fs {};
  if (::fstatfs(fd, &fs) == 0 && fs.f_type == TMPFS_MAGIC) {
    return "tmpfs has no direct I/O";
  }
  return std::nullopt;
}

}  // namespace

Result<OpenedBackend> OpenFileBackend(IoEngine& engine, const std::string& path,
                                      FileOptions options) {
  OpenedBackend opened;
  // O_NONBLOCK only keeps open() from hanging on a FIFO; it is cleared below.
  const int flags = (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK;

  UniqueFd fd(::open(path.c_str(), flags | (options.direct ? O_DIRECT : 0)));
  if (!fd && options.direct && errno == EINVAL) {
    // Filesystems without direct I/O refuse O_DIRECT at open with EINVAL. If a plain open
    // fails too, its errno is the real problem.
    fd = UniqueFd(::open(path.c_str(), flags));
    if (fd) {
      options.direct = false;
      opened.warnings.push_back(
          fmt::format("{}: the filesystem refuses O_DIRECT; using buffered I/O", path));
    }
  }
  if (!fd) return Errno();

  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return Errno();
  const bool block_device = S_ISBLK(st.st_mode);
  uint64_t size_bytes = 0;
  if (S_ISDIR(st.st_mode)) return Errno(EISDIR);
  if (block_device) {
    if (::ioctl(fd.get(), BLKGETSIZE64, &size_bytes) < 0) return Errno();
  } else if (S_ISREG(st.st_mode)) {
    size_bytes = static_cast<uint64_t>(st.st_size);
  } else {
    return StorageError(StorageErrc::kNotFileOrBlockDevice);
  }

  if (options.direct) {
    if (auto obstacle = DirectIoObstacle(fd.get(), block_device)) {
      options.direct = false;
      opened.warnings.push_back(
          fmt::format("{}: O_DIRECT not used: {}; using buffered I/O", path, *obstacle));
    }
  }

  // io_uring returns -EAGAIN instead of waiting on an O_NONBLOCK file (e.g. on a page-cache
  // miss), so the flag must go; O_DIRECT goes too if it turned out to be unusable.
  int fd_flags = ::fcntl(fd.get(), F_GETFL);
  if (fd_flags < 0) return Errno();
  fd_flags &= ~O_NONBLOCK;
  if (!options.direct) fd_flags &= ~O_DIRECT;
  if (::fcntl(fd.get(), F_SETFL, fd_flags) < 0) return Errno();

  opened.backend =
      std::make_unique<FileBackend>(engine, std::move(fd), path, size_bytes, block_device, options);
  return opened;
}

}  // namespace aoe
