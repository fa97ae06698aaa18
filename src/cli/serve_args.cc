#include "cli/serve_args.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <utility>

#include "cli/cli_error.h"
#include "cli/export_spec.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kUsage =
    "Usage: aoe serve -i IFACE [-i IFACE ...] [OPTIONS] EXPORT...\n"
    "       aoe serve --config FILE [--log-level LEVEL]\n";

constexpr std::string_view kDescription =
    "Serve image files or block devices to the network as ATA-over-Ethernet disks, like vblade,\n"
    "with any number of exports and interfaces in one process.";

constexpr std::string_view kFooter =
    R"(EXPORT is eSHELF.SLOT=PATH[,KEY...]: shelf 0-65534, slot 0-254, and the image file or
block device to serve (a PATH with a comma needs --config), or rbd:POOL/IMAGE[@SNAP], a Ceph
RBD image or snapshot (needs the aoekit-rbd package; docs/ceph.md). KEYs:
  ro            read-only; writes fail                  e0.1=/srv/disk.img,ro
  offset=N      start N 512-byte sectors into PATH      e0.1=/dev/sdb,offset=2048
  length=N      serve N sectors (default: to the end)   e0.1=/dev/sdb,length=204800
  durability=M  when writes are acknowledged: auto (the  e0.1=/srv/disk.img,durability=sync
                default), cache or sync; see --durability
  sync          same as durability=sync                 e0.1=/srv/disk.img,sync
  direct        bypass the page cache (O_DIRECT)        e0.1=/dev/sdb,direct
  mask=MAC;...  answer only these initiators (*)        e0.1=/a.img,mask=02:00:00:00:00:01
  overlay=DIR   a copy-on-write overlay per initiator   e0.1=/golden.img,overlay=/var/o/e0.1
                in DIR; the image is never written (docs/overlays.md)
  lifetime=L    persist (default) or discard-on-boot: a e0.1=/g.img,overlay=/o,lifetime=discard-on-boot
                client's overlay is dropped at each PXE boot; lifetime.MAC=L for one client
  iface=NAME    answer only on this -i interface (*)    e0.1=/a.img,iface=eth1
  fail=A-B[:read|:write]  fail I/O to sectors A-B with EIO, a testing and drill aid (*)
                                                        e0.1=/a.img,fail=100-199:write
  ceph_conf=PATH, ceph_id=NAME, keyring=PATH  (rbd: exports only) the cluster's ceph.conf
                (default: Ceph's search path), the cephx user without "client." (default
                admin), its keyring (default: the one ceph.conf names)
                                                        e0.1=rbd:aoe/disk1,ceph_id=aoe
  (*) repeatable; mask= also takes a ';'-separated list, which the shell needs quoted

Examples:
  aoe serve -i eth0 e0.1=/srv/disk.img
  aoe serve -i eth0 -i eth1 --sync e1.0=/dev/sdb e1.1=/srv/boot.img,ro
  aoe serve --config /etc/aoekit/serve.toml

SIGINT/SIGTERM stop after the commands in flight (a second one kills the process at once);
SIGHUP re-reads --config.
Exit status: 0 stopped by a signal, 1 runtime failure, 2 bad arguments or config.
See docs/configuration.md for the config file format.)";

// Prints our usage lines, which show that the two forms exclude each other, then the
// description; CLI11 would put the description first and generate a one-form usage line.
class ServeFormatter : public CLI::Formatter {
 public:
  std::string make_description(const CLI::App*) const override { return ""; }
  std::string make_usage(const CLI::App*, std::string) const override {
    return fmt::format("{}\n{}\n", kUsage, kDescription);
  }
};

// What the command line said, before it is turned into ServeConfig.
struct RawArgs {
  std::vector<std::string> interfaces;
  std::vector<std::string> exports;
  std::string config_path;
  bool sync = false;
  std::string durability;
  bool direct = false;
  bool no_announce = false;
  std::string state_dir = target::ServerOptions().state_dir;
  std::string log_level;
  std::optional<std::string> bufcnt;  // given, even empty (which is an error)
  std::string packet_io;
  std::string busy_poll;
  std::optional<std::string> loops;
  std::string user;
  std::string control_socket;
};

void DefineOptions(CLI::App& app, RawArgs& raw) {
  app.formatter(std::make_shared<ServeFormatter>());
  app.get_formatter()->column_width(28);
  app.footer(std::string(kFooter));
  app.set_help_flag("-h,--help", "Print this help and exit.");
  // Unknown options are collected rather than thrown, so that we can word the message.
  app.allow_extras();

  // allow_extra_args(false): each -i takes exactly one value, so that "-i eth0 e0.1=/x" does not
  // swallow the export as a second interface.
  app.add_option("-i,--interface", raw.interfaces,
                 "Ethernet interface to serve on; repeat for several (multipath).\n"
                 "Example: -i eth0 -i eth1")
      ->type_name("IFACE")
      ->allow_extra_args(false);
  app.add_option("--config", raw.config_path,
                 "Read interfaces, exports and options from a TOML file instead of\n"
                 "the command line; SIGHUP re-reads it. Only --log-level may be given\n"
                 "with it. Example: --config /etc/aoekit/serve.toml")
      ->type_name("FILE");
  app.add_option("--durability", raw.durability,
                 "When a write is acknowledged, for every export that does not say:\n"
                 "auto (default): once durable for initiators that never send FLUSH\n"
                 "(Linux), from the page cache for those that do (aoekit, iPXE);\n"
                 "sync: once durable, always; cache: from the page cache, durable\n"
                 "only after FLUSH. Example: --durability sync")
      ->type_name("MODE");
  app.add_flag("--sync", raw.sync, "Same as --durability sync. Example: --sync");
  app.add_flag("--direct", raw.direct,
               "Open every export with O_DIRECT, bypassing the page cache.\n"
               "Example: --direct");
  app.add_option("--state-dir", raw.state_dir,
                 "Where config strings, mask lists, reservations and incarnations survive\n"
                 "restarts; one per aoe serve (default /var/lib/aoekit).\n"
                 "Example: --state-dir /srv/aoe-state")
      ->type_name("DIR");
  app.add_option("--log-level", raw.log_level,
                 "error, warn, info (default) or debug. With --config it overrides\n"
                 "log_level. Example: --log-level debug")
      ->type_name("LEVEL");
  app.add_option("--bufcnt", raw.bufcnt,
                 "Buffer count advertised to initiators, and commands kept in flight\n"
                 "per interface: 2-65535 (default 64). Example: --bufcnt 128")
      ->type_name("N");
  app.add_option("--packet-io", raw.packet_io,
                 "How frames reach the interfaces: ring (PACKET_MMAP rings), socket\n"
                 "(recvmmsg/sendmmsg) or auto (default: rings where the kernel has\n"
                 "them, else the socket; on veth and tap, read replies by socket).\n"
                 "Example: --packet-io socket")
      ->type_name("MODE");
  app.add_option("--busy-poll", raw.busy_poll,
                 "After handling frames, watch the receive rings this many microseconds\n"
                 "for the next one before sleeping: 0 (off) to 10000 (default 50).\n"
                 "Example: --busy-poll 0")
      ->type_name("USEC");
  app.add_option("--loops", raw.loops,
                 "Event loops, each on its own thread; the kernel spreads initiators\n"
                 "over them by MAC: 1 (default) to 64. Overlay exports are served\n"
                 "by the first loop alone. Example: --loops 2")
      ->type_name("N");
  app.add_option("--user", raw.user,
                 "After opening interfaces, images and state files, run as this user,\n"
                 "keeping only CAP_NET_RAW (to re-open interfaces). Needs root.\n"
                 "Example: --user aoe")
      ->type_name("NAME");
  app.add_option("--control-socket", raw.control_socket,
                 "The control socket for `aoe ctl` and `aoe overlay` (default\n"
                 "/run/aoekit/aoe.sock; none: no socket). Example: --control-socket none")
      ->type_name("PATH");
  app.add_flag("--no-announce", raw.no_announce,
               "Do not broadcast each export at start; initiators then find it at\n"
               "their next discovery (Linux: within 60 s). Example: --no-announce");
  app.add_option("EXPORT", raw.exports,
                 "eSHELF.SLOT=PATH[,KEY...], see below.\n"
                 "Example: e0.1=/srv/disk.img,ro")
      ->type_name("");
}

ParseResult<LogLevel> ParseLevelOption(const std::string& text) {
  std::optional<LogLevel> level = ParseLogLevel(text);
  if (!level) {
    return ParseError{fmt::format("--log-level '{}' is not one of error, warn, info, debug", text)};
  }
  return *level;
}

// The --config form: everything comes from the file, except --log-level.
ParseResult<ServeArgs> FromConfigFile(const CLI::App& app, const RawArgs& raw) {
  // Each command-line option and what to write in the file instead.
  constexpr std::pair<const char*, const char*> kFileOnly[] = {
      {"--interface", "interfaces = [...]"},
      {"--sync", "durability = \"sync\""},
      {"--durability", "durability = \"MODE\""},
      {"--direct", "direct = true"},
      {"--state-dir", "state_dir = \"DIR\""},
      {"--bufcnt", "bufcnt = N"},
      {"--packet-io", "packet_io = \"MODE\""},
      {"--busy-poll", "busy_poll = USEC"},
      {"--loops", "loops = N"},
      {"--no-announce", "announce = false"},
      {"--user", "user = \"NAME\""},
      {"--control-socket", "control_socket = \"PATH\""},
  };
  for (const auto& [option, key] : kFileOnly) {
    if (app.count(option) > 0) {
      return ParseError{fmt::format(
          "{} cannot be combined with --config; write {} in the file instead", option, key)};
    }
  }
  if (!raw.exports.empty()) {
    return ParseError{
        fmt::format("export '{}' cannot be combined with --config; "
                    "add it to the file as an [[export]] section instead",
                    raw.exports.front())};
  }
  ParseResult<ServeConfig> config = LoadServeConfigFile(raw.config_path);
  if (!config) return ParseError{config.error()};
  ServeArgs out;
  out.config_path = raw.config_path;
  out.config = std::move(*config);
  if (!raw.log_level.empty()) {
    ParseResult<LogLevel> level = ParseLevelOption(raw.log_level);
    if (!level) return ParseError{level.error()};
    out.log_level_override = *level;
    out.config.log_level = *level;
  }
  return out;
}

ParseResult<ServeArgs> FromCommandLine(const RawArgs& raw) {
  ServeArgs out;
  target::ServerOptions& server = out.config.server;
  if (!raw.log_level.empty()) {
    ParseResult<LogLevel> level = ParseLevelOption(raw.log_level);
    if (!level) return ParseError{level.error()};
    out.config.log_level = *level;
  }
  if (raw.bufcnt) {
    std::optional<uint64_t> count = ParseUnsigned(*raw.bufcnt);
    if (!count || *count > UINT16_MAX) {
      return ParseError{fmt::format(
          "--bufcnt '{}' is not a number from 2 to 65535; e.g. --bufcnt 64", *raw.bufcnt)};
    }
    server.buffer_count = static_cast<uint16_t>(*count);
  }
  if (!raw.packet_io.empty()) {
    std::optional<PacketIo> mode = ParsePacketIo(raw.packet_io);
    if (!mode) {
      return ParseError{
          fmt::format("--packet-io '{}' is not one of ring, socket, auto; e.g. --packet-io auto",
                      raw.packet_io)};
    }
    server.packet_io = *mode;
  }
  if (!raw.busy_poll.empty()) {
    std::optional<uint64_t> usec = ParseUnsigned(raw.busy_poll);
    if (!usec || *usec > static_cast<uint64_t>(target::kMaxBusyPoll.count())) {
      return ParseError{
          fmt::format("--busy-poll '{}' is not microseconds from 0 to {}; e.g. --busy-poll 50",
                      raw.busy_poll, target::kMaxBusyPoll.count())};
    }
    server.busy_poll = std::chrono::microseconds(*usec);
  }
  if (raw.loops) {
    std::optional<uint64_t> loops = ParseUnsigned(*raw.loops);
    if (!loops || *loops < 1 || *loops > target::kMaxLoops) {
      return ParseError{
          fmt::format("--loops '{}' is not a number of event loops from 1 to {}; e.g. --loops 2",
                      *raw.loops, target::kMaxLoops)};
    }
    server.loops = *loops;
  }
  out.config.user = raw.user;
  if (!raw.control_socket.empty()) out.config.control_socket = raw.control_socket;
  server.interfaces = raw.interfaces;
  server.state_dir = raw.state_dir;
  server.announce = !raw.no_announce;
  ExportDefaults defaults{.direct = raw.direct};
  if (raw.sync && !raw.durability.empty()) {
    return ParseError{"--sync is --durability sync; give one of them"};
  }
  if (raw.sync) defaults.durability = target::Durability::kSync;
  if (!raw.durability.empty()) {
    ParseResult<target::Durability> durability =
        ParseDurabilityValue("--durability", raw.durability);
    if (!durability) return ParseError{durability.error()};
    defaults.durability = *durability;
  }
  for (const std::string& spec : raw.exports) {
    ParseResult<target::ExportOptions> e = ParseExportSpec(spec, defaults);
    if (!e) return ParseError{e.error()};
    server.exports.push_back(std::move(*e));
  }
  if (std::string problem = target::ValidateOptions(server); !problem.empty()) {
    return ParseError{std::move(problem)};
  }
  return out;
}

}  // namespace

ParseResult<ServeArgs> ParseServeArgs(const std::vector<std::string>& args) {
  CLI::App app("", "aoe serve");
  RawArgs raw;
  DefineOptions(app, raw);
  ParseResult<bool> help = ParseWithCli11(app, "serve", args);
  if (!help) return ParseError{help.error()};
  if (*help) {
    ServeArgs out;
    out.help = app.help();
    return out;
  }
  if (app.count("--control-socket") > 0 && raw.control_socket.empty()) {
    return ParseError{
        "--control-socket needs a path (or none), e.g. --control-socket "
        "/run/aoekit/aoe.sock"};
  }
  if (app.count("--user") > 0 && raw.user.empty()) {
    return ParseError{"--user needs a user name, e.g. --user aoe"};
  }
  if (app.count("--config") > 0) return FromConfigFile(app, raw);
  return FromCommandLine(raw);
}

}  // namespace aoe::cli
