// The aoekit-rbd module's entry points (rbd_module.h): connect to the cluster, open the image,
// return its backend. Built into rbd.so only, never into `aoe`.
#include "storage/rbd/rbd_module.h"

#include "storage/rbd/ceph_cluster.h"
#include "storage/rbd/rbd_backend.h"
#include "storage/rbd/rbd_image.h"
#include "storage/rbd/rbd_metadata.h"

namespace aoe {
namespace {

Result<OpenedBackend> OpenImage(CompletionQueue& completions, const BackendSpec& spec,
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

}  // namespace
}  // namespace aoe

// The version of aoekit this module was built with; `aoe` loads only its own.
extern "C" __attribute__((visibility("default"))) const char aoekit_rbd_module_version[] =
    AOE_VERSION;

// Checked against RbdModuleOpen where `aoe` looks it up.
extern "C" __attribute__((visibility("default"))) void aoekit_rbd_open(
    aoe::Result<aoe::OpenedBackend>* result, aoe::CompletionQueue& completions,
    const aoe::BackendSpec& spec, bool read_only) {
  *result = aoe::OpenImage(completions, spec, read_only);
}

// The symbol has the type `aoe` calls it through.
static_assert(std::is_same_v<decltype(&aoekit_rbd_open), aoe::RbdModuleOpen>);
