// WindowFilter: exposes bytes [offset, offset + length) of the inner backend as a whole
// export (the export's `offset=` / `length=` options), like nbdkit's offset filter.
//
// Defence in depth: the target validates LBA ranges before calling, but any access not
// entirely inside the window completes with -EIO here and never reaches the inner backend,
// so no frame can touch bytes outside the export.
//
// Ownership: owns the inner backend. Thread-safety: that of the inner backend.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "storage/block_backend.h"

namespace aoe {

class WindowFilter final : public BlockBackend {
 public:
  // Fails with StorageErrc::kWindowUnaligned unless offset_bytes is a multiple of 512 (so
  // O_DIRECT alignment survives the shift), kWindowEmpty if length_bytes is 0, and
  // kWindowOutsideImage unless the window lies inside the inner backend.
  static Result<std::unique_ptr<BlockBackend>> Create(std::unique_ptr<BlockBackend> inner,
                                                      uint64_t offset_bytes, uint64_t length_bytes);

  uint64_t size_bytes() const override { return length_bytes_; }
  BackendCapabilities capabilities() const override { return inner_->capabilities(); }
  std::string Describe() const override;

  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override;
  ConstByteSpan View(const IoContext& context, uint64_t offset_bytes, size_t length) override;
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override;
  void Flush(const IoContext& context, IoCallback* done) override;
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override;

 private:
  WindowFilter(std::unique_ptr<BlockBackend> inner, uint64_t offset_bytes, uint64_t length_bytes);

  bool Contains(uint64_t offset_bytes, uint64_t length) const;

  std::unique_ptr<BlockBackend> inner_;
  uint64_t offset_bytes_;
  uint64_t length_bytes_;
};

}  // namespace aoe
