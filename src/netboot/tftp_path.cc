#include "netboot/tftp_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace aoe::netboot {

std::optional<std::string> NormalizeTftpPath(std::string_view requested) {
  std::string out;
  size_t i = 0;
  while (i <= requested.size()) {
    size_t end = i;
    while (end < requested.size() && requested[end] != '/' && requested[end] != '\\') ++end;
    std::string_view part = requested.substr(i, end - i);
    for (char c : part) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
    }
    if (part == "..") return std::nullopt;
    if (!part.empty() && part != ".") {
      if (!out.empty()) out.push_back('/');
      out.append(part);
    }
    i = end + 1;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

Result<UniqueFd> OpenBeneath(int root_fd, const std::string& relative) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how);
  if (fd < 0) return Errno();
  UniqueFd file(static_cast<int>(fd));
  struct stat st {};
  if (fstat(file.get(), &st) != 0) return Errno();
  if (S_ISDIR(st.st_mode)) return Errno(EISDIR);
  // FIFOs and devices would block the loop or never end.
  if (!S_ISREG(st.st_mode)) return Errno(EINVAL);
  return file;
}

}  // namespace aoe::netboot
