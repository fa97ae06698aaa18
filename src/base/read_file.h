// ReadSmallFile: a small file (a config file, a state or lease file) read whole.
//
// A regular file, or a pipe (`aoe serve --config <(generate-config)`, /dev/stdin from a pipe) that
// a writer fills within `pipe_wait` of each read; anything else is refused before a byte is read.
// A named FIFO nobody opens for writing used to block the reader for ever (`aoe serve --config
// FIFO` hung at start, and a SIGHUP reload of such a config would have hung the thread that
// reloads); now it is an error once `pipe_wait` has passed with nothing to read. A device such as
// /dev/zero never ends, so it is refused. The size is bounded for the same reason: these files
// are kilobytes, so anything near the bound is a mistake, not a file to load into memory.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>

#include "base/result.h"

namespace aoe {

enum class ReadFileErrc {
  kNotARegularFile = 1,  // a socket or device (a directory is EISDIR)
  kTooLarge,             // larger than the caller's bound
  kPipeSilent,           // a pipe or FIFO from which nothing came within the wait
};

const std::error_category& ReadFileCategory();

inline std::error_code make_error_code(ReadFileErrc e) {
  return {static_cast<int>(e), ReadFileCategory()};
}

inline constexpr size_t kSmallFileMaxBytes = size_t{64} << 20;
inline constexpr std::chrono::milliseconds kSmallFilePipeWait{5000};

// The whole file. Errors: errno of open or read (ENOENT, EACCES, ...), EISDIR,
// ReadFileErrc::kNotARegularFile, kTooLarge, kPipeSilent.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes = kSmallFileMaxBytes,
                                  std::chrono::milliseconds pipe_wait = kSmallFilePipeWait);

// The same, but a file that does not exist is nullopt rather than ENOENT (a state file not
// written yet).
Result<std::optional<std::string>> ReadSmallFileIfPresent(const std::string& path,
                                                          size_t max_bytes = kSmallFileMaxBytes);

}  // namespace aoe

template <>
struct std::is_error_code_enum<aoe::ReadFileErrc> : std::true_type {};
