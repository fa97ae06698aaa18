#include "storage/export_backend.h"

#include <limits>
#include <utility>

#include "storage/storage_error.h"
#include "storage/window_filter.h"

namespace aoe {
namespace {

constexpr uint64_t kSectorBytes = 512;

}  // namespace

Result<OpenedBackend> BuildExportBackend(IoEngine& engine, const ExportStorageOptions& options) {
  constexpr uint64_t kMaxSectors = std::numeric_limits<uint64_t>::max() / kSectorBytes;
  if (options.offset_sectors > kMaxSectors || options.length_sectors > kMaxSectors) {
    return StorageError(StorageErrc::kSizeOverflow);
  }

  auto opened = OpenFileBackend(
      engine, options.path,
      {.read_only = options.read_only, .sync = options.sync, .direct = options.direct});
  if (!opened) return Unexpected{opened.error()};
  if (options.offset_sectors == 0 && options.length_sectors == 0) return opened;

  const uint64_t offset_bytes = options.offset_sectors * kSectorBytes;
  const uint64_t image_bytes = opened->backend->size_bytes();
  if (offset_bytes > image_bytes) return StorageError(StorageErrc::kWindowOutsideImage);
  const uint64_t length_bytes = options.length_sectors != 0 ? options.length_sectors * kSectorBytes
                                                            : image_bytes - offset_bytes;
  auto window = WindowFilter::Create(std::move(opened->backend), offset_bytes, length_bytes);
  if (!window) return Unexpected{window.error()};
  opened->backend = std::move(*window);
  return opened;
}

}  // namespace aoe
