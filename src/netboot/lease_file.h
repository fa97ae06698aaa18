// Reading and atomically replacing small state files (the DHCP lease file).
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace aoe::netboot {

// The whole file; an empty string if it does not exist yet.
Result<std::string> ReadStateFile(const std::string& path);

// Writes `contents` to a temporary file next to `path`, fsyncs it and renames it over `path`,
// so a crash leaves either the old or the new file, never a torn one.
Result<void> WriteStateFileAtomically(const std::string& path, std::string_view contents);

}  // namespace aoe::netboot
