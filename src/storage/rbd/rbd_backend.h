// RbdBackend: an export stored in a Ceph RBD image, through librbd's asynchronous C API
// (rbd_aio_read/write/flush/discard), so many requests are in flight at once and the loop never
// waits for the cluster.
//
// librbd runs each completion callback on one of its own threads; the callback only posts the
// result to the CompletionQueue, and the request completes on the loop thread from
// CompletionQueue::Reap() (block_backend.h's completion model).
//
// One image, several loops: each loop drives an RbdBackend of its own (ShareWithThread), with
// its own requests and CompletionQueue, over one shared RbdImage; librbd takes calls on one
// image from several threads.
//
// - Flush is rbd_aio_flush: it returns once every write that completed before it is stored by
//   the OSDs (with librbd's cache on, writes are acknowledged from the cache, so this is what
//   makes FLUSH CACHE mean what it says; aoekit turns the cache off anyway, ceph_cluster.h).
// - Trim is rbd_aio_discard. Whole objects are removed and partial ones zeroed
//   (rbd_skip_partial_discard = false), so a trimmed range reads back as zeroes.
// - A request the cluster does not answer fails with -ETIMEDOUT after rados_osd_op_timeout.
// - The size is the image's size when it was opened; a reload opens it again (docs/ceph.md).
//
// Ownership: the backend shares its RbdImage (the state store may hold it too) and borrows the
// CompletionQueue, which must outlive it. Destroying the backend with requests in flight reaps
// the queue until they are back, so no completion reaches a destroyed backend. Not thread-safe:
// one thread drives the backend.
#pragma once

#include <rbd/librbd.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/block_backend.h"
#include "storage/completion_queue.h"
#include "storage/rbd/rbd_image.h"

namespace aoe {

class RbdBackend final : public BlockBackend {
 public:
  RbdBackend(std::shared_ptr<RbdImage> image, CompletionQueue& completions);
  ~RbdBackend() override;

  uint64_t size_bytes() const override { return image_->size_bytes(); }
  BackendCapabilities capabilities() const override;
  std::string Describe() const override;

  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override;
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override;
  void Flush(const IoContext& context, IoCallback* done) override;
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override;
  // Another RbdBackend over the same RbdImage, completing through `services.completions`: the
  // process keeps one handle of the image (and one exclusive lock), however many loops serve it.
  std::unique_ptr<BlockBackend> ShareWithThread(StorageServices& services) override;

 private:
  // One request in flight. Reused: taken from and given back to free_ on the loop thread.
  struct Request final : IoCallback {
    RbdBackend* owner = nullptr;
    IoCallback* done = nullptr;
    int64_t success = 0;  // what IoDone reports when librbd succeeds: the length, or 0
    // A read: librbd must return all `success` bytes. It cuts a request short at the image's
    // end as it is now, which another client may have moved (rbd resize --allow-shrink).
    bool must_fill = false;
    void IoDone(int64_t result) override { owner->Finish(*this, result); }
  };

  // librbd's thread: posts the result to the loop.
  static void OnComplete(rbd_completion_t completion, void* arg);

  Request* Take(IoCallback* done, int64_t success);
  // Creates the completion for `request`; on failure completes it with the error and returns
  // nullptr.
  rbd_completion_t Completion(Request& request);
  // Completes `request` with librbd's error if `r` (the aio call's result) is one.
  void Started(Request& request, rbd_completion_t completion, int r);
  void Finish(Request& request, int64_t result);

  std::shared_ptr<RbdImage> image_;
  CompletionQueue& completions_;
  std::vector<std::unique_ptr<Request>> requests_;  // every Request ever made
  std::vector<Request*> free_;
  size_t in_flight_ = 0;
};

}  // namespace aoe
