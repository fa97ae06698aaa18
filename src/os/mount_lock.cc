#include "os/mount_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <system_error>

namespace aoe::os {

namespace {

std::string DiskLockPath(const std::string& run_dir, const std::string& disk) {
  return fmt::format("{}/locks/{}.lock", run_dir, disk);
}

// A taker starts again only when a holder unlinked the file between its open and its flock;
// each round means another mount came and went meanwhile, so a few are plenty.
constexpr int kMaxLockAttempts = 100;

// FNV-1a: a stable name for a path of any length (a lock file's name is at most 255 bytes).
uint64_t PathHash(const std::string& path) {
  uint64_t hash = 0xcbf29ce484222325;
  for (unsigned char c : path) {
    hash ^= c;
    hash *= 0x100000001b3;
  }
  return hash;
}

// Open (creating if needed), flock, then check that the locked file is still the one at
// `path`: see the header for why the check makes unlinking on release safe.
Result<HeldLock> TakeLock(const std::string& path) {
  for (int attempt = 0; attempt < kMaxLockAttempts; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return Errno();
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return Errno();
    struct stat locked {};
    struct stat linked {};
    if (::fstat(fd.get(), &locked) != 0) return Errno();
    if (::stat(path.c_str(), &linked) != 0) {
      if (errno == ENOENT) continue;  // its holder unlinked it before we locked it
      return Errno();
    }
    if (locked.st_dev == linked.st_dev && locked.st_ino == linked.st_ino) {
      return HeldLock(path, std::move(fd));
    }
    // Unlinked, and a new file already made at the path: lock that one instead.
  }
  return Err(std::errc::resource_unavailable_try_again);
}

}  // namespace

HeldLock& HeldLock::operator=(HeldLock&& other) noexcept {
  if (this != &other) {
    Release();
    path_ = std::move(other.path_);
    fd_ = std::move(other.fd_);
  }
  return *this;
}

void HeldLock::Release() {
  if (!fd_) return;
  // Unlink first, while the lock is still ours: see the header.
  (void)::unlink(path_.c_str());
  fd_.reset();
}

Result<MountLocks> LockMount(const std::string& run_dir, const std::string& disk,
                             const std::string& mountpoint, std::string& holder) {
  // The directories stay: removing them could pull them from under a mount that is about to
  // create its lock file in them, and they are the same few for every mount.
  const std::string dir = run_dir + "/locks";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Unexpected{ec};
  MountLocks locks;
  Result<HeldLock> disk_lock = TakeLock(DiskLockPath(run_dir, disk));
  if (!disk_lock) {
    holder = "disk";
    return Unexpected{disk_lock.error()};
  }
  locks.disk = std::move(*disk_lock);
  Result<HeldLock> mountpoint_lock =
      TakeLock(fmt::format("{}/mountpoint-{:016x}.lock", dir, PathHash(mountpoint)));
  if (!mountpoint_lock) {
    holder = "mountpoint";
    return Unexpected{mountpoint_lock.error()};  // `locks` lets go of the disk, and unlinks it
  }
  locks.mountpoint = std::move(*mountpoint_lock);
  return locks;
}

DiskLockState DiskLockHeld(const std::string& run_dir, const std::string& disk) {
  UniqueFd fd(::open(DiskLockPath(run_dir, disk).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno == ENOENT ? DiskLockState::kNoFile : DiskLockState::kUnknown;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return DiskLockState::kFree;  // fd closes it
  return errno == EWOULDBLOCK ? DiskLockState::kHeld : DiskLockState::kUnknown;
}

}  // namespace aoe::os
