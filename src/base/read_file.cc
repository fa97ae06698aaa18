#include "base/read_file.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/unique_fd.h"

namespace aoe {
namespace {

class ReadFileCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "aoe.read_file"; }
  std::string message(int value) const override {
    switch (static_cast<ReadFileErrc>(value)) {
      case ReadFileErrc::kNotARegularFile:
        return "not a regular file (a socket or device)";
      case ReadFileErrc::kTooLarge:
        return "file too large";
      case ReadFileErrc::kPipeSilent:
        return "a pipe or FIFO from which nothing came (no process writes to it?)";
    }
    return "unknown error";
  }
};

Result<std::string> ReadOpened(int fd, size_t max_bytes, std::chrono::milliseconds pipe_wait) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errno();
  if (S_ISDIR(st.st_mode)) return Errno(EISDIR);
  const bool pipe = S_ISFIFO(st.st_mode);
  if (!S_ISREG(st.st_mode) && !pipe) {
    return Unexpected{make_error_code(ReadFileErrc::kNotARegularFile)};
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Unexpected{make_error_code(ReadFileErrc::kTooLarge)};
  }
  std::string text;
  text.reserve(static_cast<size_t>(st.st_size));
  char buffer[4096];
  for (;;) {
    if (pipe) {
      // Opened without blocking, a pipe reads as ended (0) whenever no writer has it open, also
      // before a writer came; poll waits for data or for the writer's close (a FIFO never
      // opened for writing reports neither).
      struct pollfd p {
        .fd = fd, .events = POLLIN, .revents = 0
      };
      const int ready = ::poll(&p, 1, static_cast<int>(pipe_wait.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return Errno();
      if (ready == 0) return Unexpected{make_error_code(ReadFileErrc::kPipeSilent)};
    }
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || (pipe && errno == EAGAIN))) continue;
    if (n < 0) return Errno();
    if (n == 0) return text;
    // The file may grow while it is read.
    if (text.size() + static_cast<size_t>(n) > max_bytes) {
      return Unexpected{make_error_code(ReadFileErrc::kTooLarge)};
    }
    text.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace

const std::error_category& ReadFileCategory() {
  static const ReadFileCategoryImpl category;
  return category;
}

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes,
                                  std::chrono::milliseconds pipe_wait) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait, without bound, for a writer.
  // It changes nothing for a regular file's reads.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return Errno();
  return ReadOpened(fd.get(), max_bytes, pipe_wait);
}

Result<std::optional<std::string>> ReadSmallFileIfPresent(const std::string& path,
                                                          size_t max_bytes) {
  Result<std::string> text = ReadSmallFile(path, max_bytes);
  if (!text) {
    if (text.error() == std::errc::no_such_file_or_directory) return std::optional<std::string>();
    return Unexpected{text.error()};
  }
  return std::optional<std::string>(std::move(*text));
}

}  // namespace aoe
