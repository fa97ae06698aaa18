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
  return image;
}

RbdImage::~RbdImage() {
  if (image_ != nullptr) rbd_close(image_);
  rados_ioctx_destroy(io_);
}

}  // namespace aoe
