// CephCluster: one connection (librados `rados_t`) to a Ceph cluster, made with an export's
// CephClientOptions, and the settings aoekit needs from every client it makes:
//
// - Timeouts, so that a cluster that stops answering yields errors instead of a stuck target:
//   client_mount_timeout (connect; default here 10 s), rados_mon_op_timeout and
//   rados_osd_op_timeout (every operation, each I/O included; default here 15 s). Values set in
//   ceph.conf win; only Ceph's own defaults (300 s, and no timeout at all) are replaced.
// - rbd_cache = false: librbd's cache is per process, so two targets that each cached one image
//   could serve stale data (docs/ceph.md, "Caching"). ceph.conf cannot turn it back on.
// - rbd_skip_partial_discard = false: a discard that covers part of an object zeroes that part,
//   so a trimmed range always reads back as zeroes (rbd_backend.h).
//
// librados reconnects on its own when the cluster comes back. Connect() blocks up to the connect
// timeout: start-up and reload only.
//
// Ownership: shared by the images opened through it (rbd_image.h), which keep it alive; the
// connection shuts down when the last one is gone. Thread-safe (librados is).
#pragma once

#include <rados/librados.h>

#include <memory>
#include <string>

#include "base/result.h"
#include "storage/backend_spec.h"

namespace aoe {

class CephCluster {
 public:
  // Errors: StorageErrc::kCephConfigUnreadable, kCephUnreachable, kCephKeyRefused (a key the
  // monitors refuse, or none in the keyring for ceph_id), or the errno of librados.
  static Result<std::shared_ptr<CephCluster>> Connect(const CephClientOptions& options);
  ~CephCluster();

  CephCluster(const CephCluster&) = delete;
  CephCluster& operator=(const CephCluster&) = delete;

  rados_t handle() const { return cluster_; }

 private:
  explicit CephCluster(rados_t cluster) : cluster_(cluster) {}

  rados_t cluster_;
};

}  // namespace aoe
