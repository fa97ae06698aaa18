#include "os/mount_daemon.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "base/log.h"
#include "base/unique_fd.h"
#include "os/mount_table.h"

namespace aoe::os {

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr milliseconds kStatusInterval{1000};

std::string Seconds(Duration d) {
  return fmt::format("{:g} s", std::chrono::duration<double>(d).count());
}

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

MountDaemon::MountDaemon(MountOptions options, Logger& log)
    : options_(std::move(options)), log_(log) {}

MountDaemon::~MountDaemon() = default;

Outcome<std::unique_ptr<MountDaemon>> MountDaemon::Start(MountOptions options, Logger& log) {
  std::unique_ptr<MountDaemon> d(new MountDaemon(std::move(options), log));
  const std::string name = d->options_.address.ToString();

  initiator::ClientOptions client_options;
  client_options.open_timeout = d->options_.open_timeout;
  client_options.initiator.logger = &log;
  client_options.initiator.dead_timeout = d->options_.dead_timeout;
  auto client = initiator::Client::Open(d->options_.interfaces, client_options);
  if (!client) return client.error();
  d->client_ = std::move(*client);

  auto disk = d->client_->OpenDisk(d->options_.address);
  if (!disk) return disk.error();
  const uint64_t sectors = disk->sector_count();
  if (sectors == 0) {
    return Error(initiator::InitiatorErrc::kAtaError,
                 fmt::format("{} reports a capacity of 0 sectors", name));
  }
  // The mount sends FLUSH CACHE EXT on fsync (and at unmount), so its writes may take a
  // durability=auto target's cached path; as with a SATA disk, fsync is what makes them durable.
  if (auto declared = disk->DeclareSelfFlushing(); !declared) return declared.error();
  d->disk_ = &disk->async();
  d->device_ = std::make_unique<AoeSectorDevice>(*d->disk_, sectors);
  d->io_ = std::make_unique<ByteIo>(*d->device_);

  // Blocked from now on, so a Ctrl-C after the mount exists is read by Run() and unmounts
  // cleanly instead of killing the process and leaving a dead mount behind.
  const sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  FuseDiskOptions fuse_options;
  fuse_options.mountpoint = d->options_.mountpoint;
  fuse_options.file_name = name;
  fuse_options.source = "aoe:" + name;
  auto fuse = FuseDisk::Mount(fuse_options, *d->io_, log);
  if (!fuse) return fuse.error();
  d->fuse_ = std::move(*fuse);

  const initiator::TargetInfo& info = d->disk_->info();
  MountStatus& s = d->status_;
  s.disk = name;
  s.mountpoint = d->options_.mountpoint;
  s.file = d->options_.mountpoint == "/" ? "/" + name : d->options_.mountpoint + "/" + name;
  s.log = d->options_.log_path;
  s.size_bytes = d->io_->size_bytes();
  s.read_only = d->io_->read_only();
  if (info.identify) {
    s.model = info.identify->model;
    s.serial = info.identify->serial;
  }
  s.started_unix = std::time(nullptr);
  s.dead_timeout_ms = static_cast<int64_t>(
      std::chrono::duration_cast<milliseconds>(d->options_.dead_timeout).count());
  log.Info(
      name, "mounted {} ({} sectors{}, model '{}') at {} over {}; dead-target timeout {}", s.file,
      sectors, s.read_only ? ", read-only" : "", s.model, s.mountpoint,
      fmt::join(d->options_.interfaces, ", "),
      d->options_.dead_timeout == Duration::zero() ? "off" : Seconds(d->options_.dead_timeout));
  return d;
}

void MountDaemon::Abandon() {
  StopWatchingFuse();
  if (fuse_) fuse_->DetachLazily();
}

void MountDaemon::StopWatchingFuse() {
  if (fuse_watched_ && loop_) (void)loop_->Remove(fuse_->fd());
  fuse_watched_ = false;
}

void MountDaemon::UpdateStatus() {
  status_.pid = static_cast<int>(::getpid());
  status_.holds_lock = true;  // aoe mount took the disk's lock before it started us
  status_.state = stopping_ ? "stopping" : "serving";
  status_.updated_unix = std::time(nullptr);
  status_.in_flight = io_->running() + io_->waiting();
  const ByteIo::Counters& c = io_->counters();
  status_.reads = c.reads;
  status_.writes = c.writes;
  status_.flushes = c.flushes;
  status_.errors = c.errors;
  status_.bytes_read = c.bytes_read;
  status_.bytes_written = c.bytes_written;
  status_.paths.clear();
  for (const initiator::PathStats& p : disk_->path_stats()) {
    MountPathStatus out;
    out.interface = p.port;
    out.local_mac = p.local_mac.ToString();
    out.target_mac = p.target_mac.ToString();
    out.up = p.up;
    out.in_flight = p.in_flight;
    out.window = p.window;
    out.sent = p.sent;
    out.retransmits = p.retransmits;
    out.timeouts = p.timeouts;
    out.rtt_us = static_cast<uint64_t>(duration_cast<microseconds>(p.rtt_avg).count());
    out.rto_us = static_cast<uint64_t>(duration_cast<microseconds>(p.rto).count());
    status_.paths.push_back(std::move(out));
  }
  status_.conflicting.clear();
  for (const initiator::PathInfo& p : disk_->info().conflicting) {
    std::string line = fmt::format("{} on {}", p.target_mac.ToString(), p.port);
    if (p.identity) {
      line += fmt::format(": {} sectors, model '{}'", p.identity->sector_count,
                          Printable(p.identity->model));
    }
    status_.conflicting.push_back(std::move(line));
  }
}

void MountDaemon::PublishStatus() {
  UpdateStatus();
  if (Result<void> r = WriteStatus(options_.run_dir, status_); !r) {
    // Not fatal: the disk keeps working, only `aoe show` loses sight of it.
    log_.Warn(status_.disk, "cannot write the status file in {}: {}", options_.run_dir,
              r.error().message());
  }
}

bool MountDaemon::MountedHere() const {
  const std::string source = "aoe:" + status_.disk;
  for (const MountEntry& m : MountsAt(options_.mountpoint)) {
    if (m.fstype == kAoeFsType && m.source == source) return true;
  }
  return false;
}

void MountDaemon::StopIfOnlyCopiesRemain() {
  // `aoe umount --lazy` (or umount(8)) took the mount away here, and the session would see that
  // (ENODEV) once the last reference went. But a process that entered another mount namespace
  // after the mount (`ip netns exec`, a service with private mounts) holds a copy, which keeps
  // the session alive, the disk's lock taken and `aoe show` listing it, as long as that process
  // lives. Nobody can open the file from here any more; once nothing has it open anywhere, the
  // lazy unmount is complete.
  if (stopping_ || fuse_->exited() || fuse_->open_files() > 0 || MountedHere()) return;
  log_.Info(status_.disk,
            "{} is no longer mounted here and no file is open (only copies in other mount "
            "namespaces are left); ending the FUSE connection",
            options_.mountpoint);
  Disconnect();
}

void MountDaemon::Disconnect() {
  StopWatchingFuse();
  fuse_->Disconnect();
  // Nobody can use the file any more: a target that does not answer gets no grace.
  BeginStop("disconnected", TargetUnresponsive() ? Duration::zero() : kStopGrace);
}

bool MountDaemon::TargetUnresponsive() const {
  const std::vector<initiator::PathStats> paths = disk_->path_stats();
  return !paths.empty() &&
         std::none_of(paths.begin(), paths.end(), [](const auto& p) { return p.up; });
}

void MountDaemon::BeginStop(std::string_view why, Duration grace) {
  if (stopping_) return;
  stopping_ = true;
  StopWatchingFuse();
  stop_grace_ = grace;
  stop_deadline_ = client_->initiator().clock().Now() + grace;
  const size_t in_flight = io_->running() + io_->waiting();
  if (grace == Duration::zero()) {
    // Only when every path is down: nothing in flight can finish, so none is waited for.
    log_.Info(status_.disk, "{}; the target does not answer: failing {} request(s) in flight", why,
              in_flight);
  } else {
    log_.Info(status_.disk, "{}; finishing {} request(s) in flight (at most {})", why, in_flight,
              Seconds(grace));
  }
  PublishStatus();
}

void MountDaemon::AbortPending(std::string_view why) {
  if (disk_->pending_requests() == 0) return;
  aborted_ = true;
  log_.Error(status_.disk, "{}: failing {} pending request(s) with EIO", why,
             disk_->pending_requests());
  disk_->Abort(std::string(why));
}

void MountDaemon::RequestStop(bool force, std::string_view signal) {
  if (!MountedHere()) {
    // `aoe umount` or umount detached it here, but a copy in another mount namespace keeps
    // /dev/fuse open, so the session never ends by itself.
    log_.Warn(status_.disk,
              "{}: {} is no longer mounted here (unmounted lazily, or only copies in other mount "
              "namespaces are left); ending the FUSE connection",
              signal, options_.mountpoint);
    Disconnect();
    return;
  }
  if (!force) {
    // A plain umount fails with EBUSY while a loop device or a process holds the file, and
    // then nothing is disturbed.
    if (::umount2(options_.mountpoint.c_str(), 0) == 0) {
      log_.Info(status_.disk, "{}: unmounted {}", signal, options_.mountpoint);
      return;  // the session sees the unmount (ENODEV) and Run() stops
    }
    const int err = errno;
    if (err == EBUSY && TargetUnresponsive()) {
      // Whoever holds the file is waiting for a target that is gone: give them EIO now (before
      // the connection goes, so they see EIO, not ENOTCONN) rather than at the dead timeout.
      AbortPending(fmt::format("{}: {} is in use, but {} does not answer on any path", signal,
                               options_.mountpoint, status_.disk));
      log_.Warn(status_.disk, "detaching {} lazily; open files will fail", options_.mountpoint);
      StopWatchingFuse();
      fuse_->DetachLazily();
      BeginStop("detached", Duration::zero());
      return;
    }
    log_.Warn(status_.disk,
              "{}: cannot unmount {}: {}; still serving (detach loop devices and close the file, "
              "or send the signal again to detach lazily)",
              signal, options_.mountpoint, std::strerror(err));
    return;
  }
  log_.Warn(status_.disk, "{}: detaching {} lazily; open files will fail", signal,
            options_.mountpoint);
  StopWatchingFuse();
  fuse_->DetachLazily();
  BeginStop("detached");
}

void MountDaemon::HandleSignals(int fd) {
  signalfd_siginfo info{};
  while (::read(fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGHUP) {
      if (options_.on_hangup) options_.on_hangup();
      log_.Info(status_.disk, "SIGHUP: log reopened");
      continue;
    }
    const std::string_view signal = info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
    ++stop_requests_;
    // An unmount that came just before the signal (`aoe umount` unmounts, then signals) is
    // seen first, so that the signal finds the daemon already stopping.
    if (fuse_watched_) fuse_->OnReadable();
    if (fuse_->exited() && !stopping_) BeginStop("unmounted");
    if (!stopping_) {
      log_.Info(status_.disk, "{}: stopping", signal);
      RequestStop(/*force=*/stop_requests_ > 1, signal);
    } else if (stop_requests_ == 1) {
      // The stop began with the unmount (the SIGTERM `aoe umount` sends right after it).
      log_.Info(status_.disk, "{}: already stopping", signal);
    } else {
      AbortPending(fmt::format("{} while stopping", signal));
    }
  }
}

Outcome<void> MountDaemon::Run(const std::function<void()>& on_ready) {
  Result<EventLoop> loop = EventLoop::Create();
  if (!loop) return Error(loop.error(), "cannot create the event loop: " + loop.error().message());
  loop_.emplace(std::move(*loop));

  const sigset_t signals = StopSignals();
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd) {
    std::error_code ec(errno, std::system_category());
    return Error(ec, "cannot create a signalfd: " + ec.message());
  }
  initiator::Initiator& engine = client_->initiator();
  auto add = [&](int fd, std::function<void()> fn) -> Outcome<void> {
    if (Result<void> r = loop_->Add(fd, std::move(fn)); !r) {
      return Error(r.error(), "cannot watch an fd: " + r.error().message());
    }
    return {};
  };
  if (auto r = add(signal_fd.get(), [this, fd = signal_fd.get()] { HandleSignals(fd); }); !r) {
    return r;
  }
  for (int fd : engine.fds()) {
    if (auto r = add(fd, [&engine, fd] { engine.OnReadable(fd); }); !r) return r;
  }
  if (auto r = add(fuse_->fd(), [this] { fuse_->OnReadable(); }); !r) return r;
  fuse_watched_ = true;

  PublishStatus();
  if (on_ready) on_ready();

  const std::string& name = status_.disk;
  Clock& clock = engine.clock();
  TimePoint next_status = clock.Now() + kStatusInterval;
  bool final_flush_started = false;
  std::optional<Outcome<void>> final_flush;
  while (true) {
    if (fuse_->exited() && !stopping_) BeginStop("unmounted");
    if (stopping_ && io_->idle()) {
      if (final_flush) break;
      if (!final_flush_started) {
        final_flush_started = true;
        if (aborted_) {
          // The target did not answer: a flush would only wait for it again.
          final_flush.emplace(Error(initiator::InitiatorErrc::kCancelled,
                                    "skipped, because the target did not answer; data written "
                                    "since the last successful fsync may not be on its stable "
                                    "storage"));
          break;
        }
        // The last writes may still sit in the target's write cache.
        io_->Flush([&final_flush](Outcome<void> r) { final_flush.emplace(std::move(r)); });
        continue;
      }
    }
    TimePoint now = clock.Now();
    if (stopping_ && now >= *stop_deadline_ && disk_->pending_requests() > 0) {
      AbortPending(
          stop_grace_ == Duration::zero()
              ? fmt::format("stopping: {} does not answer", name)
              : fmt::format("{} did not answer within {} of stopping", name, Seconds(stop_grace_)));
      continue;
    }
    if (std::optional<TimePoint> d = engine.NextDeadline(); d && *d <= now) engine.OnTimer();
    if (now >= next_status) {
      StopIfOnlyCopiesRemain();
      PublishStatus();
      next_status = now + kStatusInterval;
    }
    TimePoint wake = next_status;
    if (std::optional<TimePoint> d = engine.NextDeadline(); d && *d < wake) wake = *d;
    if (stopping_ && *stop_deadline_ < wake) wake = *stop_deadline_;
    // Round up, so we never wake just before the deadline and spin.
    milliseconds wait = std::clamp(std::chrono::ceil<milliseconds>(wake - clock.Now()),
                                   milliseconds(0), kStatusInterval);
    (void)loop_->RunOnce(wait);  // EINTR: go round again
  }
  (void)RemoveStatus(options_.run_dir, name);
  const ByteIo::Counters& c = io_->counters();
  if (!*final_flush) {
    log_.Error(name, "final FLUSH CACHE EXT failed: {}", final_flush->error().message);
    log_.Info(name, "stopped after {} reads, {} writes, {} flushes, {} errors", c.reads, c.writes,
              c.flushes, c.errors);
    return final_flush->error();
  }
  log_.Info(name, "stopped after {} reads, {} writes, {} flushes, {} errors", c.reads, c.writes,
            c.flushes, c.errors);
  return {};
}

}  // namespace aoe::os
