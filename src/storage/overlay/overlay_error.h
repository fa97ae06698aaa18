// OverlayErrc: why an overlay operation (open, reset, commit, rollback) was refused, for
// messages a person can act on. System failures travel as std::system_category codes.
#pragma once

#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "base/result.h"

namespace aoe::overlay {

enum class OverlayErrc {
  kDirectoryInUse = 1,   // another process (or export) holds the overlay directory's lock
  kBaseSizeChanged,      // the image is not the size the overlays were made for
  kBadVersionsFile,      // versions.json is malformed or inconsistent
  kMissingVersionFile,   // a version listed in versions.json has no file
  kNoVersionsFile,       // version files or overlays in the directory, but no versions.json
  kNoOverlay,            // the client has no overlay
  kTooManyClients,       // the export's overlay count limit is reached
  kCommitRunning,        // one commit at a time per export
  kNothingToCommit,      // the client's overlay is empty
  kStaleBase,            // the client's overlay is based on an older version than the current
  kChangedDuringCommit,  // the client wrote or trimmed while its overlay was being committed
  kNoEarlierVersion,     // rollback from the first version
  kClientGone,           // the overlay was reset while the operation ran
  kClientBusy,           // the client's overlay has writes in flight (a commit must not miss them)
  kCommitAbandoned,      // the target stopped while the commit copied: nothing was changed
  kOverlayFailed,        // a flush of the client's overlay failed: it may have lost writes
  kBadVersionFileSize,   // a version file is not the image's size (truncated, or another image's)
};

const std::error_category& OverlayCategory();

inline std::error_code make_error_code(OverlayErrc e) {
  return {static_cast<int>(e), OverlayCategory()};
}
inline Unexpected OverlayError(OverlayErrc e) { return {make_error_code(e)}; }

// Why OverlayFilter::Open refused a directory. `about` names the file in it the error is about,
// with what the code cannot say ("DIR/v2.img is 4096 bytes, the image is 1048576"), so that the
// message points at the file to restore rather than at the whole directory; empty when the
// directory as a whole is meant.
struct OpenError {
  OpenError() = default;
  explicit OpenError(std::error_code c, std::string a = {}) : code(c), about(std::move(a)) {}

  std::error_code code;
  std::string about;
};

}  // namespace aoe::overlay

template <>
struct std::is_error_code_enum<aoe::overlay::OverlayErrc> : std::true_type {};
