// OpenRbdBackend: the base of an `rbd:POOL/IMAGE[@SNAP]` export (storage/chain.h's OpenBase).
// Loads the aoekit-rbd module (rbd_module.h) the first time, then has it connect to the cluster
// (ceph_cluster.h), open the image (rbd_image.h) and return its BlockBackend (rbd_backend.h)
// with the image's SharedMetadata (rbd_metadata.h). Blocks while it connects and opens, at most
// about the connect timeout: start-up and reload only.
#pragma once

#include <string>

#include "base/result.h"
#include "storage/backend_spec.h"
#include "storage/completion_queue.h"
#include "storage/file_backend.h"

namespace aoe {

// `read_only` opens the image read-only (an `ro` export, or a base under an overlay); a snapshot
// is always read-only. Errors: StorageErrc::kRbdModuleMissing, kRbdModuleUnloadable,
// kRbdModuleMismatch (the module), kCephConfigUnreadable, kCephUnreachable, kCephKeyRefused, and
// the errno librados or librbd return (ENOENT: no such pool or image or snapshot; EACCES/EPERM:
// the key may not open it).
Result<OpenedBackend> OpenRbdBackend(CompletionQueue& completions, const BackendSpec& spec,
                                     bool read_only);

// Why the module could not be used the last time it was looked for, in the dynamic loader's
// words where it gave any (the module's path, and what `dlerror` said, which library is missing
// or which symbol; or the two versions): the detail behind kRbdModuleMissing, kRbdModuleUnloadable
// and kRbdModuleMismatch, for the log. Empty once the module is loaded, or before any attempt.
std::string RbdModuleLoadFailure();

}  // namespace aoe
