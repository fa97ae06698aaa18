// MountDaemon: the process behind `aoe mount`. It opens the AoE disk through the initiator
// engine, mounts a FuseDisk exposing it as MOUNTPOINT/eX.Y, and serves both from one thread and
// one epoll loop: /dev/fuse, the packet sockets, a signalfd and the engine's timers. Its status
// is published for `aoe show` (mount_status.h).
//
// Lifecycle:
//   Start()  everything that can fail for a reason the user must see (interfaces, "no target
//            answered", mount errors) happens here, before any daemonizing, so the CLI reports
//            it on the terminal with the exit status.
//   Run()    serves until the filesystem is unmounted (`aoe umount`, umount, fusermount3 -u)
//            or a signal asks to stop, then waits for the requests in flight, sends a final
//            FLUSH CACHE EXT and removes its status file.
// Signals (blocked by Start, read through a signalfd by Run):
//   SIGINT/SIGTERM  unmount if nothing uses the file, else keep serving and log why; a second
//                   one detaches lazily and stops (open files then fail with ENOTCONN).
//   SIGHUP          calls options.on_hangup (the CLI reopens its log file: logrotate).
//
// Ownership: owns the Client (ports), the FUSE session and the I/O queue; borrows the Logger.
// Thread-safety: none; one thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "initiator/client.h"
#include "os/byte_io.h"
#include "os/fuse_disk.h"
#include "os/mount_status.h"

namespace aoe::os {

struct MountOptions {
  std::vector<std::string> interfaces;
  proto::DiskAddress address;
  std::string mountpoint;  // absolute path of an existing directory
  std::string log_path;    // only published in the status; empty: stderr
  std::string run_dir;     // where the status file goes (RunDirectory())
  std::chrono::milliseconds open_timeout{2000};
  std::function<void()> on_hangup;
};

class MountDaemon {
 public:
  static Outcome<std::unique_ptr<MountDaemon>> Start(MountOptions options, Logger& log);
  MountDaemon(const MountDaemon&) = delete;
  MountDaemon& operator=(const MountDaemon&) = delete;
  ~MountDaemon();

  // Serves until stopped (see above). `on_ready` runs once the status file is published and the
  // loop is about to serve. An error means the final flush (or the loop) failed.
  Outcome<void> Run(const std::function<void()>& on_ready);
  // Gives up a mount that will not be served (startup failed after Start): detaches lazily.
  void Abandon();

  const std::string& file_path() const { return status_.file; }
  uint64_t size_bytes() const { return io_->size_bytes(); }
  const MountStatus& status() const { return status_; }

 private:
  MountDaemon(MountOptions options, Logger& log);
  void UpdateStatus();
  void PublishStatus();
  void HandleSignals(int fd);
  void RequestStop(bool force);
  void StopWatchingFuse();

  MountOptions options_;
  Logger& log_;
  std::unique_ptr<initiator::Client> client_;
  initiator::Disk* disk_ = nullptr;
  std::unique_ptr<AoeSectorDevice> device_;
  std::unique_ptr<ByteIo> io_;
  std::unique_ptr<FuseDisk> fuse_;
  std::optional<EventLoop> loop_;
  MountStatus status_;
  bool fuse_watched_ = false;
  bool stopping_ = false;
  int stop_requests_ = 0;
};

}  // namespace aoe::os
