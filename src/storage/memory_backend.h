// MemoryBackend: a fixed-size export held in a byte vector; the in-memory fake of the storage
// seam (style.md principle 2) for target and filter tests.
//
// Every request completes before the call returns (IoDone runs inline). Requests outside
// [0, size_bytes()) complete with -EIO and touch nothing. Owns its bytes; tests inspect and
// prepare them through bytes(). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/block_backend.h"

namespace aoe {

class MemoryBackend final : public BlockBackend {
 public:
  // Zero-filled. A read-only backend refuses writes with -EROFS.
  explicit MemoryBackend(size_t size_bytes, bool read_only = false);

  uint64_t size_bytes() const override { return bytes_.size(); }
  bool read_only() const override { return read_only_; }
  std::string Describe() const override;

  void Read(uint64_t offset_bytes, ByteSpan into, IoCallback* done) override;
  void Write(uint64_t offset_bytes, ConstByteSpan from, IoCallback* done) override;
  void Flush(IoCallback* done) override;

  ByteSpan bytes() { return bytes_; }
  ConstByteSpan bytes() const { return bytes_; }
  // Flushes completed so far, so tests can check that a FLUSH reached storage.
  uint64_t flush_count() const { return flush_count_; }

 private:
  bool Contains(uint64_t offset_bytes, size_t length) const;

  std::vector<std::byte> bytes_;
  bool read_only_;
  uint64_t flush_count_ = 0;
};

}  // namespace aoe
