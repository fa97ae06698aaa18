// ReadSmallFile: a small file (a config file, a state or lease file) read whole.
//
// Only a regular file is read; anything else is refused before a byte is read. A FIFO would
// block the reader until some process opened it for writing (`aoe serve --config FIFO` hung at
// start, and a SIGHUP reload of such a config would have hung the thread that reloads), and a
// device such as /dev/zero never ends. The size is bounded for the same reason: these files are
// kilobytes, so anything near the bound is a mistake, not a file to load into memory.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>

#include "base/result.h"

namespace aoe {

enum class ReadFileErrc {
  kNotARegularFile = 1,  // a FIFO, socket or device (a directory is EISDIR)
  kTooLarge,             // larger than the caller's bound
};

const std::error_category& ReadFileCategory();

inline std::error_code make_error_code(ReadFileErrc e) {
  return {static_cast<int>(e), ReadFileCategory()};
}

inline constexpr size_t kSmallFileMaxBytes = size_t{64} << 20;

// The whole file. Errors: errno of open or read (ENOENT, EACCES, ...), EISDIR,
// ReadFileErrc::kNotARegularFile, kTooLarge.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes = kSmallFileMaxBytes);

// The same, but a file that does not exist is nullopt rather than ENOENT (a state file not
// written yet).
Result<std::optional<std::string>> ReadSmallFileIfPresent(const std::string& path,
                                                          size_t max_bytes = kSmallFileMaxBytes);

}  // namespace aoe

template <>
struct std::is_error_code_enum<aoe::ReadFileErrc> : std::true_type {};
