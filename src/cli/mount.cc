// `aoe mount`: exposes one AoE disk as a file, MOUNTPOINT/eX.Y, through FUSE, served by a
// background daemon (or in the foreground with --foreground). The machinery is in src/os/
// (mount_daemon.h); this file parses the arguments, checks what can be checked before touching
// the network, sets up logging, and daemonizes once the mount exists.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "cli/command.h"
#include "cli/initiator_args.h"
#include "os/daemonize.h"
#include "os/mount_daemon.h"
#include "os/mount_lock.h"
#include "os/mount_log.h"
#include "os/mount_status.h"
#include "os/mount_table.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kName = "mount";

constexpr CommandHelp kHelp{
    .name = kName,
    .usage =
        "Usage: aoe mount -i IFACE [-i IFACE ...] eSHELF.SLOT MOUNTPOINT [--foreground]\n"
        "                 [--log FILE] [--log-level LEVEL] [--timeout S] [--dead-timeout S]\n",
    .description =
        "Expose an AoE disk as one file, MOUNTPOINT/eSHELF.SLOT, through FUSE. Reads and writes\n"
        "of the file go to the disk; fsync sends FLUSH CACHE EXT. Attach it with\n"
        "'losetup --partscan' to use its partitions and filesystems. A daemon serves the file\n"
        "in the background; 'aoe umount MOUNTPOINT' stops it, 'aoe show' lists the mounts.",
    .footer = R"(Examples:
  aoe mount -i eth1 e0.1 /mnt/aoe
  aoe mount -i eth1 -i eth2 e1.3 /srv/disks/e1.3 --log /tmp/e1.3.log
  aoe mount -i eth1 e0.1 /mnt/aoe --foreground --log-level debug
  aoe mount -i eth1 e0.1 /mnt/aoe --dead-timeout 120
  losetup --find --show --partscan /mnt/aoe/e0.1

The file bypasses the page cache (direct I/O): a write() has reached the target when it
returns, and fsync() also empties the target's write cache. A target that restarts within
the dead timeout is invisible except for the delay; a request it leaves unanswered for that
long fails with EIO. See docs/mount.md.
Logs go to --log, by default /var/log/aoekit/mount-eSHELF.SLOT.log (stderr with
--foreground). Status files live in $AOE_RUN_DIR, by default /run/aoekit/mounts.
Exit status: 0 mounted (with --foreground: unmounted cleanly), 1 runtime failure (no
target answered, interface, mount point, final flush), 2 bad arguments.)"};

// --dead-timeout: seconds, or 0 to retry for ever.
ParseResult<Duration> ParseDeadTimeout(std::string_view text) {
  if (text == "0") return Duration::zero();
  if (ParseResult<Duration> d = ParseSeconds("--dead-timeout", text, 24 * 3600.0)) return d;
  return ParseError{fmt::format(
      "--dead-timeout '{}' is not a number of seconds from 0.001 to 86400, or 0 to retry for "
      "ever; e.g. --dead-timeout 60",
      text)};
}

std::string DefaultLogPath(const std::string& disk) {
  if (geteuid() == 0) return fmt::format("/var/log/aoekit/mount-{}.log", disk);
  std::string base;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state != '\0') {
    base = state;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    base = fmt::format("{}/.local/state", home);
  } else {
    base = "/tmp";
  }
  return fmt::format("{}/aoekit/mount-{}.log", base, disk);
}

// Checks that need no network: the mount point, and that the disk is not mounted already.
std::string CheckMountpoint(const std::string& mountpoint, const std::string& disk,
                            const std::string& run_dir) {
  const std::string dead = fmt::format(
      "{} is a dead mount (its FUSE daemon is gone); remove it with 'aoe umount {}' first",
      mountpoint, mountpoint);
  struct stat st {};
  if (::stat(mountpoint.c_str(), &st) != 0) {
    if (errno == ENOTCONN) return dead;
    return fmt::format("mount point {}: {}; create the directory first", mountpoint,
                       std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return fmt::format("mount point {} is not a directory", mountpoint);
  for (const os::MountStatus& s : os::ReadStatuses(run_dir, /*remove_stale=*/true)) {
    if (s.disk == disk) {
      return fmt::format("{} is already mounted at {} (daemon pid {}); run 'aoe umount {}' first",
                         disk, s.mountpoint, s.pid, s.mountpoint);
    }
    if (s.mountpoint == mountpoint) {
      return fmt::format("{} already holds {} (daemon pid {}); pick another directory", mountpoint,
                         s.disk, s.pid);
    }
  }
  if (std::optional<os::MountEntry> m = os::FindMount(mountpoint);
      m && m->fstype == os::kAoeFsType) {
    // No daemon of ours serves it (above): most likely one that was killed.
    if (os::IsDeadFuseMount(mountpoint)) return dead;
    return fmt::format("{} already has an AoE disk mounted ({}); pick another directory",
                       mountpoint, m->source);
  }
  return {};
}

}  // namespace

int MountMain(const std::vector<std::string>& args) {
  CLI::App app("", "aoe mount");
  SetUpCommand(app, kHelp);
  std::vector<std::string> interfaces;
  std::string disk_text, mountpoint_text, log_path, level_text = "info", timeout_text = "2";
  std::string dead_timeout_text = "30";
  bool foreground = false;
  AddInterfaceOption(app, interfaces);
  app.add_flag("--foreground", foreground,
               "Stay attached to the terminal and log to stderr (unless --log);\n"
               "Ctrl-C unmounts. Example: --foreground");
  app.add_option("--log", log_path,
                 "Append log lines to FILE (default /var/log/aoekit/mount-eX.Y.log,\n"
                 "stderr with --foreground). Example: --log /tmp/e0.1.log")
      ->type_name("FILE");
  app.add_option("--log-level", level_text,
                 "error, warn, info (default) or debug. Example: --log-level debug")
      ->type_name("LEVEL");
  app.add_option("--timeout", timeout_text,
                 "Seconds to wait for the disk to answer discovery (default 2).\n"
                 "Example: --timeout 5")
      ->type_name("S");
  app.add_option("--dead-timeout", dead_timeout_text,
                 "Seconds a request may go unanswered (the target gone) before it fails\n"
                 "with EIO (default 30; 0 retries for ever). Example: --dead-timeout 120")
      ->type_name("S");
  app.add_option("TARGET", disk_text, "The disk, eSHELF.SLOT. Example: e0.1")->type_name("");
  app.add_option("MOUNTPOINT", mountpoint_text, "An existing directory. Example: /mnt/aoe")
      ->type_name("");
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;

  if (interfaces.empty()) {
    return Fail(kName, kExitUsage,
                "no interface given; add -i IFACE, e.g. aoe mount -i eth1 e0.1 /mnt/aoe");
  }
  if (disk_text.empty() || mountpoint_text.empty()) {
    return Fail(kName, kExitUsage,
                "give the disk and the mount point, e.g. aoe mount -i eth1 e0.1 /mnt/aoe");
  }
  ParseResult<proto::DiskAddress> address = ParseDiskName(disk_text);
  if (!address) return Fail(kName, kExitUsage, address.error().message);
  std::optional<LogLevel> level = ParseLogLevel(level_text);
  if (!level) {
    return Fail(kName, kExitUsage,
                fmt::format("--log-level '{}' is not one of error, warn, info, debug", level_text));
  }
  ParseResult<Duration> timeout = ParseSeconds("--timeout", timeout_text, 600);
  if (!timeout) return Fail(kName, kExitUsage, timeout.error().message);
  ParseResult<Duration> dead_timeout = ParseDeadTimeout(dead_timeout_text);
  if (!dead_timeout) return Fail(kName, kExitUsage, dead_timeout.error().message);

  const std::string disk = address->ToString();
  os::MountOptions options;
  options.interfaces = interfaces;
  options.address = *address;
  options.mountpoint = os::NormalizePath(mountpoint_text);
  options.run_dir = os::RunDirectory();
  options.open_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
  options.dead_timeout = *dead_timeout;
  // Held until this process (or the daemon it becomes) exits: a second `aoe mount` of the same
  // disk or mount point started meanwhile is refused here, before the status files show us.
  std::string holder;
  // A refused or failed mount lets go of them, which removes their files (mount_lock.h).
  Result<os::MountLocks> locks = os::LockMount(options.run_dir, disk, options.mountpoint, holder);
  if (!locks) {
    if (locks.error().value() == EWOULDBLOCK) {
      // Held by a mount that serves already (its status file says where) or is still starting.
      if (std::string problem = CheckMountpoint(options.mountpoint, disk, options.run_dir);
          !problem.empty()) {
        return Fail(kName, kExitFailure, problem);
      }
      return Fail(kName, kExitFailure,
                  holder == "disk"
                      ? fmt::format("{} is being mounted or is mounted already by another aoe "
                                    "mount; see 'aoe show'",
                                    disk)
                      : fmt::format("another aoe mount is mounting a disk at {}; pick another "
                                    "directory",
                                    options.mountpoint));
    }
    return Fail(
        kName, kExitFailure,
        fmt::format("cannot lock {} in {}: {}", disk, options.run_dir, locks.error().message()));
  }
  if (std::string problem = CheckMountpoint(options.mountpoint, disk, options.run_dir);
      !problem.empty()) {
    return Fail(kName, kExitFailure, problem);
  }

  // The daemon logs to a file; in the foreground stderr is the natural place unless --log.
  std::unique_ptr<os::MountLogFile> log_file;
  if (!log_path.empty() || !foreground) {
    const bool given = !log_path.empty();
    if (!given) log_path = DefaultLogPath(disk);
    log_path = os::NormalizePath(log_path);
    log_file = std::make_unique<os::MountLogFile>(log_path, given);
    if (Result<void> r = log_file->Open(); !r) {
      return Fail(kName, given ? kExitUsage : kExitFailure,
                  fmt::format("cannot open the log file {}: {}; choose another with --log FILE",
                              log_path, r.error().message()));
    }
    options.on_hangup = [&log_file] { (void)log_file->Open(); };
  }
  options.log_path = log_path;
  Logger log =
      log_file
          ? Logger(*level, [&log_file](LogLevel, std::string_view line) { log_file->Write(line); })
          : Logger(*level);

  auto daemon = os::MountDaemon::Start(options, log);
  if (!daemon) {
    // Into the log file too (unless it went, mount_log.h), for whoever reads it later; never
    // twice on stderr.
    if (log_file && !log_file->RemoveIfOurs()) {
      log.Error(disk, "not mounted: {}", daemon.error().message);
    }
    return Fail(kName, kExitFailure, daemon.error().message);
  }
  const std::string summary =
      fmt::format("mounted {} ({}{}) as {}", disk, HumanBytes((*daemon)->size_bytes()),
                  (*daemon)->read_only() ? ", read-only" : "", (*daemon)->file_path());

  if (foreground) {
    fmt::print("{}{}\n", summary, log_path.empty() ? "" : fmt::format(" (log {})", log_path));
    std::fflush(stdout);
    initiator::Outcome<void> ran = (*daemon)->Run({});
    if (!ran) return Fail(kName, kExitFailure, ran.error().message);
    return kExitOk;
  }

  auto startup = os::DaemonStartup::Fork();
  if (!startup) {
    (*daemon)->Abandon();
    if (log_file) (void)log_file->RemoveIfOurs();
    return Fail(kName, kExitFailure, startup.error().message);
  }
  if (!startup->is_child()) {
    initiator::Outcome<void> ready = startup->WaitForChild(std::chrono::seconds(10));
    if (!ready) {
      (*daemon)->Abandon();
      Fail(kName, kExitFailure, fmt::format("{} (see {})", ready.error().message, log_path));
      std::fflush(stderr);
      ::_exit(kExitFailure);
    }
    fmt::print("{} (daemon pid {}, log {})\n", summary, startup->child_pid(), log_path);
    std::fflush(stdout);
    // Not a return: the destructors would tear down the session and the sockets that the
    // daemon (the child) now serves. Our copies of those fds just close.
    ::_exit(kExitOk);
  }

  bool reported = false;
  initiator::Outcome<void> ran = (*daemon)->Run([&] {
    startup->ReportReady();
    reported = true;
  });
  if (!ran) {
    if (!reported) {
      (*daemon)->Abandon();
      startup->ReportFailure(ran.error().message);
    }
    return kExitFailure;  // logged by the daemon
  }
  return kExitOk;
}

}  // namespace aoe::cli
