#include "storage/window_filter.h"

#include <fmt/format.h>

#include <cassert>
#include <cerrno>
#include <utility>

#include "storage/storage_error.h"

namespace aoe {

Result<std::unique_ptr<BlockBackend>> WindowFilter::Create(std::unique_ptr<BlockBackend> inner,
                                                           uint64_t offset_bytes,
                                                           uint64_t length_bytes) {
  assert(inner != nullptr);
  if (offset_bytes % 512 != 0) return StorageError(StorageErrc::kWindowUnaligned);
  if (length_bytes == 0) return StorageError(StorageErrc::kWindowEmpty);
  const uint64_t inner_size = inner->size_bytes();
  if (offset_bytes > inner_size || length_bytes > inner_size - offset_bytes) {
    return StorageError(StorageErrc::kWindowOutsideImage);
  }
  return std::unique_ptr<BlockBackend>(
      new WindowFilter(std::move(inner), offset_bytes, length_bytes));
}

WindowFilter::WindowFilter(std::unique_ptr<BlockBackend> inner, uint64_t offset_bytes,
                           uint64_t length_bytes)
    : inner_(std::move(inner)), offset_bytes_(offset_bytes), length_bytes_(length_bytes) {}

std::string WindowFilter::Describe() const {
  return fmt::format("window(offset={},length={}) <- {}", offset_bytes_, length_bytes_,
                     inner_->Describe());
}

bool WindowFilter::Contains(uint64_t offset_bytes, uint64_t length) const {
  // Written so that no sum can overflow, whatever offset a caller passes.
  return length <= length_bytes_ && offset_bytes <= length_bytes_ - length;
}

void WindowFilter::Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
                        IoCallback* done) {
  if (!Contains(offset_bytes, into.size())) return done->IoDone(-EIO);
  inner_->Read(context, offset_bytes_ + offset_bytes, into, done);
}

ConstByteSpan WindowFilter::View(const IoContext& context, uint64_t offset_bytes, size_t length) {
  if (!Contains(offset_bytes, length)) return {};
  return inner_->View(context, offset_bytes_ + offset_bytes, length);
}

void WindowFilter::Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
                         IoCallback* done) {
  if (!Contains(offset_bytes, from.size())) return done->IoDone(-EIO);
  inner_->Write(context, offset_bytes_ + offset_bytes, from, done);
}

void WindowFilter::Flush(const IoContext& context, IoCallback* done) {
  inner_->Flush(context, done);
}

void WindowFilter::Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
                        IoCallback* done) {
  if (!Contains(offset_bytes, length_bytes)) return done->IoDone(-EIO);
  inner_->Trim(context, offset_bytes_ + offset_bytes, length_bytes, done);
}

}  // namespace aoe
