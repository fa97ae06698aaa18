// BuildStorageChain: the one place an export's storage chain is assembled (style.md principle
// 3), for every kind of base backend and for tests alike:
//
//   group-commit <- fault(fail=)? <- readonly? <- overlay(DIR)? <- window(offset,length)? <- base
//
// - base: what the BackendSpec names, opened by a BaseOpener. OpenBase (below) opens files and
//   block devices through io_uring; tests pass their own opener (memory disks).
// - window: only when offset or length is set (the export is part of the image).
// - overlay: only with `overlay=DIR` (storage/overlay/overlay_filter.h): each initiator writes
//   to its own copy-on-write overlay; the base is then opened read-only, whatever the export
//   says, and never written. Independent of the base's kind: it wraps any BlockBackend.
// - readonly: for a read-only export, on top of a base that was opened read-only anyway, so no
//   layer below can be asked to change a byte.
// - fault: only with fail= rules (a testing and drill aid), outermost but one so that its
//   sectors are the LBAs the initiator sends.
// - group-commit: always; a pass-through until a request is marked IoContext::kDurable.
//
// Ownership: the chain owns every layer; a base opened through OpenBase borrows the
// StorageServices, which must outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "storage/backend_spec.h"
#include "storage/completion_queue.h"
#include "storage/fault_filter.h"
#include "storage/file_backend.h"
#include "storage/io_engine.h"
#include "storage/overlay/overlay_filter.h"

namespace aoe {

// How a base backend is opened.
struct BaseOptions {
  bool read_only = false;
  bool direct = false;  // O_DIRECT where the backing store allows it
};

// An export's storage settings.
struct ChainOptions {
  BackendSpec backend{};
  BaseOptions base{};
  // The export's `offset=` / `length=` options, in 512-byte sectors. length 0 means "to the
  // end of the image".
  uint64_t offset_sectors = 0;
  uint64_t length_sectors = 0;
  std::vector<FaultRule> faults{};  // fail=: requests to these sectors fail on purpose
  std::optional<overlay::OverlaySettings> overlay{};  // overlay=DIR and its lifetimes
};

// An assembled chain, with what the caller should log about how it was opened.
struct StorageChain {
  std::unique_ptr<BlockBackend> backend;
  std::vector<std::string> warnings;
  // The chain's overlay layer, for `aoe overlay` and the netboot hook; null without overlay=.
  // Owned by `backend`.
  overlay::OverlayFilter* overlay = nullptr;
  // The chain's bottom, the backend `open_base` returned; owned by `backend`.
  BlockBackend* base = nullptr;
  // The base's SharedMetadata (OpenedBackend), where the export's state belongs; null for bases
  // only this host serves.
  std::shared_ptr<SharedMetadata> shared_metadata;
};

using BaseOpener = std::function<Result<OpenedBackend>(const BackendSpec&, const BaseOptions&)>;

// What the real bases need from the daemon: its io_uring engine, and the queue through which
// backends that complete on threads of their own reach the loop.
struct StorageServices {
  IoEngine& engine;
  CompletionQueue& completions;
};

// Opens the base backend `spec` names. Errors: those of OpenFileBackend and OpenRbdBackend.
Result<OpenedBackend> OpenBase(StorageServices& services, const BackendSpec& spec,
                               const BaseOptions& options);

// Why something could not be opened: the error, and what it came from, for a message that
// points at the right thing ("overlay directory /srv/ov", not the image).
struct OpenFailure {
  std::error_code code;
  // "image PATH", "window offset=... of image PATH (N sectors)", "overlay directory DIR" (with
  // the file in it at fault: "overlay directory DIR: DIR/v2.img is N bytes, the image is M"), ...
  std::string what;
};

// `engine` drives an overlay's own files; needed only with options.overlay.
// Errors: those of `open_base`, StorageErrc::kWindowOutsideImage / kWindowEmpty /
// kSizeOverflow for a window that does not fit the image, and those of OverlayFilter::Open.
// Warnings of the base (e.g. "O_DIRECT not available") and of the chain (fail= rules in effect,
// overlays set aside) come back in StorageChain::warnings.
Expected<StorageChain, OpenFailure> BuildStorageChain(const ChainOptions& options,
                                                      const BaseOpener& open_base,
                                                      IoEngine* engine = nullptr);

}  // namespace aoe
