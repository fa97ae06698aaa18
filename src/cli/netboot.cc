// `aoe netboot`: the PXE netboot service (DHCP full or proxy mode, TFTP) on one interface, until
// SIGINT/SIGTERM. The service itself is netboot::NetbootService (src/netboot); this file only
// turns arguments and an optional TOML file into NetbootOptions and runs an EventLoop, after
// dropping to --user once the sockets are open (netboot_user.h says what is kept and why).
#include <fmt/format.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/read_file.h"
#include "base/unique_fd.h"
#include "cli/cli_error.h"
#include "cli/command.h"
#include "cli/export_spec.h"
#include "cli/netboot_user.h"
#include "cli/privileges.h"
#include "control/control_client.h"
#include "net/event_loop.h"
#include "netboot/boot_notifier.h"
#include "netboot/netboot_config.h"
#include "netboot/netboot_service.h"
#include "os/service_notify.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kUsage =
    "Usage: aoe netboot -i IFACE --proxy [OPTIONS]\n"
    "       aoe netboot -i IFACE --range FROM-TO [OPTIONS]\n"
    "       aoe netboot --config FILE [OPTIONS]\n";

constexpr std::string_view kDescription =
    "Boot PXE clients (BIOS or UEFI) from AoE disks: a built-in DHCP and TFTP service hands\n"
    "them Debian's iPXE, then an iPXE script that runs `sanboot aoe:eX.Y`. Run `aoe serve` for\n"
    "the disks themselves.";

constexpr std::string_view kFooter =
    R"(Modes:
  --proxy        another DHCP server hands out addresses; aoe netboot only adds the boot
                 information (ProxyDHCP, ports 67 and 4011), like dnsmasq's proxy mode
  --range A-B    aoe netboot is the DHCP server of an isolated boot network

Examples:
  aoe netboot -i eth1 --proxy --boot e0.1
  aoe netboot -i br0 --range 10.77.0.100-10.77.0.200 --router 10.77.0.1 --boot e0.1 \
              --client 52:54:00:12:34:56=e0.2
  aoe netboot --config /etc/aoekit/netboot.toml
  aoe netboot -i br0 --range 10.77.0.100-10.77.0.200 --boot e0.1 --user aoe

The interface needs an IPv4 address. Options on the command line override --config.
Exit status: 0 stopped by a signal, 1 runtime failure, 2 bad arguments or config.
See docs/netboot.md.)";

class NetbootFormatter : public CLI::Formatter {
 public:
  std::string make_description(const CLI::App*) const override { return ""; }
  std::string make_usage(const CLI::App*, std::string) const override {
    return fmt::format("{}\n{}\n", kUsage, kDescription);
  }
};

struct RawArgs {
  std::string interface_name;
  std::string config_path;
  std::string boot;
  std::vector<std::string> clients;
  bool proxy = false;
  std::string range;
  std::string netmask;
  std::string router;
  std::string lease_seconds;
  std::string lease_file;
  std::string tftp_root;
  std::string bios_file;
  std::string efi_file;
  std::string log_level;
  std::string user;
  std::string notify_socket;
};

void DefineOptions(CLI::App& app, RawArgs& raw) {
  app.formatter(std::make_shared<NetbootFormatter>());
  app.get_formatter()->column_width(28);
  app.footer(std::string(kFooter));
  app.set_help_flag("-h,--help", "Print this help and exit.");
  app.allow_extras();
  app.add_option("-i,--interface", raw.interface_name,
                 "Interface of the boot network; it needs an IPv4 address.\nExample: -i br0")
      ->type_name("IFACE");
  app.add_option("--config", raw.config_path,
                 "Read settings from a TOML file (keys in docs/netboot.md).\n"
                 "Example: --config /etc/aoekit/netboot.toml")
      ->type_name("FILE");
  app.add_option("--boot", raw.boot,
                 "AoE target every client boots unless --client says otherwise.\n"
                 "Example: --boot e0.1")
      ->type_name("eX.Y");
  app.add_option("--client", raw.clients,
                 "AoE target of one client, by MAC; repeatable.\n"
                 "Example: --client 52:54:00:12:34:56=e0.2")
      ->type_name("MAC=eX.Y")
      ->allow_extra_args(false);
  app.add_flag("--proxy", raw.proxy, "Proxy DHCP: leave addresses to the existing DHCP server.");
  app.add_option("--range", raw.range,
                 "Full DHCP: hand out addresses FROM-TO of the interface's subnet.\n"
                 "Example: --range 10.77.0.100-10.77.0.200")
      ->type_name("FROM-TO");
  app.add_option("--netmask", raw.netmask,
                 "Full DHCP: subnet mask for clients (default: the interface's).")
      ->type_name("MASK");
  app.add_option("--router", raw.router, "Full DHCP: default gateway for clients.")
      ->type_name("ADDR");
  app.add_option("--lease-time", raw.lease_seconds,
                 "Full DHCP: lease time in seconds (default 3600).")
      ->type_name("SECONDS");
  app.add_option("--lease-file", raw.lease_file,
                 "Full DHCP: where leases are kept (default\n"
                 "/var/lib/aoekit/netboot-IFACE.leases).")
      ->type_name("FILE");
  app.add_option("--tftp-root", raw.tftp_root,
                 "Directory served over TFTP (default /usr/lib/ipxe).")
      ->type_name("DIR");
  app.add_option("--bios-file", raw.bios_file, "First stage for BIOS PXE (default undionly.kpxe).")
      ->type_name("NAME");
  app.add_option("--efi-file", raw.efi_file, "First stage for UEFI PXE (default snponly.efi).")
      ->type_name("NAME");
  app.add_option("--log-level", raw.log_level, "error, warn, info (default) or debug.")
      ->type_name("LEVEL");
  app.add_option("--user", raw.user,
                 "After opening the sockets, the lease file and the TFTP root, run\n"
                 "as this user with no capabilities (docs/netboot.md). Needs root.\n"
                 "Example: --user aoe")
      ->type_name("NAME");
  app.add_option("--notify-socket", raw.notify_socket,
                 "Tell the aoe serve behind this control socket when a client asks\n"
                 "to boot, so its overlay lifetimes apply (docs/overlays.md). The\n"
                 "socket is root's: not with --user (use [netboot] in aoe serve).\n"
                 "Example: --notify-socket /run/aoekit/aoe.sock")
      ->type_name("PATH");
}

struct NetbootArgs {
  std::optional<std::string> help;
  netboot::NetbootOptions options;
  LogLevel log_level = LogLevel::kInfo;
  std::string user;           // --user or `user = "..."`: drop to it after start-up; "" stays
  std::string notify_socket;  // --notify-socket: aoe serve's control socket, or ""
};

// The --config file: the netboot keys (netboot_config.h) plus `user`, which only `aoe netboot`
// has (in `aoe serve` it is a top-level key of its own file, not one of [netboot]).
std::string ApplyConfigFile(const std::string& text, const std::string& path, NetbootArgs& out) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return fmt::format("{}:{}: {}", path, e.source().begin.line, e.description());
  }
  if (const toml::node* user = root.get("user")) {
    std::optional<std::string> name = user->value<std::string>();
    if (!name || name->empty()) {
      return fmt::format(
          "{}:{}: user must name a user, e.g. user = \"aoe\"; remove the key to "
          "keep running as the starting user",
          path, user->source().begin.line);
    }
    out.user = *name;
    root.erase("user");
  }
  return netboot::ApplyNetbootToml(root, path, out.options);
}

// Returns "" or one line of error (without the "aoe netboot: " prefix).
std::string ParseNetbootArgs(const std::vector<std::string>& args, NetbootArgs& out) {
  CLI::App app("", "aoe netboot");
  RawArgs raw;
  DefineOptions(app, raw);
  ParseResult<bool> help = ParseWithCli11(app, "netboot", args);
  if (!help) return help.error().message;
  if (*help) {
    out.help = app.help();
    return "";
  }
  netboot::NetbootOptions& o = out.options;
  if (!raw.config_path.empty()) {
    Result<std::string> text = ReadSmallFile(raw.config_path);
    if (!text) {
      return fmt::format("cannot read config file {}: {}; check the path and its permissions",
                         raw.config_path, text.error().message());
    }
    if (std::string e = ApplyConfigFile(*text, raw.config_path, out); !e.empty()) return e;
  }
  if (!raw.interface_name.empty()) o.interface_name = raw.interface_name;
  if (!raw.boot.empty()) {
    o.targets.default_target = netboot::ParseAoeTarget(raw.boot);
    if (!o.targets.default_target) {
      return fmt::format("--boot '{}' is not an AoE target like e0.1 (shelf 0-65534, slot 0-254)",
                         raw.boot);
    }
  }
  std::set<MacAddress> given_clients;
  for (const std::string& spec : raw.clients) {
    size_t eq = spec.find('=');
    std::optional<MacAddress> mac =
        eq == std::string::npos ? std::nullopt : MacAddress::Parse(spec.substr(0, eq));
    std::optional<proto::DiskAddress> target =
        eq == std::string::npos ? std::nullopt : netboot::ParseAoeTarget(spec.substr(eq + 1));
    if (!mac || !target) {
      return fmt::format("--client '{}' is not MAC=eX.Y, e.g. --client 52:54:00:12:34:56=e0.2",
                         spec);
    }
    if (std::string problem = netboot::ClientMacProblem(*mac); !problem.empty()) {
      return fmt::format("--client '{}': {}; give the client's own MAC", spec, problem);
    }
    // Over the config file's entry for the MAC, if any; twice on the command line is a mistake.
    if (!given_clients.insert(*mac).second) {
      return fmt::format("--client {} is given twice; give each MAC one target", mac->ToString());
    }
    o.targets.by_mac[*mac] = *target;
  }
  if (raw.proxy && !raw.range.empty()) {
    return "--proxy and --range exclude each other: --proxy when another DHCP server gives "
           "addresses, --range when aoe netboot does";
  }
  if (raw.proxy) o.given_mode = netboot::DhcpMode::kProxy;
  if (!raw.range.empty()) {
    if (std::string e = netboot::ParseRange(raw.range, o); !e.empty()) return "--" + e;
  }
  if (!raw.proxy && raw.range.empty() && raw.config_path.empty()) {
    return "choose a mode: --proxy (another DHCP server gives addresses) or --range FROM-TO "
           "(aoe netboot is the DHCP server)";
  }
  auto address = [](const std::string& text, const char* option,
                    std::optional<netboot::Ipv4Address>& into) -> std::string {
    if (text.empty()) return "";
    into = netboot::Ipv4Address::Parse(text);
    if (!into) return fmt::format("{} '{}' is not an IPv4 address", option, text);
    return "";
  };
  if (std::string e = address(raw.netmask, "--netmask", o.netmask); !e.empty()) return e;
  if (std::string e = address(raw.router, "--router", o.router); !e.empty()) return e;
  if (app.count("--lease-time") > 0) {
    constexpr uint64_t kMaxLease = 0xFFFFFFFE;  // 0xFFFFFFFF means "for ever" in DHCP
    std::optional<uint64_t> seconds = ParseUnsigned(raw.lease_seconds);
    if (!seconds || *seconds < 60 || *seconds > kMaxLease) {
      return fmt::format(
          "--lease-time '{}' is not a number of seconds from 60 to {}; e.g. --lease-time 3600",
          raw.lease_seconds, kMaxLease);
    }
    o.lease_seconds = static_cast<uint32_t>(*seconds);
  }
  if (!raw.lease_file.empty()) o.lease_file = raw.lease_file;
  if (!raw.tftp_root.empty()) o.tftp_root = raw.tftp_root;
  if (!raw.bios_file.empty()) o.files.bios = raw.bios_file;
  if (!raw.efi_file.empty()) o.files.efi = raw.efi_file;
  if (app.count("--user") > 0) {
    if (raw.user.empty()) return "--user needs a user name, e.g. --user aoe";
    out.user = raw.user;
  }
  if (!raw.log_level.empty()) {
    std::optional<LogLevel> level = ParseLogLevel(raw.log_level);
    if (!level) {
      return fmt::format("--log-level '{}' is not one of error, warn, info, debug", raw.log_level);
    }
    out.log_level = *level;
  }
  if (app.count("--notify-socket") > 0) {
    if (raw.notify_socket.empty()) return "--notify-socket needs a path, e.g. /run/aoekit/aoe.sock";
    if (!out.user.empty()) {
      return "--notify-socket cannot be combined with --user: the control socket is root's; "
             "run the netboot service inside aoe serve ([netboot]) instead";
    }
    out.notify_socket = raw.notify_socket;
  }
  return netboot::ValidateNetbootOptions(o);
}

}  // namespace

int NetbootMain(const std::vector<std::string>& arguments) {
  NetbootArgs args;
  if (std::string error = ParseNetbootArgs(arguments, args); !error.empty()) {
    fmt::print(stderr, "aoe netboot: {}\n", error);
    return kExitUsage;
  }
  if (args.help) {
    fmt::print("{}", *args.help);
    return kExitOk;
  }
  // --user: checked before anything is opened; the lease directory is made ready for the user
  // before the service writes the lease file in it.
  const std::vector<int> capabilities = NetbootCapabilities();
  PrivilegeDrop drop{.user = args.user, .keep_capabilities = capabilities, .writable_dirs = {}};
  if (!args.user.empty()) {
    std::string problem = CheckDropUser(args.user);
    if (problem.empty()) problem = PrepareNetbootForUser(args.options, {}, drop);
    if (!problem.empty()) {
      fmt::print(stderr, "aoe netboot: --user {}: {}\n", args.user, problem);
      return kExitUsage;
    }
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (int err = pthread_sigmask(SIG_BLOCK, &signals, nullptr); err != 0) {
    fmt::print(stderr, "aoe netboot: cannot block signals: {}\n", std::strerror(err));
    return kExitFailure;
  }
  UniqueFd signal_fd(signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd) {
    fmt::print(stderr, "aoe netboot: cannot create a signalfd: {}\n", std::strerror(errno));
    return kExitFailure;
  }
  Result<EventLoop> loop = EventLoop::Create();
  if (!loop) {
    fmt::print(stderr, "aoe netboot: cannot create an event loop: {}\n", loop.error().message());
    return kExitFailure;
  }
  Logger log(args.log_level);
  SteadyClock clock;
  std::string why;
  netboot::BootObserver on_boot;
  std::unique_ptr<netboot::BootNotifier> boot_notifier;
  if (!args.notify_socket.empty()) {
    // On the notifier's thread, so that a slow or hung aoe serve never stalls DHCP and TFTP.
    boot_notifier = std::make_unique<netboot::BootNotifier>(
        [&log, socket = args.notify_socket](const MacAddress& mac) {
          std::string problem;
          control::Json request{{"command", "client.boot"}, {"args", {{"mac", mac.ToString()}}}};
          Result<control::Json> answer =
              control::Call(socket, request, std::chrono::milliseconds(500), problem);
          if (!answer) {
            log.Warn("netboot", "cannot tell aoe serve that {} boots: {}", mac.ToString(), problem);
          } else if (!(*answer)["ok"].get<bool>()) {
            log.Warn("netboot", "aoe serve refused the boot notice for {}: {}", mac.ToString(),
                     (*answer)["error"].value("message", "?"));
          }
        },
        log);
    on_boot = [&boot_notifier](const MacAddress& mac) { boot_notifier->Notify(mac); };
  }
  Result<std::unique_ptr<netboot::NetbootService>> service =
      netboot::NetbootService::Create(args.options, *loop, log, clock, why, on_boot);
  if (!service) {
    fmt::print(stderr, "aoe netboot: {}\n", why);
    // Options that do not fit the interface (a range outside its subnet) are bad arguments too.
    return service.error() == std::errc::invalid_argument ? kExitUsage : kExitFailure;
  }
  // Everything that needs root is open now: ports 67 (4011) and 69, the TFTP root, the leases.
  if (!args.user.empty()) {
    if (std::string problem = DropPrivileges(drop); !problem.empty()) {
      fmt::print(stderr, "aoe netboot: --user {}: {}\n", args.user, problem);
      return kExitFailure;
    }
    if (std::string problem = CheckNetbootAfterDrop(args.options, args.user); !problem.empty()) {
      fmt::print(stderr, "aoe netboot: --user {}: {}\n", args.user, problem);
      return kExitUsage;
    }
    log.Info("netboot", "running as user {} (uid {}), keeping {}", args.user, ::getuid(),
             DescribeCapabilities(capabilities));
  }
  ServiceNotifier notifier;
  bool stop = false;
  (void)loop->Add(signal_fd.get(), [&] {
    signalfd_siginfo info{};
    while (::read(signal_fd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      log.Info("netboot", "{}: stopping", info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
      (void)notifier.Stopping("stopping");
      stop = true;
    }
  });
  // The service is up (ports bound, privileges dropped): READY=1 for Type=notify, and the
  // watchdog pings (WatchdogSec=) from the loop that serves DHCP and TFTP.
  Result<std::unique_ptr<WatchdogTimer>> watchdog = WatchdogTimer::Start(*loop, notifier);
  if (!watchdog) {
    fmt::print(stderr, "aoe netboot: cannot start the watchdog timer: {}\n",
               watchdog.error().message());
    return kExitFailure;
  }
  const std::string status = fmt::format(
      "{} DHCP and TFTP on {}", args.options.mode() == netboot::DhcpMode::kProxy ? "proxy" : "full",
      args.options.interface_name);
  if (Result<void> ready = notifier.Ready(status); !ready) {
    log.Warn("netboot", "cannot notify the service manager ($NOTIFY_SOCKET): {}",
             ready.error().message());
  }
  while (!stop) {
    if (Result<size_t> ran = loop->RunOnce(std::chrono::milliseconds(-1)); !ran) {
      fmt::print(stderr, "aoe netboot: event loop failed: {}\n", ran.error().message());
      return kExitFailure;
    }
  }
  watchdog->reset();
  netboot::NetbootStats stats = (*service)->stats();
  log.Info("netboot",
           "stopped: {} DHCP message(s) received ({} malformed), {} replies, {} "
           "file(s) sent over TFTP",
           stats.dhcp_received, stats.dhcp_malformed, stats.dhcp_replies, stats.tftp_files_sent);
  (void)loop->Remove(signal_fd.get());
  return kExitOk;
}

}  // namespace aoe::cli
