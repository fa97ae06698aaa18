#include "base/atomic_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/unique_fd.h"

namespace aoe {

namespace {

constexpr std::string_view kTemporarySuffix = ".tmp";

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<void> WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno();
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

// Steps 1 and 2: a complete, synced temporary file.
Result<void> WriteTemporary(int fd, std::string_view contents, mode_t mode) {
  // mkostemps creates the file 0600; the mode is set exactly, whatever the umask.
  if (::fchmod(fd, mode) != 0) return Errno();
  AOE_TRY(WriteAll(fd, contents));
  if (::fsync(fd) != 0) return Errno();
  return {};
}

}  // namespace

Result<void> WriteFileAtomically(const std::string& path, std::string_view contents, mode_t mode) {
  std::string temporary = path + ".XXXXXX" + std::string(kTemporarySuffix);
  UniqueFd fd(::mkostemps(temporary.data(), static_cast<int>(kTemporarySuffix.size()), O_CLOEXEC));
  if (!fd) return Errno();
  Result<void> written = WriteTemporary(fd.get(), contents, mode);
  fd.reset();
  if (written && ::rename(temporary.c_str(), path.c_str()) != 0) written = Errno();
  if (!written) {
    ::unlink(temporary.c_str());
    return written;
  }
  UniqueFd directory(::open(DirectoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!directory) return Errno();
  // Some file systems (a few FUSE ones) cannot sync a directory and say EINVAL: there the
  // rename is as durable as that file system makes anything.
  if (::fsync(directory.get()) != 0 && errno != EINVAL) return Errno();
  return {};
}

}  // namespace aoe
