#include "storage/rbd/rbd_image.h"

namespace aoe {

Result<std::shared_ptr<RbdImage>> RbdImage::Open(std::shared_ptr<CephCluster> cluster,
                                                 const BackendSpec& spec, bool read_only) {
  rados_ioctx_t io = nullptr;
  if (int r = rados_ioctx_create(cluster->handle(), spec.pool.c_str(), &io); r < 0) {
    return Errno(-r);
  }
  // Owned from here on: the destructor closes what was opened.
  std::shared_ptr<RbdImage> image(new RbdImage(std::move(cluster), io, spec.path));
  image->read_only_ = read_only || spec.is_snapshot();
  const char* snapshot = spec.is_snapshot() ? spec.snapshot.c_str() : nullptr;
  int r = image->read_only_ ? rbd_open_read_only(io, spec.image.c_str(), &image->image_, snapshot)
                            : rbd_open(io, spec.image.c_str(), &image->image_, nullptr);
  if (r < 0) {
    image->image_ = nullptr;
    return Errno(-r);
  }
  if (r = rbd_get_size(image->image_, &image->size_bytes_); r < 0) return Errno(-r);
  image->current_size_bytes_.store(image->size_bytes_, std::memory_order_relaxed);
  // Best effort: without the watch the current size stays the size at open, which only loses
  // the check that a write does not run past an image shrunk under the export (RbdBackend).
  if (!image->read_only_ && rbd_update_watch(image->image_, &image->update_watch_,
                                             &RbdImage::OnHeaderUpdate, image.get()) == 0) {
    image->watching_updates_ = true;
    // A resize between the first size and the watch's start is seen by asking once more.
    OnHeaderUpdate(image.get());
  }
  return image;
}

void RbdImage::OnHeaderUpdate(void* arg) {
  // On librbd's own thread, where asking the size may refresh the header from the cluster (as
  // rbd-nbd does in its watch): never on an event loop.
  auto* self = static_cast<RbdImage*>(arg);
  uint64_t bytes = 0;
  if (rbd_get_size(self->image_, &bytes) == 0) {
    self->current_size_bytes_.store(bytes, std::memory_order_relaxed);
  }
}

RbdImage::~RbdImage() {
  // Unwatching waits for a callback that is running, so none runs on a closed image.
  if (watching_updates_) rbd_update_unwatch(image_, update_watch_);
  if (image_ != nullptr) rbd_close(image_);
  rados_ioctx_destroy(io_);
}

}  // namespace aoe
