// `aoe serve`: runs the AoE target until SIGINT/SIGTERM, reloading --config on SIGHUP.
//
// Argument parsing lives in serve_args.cc; this file only wires the parsed options to a Server
// and turns signals into stop and reload requests on the Server's own loop thread.
#include <fmt/format.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
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

// The one-line STATUS= that `systemctl status aoe-serve` shows.
std::string ServiceStatus(const ServeConfig& config) {
  const size_t exports = config.server.exports.size();
  const size_t interfaces = config.server.interfaces.size();
  std::string status = fmt::format("serving {} export{} on {} interface{}", exports,
                                   exports == 1 ? "" : "s", interfaces, interfaces == 1 ? "" : "s");
  if (config.netboot) status += fmt::format(", netboot on {}", config.netboot->interface_name);
  return status;
}

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

// The [netboot] section: netboot::NetbootService on the Server's own loop, so that one process
// serves the disks and boots the clients. Must be destroyed before the Server (its loop).
class EmbeddedNetboot {
 public:
  // `on_boot` hears every PXE client that asks to boot (overlay lifetimes).
  EmbeddedNetboot(EventLoop& loop, Logger& log, netboot::BootObserver on_boot)
      : loop_(loop), log_(log), on_boot_(std::move(on_boot)) {}
  EmbeddedNetboot(const EmbeddedNetboot&) = delete;
  EmbeddedNetboot& operator=(const EmbeddedNetboot&) = delete;

  // Starts the service when `options` is set. Returns "" or one line saying why it cannot.
  std::string Start(const std::optional<netboot::NetbootOptions>& options) {
    if (!options) return "";
    std::string why;
    Result<std::unique_ptr<netboot::NetbootService>> created =
        netboot::NetbootService::Create(*options, loop_, log_, clock_, why, on_boot_);
    if (!created) return why.empty() ? created.error().message() : why;
    service_ = std::move(*created);
    options_ = options;
    return "";
  }

  // After `--user`: ports 67 and 69 can no longer be bound, so Reload does not stop a service
  // it could not start again.
  void set_user(std::string user) { user_ = std::move(user); }

  // SIGHUP: re-creates the service if the [netboot] section changed. If the new settings
  // cannot be applied, the previous ones are restored where possible.
  void Reload(const std::optional<netboot::NetbootOptions>& wanted) {
    if (wanted == options_) return;
    if (wanted && !user_.empty()) {
      log_.Warn("netboot",
                "SIGHUP: [netboot] {}, but aoe serve runs as user {} and cannot bind ports 67 "
                "and 69 again; {}; restart aoe serve to apply it",
                options_ ? "changed" : "added", user_,
                options_ ? "the netboot service keeps its previous settings"
                         : "the netboot service stays off");
      return;
    }
    std::optional<netboot::NetbootOptions> previous = std::move(options_);
    options_.reset();
    service_.reset();  // frees ports 67/69 (and 4011) for the new service
    if (!wanted) {
      log_.Info("netboot", "SIGHUP: [netboot] removed: stopped the netboot service");
      return;
    }
    std::string why = Start(wanted);
    if (why.empty()) {
      log_.Info("netboot", "SIGHUP: [netboot] {}: {} the netboot service on {}",
                previous ? "changed" : "added", previous ? "restarted" : "started",
                wanted->interface_name);
      return;
    }
    if (!previous) {
      log_.Error("netboot", "SIGHUP: cannot start the netboot service: {}", why);
      return;
    }
    std::string why_previous = Start(previous);
    if (why_previous.empty()) {
      log_.Error("netboot",
                 "SIGHUP: [netboot] not applied, still serving the previous [netboot]: {}", why);
    } else {
      log_.Error("netboot",
                 "SIGHUP: [netboot] not applied ({}) and the previous one cannot be restored "
                 "({}); netboot is off until the next successful SIGHUP",
                 why, why_previous);
    }
  }

  // Logs what was served and closes the sockets.
  void Stop() {
    if (!service_) return;
    netboot::NetbootStats stats = service_->stats();
    log_.Info("netboot",
              "stopped: {} DHCP message(s) received ({} malformed), {} replies, {} file(s) sent "
              "over TFTP",
              stats.dhcp_received, stats.dhcp_malformed, stats.dhcp_replies,
              stats.tftp_files_sent);
    service_.reset();
    options_.reset();
  }

 private:
  EventLoop& loop_;
  Logger& log_;
  netboot::BootObserver on_boot_;
  SteadyClock clock_;
  std::string user_;
  std::optional<netboot::NetbootOptions> options_;
  std::unique_ptr<netboot::NetbootService> service_;
};

// Reacts to signals read from a signalfd. Runs on the Server's loop thread (through
// Server::Watch), so it may call any Server method.
class SignalHandler {
 public:
  SignalHandler(target::Server& server, EmbeddedNetboot& netboot, Logger& log,
                const ServeArgs& args, int fd, ServiceNotifier& notifier)
      : server_(server),
        netboot_(netboot),
        log_(log),
        args_(args),
        fd_(fd),
        notifier_(notifier),
        status_(ServiceStatus(args.config)) {}

  void OnReadable() {
    signalfd_siginfo info{};
    // The fd is non-blocking: drain every queued signal, then return to the loop.
    while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      switch (info.ssi_signo) {
        case SIGINT:
        case SIGTERM:
          Stop(static_cast<int>(info.ssi_signo));
          break;
        case SIGHUP:
          Reload();
          break;
        default:
          break;
      }
    }
  }

 private:
  void Stop(int signal_number) {
    if (stopping_) return;
    stopping_ = true;
    (void)notifier_.Stopping("stopping after the commands in flight");
    log_.Info(kSubject, "{}: stopping after the commands in flight (send it again to quit at once)",
              signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    server_.RequestStop();
    // A second SIGINT/SIGTERM then takes the default action, for when storage hangs.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
  }

  // RELOADING=1 ... READY=1 around the reload, whatever its outcome, so that `systemctl
  // reload` returns; the STATUS= after it says what is served, and whether the reload failed.
  void Reload() {
    (void)notifier_.Reloading("reloading " + args_.config_path);
    std::string failure = ReloadConfig();
    (void)notifier_.Ready(
        failure.empty() ? status_ : fmt::format("{} (reload failed: {})", status_, failure));
  }

  // Returns "" or why the configuration was not applied.
  std::string ReloadConfig() {
    if (args_.config_path.empty()) {
      log_.Info(kSubject,
                "SIGHUP: nothing to reload, started without --config; "
                "restart aoe serve to change exports");
      return "";
    }
    ParseResult<ServeConfig> config = LoadServeConfigFile(args_.config_path);
    if (!config) {
      log_.Error(kSubject, "SIGHUP: not reloaded, still serving the previous configuration: {}",
                 config.error());
      return config.error();
    }
    if (Result<void> applied = server_.Reconfigure(config->server); !applied) {
      log_.Error(kSubject,
                 "SIGHUP: could not apply {}, still serving the previous configuration: {}",
                 args_.config_path, applied.error().message());
      return applied.error().message();
    }
    netboot_.Reload(config->netboot);
    if (config->user != args_.config.user) {
      log_.Warn(kSubject, "SIGHUP: user changes take effect after a restart");
    }
    log_.set_level(args_.log_level_override.value_or(config->log_level));
    log_.Info(kSubject, "SIGHUP: reloaded {}: {} export(s) on {} interface(s)", args_.config_path,
              config->server.exports.size(), config->server.interfaces.size());
    status_ = ServiceStatus(*config);
    return "";
  }

  target::Server& server_;
  EmbeddedNetboot& netboot_;
  Logger& log_;
  const ServeArgs& args_;
  int fd_;
  ServiceNotifier& notifier_;
  std::string status_;  // STATUS= for what is being served
  bool stopping_ = false;
};

// Opens the control socket. Returns "" or, when the failure must stop aoe serve (a path the
// administrator chose), why. At the default path a socket another aoe serve holds is only a
// warning, so that several instances can run (the others without a socket).
std::string StartControl(const std::optional<std::string>& configured, EventLoop& loop,
                         Logger& log, control::ControlHandler& handler,
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

}  // namespace

int ServeMain(const std::vector<std::string>& arguments) {
  ParseResult<ServeArgs> parsed = ParseServeArgs(arguments);
  if (!parsed) {
    fmt::print(stderr, "aoe serve: {}\n", parsed.error());
    return kExitUsage;
  }
  const ServeArgs& args = *parsed;
  if (args.help) {
    fmt::print("{}", *args.help);
    return kExitOk;
  }

  // Block the signals before the Server exists, so that any thread it starts inherits the mask
  // and the signals arrive only through the signalfd.
  const sigset_t signals = HandledSignals();
  if (int err = pthread_sigmask(SIG_BLOCK, &signals, nullptr); err != 0) {
    fmt::print(stderr, "aoe serve: cannot block signals: {}\n", std::strerror(err));
    return kExitFailure;
  }
  UniqueFd signal_fd(signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd) {
    fmt::print(stderr, "aoe serve: cannot create a signalfd: {}\n", std::strerror(errno));
    return kExitFailure;
  }

  // --user: checked before anything is opened; a [netboot] lease directory is made ready for
  // the user before the service writes the lease file in it.
  PrivilegeDrop drop{.user = args.config.user,
                     .keep_capabilities = {std::begin(kServeCapabilities),
                                           std::end(kServeCapabilities)},
                     .writable_dirs = {args.config.server.state_dir}};
  for (const target::ExportOptions& e : args.config.server.exports) {
    if (e.has_overlay()) drop.writable_dirs.push_back(e.overlay_dir);
  }
  if (!args.config.user.empty()) {
    std::string problem = CheckDropUser(args.config.user);
    if (problem.empty() && args.config.netboot) {
      problem = PrepareNetbootForUser(*args.config.netboot, {args.config.server.state_dir}, drop);
    }
    if (!problem.empty()) {
      fmt::print(stderr, "aoe serve: --user {}: {}\n", args.config.user, problem);
      return kExitUsage;
    }
  }

  Logger log(args.config.log_level);
  // Each overlay holds two files open: a lab of hundreds of clients needs more than the usual
  // soft limit of 1024 descriptors. The hard limit is the administrator's.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }
  Result<std::unique_ptr<target::Server>> server = target::Server::Create(args.config.server, log);
  if (!server) {
    fmt::print(stderr, "aoe serve: cannot start serving {} export(s) on {}: {}\n",
               args.config.server.exports.size(), fmt::join(args.config.server.interfaces, ", "),
               server.error().message());
    // A Ceph cluster that cannot be reached is most often a wrong ceph_conf= or mon_host.
    const std::error_code error = server.error();
    if (error == make_error_code(StorageErrc::kCephUnreachable) ||
        error == make_error_code(StorageErrc::kCephConfigUnreadable)) {
      return kExitUsage;
    }
    return kExitFailure;
  }
  // [netboot]: DHCP and TFTP on the Server's loop (ports 67 and 69 need root, so before --user).
  target::Server& serving = **server;
  EmbeddedNetboot netboot(serving.loop(), log,
                          [&serving](const MacAddress& mac) { serving.ClientBooted(mac); });
  if (std::string why = netboot.Start(args.config.netboot); !why.empty()) {
    fmt::print(stderr, "aoe serve: netboot: {}\n", why);
    return kExitFailure;
  }
  // The control socket: created by the starting user (root), mode 0600, before --user.
  ServeControl control_handler(serving, log);
  std::unique_ptr<control::ControlServer> control;
  if (std::string why =
          StartControl(args.config.control_socket, serving.loop(), log, control_handler, control);
      !why.empty()) {
    fmt::print(stderr, "aoe serve: {}\n", why);
    return kExitFailure;
  }
  // Everything that needs root is open now: sockets, images, state files.
  if (!args.config.user.empty()) {
    if (std::string problem = DropPrivileges(drop); !problem.empty()) {
      fmt::print(stderr, "aoe serve: --user {}: {}\n", args.config.user, problem);
      return kExitFailure;
    }
    if (args.config.netboot) {
      if (std::string problem = CheckNetbootAfterDrop(*args.config.netboot, args.config.user);
          !problem.empty()) {
        fmt::print(stderr, "aoe serve: netboot: --user {}: {}\n", args.config.user, problem);
        return kExitUsage;
      }
    }
    netboot.set_user(args.config.user);
    log.Info(kSubject, "running as user {} (uid {}), keeping only {}", args.config.user,
             ::getuid(), CapabilityName(CAP_NET_RAW));
  }
  ServiceNotifier notifier;
  SignalHandler handler(**server, netboot, log, args, signal_fd.get(), notifier);
  (*server)->Watch(signal_fd.get(), [&handler] { handler.OnReadable(); });

  // Every interface, export and the [netboot] service is up: READY=1 for Type=notify, and the
  // watchdog pings (WatchdogSec=) from the same loop that serves the frames.
  Result<std::unique_ptr<WatchdogTimer>> watchdog =
      WatchdogTimer::Start((*server)->loop(), notifier);
  if (!watchdog) {
    fmt::print(stderr, "aoe serve: cannot start the watchdog timer: {}\n",
               watchdog.error().message());
    return kExitFailure;
  }
  if (Result<void> ready = notifier.Ready(ServiceStatus(args.config)); !ready) {
    log.Warn(kSubject, "cannot notify the service manager ($NOTIFY_SOCKET): {}",
             ready.error().message());
  }

  // The Server logs its own summary when it stops.
  Result<void> ran = (*server)->Run();
  watchdog->reset();  // before the Server and its loop go
  netboot.Stop();     // likewise
  control.reset();
  if (!ran) {
    fmt::print(stderr, "aoe serve: stopped on an error: {}\n", ran.error().message());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace aoe::cli
