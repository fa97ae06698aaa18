#include "storage/overlay/overlay_commit.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "storage/file_backend.h"

namespace aoe::overlay {

Result<std::unique_ptr<OverlayCommit>> OverlayCommit::Create(IoEngine& engine, Source source,
                                                             const std::string& path) {
  const uint64_t size_bytes = source.base->size_bytes();
  {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return Errno();
    if (::ftruncate(fd.get(), static_cast<off_t>(size_bytes)) != 0) return Errno();
  }
  auto opened = OpenFileBackend(engine, path, FileOptions{});
  if (!opened) return Unexpected{opened.error()};
  return std::unique_ptr<OverlayCommit>(
      new OverlayCommit(engine, std::move(source), std::move(opened->backend)));
}

OverlayCommit::OverlayCommit(IoEngine& engine, Source source, std::unique_ptr<BlockBackend> target)
    : engine_(engine),
      source_(std::move(source)),
      target_(std::move(target)),
      size_bytes_(source_.base->size_bytes()),
      slots_(kSlots) {
  for (Slot& s : slots_) {
    s.owner = this;
    s.buffer = static_cast<std::byte*>(std::aligned_alloc(4096, kChunkBytes));
  }
  synced_.owner = this;
}

OverlayCommit::~OverlayCommit() {
  assert(busy_slots_ == 0);
  for (Slot& s : slots_) std::free(s.buffer);
}

void OverlayCommit::Start(Done done) {
  done_ = std::move(done);
  Pump();
}

bool OverlayCommit::NextChunk(Slot& slot) {
  if (phase_ == Phase::kBase) {
    if (cursor_ >= size_bytes_) return false;
    slot.offset = cursor_;
    slot.length = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, size_bytes_ - cursor_));
    slot.skip_zero = true;  // the new file is all holes: zeroes need no write
    cursor_ += slot.length;
    return true;
  }
  // Overlay phase: the next run of mapped blocks, at most one chunk.
  const uint64_t blocks = source_.blocks.block_count();
  const uint64_t first = source_.blocks.NextMapped(cursor_, blocks);
  if (first >= blocks) return false;
  uint64_t end = first + 1;
  while (end < blocks && end - first < kChunkBytes / kBlockBytes && source_.blocks.Test(end)) ++end;
  cursor_ = end;
  slot.offset = first * kBlockBytes;
  slot.length = static_cast<size_t>(std::min(size_bytes_, end * kBlockBytes) - slot.offset);
  slot.skip_zero = false;  // zeroes the client wrote must replace the base's bytes
  return true;
}

// Keeps every slot busy while there is work, and moves to the next phase when a phase's work is
// all done. Completions may arrive inline (memory bases), so it never recurses: a call made
// while pumping asks the running one for another round.
void OverlayCommit::Pump() {
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    for (Slot& s : slots_) {
      if (s.busy || error_ < 0 || phase_ == Phase::kSync || phase_ == Phase::kDone) continue;
      if (!NextChunk(s)) continue;
      s.busy = true;
      s.writing = false;
      ++busy_slots_;
      ByteSpan into(s.buffer, s.length);
      if (phase_ == Phase::kBase) {
        source_.base->Read(IoContext{}, s.offset, into, &s);
      } else {
        source_.client->data().Read(IoContext{}, s.offset, into, &s);
      }
    }
    if (busy_slots_ > 0 || phase_ == Phase::kSync || phase_ == Phase::kDone) continue;
    if (error_ < 0) {
      Fail(error_);
    } else if (phase_ == Phase::kBase) {
      // Only now: an overlay block must land after the base chunk that covers it.
      phase_ = Phase::kOverlay;
      cursor_ = 0;
      pump_again_ = true;
    } else {
      phase_ = Phase::kSync;
      target_->Flush(IoContext{}, &synced_);
    }
  } while (pump_again_);
  pumping_ = false;
}

void OverlayCommit::SlotDone(Slot& slot, int64_t result) {
  if (result >= 0 && !slot.writing && error_ == 0) {  // (no write once failed or abandoned)
    const bool zero = slot.skip_zero && std::all_of(slot.buffer, slot.buffer + slot.length,
                                                    [](std::byte b) { return b == std::byte{0}; });
    if (!zero) {
      slot.writing = true;
      return target_->Write(IoContext{}, slot.offset, ConstByteSpan(slot.buffer, slot.length),
                            &slot);
    }
  }
  if (result < 0 && error_ == 0) error_ = result;
  if (result >= 0) bytes_copied_ += slot.length;
  slot.busy = false;
  --busy_slots_;
  Pump();
}

bool OverlayCommit::Cancel() {
  if (phase_ == Phase::kDone) return false;
  cancelled_ = true;
  if (phase_ == Phase::kSync) return true;  // SyncDone fails it
  if (error_ == 0) error_ = -ECANCELED;
  Pump();  // with no chunk in flight, fails at once
  return true;
}

void OverlayCommit::SyncDone(int64_t result) {
  if (cancelled_) return Fail(-ECANCELED);
  if (result < 0) return Fail(result);
  phase_ = Phase::kDone;
  Done done = std::move(done_);
  done({});
}

void OverlayCommit::Fail(int64_t result) {
  phase_ = Phase::kDone;
  Done done = std::move(done_);
  done(Errno(static_cast<int>(-result)));
}

}  // namespace aoe::overlay
