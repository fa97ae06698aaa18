// `aoe serve`: runs the AoE target until SIGINT/SIGTERM, reloading --config on SIGHUP.
//
// Parsing lives in serve_args.cc; the [netboot] service in serve_netboot.cc; signals and systemd
// notification in serve_signals.cc; the control socket's commands in serve_control.cc. This file
// starts them in order, drops privileges, serves, and reports why it stopped.
#include <fmt/format.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "cli/command.h"
#include "cli/netboot_user.h"
#include "cli/privileges.h"
#include "cli/serve_args.h"
#include "cli/serve_config.h"
#include "cli/serve_control.h"
#include "cli/serve_netboot.h"
#include "cli/serve_signals.h"
#include "control/control_client.h"
#include "control/control_server.h"
#include "netboot/netboot_service.h"
#include "os/service_notify.h"
#include "storage/storage_error.h"
#include "target/server.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kSubject = "serve";

// What `aoe serve --user` keeps: CAP_NET_RAW opens packet sockets, which SIGHUP needs for an
// interface added to the config. Re-binding a socket to an interface that was deleted and
// re-created needs no capability, nor does I/O on images already open. Not kept: CAP_NET_ADMIN
// (new sockets then get buffers capped at net.core.rmem_max/wmem_max) and file access
// overrides (images added by SIGHUP must be readable and writable by the user). A [netboot]
// section needs nothing more (netboot_user.h): its ports are bound before the switch, and
// CAP_NET_RAW, kept anyway, covers SO_BINDTODEVICE for TFTP transfers on kernels before 5.7.
// Not kept: CAP_NET_BIND_SERVICE, so a changed [netboot] waits for a restart.
constexpr int kServeCapabilities[] = {CAP_NET_RAW};

// Opens the control socket. Returns "" or, when the failure must stop aoe serve (a path the
// administrator chose), why. At the default path a socket another aoe serve holds is only a
// warning, so that several instances can run (the others without a socket).
std::string StartControl(const std::optional<std::string>& configured, EventLoop& loop, Logger& log,
                         control::ControlHandler& handler,
                         std::unique_ptr<control::ControlServer>& out) {
  if (configured == "none") return "";
  const std::string path = configured.value_or(std::string(control::kDefaultSocketPath));
  if (!configured) {
    const std::string dir = path.substr(0, path.rfind('/'));
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      log.Warn(kSubject, "no control socket: cannot create {}: {}", dir, std::strerror(errno));
      return "";
    }
  }
  std::string why;
  auto server = control::ControlServer::Create(path, loop, log, handler, why);
  if (!server) {
    if (configured) return why;
    log.Warn(kSubject, "no control socket: {}", why);
    return "";
  }
  log.Info(kSubject, "control socket {} (aoe ctl, aoe overlay)", path);
  out = std::move(*server);
  return "";
}

// Why aoe serve stopped before or while serving: the exit code and the one line for stderr.
struct Stopped {
  int exit_code = kExitOk;
  std::string message;  // empty for a clean stop
};

Stopped Failure(int exit_code, std::string message) { return {exit_code, std::move(message)}; }

// --user: checked before anything is opened; what must stay writable after the switch (the
// state directory, overlay directories, a [netboot] lease directory made ready for the user).
std::optional<Stopped> PlanPrivilegeDrop(const ServeArgs& args, PrivilegeDrop& drop) {
  drop = PrivilegeDrop{
      .user = args.config.user,
      .keep_capabilities = {std::begin(kServeCapabilities), std::end(kServeCapabilities)},
      .writable_dirs = {args.config.server.state_dir}};
  for (const target::ExportOptions& e : args.config.server.exports) {
    if (e.has_overlay()) drop.writable_dirs.push_back(e.overlay_dir);
  }
  if (args.config.user.empty()) return std::nullopt;
  std::string problem = CheckDropUser(args.config.user);
  if (problem.empty() && args.config.netboot) {
    problem = PrepareNetbootForUser(*args.config.netboot, {args.config.server.state_dir}, drop);
  }
  if (problem.empty()) return std::nullopt;
  return Failure(kExitUsage, fmt::format("--user {}: {}", args.config.user, problem));
}

// Each overlay holds two files open: a lab of hundreds of clients needs more than the usual
// soft limit of 1024 descriptors. The hard limit is the administrator's.
void RaiseOpenFileLimit() {
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }
}

// Everything that needs root is open (sockets, images, state files): switch to --user.
std::optional<Stopped> DropToUser(const ServeArgs& args, const PrivilegeDrop& drop,
                                  EmbeddedNetboot& netboot, Logger& log) {
  if (std::string problem = DropPrivileges(drop); !problem.empty()) {
    return Failure(kExitFailure, fmt::format("--user {}: {}", args.config.user, problem));
  }
  if (args.config.netboot) {
    if (std::string problem = CheckNetbootAfterDrop(*args.config.netboot, args.config.user);
        !problem.empty()) {
      return Failure(kExitUsage, fmt::format("netboot: --user {}: {}", args.config.user, problem));
    }
  }
  netboot.set_user(args.config.user);
  log.Info(kSubject, "running as user {} (uid {}), keeping only {}", args.config.user, ::getuid(),
           CapabilityName(CAP_NET_RAW));
  return std::nullopt;
}

// Starts everything in order (signals, the Server, [netboot], the control socket, the user
// switch, the watchdog), tells systemd it is ready, and serves until a stop signal.
Stopped RunServe(const ServeArgs& args) {
  // The signal thread first: every thread started after it (the Server's) inherits the blocked
  // signals, which then arrive only through it. From here on a second SIGTERM quits, even while
  // the start waits for storage that hangs.
  // no_new_privs is per thread: set before the signal thread exists, so that it has it too once
  // --user drops the rest (DropPrivileges sets it again, for the thread that drops).
  if (!args.config.user.empty() && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Failure(kExitFailure, fmt::format("cannot set no_new_privs: {}", std::strerror(errno)));
  }
  Logger log(args.config.log_level);
  // The signal thread's own log, which never waits: a blocked write (a stopped terminal, a
  // journal on the storage that hangs) must not keep it from taking the second SIGTERM. Made
  // before the thread, which may log a slow stop until it is joined.
  Logger signal_log(args.config.log_level, WriteToStderrWithoutWaiting);
  Result<std::unique_ptr<SignalThread>> signals = SignalThread::Start(
      HandledSignals(), SlowStopNotice{.report = [&signal_log](const std::string& line) {
        signal_log.Warn("serve", "{}", line);
      }});
  if (!signals) {
    return Failure(kExitFailure,
                   fmt::format("cannot start receiving signals: {}", signals.error().message()));
  }
  PrivilegeDrop drop;
  if (std::optional<Stopped> bad = PlanPrivilegeDrop(args, drop)) return *bad;

  RaiseOpenFileLimit();
  Result<std::unique_ptr<target::Server>> server = target::Server::Create(args.config.server, log);
  if (!server) {
    // A Ceph cluster that cannot be reached is most often a wrong ceph_conf= or mon_host, a
    // refused key a wrong ceph_id= or keyring=; rbd: exports may lack the aoekit-rbd package.
    return Failure(
        IsStorageSetupError(server.error()) ? kExitUsage : kExitFailure,
        // Server::Create has logged what failed and what to do; a bare errno here would only
        // contradict it ("Address family not supported" after "not an Ethernet interface").
        fmt::format("cannot start serving {} export(s) on {}; the line above says why",
                    args.config.server.exports.size(),
                    fmt::join(args.config.server.interfaces, ", ")));
  }
  target::Server& serving = **server;
  // [netboot]: DHCP and TFTP on the Server's loop (ports 67 and 69 need root, so before --user).
  EmbeddedNetboot netboot(serving.loop(), log,
                          [&serving](const MacAddress& mac) { serving.ClientBooted(mac); });
  if (std::string why = netboot.Start(args.config.netboot); !why.empty()) {
    return Failure(kExitFailure, "netboot: " + why);
  }
  // The control socket: created by the starting user (root), mode 0600, before --user.
  ServeControl control_handler(serving, log);
  std::unique_ptr<control::ControlServer> control;
  if (std::string why =
          StartControl(args.config.control_socket, serving.loop(), log, control_handler, control);
      !why.empty()) {
    return Failure(kExitFailure, why);
  }
  if (!args.config.user.empty()) {
    if (std::optional<Stopped> bad = DropToUser(args, drop, netboot, log)) return *bad;
  }
  ServiceNotifier notifier;
  SignalHandler handler(serving, netboot, log, args, **signals, notifier);
  serving.Watch((*signals)->fd(), [&handler] { handler.OnReadable(); });

  // Every interface, export and the [netboot] service is up: READY=1 for Type=notify, and the
  // watchdog pings (WatchdogSec=) from the same loop that serves the frames.
  Result<std::unique_ptr<WatchdogTimer>> watchdog = WatchdogTimer::Start(serving.loop(), notifier);
  if (!watchdog) {
    return Failure(kExitFailure,
                   fmt::format("cannot start the watchdog timer: {}", watchdog.error().message()));
  }
  if (Result<void> ready = notifier.Ready(ServiceStatus(args.config)); !ready) {
    log.Warn(kSubject, "cannot notify the service manager ($NOTIFY_SOCKET): {}",
             ready.error().message());
  }

  // The Server logs its own summary when it stops.
  Result<void> ran = serving.Run();
  watchdog->reset();  // before the Server and its loop go
  netboot.Stop();     // likewise
  control.reset();
  if (!ran) return Failure(kExitFailure, "stopped on an error: " + ran.error().message());
  return {};
}

}  // namespace

int ServeMain(const std::vector<std::string>& arguments) {
  ParseResult<ServeArgs> parsed = ParseServeArgs(arguments);
  if (!parsed) {
    fmt::print(stderr, "aoe serve: {}\n", parsed.error().message);
    return kExitUsage;
  }
  if (parsed->help) {
    fmt::print("{}", *parsed->help);
    return kExitOk;
  }
  Stopped stopped = RunServe(*parsed);
  if (!stopped.message.empty()) fmt::print(stderr, "aoe serve: {}\n", stopped.message);
  return stopped.exit_code;
}

}  // namespace aoe::cli
