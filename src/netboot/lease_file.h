// Reading the small state files of the netboot service (the DHCP lease file). They are
// replaced with aoe::WriteFileAtomically (base/atomic_file.h).
#pragma once

#include <string>

#include "base/result.h"

namespace aoe::netboot {

// The whole file; an empty string if it does not exist yet. Only a regular file is read
// (base/read_file.h).
Result<std::string> ReadStateFile(const std::string& path);

}  // namespace aoe::netboot
