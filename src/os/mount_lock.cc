#include "os/mount_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <system_error>
#include <thread>

namespace aoe::os {

namespace {

std::string DiskLockPath(const std::string& run_dir, const std::string& disk) {
  return fmt::format("{}/locks/{}.lock", run_dir, disk);
}

// A taker starts again only when a holder let go of the file between the taker's finding it
// and its flock; each round means another mount came and went meanwhile, so a few are plenty.
constexpr int kMaxLockAttempts = 100;

// How long a taker waits out probes' shared locks (LockWaitingOutProbes), in 1 ms rounds.
constexpr int kMaxProbeWaits = 1000;

// FNV-1a: a stable name for a path of any length (a lock file's name is at most 255 bytes).
uint64_t PathHash(const std::string& path) {
  uint64_t hash = 0xcbf29ce484222325;
  for (unsigned char c : path) {
    hash ^= c;
    hash *= 0x100000001b3;
  }
  return hash;
}

// Makes the lock file under a name of this thread's own, locks it, and only then links it at
// `path`. A lock file thus appears at its path locked by its maker, who holds it with no check
// (nobody can have locked it first, and only a holder unlinks it), and a failure on the way
// leaves nothing: the private name goes whatever happens. std::nullopt if a file is at `path`.
Result<std::optional<HeldLock>> CreateLocked(const std::string& path) {
  // The pid and thread id make the name unique among live threads: a file there was left by a
  // process killed in between, whose ids were since reused.
  const std::string own = fmt::format("{}.{}-{}.new", path, ::getpid(), ::gettid());
  (void)::unlink(own.c_str());
  UniqueFd fd(::open(own.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return Errno();
  int error = 0;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0 || ::link(own.c_str(), path.c_str()) != 0) {
    error = errno;
  }
  (void)::unlink(own.c_str());
  if (error == EEXIST) return std::optional<HeldLock>();
  if (error != 0) return Errno(error);
  return std::optional<HeldLock>(HeldLock(path, std::move(fd)));
}

// flock(LOCK_EX | LOCK_NB) that waits out probes. DiskLockHeld (aoe show, aoe umount, aoe mount's
// look at the status files) takes a shared lock for the moment between its open and its close,
// and a mount trying the lock just then would be refused as if another mount held it. A mount
// holds the lock exclusively, so a shared lock of our own is granted exactly when no mount holds
// it: then only probes are in the way, and they are gone within microseconds; otherwise the
// refusal is immediate. The bound (a second) only matters if a probe is stopped between flock
// and close. The probe keeps its flock rather than testing without locking (F_OFD_GETLK,
// /proc/locks): the locks must stay flocks, so that daemons started by an earlier version, which
// an upgrade leaves running, keep both excluding new mounts and being seen by the probe, and
// fcntl's lock tests do not see flocks.
Result<void> LockWaitingOutProbes(int fd) {
  for (int wait = 0;; ++wait) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return {};
    if (errno != EWOULDBLOCK) return Errno();
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0) return Errno();  // EWOULDBLOCK: a mount holds it
    (void)::flock(fd, LOCK_UN);
    if (wait == kMaxProbeWaits) return Errno(EWOULDBLOCK);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Creates the lock file locked (CreateLocked), or else opens the one there, flocks it, then
// checks that it is still the one at `path`: see the header for why the check makes unlinking
// on release safe. A file found there is not this call's, so failing leaves it as it was.
Result<HeldLock> TakeLock(const std::string& path) {
  for (int attempt = 0; attempt < kMaxLockAttempts; ++attempt) {
    Result<std::optional<HeldLock>> created = CreateLocked(path);
    if (!created) return Unexpected{created.error()};
    if (*created) return std::move(**created);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;  // its holder let go of it since
      return Errno();
    }
    if (Result<void> r = LockWaitingOutProbes(fd.get()); !r) return Unexpected{r.error()};
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

// The shared lock is held only until `fd` closes; a mount taking the lock meanwhile waits it
// out (LockWaitingOutProbes).
DiskLockState DiskLockHeld(const std::string& run_dir, const std::string& disk) {
  UniqueFd fd(::open(DiskLockPath(run_dir, disk).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno == ENOENT ? DiskLockState::kNoFile : DiskLockState::kUnknown;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return DiskLockState::kFree;  // fd closes it
  return errno == EWOULDBLOCK ? DiskLockState::kHeld : DiskLockState::kUnknown;
}

}  // namespace aoe::os
