// ClientOverlay: one initiator's private copy-on-write layer over a base version: a sparse data
// file and an allocation map (overlay_format.h). Reads of blocks the client wrote come from the
// data file, everything else from the base; writes go to the data file only.
//
// Blocks are kBlockBytes (4 KiB). A write that covers only part of a block the overlay does not
// hold yet copies the block up first (reads it from the base, merges the new sectors, writes the
// whole block), so a mapped block never holds bytes the client did not write on top of its base.
// While a block is being allocated (copy-up or first whole write) or its hole is being punched,
// it is busy: later writes and trims that touch it wait, so two partial first writes to one
// block cannot undo each other. Reads never wait; they see the base until the block is mapped.
//
// TRIM clears whole blocks from the map at once (later reads see the base again); the hole is
// punched in the data file only after a flush made the cleared bits durable, so a power cut can
// never leave a mapped block over a hole.
//
// Flush makes everything durable in order: fdatasync of the data file, then the map pages that
// changed (snapshotted when the flush starts, so they describe only writes the fdatasync covers),
// then fdatasync of the map file (and, the first time, fsync of the directory so that both names
// survive). Flushes of one overlay run one at a time; a flush asked for while one runs waits for
// the next, which starts as soon as the running one ends.
//
// Completion and threading as for BlockBackend (the chain's thread). Ownership: owns its two
// files; shares its base with the filter and other overlays; borrows the engine and the
// directory fd, which must outlive it. Destroy it only when idle() (nothing in flight).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "storage/block_backend.h"
#include "storage/io_engine.h"
#include "storage/overlay/block_map.h"
#include "storage/overlay/overlay_format.h"
#include "storage/overlay/pool.h"

namespace aoe::overlay {

struct ClientPaths {
  std::string data;
  std::string map;
};

// A map file as read from disk.
struct MapFile {
  DecodedHeader header;
  std::vector<std::byte> bitmap;  // everything after the header page
};
// Reads `path` whole (start-up and the checker only). Errors: the errno of open/read.
Result<MapFile> ReadMapFile(const std::string& path);

class ClientOverlay {
 public:
  // For tests: a layer put over each of the overlay's two files (storage that fails).
  using FileLayer =
      std::function<std::unique_ptr<BlockBackend>(std::unique_ptr<BlockBackend> file)>;

  // Creates empty files at `paths` (replacing leftovers) for an overlay described by `header`.
  // Nothing is durable until the first Flush. Errors: errno of open/ftruncate.
  static Result<std::unique_ptr<ClientOverlay>> Create(IoEngine& engine, int dir_fd,
                                                       const ClientPaths& paths,
                                                       const MapHeader& header,
                                                       std::shared_ptr<BlockBackend> base,
                                                       const FileLayer& layer = {});
  // Opens an existing overlay whose map file was read into `map` (header valid, sizes checked
  // by the caller).
  static Result<std::unique_ptr<ClientOverlay>> Open(IoEngine& engine, int dir_fd,
                                                     const ClientPaths& paths, const MapFile& map,
                                                     std::shared_ptr<BlockBackend> base);
  ~ClientOverlay();
  ClientOverlay(const ClientOverlay&) = delete;
  ClientOverlay& operator=(const ClientOverlay&) = delete;

  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into, IoCallback* done);
  // A view (BlockBackend::View) of the base where this client has written none of the range, or
  // of its own data file where it has written all of it; none across both.
  ConstByteSpan View(const IoContext& context, uint64_t offset_bytes, size_t length);
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from, IoCallback* done);
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done);
  // Makes everything written so far durable (see above). Once one fails the overlay is
  // failed(): after a failed fdatasync nothing says what was lost, so every later write, trim
  // and flush fails with the same error until the overlay is reset.
  void Flush(IoCallback* done);
  bool failed() const { return flush_failed_ < 0; }
  // The errno of the flush that failed; 0 while none has.
  int failure_errno() const { return static_cast<int>(-flush_failed_); }

  const MapHeader& header() const { return header_; }
  const ClientPaths& paths() const { return paths_; }
  uint64_t base_version() const { return header_.base_version; }
  const BlockMap& map() const { return map_; }
  uint64_t mapped_bytes() const;
  // Something a Flush would make durable.
  bool dirty() const;
  // Block ranges cleared by trims since the last flush started (their holes are punched after
  // the next one).
  size_t trimmed_ranges() const { return trimmed_.size(); }
  // Nothing in flight and no flush running or waiting: safe to destroy.
  bool idle() const;
  // Runs `then` once, as soon as the overlay is idle() (at once if it is). `then` runs inside
  // the overlay's own completions, so it must not destroy the overlay: it can only arrange for
  // that to happen later (OverlayFilter queues an engine no-op).
  void WhenIdle(std::function<void()> then);
  // A write accepted and not yet completed, or a write or trim waiting for a busy block. Such a
  // change is not in map() yet but will be acknowledged: a commit started now would miss it.
  // Reads, flushes and hole punches change nothing a commit copies.
  bool writing() const { return writes_in_flight_ > 0 || !deferred_.empty(); }
  // Bumped by every write and trim accepted: a commit compares it before and after.
  uint64_t change_count() const { return change_count_; }
  BlockBackend& data() { return *data_; }
  const std::shared_ptr<BlockBackend>& base() const { return base_; }

 private:
  ClientOverlay(IoEngine& engine, int dir_fd, ClientPaths paths, const MapHeader& header,
                std::unique_ptr<BlockBackend> data, std::unique_ptr<BlockBackend> map_file,
                std::shared_ptr<BlockBackend> base, bool header_durable);

  struct BlockRange {
    uint64_t first;
    uint64_t count;
  };

  // Requests waiting for a busy block, re-dispatched in arrival order when one is released.
  struct Deferred {
    enum class Op { kWrite, kTrim } op;
    IoContext context;
    uint64_t offset_bytes;
    ConstByteSpan from;
    uint64_t length_bytes;
    IoCallback* done;
  };

  // Completes the caller's request once all of its parts have (reads split between data file
  // and base, writes split into direct runs and copy-ups).
  struct Split final : IoCallback {
    void IoDone(int64_t result) override;
    ClientOverlay* owner = nullptr;
    IoCallback* done = nullptr;
    uint32_t parts = 0;
    int64_t first_error = 0;
    int64_t total = 0;
    bool write = false;
  };
  // A request passed straight to the data file, counted while in flight.
  struct Tracked final : IoCallback {
    void IoDone(int64_t result) override;
    ClientOverlay* owner = nullptr;
    IoCallback* done = nullptr;
    bool write = false;
  };
  // A write of consecutive blocks straight from the caller's buffer; `allocating` are the blocks
  // it maps (busy until it completes).
  struct DirectRun final : IoCallback {
    void IoDone(int64_t result) override;
    ClientOverlay* owner = nullptr;
    IoCallback* parent = nullptr;
    std::vector<uint64_t> allocating;
  };
  // Read the base block, merge the new bytes, write the whole block.
  struct CopyUp final : IoCallback {
    CopyUp();
    void IoDone(int64_t result) override;
    struct FreeAligned {
      void operator()(std::byte* p) const;
    };
    ClientOverlay* owner = nullptr;
    IoCallback* parent = nullptr;
    IoContext context;
    uint64_t block = 0;
    size_t piece_offset = 0;  // inside the block
    ConstByteSpan piece;
    bool writing = false;
    std::unique_ptr<std::byte, FreeAligned> buffer;  // kBlockBytes, 4096-aligned
  };
  // A hole being punched after a flush.
  struct Punch final : IoCallback {
    void IoDone(int64_t result) override;
    ClientOverlay* owner = nullptr;
    BlockRange range{};
  };
  // The steps of the flush in flight.
  struct FlushStep final : IoCallback {
    enum class Phase { kData, kPages, kMapSync, kDirSync } phase = Phase::kData;
    void IoDone(int64_t result) override;
    ClientOverlay* owner = nullptr;
  };

  bool Contains(uint64_t offset_bytes, uint64_t length) const;
  uint64_t BlockLength(uint64_t block) const;
  bool Busy(uint64_t first, uint64_t last) const;  // inclusive range
  // Lists a block cleared by a trim, to punch after the next flush.
  void NoteTrimmed(uint64_t block);
  // Whether blocks first..last (inclusive) all come from one source: true, all the client's own
  // (mapped); false, all the base's; nullopt, some of each.
  std::optional<bool> OneSource(uint64_t first, uint64_t last) const;
  void MarkBusy(uint64_t block);
  void Unbusy(uint64_t block);
  void Defer(const Deferred& request);
  void Redispatch();
  IoCallback* Track(IoCallback* done, bool write);
  void StartCopyUp(const IoContext& context, uint64_t block, uint64_t piece_offset_bytes,
                   ConstByteSpan piece, IoCallback* parent);
  void CopyUpDone(CopyUp& op, int64_t result);
  void DirectRunDone(DirectRun& run, int64_t result);
  void StartFlush();
  void FlushStepDone(int64_t result);
  void FinishFlush(int64_t result);
  // One request of this overlay's own has ended: counts it, and runs when_idle_ if that was the
  // last thing the overlay was waiting for.
  void RequestEnded();
  void RunIfIdle();
  void StartPunches(const std::vector<BlockRange>& ranges);
  void PunchDone(Punch& punch);

  IoEngine& engine_;
  int dir_fd_;
  ClientPaths paths_;
  MapHeader header_;
  std::unique_ptr<BlockBackend> data_;
  std::unique_ptr<BlockBackend> map_file_;
  std::shared_ptr<BlockBackend> base_;
  BlockMap map_;
  uint64_t size_bytes_;

  std::vector<uint64_t> busy_;        // blocks being allocated
  std::vector<BlockRange> punching_;  // holes being punched
  std::vector<BlockRange> trimmed_;   // cleared, to punch after the next flush (NoteTrimmed)
  static constexpr size_t kMinTrimmedCompaction = 1024;
  int64_t flush_failed_ = 0;  // the error of the first flush that failed (-errno), for good
  size_t compact_trimmed_at_ = kMinTrimmedCompaction;  // trimmed_'s size that merges it
  std::vector<Deferred> deferred_;
  std::vector<Deferred> retry_;
  bool redispatching_ = false;
  bool redispatch_again_ = false;
  uint64_t in_flight_ = 0;  // requests this overlay issued to its files and has not seen end
  std::function<void()> when_idle_;
  uint64_t writes_in_flight_ = 0;  // the callers' writes, each counted once however split
  uint64_t change_count_ = 0;
  // Data written since the last flush started. Set when a write completes (as well as when it
  // starts): a write that completes while a flush runs may not be covered by its fdatasync, and
  // the flush asked for after it must not find the overlay clean.
  bool data_dirty_ = false;

  // Flush state.
  bool header_durable_;
  bool flushing_ = false;
  std::vector<IoCallback*> covered_;  // waiting for the flush in flight
  std::vector<IoCallback*> next_;     // waiting for the next one
  FlushStep flush_step_;
  std::vector<uint64_t> staged_pages_;
  std::unique_ptr<std::byte, CopyUp::FreeAligned> staging_;  // page images being written
  size_t staging_pages_capacity_ = 0;
  size_t page_writes_left_ = 0;
  int64_t page_write_error_ = 0;
  bool writing_header_ = false;
  std::vector<BlockRange> punch_after_flush_;

  Pool<Split> splits_;
  Pool<Tracked> tracked_;
  Pool<DirectRun> runs_;
  Pool<CopyUp> copy_ups_;
  Pool<Punch> punches_;
};

}  // namespace aoe::overlay
