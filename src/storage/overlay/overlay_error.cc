#include "storage/overlay/overlay_error.h"

#include <string>

namespace aoe::overlay {
namespace {

class OverlayCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "aoe.overlay"; }
  std::string message(int value) const override {
    switch (static_cast<OverlayErrc>(value)) {
      case OverlayErrc::kDirectoryInUse:
        return "the overlay directory is in use by another aoe serve or export";
      case OverlayErrc::kBaseSizeChanged:
        return "the image's size differs from the one the overlays were made for (versions.json "
               "has it); serve that image, or move the overlay directory away to start afresh";
      case OverlayErrc::kBadVersionsFile:
        return "versions.json in the overlay directory is malformed";
      case OverlayErrc::kMissingVersionFile:
        return "a version file versions.json lists is missing (no version or overlay was touched): restore it, "
               "or move the overlay directory away to start afresh";
      case OverlayErrc::kBadVersionFileSize:
        return "truncated, or not a version of this image (no version or overlay was touched): restore the "
               "version file, or move the overlay directory away to start afresh";
      case OverlayErrc::kNoVersionsFile:
        return "the directory holds version files or client overlays but no versions.json, so "
               "it is not as aoe serve leaves it (nothing there was touched); restore "
               "versions.json, or give an empty or new directory ('aoe overlay check DIR' "
               "says what it holds)";
      case OverlayErrc::kNoOverlay:
        return "the client has no overlay";
      case OverlayErrc::kTooManyClients:
        return "the export has as many overlays as it may hold";
      case OverlayErrc::kCommitRunning:
        return "a commit is already running on this export";
      case OverlayErrc::kNothingToCommit:
        return "the client's overlay is empty: nothing to commit";
      case OverlayErrc::kStaleBase:
        return "the client's overlay is based on another version than the current one (an older "
               "one, or one rolled back from)";
      case OverlayErrc::kChangedDuringCommit:
        return "the client wrote while its overlay was being committed; nothing was changed";
      case OverlayErrc::kNoEarlierVersion:
        return "the current version is the first one: there is nothing to roll back to";
      case OverlayErrc::kClientGone:
        return "the client's overlay was reset while the operation ran";
      case OverlayErrc::kCommitAbandoned:
        return "aoe serve stopped while the commit was copying; nothing was changed (commit "
               "again once it runs)";
      case OverlayErrc::kOverlayFailed:
        return "a flush of the client's overlay failed ('aoe overlay show' says why), so some of "
               "its writes may be lost; it is not committed: reset it and write again";
      case OverlayErrc::kClientBusy:
        return "the client is writing (writes in flight); commit when the machine is shut "
               "down, or try again";
    }
    return "unknown overlay error";
  }
};

}  // namespace

const std::error_category& OverlayCategory() {
  static const OverlayCategoryImpl category;
  return category;
}

}  // namespace aoe::overlay
