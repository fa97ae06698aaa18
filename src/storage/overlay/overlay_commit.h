// OverlayCommit: writes a new base version file: the client's base version with the client's
// overlay merged in. The first step of `aoe overlay commit`; OverlayFilter does the rest (the
// checks, the rename, versions.json).
//
// Everything runs on the loop through io_uring, a few 1 MiB chunks in flight, so serving goes on
// meanwhile: first the base is copied (all-zero chunks are left as holes), then, once that is
// done, every block mapped in the snapshot of the client's map is copied from its data file over
// it; finally the file is fdatasync'ed. The base is read through its BlockBackend, whatever its
// kind.
//
// Ownership: holds its sources (shared) and the new file; borrows the engine. Destroy it only
// after `done` ran. Not thread-safe: the loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "storage/block_backend.h"
#include "storage/io_engine.h"
#include "storage/overlay/block_map.h"
#include "storage/overlay/client_overlay.h"

namespace aoe::overlay {

class OverlayCommit {
 public:
  using Done = std::function<void(Result<void>)>;

  struct Source {
    std::shared_ptr<BlockBackend> base;     // the version the overlay was made against
    std::shared_ptr<ClientOverlay> client;  // whose data file holds the blocks
    BlockMap blocks;                        // the client's map when the commit started
  };

  // Creates `path` (replacing a leftover) as large as the base; errors: errno of open/ftruncate.
  static Result<std::unique_ptr<OverlayCommit>> Create(IoEngine& engine, Source source,
                                                       const std::string& path);
  ~OverlayCommit();

  // Copies and syncs; `done` runs once, on the loop.
  void Start(Done done);
  // Abandons the commit: no chunk is started any more, and once those in flight (or the sync
  // of the copy, which may write back much) are done, `done` gets ECANCELED. False, nothing
  // done, once `done` has run (what follows it makes the version and goes on).
  bool Cancel();
  // Whether Cancel() abandoned it (and not an error of the storage that happens to be
  // ECANCELED).
  bool cancelled() const { return cancelled_; }
  uint64_t bytes_copied() const { return bytes_copied_; }
  const Source& source() const { return source_; }

 private:
  static constexpr size_t kChunkBytes = size_t{1} << 20;
  static constexpr size_t kSlots = 4;

  struct Slot final : IoCallback {
    void IoDone(int64_t result) override { owner->SlotDone(*this, result); }
    OverlayCommit* owner = nullptr;
    std::byte* buffer = nullptr;
    uint64_t offset = 0;
    size_t length = 0;
    bool writing = false;
    bool skip_zero = false;
    bool busy = false;
  };
  struct Synced final : IoCallback {
    void IoDone(int64_t result) override { owner->SyncDone(result); }
    OverlayCommit* owner = nullptr;
  };

  OverlayCommit(IoEngine& engine, Source source, std::unique_ptr<BlockBackend> target);
  bool NextChunk(Slot& slot);
  void Pump();
  void SlotDone(Slot& slot, int64_t result);
  void SyncDone(int64_t result);
  void Fail(int64_t result);

  IoEngine& engine_;
  Source source_;
  std::unique_ptr<BlockBackend> target_;
  uint64_t size_bytes_;
  Done done_;
  enum class Phase { kBase, kOverlay, kSync, kDone } phase_ = Phase::kBase;
  uint64_t cursor_ = 0;  // next byte (base phase) or block (overlay phase) to copy
  size_t busy_slots_ = 0;
  bool pumping_ = false;
  bool pump_again_ = false;
  int64_t error_ = 0;
  bool cancelled_ = false;
  uint64_t bytes_copied_ = 0;
  std::vector<Slot> slots_;
  Synced synced_;
};

}  // namespace aoe::overlay
