#include "storage/read_only_filter.h"

#include <cassert>
#include <cerrno>
#include <utility>

namespace aoe {

ReadOnlyFilter::ReadOnlyFilter(std::unique_ptr<BlockBackend> inner) : inner_(std::move(inner)) {
  assert(inner_ != nullptr);
}

std::string ReadOnlyFilter::Describe() const { return "readonly <- " + inner_->Describe(); }

void ReadOnlyFilter::Read(uint64_t offset_bytes, ByteSpan into, IoCallback* done) {
  inner_->Read(offset_bytes, into, done);
}

void ReadOnlyFilter::Write(uint64_t, ConstByteSpan, IoCallback* done) { done->IoDone(-EROFS); }

void ReadOnlyFilter::Flush(IoCallback* done) { done->IoDone(0); }

}  // namespace aoe
