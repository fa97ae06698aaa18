#include "storage/memory_backend.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace aoe {

MemoryBackend::MemoryBackend(size_t size_bytes, bool read_only)
    : bytes_(size_bytes), read_only_(read_only) {}

std::string MemoryBackend::Describe() const {
  return fmt::format("memory(size={}{})", bytes_.size(), read_only_ ? ",ro" : "");
}

BackendCapabilities MemoryBackend::capabilities() const {
  // Every request completes during the call, so kNoWait needs nothing more, and a write's
  // data is copied before the call returns.
  return {.read_only = read_only_,
          .can_trim = !read_only_,
          .trim_reads_zeroes = true,
          .no_wait_reads = true,
          .copies_write_data_in_turn = true,
          .unflushed_writes = BackendCapabilities::UnflushedWrites::kNotKept};
}

bool MemoryBackend::Contains(uint64_t offset_bytes, uint64_t length) const {
  // Written so that no sum can overflow.
  return length <= bytes_.size() && offset_bytes <= bytes_.size() - length;
}

void MemoryBackend::Read(const IoContext&, uint64_t offset_bytes, ByteSpan into, IoCallback* done) {
  if (!Contains(offset_bytes, into.size())) return done->IoDone(-EIO);
  if (!into.empty()) std::memcpy(into.data(), bytes_.data() + offset_bytes, into.size());
  done->IoDone(static_cast<int64_t>(into.size()));
}

ConstByteSpan MemoryBackend::View(const IoContext&, uint64_t offset_bytes, size_t length) {
  if (!offers_views_ || !Contains(offset_bytes, length)) return {};
  return ConstByteSpan(bytes_).subspan(offset_bytes, length);
}

void MemoryBackend::Write(const IoContext&, uint64_t offset_bytes, ConstByteSpan from,
                          IoCallback* done) {
  if (read_only_) return done->IoDone(-EROFS);
  if (!Contains(offset_bytes, from.size())) return done->IoDone(-EIO);
  if (!from.empty()) std::memcpy(bytes_.data() + offset_bytes, from.data(), from.size());
  done->IoDone(static_cast<int64_t>(from.size()));
}

void MemoryBackend::Flush(const IoContext&, IoCallback* done) {
  ++flush_count_;
  done->IoDone(0);
}

void MemoryBackend::Trim(const IoContext&, uint64_t offset_bytes, uint64_t length_bytes,
                         IoCallback* done) {
  if (read_only_) return done->IoDone(-EROFS);
  if (!Contains(offset_bytes, length_bytes)) return done->IoDone(-EIO);
  std::memset(bytes_.data() + offset_bytes, 0, static_cast<size_t>(length_bytes));
  ++trim_count_;
  done->IoDone(0);
}

}  // namespace aoe
