#include "netboot/tftp_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace aoe::netboot {

Result<size_t> MemoryTftpFile::ReadAt(uint64_t offset, ByteSpan out) {
  if (offset >= contents_.size()) return size_t{0};
  size_t n = std::min<size_t>(out.size(), contents_.size() - offset);
  std::memcpy(out.data(), contents_.data() + offset, n);
  return n;
}

Result<std::unique_ptr<FdTftpFile>> FdTftpFile::Open(UniqueFd fd) {
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Errno();
  return std::unique_ptr<FdTftpFile>(
      new FdTftpFile(std::move(fd), static_cast<uint64_t>(st.st_size)));
}

Result<size_t> FdTftpFile::ReadAt(uint64_t offset, ByteSpan out) {
  size_t want =
      static_cast<size_t>(std::min<uint64_t>(out.size(), offset < size_ ? size_ - offset : 0));
  size_t done = 0;
  while (done < want) {
    ssize_t n =
        ::pread(fd_.get(), out.data() + done, want - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno();
    }
    if (n == 0) break;  // truncated since it was opened
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace aoe::netboot
