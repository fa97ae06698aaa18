// OpenRbdBackend with librbd (see rbd_open.h).
#include "storage/rbd/rbd_open.h"

#include "storage/rbd/ceph_cluster.h"
#include "storage/rbd/rbd_backend.h"
#include "storage/rbd/rbd_image.h"
#include "storage/rbd/rbd_metadata.h"

namespace aoe {

Result<OpenedBackend> OpenRbdBackend(CompletionQueue& completions, const BackendSpec& spec,
                                     bool read_only) {
  auto cluster = CephCluster::Connect(spec.ceph);
  AOE_TRY(cluster);
  auto image = RbdImage::Open(std::move(*cluster), spec, read_only);
  AOE_TRY(image);
  OpenedBackend opened;
  // A read-only image cannot change its metadata: such exports keep their state in files.
  if (!(*image)->read_only()) opened.shared_metadata = std::make_shared<RbdMetadata>(*image);
  opened.backend = std::make_unique<RbdBackend>(std::move(*image), completions);
  return opened;
}

}  // namespace aoe
