#include "storage/chain.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

#include "storage/group_commit_filter.h"
#include "storage/read_only_filter.h"
#include "storage/storage_error.h"
#include "storage/window_filter.h"

namespace aoe {
namespace {

constexpr uint64_t kSectorBytes = 512;

std::string FaultRanges(const std::vector<FaultRule>& rules) {
  std::string text;
  for (const FaultRule& r : rules) {
    if (!text.empty()) text += ',';
    text += fmt::format("{}-{}", r.first_sector, r.first_sector + r.sector_count - 1);
    if (!r.on_read) text += ":write";
    if (!r.on_write) text += ":read";
  }
  return text;
}

}  // namespace

Result<OpenedBackend> OpenBase(StorageServices& services, const BackendSpec& spec,
                               const BaseOptions& options) {
  switch (spec.kind) {
    case BackendSpec::Kind::kFile:
      return OpenFileBackend(services.engine, spec.path,
                             FileOptions{.read_only = options.read_only, .direct = options.direct});
  }
  return Errno(EINVAL);
}

Result<OpenedBackend> BuildStorageChain(const ChainOptions& options, const BaseOpener& open_base) {
  constexpr uint64_t kMaxSectors = std::numeric_limits<uint64_t>::max() / kSectorBytes;
  if (options.offset_sectors > kMaxSectors || options.length_sectors > kMaxSectors) {
    return StorageError(StorageErrc::kSizeOverflow);
  }

  auto opened = open_base(options.backend, options.base);
  if (!opened) return Unexpected{opened.error()};
  std::unique_ptr<BlockBackend> chain = std::move(opened->backend);

  if (options.offset_sectors != 0 || options.length_sectors != 0) {
    const uint64_t offset_bytes = options.offset_sectors * kSectorBytes;
    const uint64_t image_bytes = chain->size_bytes();
    if (offset_bytes > image_bytes) return StorageError(StorageErrc::kWindowOutsideImage);
    const uint64_t length_bytes = options.length_sectors != 0
                                      ? options.length_sectors * kSectorBytes
                                      : image_bytes - offset_bytes;
    auto window = WindowFilter::Create(std::move(chain), offset_bytes, length_bytes);
    if (!window) return Unexpected{window.error()};
    chain = std::move(*window);
  }
  if (options.base.read_only) chain = std::make_unique<ReadOnlyFilter>(std::move(chain));
  if (!options.faults.empty()) {
    opened->warnings.push_back(
        fmt::format("fail={}: I/O to these sectors fails with EIO on purpose (a testing aid)",
                    FaultRanges(options.faults)));
    chain = std::make_unique<FaultFilter>(std::move(chain), options.faults);
  }
  opened->backend = std::make_unique<GroupCommitFilter>(std::move(chain));
  return opened;
}

}  // namespace aoe
