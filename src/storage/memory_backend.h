// MemoryBackend: a fixed-size export held in a byte vector; the in-memory fake of the storage
// seam (style.md principle 2) for target and filter tests.
//
// Every request completes before the call returns (IoDone runs inline). Requests outside
// [0, size_bytes()) complete with -EIO and touch nothing. Trim zero-fills. Owns its bytes; tests
// inspect and prepare them through bytes(). Not thread-safe.
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
  BackendCapabilities capabilities() const override;
  std::string Describe() const override;

  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override;
  // Views of its bytes once set_offers_views(true), for tests of the layers that pass views on;
  // off by default, so that tests of the target read as before.
  ConstByteSpan View(const IoContext& context, uint64_t offset_bytes, size_t length) override;
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override;
  void Flush(const IoContext& context, IoCallback* done) override;
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override;

  ByteSpan bytes() { return bytes_; }
  ConstByteSpan bytes() const { return bytes_; }
  // Flushes and trims completed so far, so tests can check that they reached storage.
  uint64_t flush_count() const { return flush_count_; }
  uint64_t trim_count() const { return trim_count_; }
  void set_offers_views(bool offers) { offers_views_ = offers; }

 private:
  bool Contains(uint64_t offset_bytes, uint64_t length) const;

  std::vector<std::byte> bytes_;
  bool read_only_;
  bool offers_views_ = false;
  uint64_t flush_count_ = 0;
  uint64_t trim_count_ = 0;
};

}  // namespace aoe
