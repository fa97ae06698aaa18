#include "storage/chain.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

#include "storage/group_commit_filter.h"
#include "storage/rbd/rbd_open.h"
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
    case BackendSpec::Kind::kRbd:
      return OpenRbdBackend(services.completions, spec, options.read_only);
  }
  return Errno(EINVAL);
}

Expected<StorageChain, OpenFailure> BuildStorageChain(const ChainOptions& options,
                                                      const BaseOpener& open_base,
                                                      IoEngine* engine) {
  const std::string image = fmt::format("image {}", options.backend.ToString());
  const std::string window_text =
      fmt::format("window offset={} length={} (sectors) of {}", options.offset_sectors,
                  options.length_sectors, image);
  auto window_error = [&](std::error_code code, uint64_t image_bytes) {
    return OpenFailure{code,
                       fmt::format("{} ({} sectors)", window_text, image_bytes / kSectorBytes)};
  };
  constexpr uint64_t kMaxSectors = std::numeric_limits<uint64_t>::max() / kSectorBytes;
  if (options.offset_sectors > kMaxSectors || options.length_sectors > kMaxSectors) {
    return OpenFailure{make_error_code(StorageErrc::kSizeOverflow), window_text};
  }

  if (options.overlay && engine == nullptr) return OpenFailure{Errno(EINVAL).error, image};
  BaseOptions base = options.base;
  // An overlay export never writes its image.
  if (options.overlay) base.read_only = true;
  auto opened = open_base(options.backend, base);
  if (!opened) return OpenFailure{opened.error(), image};
  StorageChain result;
  result.warnings = std::move(opened->warnings);
  result.shared_metadata = std::move(opened->shared_metadata);
  std::unique_ptr<BlockBackend> chain = std::move(opened->backend);
  result.base = chain.get();

  if (options.offset_sectors != 0 || options.length_sectors != 0) {
    const uint64_t offset_bytes = options.offset_sectors * kSectorBytes;
    const uint64_t image_bytes = chain->size_bytes();
    if (offset_bytes > image_bytes) {
      return window_error(make_error_code(StorageErrc::kWindowOutsideImage), image_bytes);
    }
    const uint64_t length_bytes = options.length_sectors != 0
                                      ? options.length_sectors * kSectorBytes
                                      : image_bytes - offset_bytes;
    auto window = WindowFilter::Create(std::move(chain), offset_bytes, length_bytes);
    if (!window) return window_error(window.error(), image_bytes);
    chain = std::move(*window);
  }
  if (options.overlay) {
    auto overlay =
        overlay::OverlayFilter::Open(std::move(chain), *options.overlay, *engine, result.warnings);
    if (!overlay) {
      // "overlay directory DIR: DIR/v2.img is 4096 bytes, the image is 1048576: truncated...":
      // the directory, and the file in it to restore when one is at fault.
      const overlay::OpenError& e = overlay.error();
      std::string what = fmt::format("overlay directory {}", options.overlay->dir);
      if (!e.about.empty()) what += ": " + e.about;
      return OpenFailure{e.code, std::move(what)};
    }
    result.overlay = overlay->get();
    chain = std::move(*overlay);
  }
  if (options.base.read_only) chain = std::make_unique<ReadOnlyFilter>(std::move(chain));
  if (!options.faults.empty()) {
    result.warnings.push_back(
        fmt::format("fail={}: I/O to these sectors fails with EIO on purpose (a testing aid)",
                    FaultRanges(options.faults)));
    chain = std::make_unique<FaultFilter>(std::move(chain), options.faults);
  }
  result.backend = std::make_unique<GroupCommitFilter>(std::move(chain));
  return result;
}

}  // namespace aoe
