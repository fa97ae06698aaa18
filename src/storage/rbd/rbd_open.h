// OpenRbdBackend: the base of an `rbd:POOL/IMAGE[@SNAP]` export (storage/chain.h's OpenBase).
// Connects to the cluster (ceph_cluster.h), opens the image (rbd_image.h) and returns its
// BlockBackend (rbd_backend.h) with the image's SharedMetadata (rbd_metadata.h). Blocks while it
// connects and opens, at most about the connect timeout: start-up and reload only.
//
// Built from rbd_open.cc with librbd, or from rbd_unavailable.cc without it (CMake chooses), where
// it fails with StorageErrc::kRbdUnsupported.
#pragma once

#include "base/result.h"
#include "storage/backend_spec.h"
#include "storage/completion_queue.h"
#include "storage/file_backend.h"

namespace aoe {

// `read_only` opens the image read-only (an `ro` export, or a base under an overlay); a snapshot
// is always read-only. Errors: StorageErrc::kCephConfigUnreadable, kCephUnreachable, and the
// errno librados or librbd return (ENOENT: no such pool or image or snapshot; EACCES/EPERM:
// the key may not open it).
Result<OpenedBackend> OpenRbdBackend(CompletionQueue& completions, const BackendSpec& spec,
                                     bool read_only);

}  // namespace aoe
