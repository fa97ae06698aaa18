// RbdImage: one open RBD image (librbd `rbd_image_t`), or a snapshot of it, with the pool I/O
// context and the cluster connection it needs. The block backends (one per event loop,
// RbdBackend::ShareWithThread) and the image's metadata share it (rbd_backend.h,
// rbd_metadata.h), so it lives until all are gone; whichever goes last closes it, on its own
// thread (a network round trip: a copy whose commands outlived its export's close deadline
// closes it on its loop).
//
// Open() blocks (network round trips): start-up and reload only.
//
// Thread-safety: librbd's calls on one image may come from several threads; this type adds no
// state of its own after Open().
#pragma once

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "storage/backend_spec.h"
#include "storage/rbd/ceph_cluster.h"

namespace aoe {

class RbdImage {
 public:
  // Opens spec.pool/spec.image (at spec.snapshot, read-only, if one is named). `read_only` opens
  // the image itself read-only too. Errors: the errno of librados/librbd (ENOENT for a pool,
  // image or snapshot that does not exist).
  static Result<std::shared_ptr<RbdImage>> Open(std::shared_ptr<CephCluster> cluster,
                                                const BackendSpec& spec, bool read_only);
  ~RbdImage();

  RbdImage(const RbdImage&) = delete;
  RbdImage& operator=(const RbdImage&) = delete;

  rbd_image_t handle() const { return image_; }
  uint64_t size_bytes() const { return size_bytes_; }
  bool read_only() const { return read_only_; }
  // "rbd/disk" or "rbd/disk@snap", for log lines.
  const std::string& name() const { return name_; }

 private:
  RbdImage(std::shared_ptr<CephCluster> cluster, rados_ioctx_t io, std::string name)
      : cluster_(std::move(cluster)), io_(io), name_(std::move(name)) {}

  std::shared_ptr<CephCluster> cluster_;
  rados_ioctx_t io_;
  rbd_image_t image_ = nullptr;
  std::string name_;
  uint64_t size_bytes_ = 0;
  bool read_only_ = false;
};

}  // namespace aoe
