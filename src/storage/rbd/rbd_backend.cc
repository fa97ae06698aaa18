#include "storage/rbd/rbd_backend.h"

#include <fmt/format.h>

#include <cerrno>

#include "storage/chain.h"

namespace aoe {

RbdBackend::RbdBackend(std::shared_ptr<RbdImage> image, CompletionQueue& completions)
    : image_(std::move(image)), completions_(completions) {}

RbdBackend::~RbdBackend() {
  // librbd still holds pointers to the requests in flight; their results must come back first.
  while (in_flight_ > 0) completions_.WaitAndReap(100);
}

BackendCapabilities RbdBackend::capabilities() const {
  const bool read_only = image_->read_only();
  // librbd's cache is off (CephCluster::Connect): a write is acknowledged once the OSDs have
  // it, so neither a crash of this process nor a power cut of its host can lose it.
  return BackendCapabilities{.read_only = read_only,
                             .can_trim = !read_only,
                             .trim_reads_zeroes = !read_only,
                             .unflushed_writes = BackendCapabilities::UnflushedWrites::kNone};
}

std::unique_ptr<BlockBackend> RbdBackend::ShareWithThread(StorageServices& services) {
  return std::make_unique<RbdBackend>(image_, services.completions);
}

std::string RbdBackend::Describe() const { return fmt::format("rbd({})", image_->name()); }

RbdBackend::Request* RbdBackend::Take(IoCallback* done, int64_t success) {
  if (free_.empty()) {
    requests_.push_back(std::make_unique<Request>());
    free_.push_back(requests_.back().get());
  }
  Request* request = free_.back();
  free_.pop_back();
  request->owner = this;
  request->done = done;
  request->success = success;
  request->must_fill = false;
  ++in_flight_;
  return request;
}

void RbdBackend::OnComplete(rbd_completion_t completion, void* arg) {
  auto* request = static_cast<Request*>(arg);
  const int64_t result = rbd_aio_get_return_value(completion);
  rbd_aio_release(completion);
  request->owner->completions_.Post(request, result);
}

rbd_completion_t RbdBackend::Completion(Request& request) {
  rbd_completion_t completion = nullptr;
  if (int r = rbd_aio_create_completion(&request, &RbdBackend::OnComplete, &completion); r < 0) {
    Finish(request, r);
    return nullptr;
  }
  return completion;
}

void RbdBackend::Started(Request& request, rbd_completion_t completion, int r) {
  if (r >= 0) return;
  // Not queued: librbd will not call back.
  rbd_aio_release(completion);
  Finish(request, r);
}

void RbdBackend::Finish(Request& request, int64_t result) {
  IoCallback* done = request.done;
  int64_t reported = result < 0 ? result : request.success;
  // A read cut short: the rest of the buffer holds whatever was there before.
  if (request.must_fill && result >= 0 && result < request.success) reported = -EIO;
  free_.push_back(&request);
  --in_flight_;
  done->IoDone(reported);
}

void RbdBackend::Read(const IoContext&, uint64_t offset_bytes, ByteSpan into, IoCallback* done) {
  Request* request = Take(done, static_cast<int64_t>(into.size()));
  request->must_fill = true;
  rbd_completion_t completion = Completion(*request);
  if (completion == nullptr) return;
  Started(*request, completion,
          rbd_aio_read(image_->handle(), offset_bytes, into.size(),
                       reinterpret_cast<char*>(into.data()), completion));
}

void RbdBackend::Write(const IoContext&, uint64_t offset_bytes, ConstByteSpan from,
                       IoCallback* done) {
  if (image_->read_only()) {
    done->IoDone(-EROFS);
    return;
  }
  // librbd cuts a write that runs past the image's end short there and reports success: after
  // another client shrank the image under the export, the initiator would be told that sectors
  // were stored which were dropped. Such a write fails instead, as a read across the end does
  // (must_fill). The size comes from librbd's header watch (RbdImage), so this never waits.
  if (offset_bytes + from.size() > image_->current_size_bytes()) {
    done->IoDone(-EIO);
    return;
  }
  Request* request = Take(done, static_cast<int64_t>(from.size()));
  rbd_completion_t completion = Completion(*request);
  if (completion == nullptr) return;
  Started(*request, completion,
          rbd_aio_write(image_->handle(), offset_bytes, from.size(),
                        reinterpret_cast<const char*>(from.data()), completion));
}

void RbdBackend::Flush(const IoContext&, IoCallback* done) {
  if (image_->read_only()) {
    done->IoDone(0);  // nothing was written through this image
    return;
  }
  Request* request = Take(done, 0);
  rbd_completion_t completion = Completion(*request);
  if (completion == nullptr) return;
  Started(*request, completion, rbd_aio_flush(image_->handle(), completion));
}

void RbdBackend::Trim(const IoContext&, uint64_t offset_bytes, uint64_t length_bytes,
                      IoCallback* done) {
  if (image_->read_only()) {
    done->IoDone(-EROFS);
    return;
  }
  // librbd cuts a discard short at the image's end too (see Write).
  if (offset_bytes + length_bytes > image_->current_size_bytes()) {
    done->IoDone(-EIO);
    return;
  }
  Request* request = Take(done, 0);
  rbd_completion_t completion = Completion(*request);
  if (completion == nullptr) return;
  Started(*request, completion,
          rbd_aio_discard(image_->handle(), offset_bytes, length_bytes, completion));
}

}  // namespace aoe
