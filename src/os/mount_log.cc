#include "os/mount_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace aoe::os {

Result<void> MountLogFile::Open() {
  if (!given_) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  }
  // O_EXCL first, to know whether this run made the file (RemoveIfOurs).
  bool created = true;
  UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640));
  if (!fd && errno == EEXIST) {
    created = false;
    fd = UniqueFd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  }
  if (!fd) return Errno();
  std::lock_guard lock(mutex_);
  if (!fd_) created_ = created;  // the first open decides; SIGHUP's reopens come after serving
  fd_ = std::move(fd);
  return {};
}

void MountLogFile::Write(std::string_view line) {
  std::string out(line);
  out.push_back('\n');
  std::lock_guard lock(mutex_);
  (void)!::write(fd_.get(), out.data(), out.size());
}

bool MountLogFile::RemoveIfOurs() {
  std::lock_guard lock(mutex_);
  if (given_ || !created_ || !fd_) return false;
  // Moved away (by hand, by logrotate) and perhaps replaced since: what is there is not ours.
  struct stat ours {};
  struct stat linked {};
  if (::fstat(fd_.get(), &ours) != 0 || ::stat(path_.c_str(), &linked) != 0) return false;
  if (ours.st_dev != linked.st_dev || ours.st_ino != linked.st_ino) return false;
  return ::unlink(path_.c_str()) == 0;
}

}  // namespace aoe::os
