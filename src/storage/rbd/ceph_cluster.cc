#include "storage/rbd/ceph_cluster.h"

#include <cerrno>
#include <cstring>

#include "storage/storage_error.h"

namespace aoe {
namespace {

// Replaces Ceph's default for `option` (`ceph_default`) with aoekit's; a value ceph.conf set is
// kept.
int DefaultUnlessConfigured(rados_t cluster, const char* option, const char* ceph_default,
                            const char* ours) {
  char value[64] = {};
  if (int r = rados_conf_get(cluster, option, value, sizeof value); r < 0) return r;
  if (std::strcmp(value, ceph_default) != 0) return 0;
  return rados_conf_set(cluster, option, ours);
}

// Sets what every aoekit client needs (see the header). Returns 0 or -errno.
int ApplyClientSettings(rados_t cluster) {
  struct Setting {
    const char* option;
    const char* ceph_default;
    const char* ours;
  };
  static constexpr Setting kTimeouts[] = {
      {"client_mount_timeout", "300", "10"},
      {"rados_mon_op_timeout", "0", "15"},
      {"rados_osd_op_timeout", "0", "15"},
  };
  for (const Setting& s : kTimeouts) {
    if (int r = DefaultUnlessConfigured(cluster, s.option, s.ceph_default, s.ours); r < 0) return r;
  }
  if (int r = rados_conf_set(cluster, "rbd_cache", "false"); r < 0) return r;
  return rados_conf_set(cluster, "rbd_skip_partial_discard", "false");
}

}  // namespace

Result<std::shared_ptr<CephCluster>> CephCluster::Connect(const CephClientOptions& options) {
  rados_t cluster = nullptr;
  if (int r = rados_create(&cluster, options.id.empty() ? nullptr : options.id.c_str()); r < 0) {
    return Errno(-r);
  }
  // Owned from here on, so every failure below shuts it down.
  std::shared_ptr<CephCluster> owned(new CephCluster(cluster));
  if (rados_conf_read_file(cluster,
                           options.conf_path.empty() ? nullptr : options.conf_path.c_str()) < 0) {
    return StorageError(StorageErrc::kCephConfigUnreadable);
  }
  if (!options.keyring.empty()) {
    if (int r = rados_conf_set(cluster, "keyring", options.keyring.c_str()); r < 0) {
      return Errno(-r);
    }
  }
  if (int r = ApplyClientSettings(cluster); r < 0) return Errno(-r);
  if (int r = rados_connect(cluster); r < 0) {
    if (r == -ETIMEDOUT) return StorageError(StorageErrc::kCephUnreachable);
    // EACCES: a key the monitors do not accept; EPERM: no key for this client in the keyring.
    if (r == -EACCES || r == -EPERM) return StorageError(StorageErrc::kCephKeyRefused);
    return Errno(-r);
  }
  return owned;
}

CephCluster::~CephCluster() { rados_shutdown(cluster_); }

}  // namespace aoe
