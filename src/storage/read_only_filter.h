// ReadOnlyFilter: makes any backend read-only. Writes and trims complete with -EROFS without
// reaching the inner backend; reads pass through; flushes complete at once (nothing was
// written).
//
// Ownership: owns the inner backend. Thread-safety: that of the inner backend.
#pragma once

#include <memory>
#include <string>

#include "storage/block_backend.h"

namespace aoe {

class ReadOnlyFilter final : public BlockBackend {
 public:
  explicit ReadOnlyFilter(std::unique_ptr<BlockBackend> inner);

  uint64_t size_bytes() const override { return inner_->size_bytes(); }
  BackendCapabilities capabilities() const override;
  std::string Describe() const override;

  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override;
  ConstByteSpan View(const IoContext& context, uint64_t offset_bytes, size_t length) override {
    return inner_->View(context, offset_bytes, length);
  }
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override;
  void Flush(const IoContext& context, IoCallback* done) override;
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override;

 private:
  std::unique_ptr<BlockBackend> inner_;
};

}  // namespace aoe
