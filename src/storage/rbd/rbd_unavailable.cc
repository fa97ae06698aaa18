// OpenRbdBackend for builds without librbd (see rbd_open.h).
#include "storage/rbd/rbd_open.h"
#include "storage/storage_error.h"

namespace aoe {

Result<OpenedBackend> OpenRbdBackend(CompletionQueue&, const BackendSpec&, bool) {
  return StorageError(StorageErrc::kRbdUnsupported);
}

}  // namespace aoe
