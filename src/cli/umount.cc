// `aoe umount`: flushes and detaches a disk mounted by `aoe mount`, then stops its daemon and
// waits for it to exit, all within --timeout (10 s by default). It refuses (unless --lazy) while
// the file is in use, naming the loop device that holds it, because detaching under a mounted
// filesystem would turn its I/O into errors.
//
// A target that does not answer cannot hold it up: the flush runs on a helper thread, and if it
// has not finished within half the timeout the mount is detached lazily anyway and the daemon
// told to stop, which fails what is pending with EIO (the daemon logs it).
//
// The daemon gets SIGTERM after the unmount because it may not see the unmount by itself: a
// process that entered a new mount namespace after the mount (`ip netns exec`, a service with
// private mounts) holds a copy that keeps /dev/fuse alive.
//
// Only the mount at MOUNTPOINT and the daemon that published it are touched: other mounted
// disks have their own daemons and never notice.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "cli/command.h"
#include "cli/initiator_args.h"
#include "os/mount_status.h"
#include "os/mount_table.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kName = "umount";

constexpr CommandHelp kHelp{
    .name = kName,
    .usage = "Usage: aoe umount MOUNTPOINT [--lazy] [--timeout S]\n",
    .description =
        "Unmount an AoE disk mounted with 'aoe mount': send FLUSH CACHE EXT so that everything\n"
        "written is on the target's stable storage, detach the mount, and stop the daemon\n"
        "serving it. Refuses while the file is in use (a loop device, an open file). A target\n"
        "that does not answer the flush within half of --timeout is given up on: the mount is\n"
        "detached anyway and the command exits 1.",
    .footer = R"(Examples:
  aoe umount /mnt/aoe
  umount /mnt/aoe/part1 && losetup -d /dev/loop0 && aoe umount /mnt/aoe
  aoe umount --lazy /mnt/aoe

Exit status: 0 flushed and unmounted, 1 refused or failed (busy, not an AoE mount, flush
failed or not answered, daemon did not exit), 2 bad arguments.)"};

// The disk name of an `aoe mount` source, "aoe:e0.1" -> "e0.1".
std::string DiskOfSource(const std::string& source) {
  constexpr std::string_view kPrefix = "aoe:";
  return source.rfind(kPrefix, 0) == 0 ? source.substr(kPrefix.size()) : std::string();
}

std::string BusyMessage(const std::string& mountpoint, const std::string& file) {
  std::vector<std::string> loops = os::LoopDevicesBackedBy(file);
  if (!loops.empty()) {
    return fmt::format(
        "{} is in use by loop device {}; unmount its filesystems and run 'losetup -d {}' first "
        "(or use --lazy)",
        file, JoinNames(loops), loops.front());
  }
  return fmt::format(
      "{} is busy: a process has a file open there (see 'fuser -vm {}'); close it first "
      "(or use --lazy)",
      mountpoint, mountpoint);
}

// `losetup -d DEV && aoe umount` must work, but the kernel detaches a device that is still
// open (udev probing its partitions right after their filesystem was unmounted) only at its
// last close, a moment later. While every loop device on the file is set to detach so, wait
// for that, up to `wait` (a `mount -o loop` one, set so too, then still refuses, only later).
void WaitForDetachingLoops(const std::string& file, std::chrono::steady_clock::duration wait) {
  using namespace std::chrono_literals;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::vector<std::string> loops = os::LoopDevicesBackedBy(file);
    if (loops.empty() || !std::all_of(loops.begin(), loops.end(), os::LoopDetachesAtLastClose)) {
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
}

// Whether a process has the file open, asked before the flush: the flush's own open file would
// make the later unmount's answer yes, and a target slow to answer it must not turn a file in
// use into one detached under its user. umount2(MNT_EXPIRE) says EBUSY for a mount in use and
// only marks an idle one (EAGAIN); the next access to it clears the mark. Any access first, so
// that a mark left from before cannot make this call the unmount. Without the privilege to ask
// (EPERM), the unmount itself tells later.
bool InUse(const std::string& mountpoint, const std::string& file) {
  (void)::access(file.c_str(), F_OK);
  return ::umount2(mountpoint.c_str(), MNT_EXPIRE) != 0 && errno == EBUSY;
}

// Sends FLUSH CACHE EXT through the mount itself: fsync on the file reaches the daemon, which
// answers only once the target has acknowledged the flush, and returns its error if not.
std::optional<std::string> FlushThroughMount(const std::string& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    // ENOTCONN: the daemon is gone (killed, or crashed), and with it any way to flush.
    if (errno == ENOTCONN) {
      return "its daemon was gone, so no FLUSH CACHE EXT reached the target; data written since "
             "the last successful fsync may not be on its stable storage";
    }
    return fmt::format("cannot open {} to flush it: {}", file, std::strerror(errno));
  }
  if (::fsync(fd.get()) != 0) {
    return fmt::format(
        "FLUSH CACHE EXT failed ({}); data written may not be on the target's "
        "stable storage",
        std::strerror(errno));
  }
  return std::nullopt;
}

// How many InBackground threads have not finished.
std::atomic<int> running_in_background{0};

// Runs `work` on a thread of its own, so that the command can stop waiting for it: anything
// that touches the FUSE file (a lookup, an open, an fsync) waits for as long as its daemon does
// not answer, and a daemon that is stopped (SIGSTOP) or hung never does. The thread is left
// behind then, and UmountMain ends the process without waiting for it.
template <typename T>
class InBackground {
 public:
  explicit InBackground(std::function<T()> work) {
    auto promise = std::make_shared<std::promise<T>>();
    result_ = promise->get_future();
    ++running_in_background;
    std::thread([work = std::move(work), promise] {
      promise->set_value(work());
      --running_in_background;
    }).detach();
  }
  // What `work` returned, or nullopt if it has not finished within `wait`.
  std::optional<T> Wait(std::chrono::steady_clock::duration wait) {
    if (result_.wait_for(wait) != std::future_status::ready) return std::nullopt;
    return result_.get();
  }

 private:
  std::future<T> result_;
};

int Umount(const std::vector<std::string>& args);

}  // namespace

int UmountMain(const std::vector<std::string>& args) {
  const int status = Umount(args);
  // A thread left inside a FUSE request of a daemon that does not answer can hold up the
  // normal exit: the sanitizers' leak check runs at exit and stops every thread first, which
  // one waiting in the kernel for FUSE never does. Nothing is left to clean up: end at once.
  if (running_in_background > 0) {
    std::fflush(nullptr);
    std::_Exit(status);
  }
  return status;
}

namespace {

int Umount(const std::vector<std::string>& args) {
  CLI::App app("", "aoe umount");
  SetUpCommand(app, kHelp);
  std::string mountpoint_text, timeout_text = "10";
  bool lazy = false;
  app.add_flag("--lazy", lazy,
               "Detach now even if the file is in use (umount -l): users keep it\n"
               "until they close it, then the daemon flushes and exits. Example: --lazy");
  app.add_option("--timeout", timeout_text,
                 "Seconds for all of it: the flush (at most half of it), the unmount and\n"
                 "the daemon's exit (default 10). Example: --timeout 120")
      ->type_name("S");
  app.add_option("MOUNTPOINT", mountpoint_text, "Where the disk is mounted. Example: /mnt/aoe")
      ->type_name("");
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;
  if (mountpoint_text.empty()) {
    return Fail(kName, kExitUsage, "give the mount point, e.g. aoe umount /mnt/aoe");
  }
  ParseResult<Duration> timeout = ParseSeconds("--timeout", timeout_text, 3600);
  if (!timeout) return Fail(kName, kExitUsage, timeout.error().message);
  const auto start = std::chrono::steady_clock::now();

  const std::string mountpoint = os::NormalizePath(mountpoint_text);
  std::optional<os::MountEntry> mount = os::FindMount(mountpoint);
  if (!mount) {
    struct stat st {};
    if (::stat(mountpoint.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
      return Fail(
          kName, kExitUsage,
          fmt::format("{} does not exist; 'aoe show' lists the AoE disks mounted", mountpoint));
    }
    return Fail(
        kName, kExitFailure,
        fmt::format("{} is not a mount point; 'aoe show' lists the AoE disks mounted", mountpoint));
  }
  if (mount->fstype != os::kAoeFsType) {
    return Fail(kName, kExitFailure,
                fmt::format("{} is a {} mount, not an AoE disk mounted by 'aoe mount'; use "
                            "umount(8) for it",
                            mountpoint, mount->fstype));
  }
  const std::string disk = DiskOfSource(mount->source);
  const std::string file = fmt::format("{}/{}", mountpoint == "/" ? "" : mountpoint, disk);

  std::optional<os::MountStatus> daemon;
  for (os::MountStatus& s : os::ReadStatuses(os::RunDirectory(), /*remove_stale=*/true)) {
    if (s.mountpoint == mountpoint) daemon = std::move(s);
  }

  // Both checks look the file up. A daemon that does not answer them within half the timeout
  // will not answer the flush either, which then waits out the rest of that half.
  if (!lazy) {
    // At most 2 s, and well within the half of --timeout the check may take: a check that does
    // not finish in time counts as "not in use" (a stopped daemon makes it hang).
    const auto loop_wait =
        std::min<std::chrono::steady_clock::duration>(std::chrono::seconds(2), *timeout / 4);
    InBackground<bool> check([mountpoint, file, loop_wait] {
      WaitForDetachingLoops(file, loop_wait);
      return !os::LoopDevicesBackedBy(file).empty() || InUse(mountpoint, file);
    });
    if (check.Wait(*timeout / 2).value_or(false)) {
      return Fail(kName, kExitFailure, BusyMessage(mountpoint, file));
    }
  }
  const std::string see_log =
      daemon && !daemon->log.empty() ? fmt::format(" (see {})", daemon->log) : "";
  InBackground<std::optional<std::string>> flush([file] { return FlushThroughMount(file); });
  const auto flush_wait = std::max(start + *timeout / 2 - std::chrono::steady_clock::now(),
                                   std::chrono::steady_clock::duration::zero());
  std::optional<std::optional<std::string>> flushed = flush.Wait(flush_wait);
  const bool flush_unanswered = !flushed.has_value();
  std::optional<std::string> flush_error = flushed.value_or(std::nullopt);

  // The helper thread's open file keeps the mount busy while the flush waits: detach lazily
  // then; the daemon, told to stop below, fails the flush and ends the connection.
  if (::umount2(mountpoint.c_str(), lazy || flush_unanswered ? MNT_DETACH : 0) != 0) {
    const int err = errno;
    if (err == EBUSY) return Fail(kName, kExitFailure, BusyMessage(mountpoint, file));
    if (err == EPERM) {
      return Fail(kName, kExitFailure,
                  fmt::format("cannot unmount {}: {}; run as root (or 'fusermount3 -u {}' as "
                              "the user who mounted it)",
                              mountpoint, std::strerror(err), mountpoint));
    }
    return Fail(kName, kExitFailure,
                fmt::format("cannot unmount {}: {}", mountpoint, std::strerror(err)));
  }
  // With --lazy the file may still be in use: the daemon exits when its last user closes it.
  // Otherwise it finishes its requests, sends a last flush, removes its status file and exits.
  std::optional<std::string> running;  // "its daemon (pid N) is still running after T"
  // Gone means exited: a zombie that its parent (a subreaper) has not reaped yet counts as
  // gone, and so does a daemon whose disk lock is free (it is exiting, its files closed).
  const std::string run_dir = os::RunDirectory();
  if (daemon && (!lazy || flush_unanswered) && os::DaemonAlive(run_dir, *daemon)) {
    (void)::kill(daemon->pid, SIGTERM);
    const auto give_up = start + *timeout;
    while (os::DaemonAlive(run_dir, *daemon)) {
      if (std::chrono::steady_clock::now() >= give_up) {
        running = fmt::format("its daemon (pid {}) is still running after {}", daemon->pid,
                              HumanSeconds(*timeout));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // Every problem goes into the one line: a daemon that outlived the timeout (frozen, say)
  // does not make a flush that was never answered any less of a risk to the data.
  const std::string and_running = running ? ", and " + *running : "";
  if (flush_unanswered) {
    return Fail(kName, kExitFailure,
                fmt::format("{} did not answer FLUSH CACHE EXT within {}; detached {} anyway: "
                            "data written since the last successful fsync may not be on the "
                            "target's stable storage{}{}",
                            disk, HumanSeconds(*timeout / 2), mountpoint, and_running, see_log));
  }
  if (flush_error) {
    return Fail(
        kName, kExitFailure,
        fmt::format("unmounted {}, but {}{}{}", mountpoint, *flush_error, and_running, see_log));
  }
  if (running) {
    return Fail(kName, kExitFailure,
                fmt::format("unmounted {}, but {}{}", mountpoint, *running, see_log));
  }
  return kExitOk;
}

}  // namespace
}  // namespace aoe::cli
