#include "storage/overlay/client_overlay.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "storage/file_backend.h"

namespace aoe::overlay {
namespace {

std::byte* AlignedBlock(size_t bytes) {
  return static_cast<std::byte*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
}

// Creates (or truncates) `path` with `size_bytes` of holes.
Result<void> CreateSparseFile(const std::string& path, uint64_t size_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return Errno();
  if (::ftruncate(fd.get(), static_cast<off_t>(size_bytes)) != 0) return Errno();
  return {};
}

Result<std::unique_ptr<BlockBackend>> OpenReadWrite(IoEngine& engine, const std::string& path) {
  auto opened = OpenFileBackend(engine, path, FileOptions{});
  if (!opened) return Unexpected{opened.error()};
  return std::move(opened->backend);
}

}  // namespace

Result<MapFile> ReadMapFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Errno();
  std::vector<std::byte> bytes;
  std::byte chunk[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno();
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  MapFile out;
  std::vector<std::byte> header(kHeaderFieldBytes);
  std::copy_n(bytes.begin(), std::min(bytes.size(), header.size()), header.begin());
  out.header = DecodeMapHeader(header);
  if (bytes.size() > kMapHeaderBytes)
    out.bitmap.assign(bytes.begin() + kMapHeaderBytes, bytes.end());
  return out;
}

void ClientOverlay::CopyUp::FreeAligned::operator()(std::byte* p) const { std::free(p); }

ClientOverlay::CopyUp::CopyUp() : buffer(AlignedBlock(kBlockBytes)) {}

Result<std::unique_ptr<ClientOverlay>> ClientOverlay::Create(IoEngine& engine, int dir_fd,
                                                             const ClientPaths& paths,
                                                             const MapHeader& header,
                                                             std::shared_ptr<BlockBackend> base,
                                                             const FileLayer& layer) {
  // The map first: a data file without a map is a leftover that start-up removes.
  AOE_TRY(CreateSparseFile(paths.map, MapFileBytes(header.size_bytes)));
  AOE_TRY(CreateSparseFile(paths.data, header.size_bytes));
  auto data = OpenReadWrite(engine, paths.data);
  if (!data) return Unexpected{data.error()};
  auto map_file = OpenReadWrite(engine, paths.map);
  if (!map_file) return Unexpected{map_file.error()};
  if (layer) {
    *data = layer(std::move(*data));
    *map_file = layer(std::move(*map_file));
  }
  return std::unique_ptr<ClientOverlay>(new ClientOverlay(
      engine, dir_fd, paths, header, std::move(*data), std::move(*map_file), std::move(base),
      /*header_durable=*/false));
}

Result<std::unique_ptr<ClientOverlay>> ClientOverlay::Open(IoEngine& engine, int dir_fd,
                                                           const ClientPaths& paths,
                                                           const MapFile& map,
                                                           std::shared_ptr<BlockBackend> base) {
  auto data = OpenReadWrite(engine, paths.data);
  if (!data) return Unexpected{data.error()};
  if ((*data)->size_bytes() != map.header.header.size_bytes) return Errno(EINVAL);
  auto map_file = OpenReadWrite(engine, paths.map);
  if (!map_file) return Unexpected{map_file.error()};
  if ((*map_file)->size_bytes() != MapFileBytes(map.header.header.size_bytes)) {
    return Errno(EINVAL);
  }
  std::unique_ptr<ClientOverlay> overlay(
      new ClientOverlay(engine, dir_fd, paths, map.header.header, std::move(*data),
                        std::move(*map_file), std::move(base), /*header_durable=*/true));
  overlay->map_.Load(map.bitmap);
  return overlay;
}

ClientOverlay::ClientOverlay(IoEngine& engine, int dir_fd, ClientPaths paths,
                             const MapHeader& header, std::unique_ptr<BlockBackend> data,
                             std::unique_ptr<BlockBackend> map_file,
                             std::shared_ptr<BlockBackend> base, bool header_durable)
    : engine_(engine),
      dir_fd_(dir_fd),
      paths_(std::move(paths)),
      header_(header),
      data_(std::move(data)),
      map_file_(std::move(map_file)),
      base_(std::move(base)),
      map_(BlockCount(header.size_bytes)),
      size_bytes_(header.size_bytes),
      header_durable_(header_durable) {
  flush_step_.owner = this;
}

ClientOverlay::~ClientOverlay() { assert(idle()); }

uint64_t ClientOverlay::mapped_bytes() const {
  uint64_t bytes = map_.mapped_blocks() * kBlockBytes;
  // The last block may be short.
  const uint64_t last = map_.block_count() - 1;
  if (map_.block_count() > 0 && map_.Test(last)) bytes -= kBlockBytes - BlockLength(last);
  return bytes;
}

bool ClientOverlay::dirty() const {
  return data_dirty_ || map_.has_dirty_pages() || !trimmed_.empty() || !header_durable_ ||
         flushing_;
}

bool ClientOverlay::idle() const {
  return in_flight_ == 0 && !flushing_ && next_.empty() && deferred_.empty() && retry_.empty();
}

void ClientOverlay::WhenIdle(std::function<void()> then) {
  when_idle_ = std::move(then);
  RunIfIdle();
}

void ClientOverlay::RequestEnded() {
  --in_flight_;
  RunIfIdle();
}

void ClientOverlay::RunIfIdle() {
  if (when_idle_ && idle()) std::exchange(when_idle_, nullptr)();
}

bool ClientOverlay::Contains(uint64_t offset_bytes, uint64_t length) const {
  return length <= size_bytes_ && offset_bytes <= size_bytes_ - length;
}

uint64_t ClientOverlay::BlockLength(uint64_t block) const {
  return std::min<uint64_t>(kBlockBytes, size_bytes_ - block * kBlockBytes);
}

bool ClientOverlay::Busy(uint64_t first, uint64_t last) const {
  for (uint64_t b : busy_)
    if (b >= first && b <= last) return true;
  for (const BlockRange& r : punching_)
    if (r.first <= last && first < r.first + r.count) return true;
  return false;
}

void ClientOverlay::MarkBusy(uint64_t block) { busy_.push_back(block); }

void ClientOverlay::Unbusy(uint64_t block) {
  auto it = std::find(busy_.begin(), busy_.end(), block);
  assert(it != busy_.end());
  *it = busy_.back();
  busy_.pop_back();
}

void ClientOverlay::Defer(const Deferred& request) { deferred_.push_back(request); }

// A block was released: give every waiting request another go, in arrival order. Requests may
// complete (and release more blocks) inline; the loop runs until nothing new was released.
void ClientOverlay::Redispatch() {
  if (deferred_.empty()) return;
  if (redispatching_) {
    redispatch_again_ = true;
    return;
  }
  redispatching_ = true;
  do {
    redispatch_again_ = false;
    retry_.swap(deferred_);
    for (const Deferred& d : retry_) {
      if (d.op == Deferred::Op::kWrite) {
        Write(d.context, d.offset_bytes, d.from, d.done);
      } else {
        Trim(d.context, d.offset_bytes, d.length_bytes, d.done);
      }
    }
    retry_.clear();
  } while (redispatch_again_ && !deferred_.empty());
  redispatching_ = false;
  // A re-dispatched trim, or a write refused at once, completes inline without ending a
  // request of the overlay's own: the overlay may have become idle here.
  RunIfIdle();
}

IoCallback* ClientOverlay::Track(IoCallback* done, bool write) {
  Tracked& t = tracked_.Acquire();
  t.owner = this;
  t.done = done;
  t.write = write;
  if (write) ++writes_in_flight_;
  ++in_flight_;
  return &t;
}

void ClientOverlay::Tracked::IoDone(int64_t result) {
  ClientOverlay* o = owner;
  IoCallback* d = done;
  if (write) {
    o->data_dirty_ = true;
    --o->writes_in_flight_;
  }
  o->RequestEnded();
  o->tracked_.Release(*this);
  d->IoDone(result);
}

void ClientOverlay::Split::IoDone(int64_t result) {
  if (result < 0 && first_error == 0) first_error = result;
  if (--parts > 0) return;
  ClientOverlay* o = owner;
  IoCallback* d = done;
  const int64_t final_result = first_error < 0 ? first_error : total;
  if (write) --o->writes_in_flight_;
  o->RequestEnded();
  o->splits_.Release(*this);
  d->IoDone(final_result);
}

// ---------------------------------------------------------------------------------------------
// Reads

void ClientOverlay::Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
                         IoCallback* done) {
  if (!Contains(offset_bytes, into.size())) return done->IoDone(-EIO);
  if (into.empty()) return done->IoDone(0);
  const uint64_t end = offset_bytes + into.size();
  const uint64_t first = offset_bytes / kBlockBytes;
  const uint64_t last = (end - 1) / kBlockBytes;
  if (std::optional<bool> mapped = OneSource(first, last)) {
    // One source for the whole request (the common case): no bookkeeping.
    if (!*mapped) return base_->Read(context, offset_bytes, into, done);
    return data_->Read(context, offset_bytes, into, Track(done, /*write=*/false));
  }
  Split& split = splits_.Acquire();
  split.owner = this;
  split.done = done;
  split.first_error = 0;
  split.total = static_cast<int64_t>(into.size());
  split.parts = 1;  // held until every part is issued
  split.write = false;
  ++in_flight_;
  uint64_t run_start = offset_bytes;
  uint64_t b = first;
  while (b <= last) {
    const bool mapped = map_.Test(b);
    uint64_t next = b + 1;
    while (next <= last && map_.Test(next) == mapped) ++next;
    const uint64_t run_end = std::min(end, next * kBlockBytes);
    ByteSpan part = into.subspan(run_start - offset_bytes, run_end - run_start);
    ++split.parts;
    if (mapped) {
      data_->Read(context, run_start, part, &split);
    } else {
      base_->Read(context, run_start, part, &split);
    }
    run_start = run_end;
    b = next;
  }
  split.IoDone(0);
}

std::optional<bool> ClientOverlay::OneSource(uint64_t first, uint64_t last) const {
  const bool mapped = map_.Test(first);
  for (uint64_t b = first + 1; b <= last; ++b) {
    if (map_.Test(b) != mapped) return std::nullopt;
  }
  return mapped;
}

ConstByteSpan ClientOverlay::View(const IoContext& context, uint64_t offset_bytes, size_t length) {
  if (!Contains(offset_bytes, length) || length == 0) return {};
  // One source for the whole range, as Read() takes it: the base, or the client's own blocks.
  // A known edge: should the client, before this view is sent, also trim these blocks and
  // flush, all in the same batch of frames, the hole punch that follows the flush may run
  // before the send, and the reply then carries zeroes where the client's old data was (as a
  // disk that reads zeroes after TRIM may answer a read racing its trim).
  const std::optional<bool> mapped =
      OneSource(offset_bytes / kBlockBytes, (offset_bytes + length - 1) / kBlockBytes);
  if (!mapped) return {};
  return *mapped ? data_->View(context, offset_bytes, length)
                 : base_->View(context, offset_bytes, length);
}

// ---------------------------------------------------------------------------------------------
// Writes

void ClientOverlay::Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
                          IoCallback* done) {
  if (flush_failed_ < 0) return done->IoDone(flush_failed_);
  if (!Contains(offset_bytes, from.size())) return done->IoDone(-EIO);
  if (from.empty()) return done->IoDone(0);
  const uint64_t end = offset_bytes + from.size();
  const uint64_t first = offset_bytes / kBlockBytes;
  const uint64_t last = (end - 1) / kBlockBytes;
  if (Busy(first, last)) {
    return Defer(Deferred{Deferred::Op::kWrite, context, offset_bytes, from, 0, done});
  }
  ++change_count_;
  data_dirty_ = true;
  uint64_t b = first;
  while (b <= last && map_.Test(b)) ++b;
  // Every block is the overlay's already: overwrite in place.
  if (b > last) return data_->Write(context, offset_bytes, from, Track(done, /*write=*/true));

  Split& split = splits_.Acquire();
  split.owner = this;
  split.done = done;
  split.first_error = 0;
  split.total = static_cast<int64_t>(from.size());
  split.parts = 1;  // held until every part is issued
  split.write = true;
  ++writes_in_flight_;
  ++in_flight_;
  auto whole = [&](uint64_t block) {
    return offset_bytes <= block * kBlockBytes && block * kBlockBytes + BlockLength(block) <= end;
  };
  b = first;
  while (b <= last) {
    const uint64_t piece_start = std::max(offset_bytes, b * kBlockBytes);
    if (!map_.Test(b) && !whole(b)) {
      const uint64_t piece_end = std::min(end, b * kBlockBytes + BlockLength(b));
      ++split.parts;
      StartCopyUp(context, b, piece_start,
                  from.subspan(piece_start - offset_bytes, piece_end - piece_start), &split);
      ++b;
      continue;
    }
    // A run of blocks written straight from the caller's buffer: mapped ones are overwritten,
    // unmapped ones (wholly covered) are allocated.
    DirectRun& run = runs_.Acquire();
    run.owner = this;
    run.parent = &split;
    run.allocating.clear();
    while (b <= last && (map_.Test(b) || whole(b))) {
      if (!map_.Test(b)) {
        MarkBusy(b);
        run.allocating.push_back(b);
      }
      ++b;
    }
    const uint64_t run_end = std::min(end, b * kBlockBytes);
    ++split.parts;
    ++in_flight_;
    data_->Write(context, piece_start,
                 from.subspan(piece_start - offset_bytes, run_end - piece_start), &run);
  }
  split.IoDone(0);
}

void ClientOverlay::DirectRun::IoDone(int64_t result) { owner->DirectRunDone(*this, result); }

void ClientOverlay::DirectRunDone(DirectRun& run, int64_t result) {
  IoCallback* parent = run.parent;
  data_dirty_ = true;
  for (uint64_t b : run.allocating) {
    if (result >= 0) map_.Set(b);
    Unbusy(b);
  }
  const bool released = !run.allocating.empty();
  RequestEnded();
  runs_.Release(run);
  if (released) Redispatch();
  parent->IoDone(result);
}

void ClientOverlay::StartCopyUp(const IoContext& context, uint64_t block,
                                uint64_t piece_offset_bytes, ConstByteSpan piece,
                                IoCallback* parent) {
  MarkBusy(block);
  CopyUp& op = copy_ups_.Acquire();
  op.owner = this;
  op.parent = parent;
  op.context = context;
  op.block = block;
  op.piece_offset = piece_offset_bytes - block * kBlockBytes;
  op.piece = piece;
  op.writing = false;
  ++in_flight_;
  base_->Read(context, block * kBlockBytes, ByteSpan(op.buffer.get(), BlockLength(block)), &op);
}

void ClientOverlay::CopyUp::IoDone(int64_t result) { owner->CopyUpDone(*this, result); }

void ClientOverlay::CopyUpDone(CopyUp& op, int64_t result) {
  const size_t length = BlockLength(op.block);
  if (!op.writing && result >= 0) {
    std::memcpy(op.buffer.get() + op.piece_offset, op.piece.data(), op.piece.size());
    op.writing = true;
    return data_->Write(op.context, op.block * kBlockBytes, ConstByteSpan(op.buffer.get(), length),
                        &op);
  }
  if (op.writing) data_dirty_ = true;
  if (op.writing && result >= 0) map_.Set(op.block);
  Unbusy(op.block);
  IoCallback* parent = op.parent;
  RequestEnded();
  copy_ups_.Release(op);
  Redispatch();
  parent->IoDone(result < 0 ? result : 0);
}

// ---------------------------------------------------------------------------------------------
// Trim

void ClientOverlay::Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
                         IoCallback* done) {
  if (flush_failed_ < 0) return done->IoDone(flush_failed_);
  if (!Contains(offset_bytes, length_bytes)) return done->IoDone(-EIO);
  // Only whole blocks are dropped; the short last block counts as whole when the range reaches
  // the end of the export. A partly trimmed block keeps its data (a trim is a hint).
  const uint64_t end = offset_bytes + length_bytes;
  const uint64_t first = (offset_bytes + kBlockBytes - 1) / kBlockBytes;
  const uint64_t stop = end == size_bytes_ ? map_.block_count() : end / kBlockBytes;
  if (first >= stop) return done->IoDone(0);
  if (Busy(first, stop - 1)) {
    return Defer(Deferred{Deferred::Op::kTrim, context, offset_bytes, {}, length_bytes, done});
  }
  ++change_count_;
  for (uint64_t b = map_.NextMapped(first, stop); b < stop; b = map_.NextMapped(b + 1, stop)) {
    map_.Clear(b);
    NoteTrimmed(b);
  }
  done->IoDone(0);
}

void ClientOverlay::NoteTrimmed(uint64_t block) {
  if (!trimmed_.empty()) {
    BlockRange& last = trimmed_.back();
    if (block >= last.first && block < last.first + last.count) return;  // listed already
    if (block == last.first + last.count) {
      ++last.count;
      return;
    }
  }
  trimmed_.push_back({block, 1});
  // A block written and trimmed again and again (one client alone, no FLUSH in between) would
  // be listed each time: merge the list whenever it has doubled, so it stays within twice the
  // ranges it really holds.
  if (trimmed_.size() < compact_trimmed_at_) return;
  std::sort(trimmed_.begin(), trimmed_.end(),
            [](const BlockRange& a, const BlockRange& b) { return a.first < b.first; });
  size_t kept = 0;
  for (const BlockRange& range : trimmed_) {
    BlockRange& last = trimmed_[kept > 0 ? kept - 1 : 0];
    if (kept > 0 && range.first <= last.first + last.count) {
      last.count = std::max(last.count, range.first + range.count - last.first);
    } else {
      trimmed_[kept++] = range;
    }
  }
  trimmed_.resize(kept);
  compact_trimmed_at_ = std::max(kMinTrimmedCompaction, 2 * kept);
}

// ---------------------------------------------------------------------------------------------
// Flush

void ClientOverlay::Flush(IoCallback* done) {
  next_.push_back(done);
  if (!flushing_) StartFlush();
}

void ClientOverlay::StartFlush() {
  if (flush_failed_ < 0) {
    std::vector<IoCallback*> failed;
    failed.swap(next_);
    for (IoCallback* done : failed) done->IoDone(flush_failed_);
    return;
  }
  flushing_ = true;
  covered_.swap(next_);
  next_.clear();
  // Snapshot the map pages now: every bit in them describes a write that completed before the
  // data file's fdatasync (issued next) started, so the sync covers it.
  staged_pages_ = map_.TakeDirtyPages();
  writing_header_ = !header_durable_;
  const size_t images = staged_pages_.size() + (writing_header_ ? 1 : 0);
  if (images > staging_pages_capacity_) {
    staging_.reset(AlignedBlock(images * kMapPageBytes));
    staging_pages_capacity_ = images;
  }
  for (size_t i = 0; i < staged_pages_.size(); ++i) {
    std::memcpy(staging_.get() + i * kMapPageBytes, map_.Page(staged_pages_[i]).data(),
                kMapPageBytes);
  }
  if (writing_header_) {
    ByteSpan page(staging_.get() + staged_pages_.size() * kMapPageBytes, kMapPageBytes);
    std::fill(page.begin(), page.end(), std::byte{0});
    EncodeMapHeader(header_, page);
  }
  punch_after_flush_.swap(trimmed_);
  trimmed_.clear();
  data_dirty_ = false;
  flush_step_.phase = FlushStep::Phase::kData;
  ++in_flight_;
  data_->Flush(IoContext{}, &flush_step_);
}

void ClientOverlay::FlushStep::IoDone(int64_t result) { owner->FlushStepDone(result); }

void ClientOverlay::FlushStepDone(int64_t result) {
  switch (flush_step_.phase) {
    case FlushStep::Phase::kData: {
      if (result < 0) return FinishFlush(result);
      const size_t images = staged_pages_.size() + (writing_header_ ? 1 : 0);
      if (images == 0) return FinishFlush(0);
      flush_step_.phase = FlushStep::Phase::kPages;
      page_writes_left_ = images;
      page_write_error_ = 0;
      in_flight_ += images - 1;  // one write per image; the flush's own count carries over
      for (size_t i = 0; i < staged_pages_.size(); ++i) {
        map_file_->Write(IoContext{}, kMapHeaderBytes + staged_pages_[i] * kMapPageBytes,
                         ConstByteSpan(staging_.get() + i * kMapPageBytes, kMapPageBytes),
                         &flush_step_);
      }
      if (writing_header_) {
        map_file_->Write(
            IoContext{}, 0,
            ConstByteSpan(staging_.get() + staged_pages_.size() * kMapPageBytes, kMapPageBytes),
            &flush_step_);
      }
      return;
    }
    case FlushStep::Phase::kPages:
      if (result < 0 && page_write_error_ == 0) page_write_error_ = result;
      if (--page_writes_left_ > 0) {
        --in_flight_;  // not the last write: the flush goes on
        return;
      }
      if (page_write_error_ < 0) return FinishFlush(page_write_error_);
      flush_step_.phase = FlushStep::Phase::kMapSync;
      return map_file_->Flush(IoContext{}, &flush_step_);
    case FlushStep::Phase::kMapSync:
      if (result < 0 || !writing_header_) return FinishFlush(result);
      // The first flush of a new overlay: make both names durable too.
      flush_step_.phase = FlushStep::Phase::kDirSync;
      return engine_.QueueFsync(dir_fd_, &flush_step_);
    case FlushStep::Phase::kDirSync:
      return FinishFlush(result);
  }
}

void ClientOverlay::FinishFlush(int64_t result) {
  --in_flight_;  // flushing_ still: idle only at the end
  std::vector<BlockRange> punch;
  if (result < 0) {
    // Nothing of this flush can be trusted to be durable, and no later one can be either:
    // Linux reports a writeback error to one fdatasync only and marks the failed pages clean,
    // so the next fdatasync would succeed over lost data, and the map written after it would
    // claim blocks that hold nothing. So this overlay is failed (flush_failed_) until it is
    // reset: its writes, trims and flushes fail, its map is never written again.
    flush_failed_ = result;
    map_.MarkDirty(staged_pages_);
    trimmed_.insert(trimmed_.begin(), punch_after_flush_.begin(), punch_after_flush_.end());
    data_dirty_ = true;
  } else {
    if (writing_header_) header_durable_ = true;
    punch.swap(punch_after_flush_);
  }
  punch_after_flush_.clear();
  std::vector<IoCallback*> completed;
  completed.swap(covered_);
  flushing_ = false;
  if (!punch.empty()) StartPunches(punch);
  for (IoCallback* done : completed) done->IoDone(result < 0 ? result : 0);
  if (!flushing_ && !next_.empty()) StartFlush();
  RunIfIdle();
}

// Punches the holes of blocks whose cleared bits are durable now. A block written again since
// (mapped, or being allocated) keeps its data.
void ClientOverlay::StartPunches(const std::vector<BlockRange>& ranges) {
  for (const BlockRange& r : ranges) {
    uint64_t b = r.first;
    const uint64_t stop = r.first + r.count;
    while (b < stop) {
      while (b < stop && (map_.Test(b) || Busy(b, b))) ++b;
      uint64_t e = b;
      while (e < stop && !map_.Test(e) && !Busy(e, e)) ++e;
      if (e > b) {
        Punch& p = punches_.Acquire();
        p.owner = this;
        p.range = {b, e - b};
        punching_.push_back(p.range);
        ++in_flight_;
        const uint64_t length = std::min(size_bytes_, e * kBlockBytes) - b * kBlockBytes;
        data_->Trim(IoContext{}, b * kBlockBytes, length, &p);
      }
      b = e;
    }
  }
}

void ClientOverlay::Punch::IoDone(int64_t) { owner->PunchDone(*this); }

// A failed punch only costs space: the map no longer points at the block.
void ClientOverlay::PunchDone(Punch& punch) {
  auto it = std::find_if(punching_.begin(), punching_.end(), [&](const BlockRange& r) {
    return r.first == punch.range.first && r.count == punch.range.count;
  });
  if (it != punching_.end()) punching_.erase(it);
  RequestEnded();
  punches_.Release(punch);
  Redispatch();
}

}  // namespace aoe::overlay
