// StorageErrc: configuration errors of the storage layer that no errno describes well.
//
// System failures (ENOENT, EACCES, EISDIR, ...) travel as std::system_category codes; these
// codes cover export settings that are wrong for the image, so the CLI can print an actionable
// message ("cannot open export e1.2: offset/length window does not fit inside the image").
#pragma once

#include <system_error>
#include <type_traits>

#include "base/result.h"

namespace aoe {

enum class StorageErrc {
  kWindowOutsideImage = 1,  // offset + length goes past the end of the image
  kWindowEmpty,             // the window holds no bytes (offset at the end, or length 0)
  kWindowUnaligned,         // offset is not a multiple of 512 bytes
  kNotFileOrBlockDevice,    // the path is a character device, FIFO, socket, ...
  kSizeOverflow,            // a sector count times 512 does not fit in 64 bits
  kCephConfigUnreadable,    // no ceph.conf where ceph_conf= (or Ceph's search path) points
  kCephUnreachable,         // no monitor answered within the connect timeout
  kCephKeyRefused,          // the monitors refused the client's cephx key (or it has none)
  kRbdModuleMissing,        // rbd: export, but the aoekit-rbd module is not installed
  kRbdModuleUnloadable,     // the module is there but cannot be loaded (a library of its
                            // own missing, a damaged file)
  kRbdModuleMismatch,       // the module is from another aoekit version or build (its version
                            // string, or an aoekit symbol it needs that this program lacks)
};

const std::error_category& StorageCategory();

inline std::error_code make_error_code(StorageErrc e) {
  return {static_cast<int>(e), StorageCategory()};
}

// `return StorageError(StorageErrc::kWindowEmpty);` converts to any Result<T>.
inline Unexpected StorageError(StorageErrc e) { return {make_error_code(e)}; }

// Whether `error` is something the administrator must set or install (a Ceph setting, the
// aoekit-rbd package) rather than a failure of the storage itself: `aoe serve` exits with 2 for
// these, as for a bad argument.
bool IsStorageSetupError(const std::error_code& error);
// Whether `error` says the aoekit-rbd module is missing, cannot be loaded or does not match this
// program (RbdModuleLoadFailure() then tells what the loader found).
bool IsRbdModuleError(const std::error_code& error);

}  // namespace aoe

template <>
struct std::is_error_code_enum<aoe::StorageErrc> : std::true_type {};
