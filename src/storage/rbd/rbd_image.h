// RbdImage: one open RBD image (librbd `rbd_image_t`), or a snapshot of it, with the pool I/O
// context and the cluster connection it needs. The block backends (one per event loop,
// RbdBackend::ShareWithThread) and the image's metadata share it (rbd_backend.h,
// rbd_metadata.h), so it lives until all are gone; whichever goes last closes it, on its own
// thread (a network round trip: a copy whose commands outlived its export's close deadline
// closes it on its loop).
//
// Open() blocks (network round trips): start-up and reload only.
//
// Thread-safety: librbd's calls on one image may come from several threads. The one state of
// this type's own after Open(), the image's current size, is an atomic that librbd's header
// watch thread stores and the event loops load. The last reference must not be dropped on a
// librbd thread: the destructor's rbd_update_unwatch waits for a running watch callback, which
// may wait for a header refresh that needs librbd's threads.
#pragma once

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <atomic>
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
  // The size when opened: what the export serves until it is opened again (reload).
  uint64_t size_bytes() const { return size_bytes_; }
  // The size the image has now, as librbd last heard through its header watch (within a moment
  // of a resize by another client). Reading it never waits for the cluster.
  uint64_t current_size_bytes() const {
    return current_size_bytes_.load(std::memory_order_relaxed);
  }
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
  std::atomic<uint64_t> current_size_bytes_{0};
  uint64_t update_watch_ = 0;
  bool watching_updates_ = false;
  bool read_only_ = false;

  // librbd's header watch: the image changed (a resize, among others).
  static void OnHeaderUpdate(void* arg);
};

}  // namespace aoe
