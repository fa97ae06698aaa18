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
//            or a signal asks to stop. Then it
//            stops: it waits for the requests in flight and sends a final FLUSH CACHE EXT, all
//            within kStopGrace (3 s); what the target has not answered by then is failed with
//            EIO (logged), the final flush included, and Run reports the failure. It removes
//            its status file and returns.
// Signals (blocked by Start, read through a signalfd by Run):
//   SIGINT/SIGTERM  if the mount is no longer in this mount namespace, end the FUSE connection
//                   and stop: an unmount here does not end the session while a process that
//                   entered a new mount namespace after the mount (`ip netns exec`, a service
//                   with private mounts) holds a copy, and `aoe umount` signals after its
//                   unmount for that reason. Else
//                   unmount if nothing uses the file and stop. If the file is in use: when the
//                   target does not answer (every path down), fail the pending requests with
//                   EIO, detach lazily and stop at once; otherwise keep serving and log why. A
//                   second signal detaches lazily and stops (open files then fail with
//                   ENOTCONN). A signal while stopping (other than the first ever) fails what
//                   is pending at once.
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
  // The initiator's dead-target timeout (InitiatorOptions::dead_timeout): a request the target
  // has not answered for this long fails with EIO. Zero retries for ever (stopping the daemon
  // still ends them).
  Duration dead_timeout = std::chrono::seconds(30);
  std::function<void()> on_hangup;
};

// How long a stopping daemon waits for the target to answer what is pending (and its final
// flush) before it fails them with EIO.
inline constexpr Duration kStopGrace = std::chrono::seconds(3);

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
  bool read_only() const { return io_->read_only(); }
  const MountStatus& status() const { return status_; }

 private:
  MountDaemon(MountOptions options, Logger& log);
  void UpdateStatus();
  void PublishStatus();
  void HandleSignals(int fd);
  void RequestStop(bool force, std::string_view signal);
  void StopWatchingFuse();
  // Stops taking requests (the FUSE session is over) and gives what is pending `grace` to
  // finish; logs `why`.
  void BeginStop(std::string_view why, Duration grace = kStopGrace);
  // Fails every pending request (and so the FUSE requests waiting for them) with EIO; logged.
  void AbortPending(std::string_view why);
  // Whether our mount is still in this process's mount namespace.
  bool MountedHere() const;
  // Ends the FUSE connection once the mount is gone from this namespace and no file is open:
  // copies of the mount in other mount namespaces would otherwise keep it for ever.
  void StopIfOnlyCopiesRemain();
  // Ends the FUSE connection (copies elsewhere then fail with ENOTCONN) and stops: for a mount
  // already gone from this namespace.
  void Disconnect();
  // Every path of the disk is down: the target does not answer.
  bool TargetUnresponsive() const;

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
  std::optional<TimePoint> stop_deadline_;
  Duration stop_grace_{};
  bool aborted_ = false;  // requests were failed because the target did not answer
  int stop_requests_ = 0;
};

}  // namespace aoe::os
