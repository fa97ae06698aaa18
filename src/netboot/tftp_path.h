// Confinement of TFTP file names to the server's root directory.
//
// Two layers, because either alone has holes:
// - NormalizeTftpPath (pure) rejects names that try to climb out lexically: any ".." component,
//   NULs and control characters. A leading '/' is taken relative to the root, as tftpd-hpa -s
//   and dnsmasq do, because PXE configurations often name "/undionly.kpxe". Backslashes become
//   '/', for clients that send DOS paths.
// - OpenBeneath opens with openat2(RESOLVE_BENEATH), so the kernel refuses any resolution that
//   leaves the root, including through symlinks (a symlink that stays inside is fine), and only
//   regular files are served.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace aoe::netboot {

// "a//b/./c" -> "a/b/c"; nullopt for names that must be refused.
std::optional<std::string> NormalizeTftpPath(std::string_view requested);

// Opens `relative` (already normalized) read-only beneath the directory `root_fd`.
// Errors: ENOENT, EACCES, EXDEV (escapes the root), EISDIR / EINVAL (not a regular file).
Result<UniqueFd> OpenBeneath(int root_fd, const std::string& relative);

}  // namespace aoe::netboot
