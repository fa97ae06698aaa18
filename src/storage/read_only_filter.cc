#include "storage/read_only_filter.h"

#include <cassert>
#include <cerrno>
#include <utility>

namespace aoe {

ReadOnlyFilter::ReadOnlyFilter(std::unique_ptr<BlockBackend> inner) : inner_(std::move(inner)) {
  assert(inner_ != nullptr);
}

std::string ReadOnlyFilter::Describe() const { return "readonly <- " + inner_->Describe(); }

BackendCapabilities ReadOnlyFilter::capabilities() const {
  BackendCapabilities c = inner_->capabilities();
  c.read_only = true;
  c.can_trim = false;
  return c;
}

void ReadOnlyFilter::Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
                          IoCallback* done) {
  inner_->Read(context, offset_bytes, into, done);
}

void ReadOnlyFilter::Write(const IoContext&, uint64_t, ConstByteSpan, IoCallback* done) {
  done->IoDone(-EROFS);
}

void ReadOnlyFilter::Flush(const IoContext&, IoCallback* done) { done->IoDone(0); }

void ReadOnlyFilter::Trim(const IoContext&, uint64_t, uint64_t, IoCallback* done) {
  done->IoDone(-EROFS);
}

}  // namespace aoe
