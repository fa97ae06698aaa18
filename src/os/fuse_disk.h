// FuseDisk: a FUSE filesystem holding one regular file, MOUNTPOINT/eX.Y, whose bytes are the AoE
// disk's. Reads and writes go through ByteIo; fsync and flush-on-close (when something was
// written) send FLUSH CACHE EXT.
//
// It is driven by the caller's event loop, like the initiator engine (style.md principle 4):
// watch fd() for readability and call OnReadable(); requests are answered when their ByteIo
// operation completes, so many can be in flight at once from a single thread.
//
// Caching: the file is opened with direct_io, so the kernel keeps no page cache for it. Every
// read reaches the target and every write has been acknowledged by the target when write()
// returns. That is what a loop device or a filesystem on top needs to stay coherent across
// remounts; the price is that nothing is cached on this host (see docs/mount.md).
//
// A read-only disk (ByteIo::read_only: a read-only export) is mounted read-only, its file has no
// write bits, and opens for writing, writes and fallocate fail with EROFS.
//
// Ownership: owns the libfuse session (and through it /dev/fuse); borrows ByteIo and Logger.
// Destroying a FuseDisk does not unmount: the mount survives in a daemonized child's copy of the
// session (see mount_daemon.h). Thread-safety: none; one thread.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include "base/log.h"
#include "os/byte_io.h"

struct fuse_session;

namespace aoe::os {

struct FuseDiskOptions {
  std::string mountpoint;  // absolute, existing directory
  std::string file_name;   // "e0.1"
  std::string source;      // shown as the mount's source in /proc/mounts, e.g. "aoe:e0.1"
  // Largest single read or write the kernel sends (max_read / max_write).
  uint32_t max_io_bytes = 1u << 20;
};

class FuseDisk {
 public:
  // Creates the session and mounts it. The error message is one line, with what libfuse or
  // the kernel said.
  static Outcome<std::unique_ptr<FuseDisk>> Mount(const FuseDiskOptions& options, ByteIo& io,
                                                  Logger& log);
  FuseDisk(const FuseDisk&) = delete;
  FuseDisk& operator=(const FuseDisk&) = delete;
  ~FuseDisk();

  int fd() const;
  // Handles the requests the kernel has queued. After the filesystem is unmounted (by `aoe
  // umount`, umount or fusermount -u) exited() becomes true.
  void OnReadable();
  bool exited() const;
  // Detaches the mount lazily (MNT_DETACH): open files keep working until closed. Used when
  // the daemon must go away while the file is still in use, and after a failed startup.
  void DetachLazily();
  // Ends the FUSE connection without unmounting anything: for a mount that is already gone
  // from this mount namespace while copies of it live on in others (a process that entered a
  // new mount namespace after the mount, e.g. `ip netns exec` or a service with private
  // mounts, holds one). Their users then get ENOTCONN. Afterwards exited() is true.
  void Disconnect();
  // Counters for `aoe show`.
  uint64_t requests() const { return requests_; }
  // Opens of the file not yet released, from any mount namespace (a loop device holds one).
  uint64_t open_files() const { return open_files_; }

 private:
  FuseDisk(FuseDiskOptions options, ByteIo& io, Logger& log);
  struct Ops;  // the libfuse callbacks, in fuse_disk.cc
  friend struct Ops;

  FuseDiskOptions options_;
  ByteIo& io_;
  Logger& log_;
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
  bool exited_ = false;
  std::time_t mount_time_ = 0;  // the file's mtime/ctime/atime
  uint64_t requests_ = 0;
  uint64_t open_files_ = 0;
  // libfuse's receive buffer (struct fuse_buf), reused for every request.
  struct Buffer;
  std::unique_ptr<Buffer> buffer_;
};

}  // namespace aoe::os
