// VolatileFile: one file of the power-cut harness (tests/powercut/README.md). Its contents are
// a durable backing file plus the pages written since the last Sync(), which live only in this
// process's memory, the way a disk's volatile write cache holds data until a FLUSH. Reads see
// both; Sync() writes the dirty pages and the size to the backing file and fdatasyncs it. When
// the process dies without Sync(), the backing file still holds exactly the last synced state.
//
// A shrink followed by a growth must read back zeros, not the old bytes the backing file still
// holds beyond the shrink: `stale_from_` marks where the backing file stops being trusted.
//
// Ownership: owns the backing fd. Not thread-safe (the harness is single-threaded).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>

#include "base/result.h"
#include "base/unique_fd.h"

namespace aoe::powercut {

class VolatileFile {
 public:
  static constexpr uint64_t kPageBytes = 4096;

  // `backing` is open read-write; its current size and contents are the durable state.
  static Result<VolatileFile> Open(UniqueFd backing);

  // The size readers see (durable size plus unsynced growth or shrink).
  uint64_t size() const { return size_; }
  // Bytes held in memory only (whole pages).
  uint64_t dirty_bytes() const { return dirty_.size() * kPageBytes; }
  // Whether Sync() has anything to do: dirty pages or a size the backing file does not have.
  bool unsynced() const { return !dirty_.empty() || size_ != durable_size_; }

  // Reads up to out.size() bytes at `offset`; fewer at the end of the file. Returns the count.
  Result<size_t> Read(uint64_t offset, std::span<std::byte> out) const;
  // Writes into memory, growing the file as needed.
  Result<void> Write(uint64_t offset, std::span<const std::byte> data);
  // Truncates or extends (with zeros) in memory.
  Result<void> Resize(uint64_t new_size);
  // Makes the current contents durable. Returns the number of bytes written to the backing file.
  Result<uint64_t> Sync();

 private:
  using Page = std::array<std::byte, kPageBytes>;
  VolatileFile(UniqueFd backing, uint64_t size);

  // Copies durable bytes [offset, offset + out.size()) into out: zeros where the backing file
  // ends or is stale.
  Result<void> ReadDurable(uint64_t offset, std::span<std::byte> out) const;
  // The dirty page `index`, created from the durable bytes on first touch.
  Result<Page*> DirtyPage(uint64_t index);

  UniqueFd backing_;
  uint64_t size_;
  uint64_t durable_size_;  // the backing file's size
  uint64_t stale_from_;    // backing bytes at or past this offset read as zeros until Sync()
  std::map<uint64_t, std::unique_ptr<Page>> dirty_;
};

}  // namespace aoe::powercut
