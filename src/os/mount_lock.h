// MountLocks: what one `aoe mount` holds for its whole life (an exclusive flock, inherited by
// the daemon it forks into): its disk and its mount point. Two mounts started together cannot
// then both pass the checks made from the status files, which a daemon writes only once it
// serves (seconds later). The locks live in <run_dir>/locks, one file per disk and per mount
// point (named by a hash of its path).
//
// A lock file exists only while it is locked: it is made under a private name, locked, and then
// linked at its path (link(2) fails if a file is there), and its holder unlinks it when it lets
// go (a mount refused after taking it, a daemon that exits), so none are left behind, also by a
// mount that fails while taking it. A daemon that is killed leaves its file, unlocked; the next
// mount takes it over and removes it in turn. (The run directory must support hard links, as
// tmpfs and the local Linux filesystems do.)
//
// Unlinking a lock file is safe only because a taker that finds the file there checks, after
// flock, that the file it locked is still the one linked at the path (same device and inode),
// and starts again if not. Without that check a taker that opened the file just before its
// holder unlinked it would lock the orphan, while a third process makes and locks a new file at
// the path: two holders of "one" lock. Only a holder unlinks, and it does so before it closes,
// so once a taker has seen its locked file still linked, nobody can unlink it until the taker
// lets go. The maker of a file needs no check: it held the lock before the file had its name.
//
// Value types and free functions; no shared state.
#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace aoe::os {

// An exclusive flock on a file in the run directory's locks. Destroying it unlinks the file,
// then releases the lock (closing the fd). Moving transfers both. A forked child shares the
// lock; whichever copy is destroyed first unlinks, so the parent of a daemon leaves with
// _exit, which destroys nothing.
class HeldLock {
 public:
  HeldLock() = default;
  HeldLock(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  HeldLock(HeldLock&&) noexcept = default;
  HeldLock& operator=(HeldLock&& other) noexcept;
  ~HeldLock() { Release(); }

  bool held() const { return fd_.valid(); }
  void Release();

 private:
  std::string path_;
  UniqueFd fd_;
};

struct MountLocks {
  HeldLock disk;
  HeldLock mountpoint;
};

// EWOULDBLOCK (in the error) and `holder` set to "disk" or "mountpoint" when another process
// holds one of them; other errors are the errno of mkdir, open, flock, link or stat. On an
// error, nothing this call took or created is left.
Result<MountLocks> LockMount(const std::string& run_dir, const std::string& disk,
                             const std::string& mountpoint, std::string& holder);

// Whether some process holds the disk's lock: a shared flock for a moment, which a mount taking
// the lock waits out rather than being refused, so probing never makes a mount fail. kNoFile: its
// lock file is missing, so nobody holds it (a held lock file stays linked, see above) unless the
// file was removed by hand under its holder. kUnknown: the file is unreadable to us (another
// user's).
enum class DiskLockState { kHeld, kFree, kNoFile, kUnknown };
DiskLockState DiskLockHeld(const std::string& run_dir, const std::string& disk);

}  // namespace aoe::os
