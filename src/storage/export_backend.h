// BuildExportBackend: turns an export's storage settings into its backend chain,
//   window(offset,length) <- file or blockdev(path, ro, direct, sync)
// with the window only when offset or length is set. The image is opened O_RDONLY for a
// read-only export, so the file backend itself refuses writes with -EROFS.
//
// Ownership: the chain borrows `engine`, which must outlive it.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "storage/file_backend.h"
#include "storage/io_engine.h"

namespace aoe {

struct ExportStorageOptions {
  std::string path;
  bool read_only = false;
  // The export's `offset=` / `length=` options, in 512-byte sectors. length 0 means "to the
  // end of the image".
  uint64_t offset_sectors = 0;
  uint64_t length_sectors = 0;
  bool sync = false;
  bool direct = false;
};

// Errors: those of OpenFileBackend, and StorageErrc::kWindowOutsideImage / kWindowEmpty /
// kSizeOverflow for a window that does not fit the image.
Result<OpenedBackend> BuildExportBackend(IoEngine& engine, const ExportStorageOptions& options);

}  // namespace aoe
