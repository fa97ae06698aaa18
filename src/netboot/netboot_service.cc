#include "netboot/netboot_service.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "base/atomic_file.h"
#include "net/timer_fd.h"
#include "netboot/boot_policy.h"
#include "netboot/dhcp_message.h"
#include "netboot/dhcp_responder.h"
#include "netboot/lease_file.h"
#include "netboot/lease_pool.h"
#include "netboot/save_throttle.h"
#include "netboot/tftp_server.h"
#include "netboot/udp_socket.h"

namespace aoe::netboot {

namespace {

// Largest DHCP message we accept: a full Ethernet frame's worth; clients send about 300-600.
constexpr size_t kMaxDhcpBytes = 1500;

int64_t WallClockSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class NetbootServiceImpl final : public NetbootService {
 public:
  NetbootServiceImpl(const NetbootOptions& options, EventLoop& loop, Logger& log,
                     InterfaceIpv4 interface, BootObserver on_boot)
      : options_(options),
        loop_(loop),
        log_(log),
        interface_(interface),
        on_boot_(std::move(on_boot)) {}

  ~NetbootServiceImpl() override {
    if (dhcp_fd_) (void)loop_.Remove(dhcp_fd_.get());
    if (proxy_fd_) (void)loop_.Remove(proxy_fd_.get());
    if (save_timer_) (void)loop_.Remove(save_timer_->fd());
    if (lease_saves_.pending()) WriteLeases();  // what changed in the last second
  }

  Result<void> Start(Clock& clock, std::string& why) {
    const bool full = options_.mode() == DhcpMode::kFull;
    DhcpResponderConfig config;
    config.mode = options_.mode();
    config.server = interface_.address;
    config.netmask = options_.netmask.value_or(interface_.netmask);
    config.router = options_.router;
    config.targets = options_.targets;
    config.files = options_.files;
    clock_ = &clock;
    if (full) {
      if (Result<void> pool = StartLeasePool(config.netmask, why); !pool) return pool;
      Result<TimerFd> timer = TimerFd::Create();
      if (!timer) {
        why = fmt::format("cannot create a timerfd: {}", timer.error().message());
        return Unexpected{timer.error()};
      }
      save_timer_.emplace(std::move(*timer));
      AOE_TRY(loop_.Add(save_timer_->fd(), [this] { OnSaveTimer(); }));
    }
    responder_.emplace(std::move(config), pool_ ? &*pool_ : nullptr);

    // Port 67. In proxy mode the port is shared (SO_REUSEPORT) with an address server on the
    // same host that allows it; in full mode we must be the only DHCP server on the interface.
    UdpSocketOptions dhcp;
    dhcp.port = kDhcpServerPort;
    dhcp.broadcast = true;
    dhcp.reuse_port = !full;
    Result<UniqueFd> dhcp_fd = OpenUdpSocket(options_.interface_name, dhcp);
    if (!dhcp_fd) {
      why = PortError(kDhcpServerPort, dhcp_fd.error(), full);
      return Unexpected{dhcp_fd.error()};
    }
    dhcp_fd_ = std::move(*dhcp_fd);
    AOE_TRY(loop_.Add(dhcp_fd_.get(), [this] { OnDhcpReadable(dhcp_fd_.get(), kDhcpServerPort); }));
    if (!full) {
      UdpSocketOptions proxy;
      proxy.port = kPxeProxyPort;
      proxy.broadcast = true;
      Result<UniqueFd> proxy_fd = OpenUdpSocket(options_.interface_name, proxy);
      if (!proxy_fd) {
        why = PortError(kPxeProxyPort, proxy_fd.error(), full);
        return Unexpected{proxy_fd.error()};
      }
      proxy_fd_ = std::move(*proxy_fd);
      AOE_TRY(
          loop_.Add(proxy_fd_.get(), [this] { OnDhcpReadable(proxy_fd_.get(), kPxeProxyPort); }));
    }

    TftpServerOptions tftp;
    tftp.interface_name = options_.interface_name;
    tftp.address = interface_.address;
    tftp.root = options_.tftp_root;
    // IP (20) + UDP (8) + TFTP (4) headers: a block fills one frame, never fragments.
    tftp.limits.max_block_size =
        interface_.mtu > 32 + kTftpMinBlockSize ? interface_.mtu - 32 : kTftpDefaultBlockSize;
    Result<std::unique_ptr<TftpServer>> server = TftpServer::Create(
        tftp, loop_, log_, clock,
        [this](std::string_view name, Ipv4Address client) { return Script(name, client); }, why);
    if (!server) return Unexpected{server.error()};
    tftp_ = std::move(*server);
    return {};
  }

  Ipv4Address address() const override { return interface_.address; }
  NetbootStats stats() const override {
    NetbootStats s = stats_;
    s.tftp_files_sent = tftp_ ? tftp_->files_sent() : 0;
    return s;
  }

 private:
  std::string PortError(uint16_t port, const std::error_code& error, bool full) const {
    if (error.value() == EADDRINUSE) {
      if (port == kDhcpServerPort && full) {
        return fmt::format(
            "port 67 is in use (another DHCP server such as dnsmasq?); stop it or use proxy "
            "mode (--proxy instead of --range) and let it keep handing out addresses");
      }
      if (port == kDhcpServerPort) {
        return fmt::format(
            "port 67 is in use by a server that does not share it; proxy mode can share it "
            "with dnsmasq only when dnsmasq runs with --bind-interfaces, else run aoe netboot "
            "--proxy on another host of the network");
      }
      return fmt::format(
          "port {} is in use (another PXE proxy server such as dnsmasq in proxy "
          "mode?); stop it",
          port);
    }
    if (error.value() == EACCES || error.value() == EPERM) {
      return fmt::format(
          "cannot bind UDP port {} on {}: {}; run as root (or with "
          "CAP_NET_BIND_SERVICE and CAP_NET_RAW)",
          port, options_.interface_name, error.message());
    }
    return fmt::format("cannot bind UDP port {} on {}: {}", port, options_.interface_name,
                       error.message());
  }

  Result<void> StartLeasePool(Ipv4Address netmask, std::string& why) {
    const Ipv4Address first = *options_.range_first;
    const Ipv4Address last = *options_.range_last;
    if (!SameSubnet(first, interface_.address, netmask) ||
        !SameSubnet(last, interface_.address, netmask)) {
      why = fmt::format(
          "range {}-{} is not in the subnet of {} ({}/{}); clients could not "
          "reach the TFTP server",
          first.ToString(), last.ToString(), options_.interface_name, interface_.address.ToString(),
          netmask.ToString());
      return Err(std::errc::invalid_argument);
    }
    // The interface's netmask, when none was given, is only known now.
    if (std::string problem = ValidateSubnet(options_, netmask); !problem.empty()) {
      why = problem;
      return Err(std::errc::invalid_argument);
    }
    pool_.emplace(first, last, interface_.address,
                  options_.lease_seconds.value_or(kDefaultLeaseSeconds));
    lease_file_ = options_.lease_file.empty() ? DefaultLeaseFile(options_.interface_name)
                                              : options_.lease_file;
    Result<std::string> saved = ReadStateFile(lease_file_);
    if (!saved) {
      why = fmt::format("cannot read the lease file {}: {}", lease_file_, saved.error().message());
      return Unexpected{saved.error()};
    }
    if (size_t skipped = pool_->Load(*saved); skipped > 0) {
      log_.Warn("dhcp", "{}: ignored {} lease(s) outside the range or malformed", lease_file_,
                skipped);
    }
    // Write once now, so a lease file we cannot write fails at start, not at the first client.
    if (Result<void> written = WriteFileAtomically(lease_file_, pool_->Serialize()); !written) {
      why = fmt::format(
          "cannot write the lease file {}: {}; create its directory or give "
          "--lease-file FILE",
          lease_file_, written.error().message());
      return written;
    }
    return {};
  }

  std::optional<VirtualFile> Script(std::string_view name, Ipv4Address client) {
    std::optional<MacAddress> mac = ParseScriptName(name);
    if (!mac) return std::nullopt;
    std::optional<proto::DiskAddress> target = options_.targets.For(*mac);
    if (!target) return std::nullopt;
    log_.Debug(fmt::format("tftp {}", client.ToString()), "generating {} for {}", name,
               mac->ToString());
    return VirtualFile{RenderScript(*target, *mac),
                       fmt::format("iPXE script: sanboot aoe:{}", target->ToString())};
  }

  void OnDhcpReadable(int fd, uint16_t port) {
    for (int i = 0; i < 16; ++i) {
      std::optional<Datagram> d = ReceiveFrom(fd, buffer_);
      if (!d) return;
      ++stats_.dhcp_received;
      std::optional<DhcpMessage> request = DecodeDhcp(ConstByteSpan(buffer_.data(), d->size));
      if (!request) {
        ++stats_.dhcp_malformed;
        log_.Debug("dhcp", "dropped a malformed message from {}:{} ({} bytes)",
                   d->source.ToString(), d->source_port, d->size);
        continue;
      }
      NoteBoot(*request);
      DhcpOutcome outcome =
          responder_->Handle(*request, port, d->source, d->source_port, WallClockSeconds());
      const std::string subject =
          fmt::format("dhcp {}", request->client_mac() ? request->client_mac()->ToString() : "?");
      if (!outcome.log.empty()) log_.Info(subject, "{}", outcome.log);
      if (outcome.leases_changed) SaveLeases();
      if (outcome.reply) Send(fd, *outcome.reply, subject);
    }
  }

  // A netboot client that we boot is starting (again): tell the observer.
  void NoteBoot(const DhcpMessage& request) {
    if (!on_boot_) return;
    std::optional<DhcpMessageType> type = request.message_type();
    std::optional<MacAddress> mac = request.client_mac();
    if (!type || !mac ||
        (*type != DhcpMessageType::kDiscover && *type != DhcpMessageType::kRequest)) {
      return;
    }
    if (ClassifyClient(request).firmware == Firmware::kOther) return;
    if (!options_.targets.For(*mac)) return;
    on_boot_(*mac);
  }

  void Send(int fd, const DhcpReply& reply, const std::string& subject) {
    std::array<std::byte, 1024> packet{};
    size_t n = EncodeDhcp(reply.message, packet);
    if (n == 0) {
      log_.Error(subject, "reply does not fit in {} bytes; not sent", packet.size());
      return;
    }
    if (Result<void> sent =
            SendTo(fd, ConstByteSpan(packet.data(), n), reply.destination, reply.port);
        !sent) {
      log_.Warn(subject, "cannot send the reply to {}:{}: {}", reply.destination.ToString(),
                reply.port, sent.error().message());
      return;
    }
    ++stats_.dhcp_replies;
  }

  // At once after a quiet second, else when the second is over (SaveThrottle): a flood of
  // requests costs one lease-file write per second, not one per message.
  void SaveLeases() {
    if (!pool_) return;
    if (lease_saves_.Changed(clock_->Now())) return WriteLeases();
    const std::optional<TimePoint> due = lease_saves_.due();
    if (!due || !save_timer_) return WriteLeases();
    save_timer_->ArmOnce(
        std::chrono::duration_cast<std::chrono::nanoseconds>(*due - clock_->Now()));
  }

  void OnSaveTimer() {
    save_timer_->Consume();
    if (lease_saves_.pending()) WriteLeases();
  }

  void WriteLeases() {
    lease_saves_.Saved(clock_->Now());
    if (Result<void> written = WriteFileAtomically(lease_file_, pool_->Serialize()); !written) {
      log_.Error("dhcp", "cannot save leases to {}: {}", lease_file_, written.error().message());
    }
  }

  NetbootOptions options_;
  EventLoop& loop_;
  Logger& log_;
  InterfaceIpv4 interface_;
  std::optional<LeasePool> pool_;
  std::string lease_file_;
  Clock* clock_ = nullptr;
  SaveThrottle lease_saves_{std::chrono::seconds(1)};
  std::optional<TimerFd> save_timer_;  // runs the lease file's write that SaveThrottle put off
  std::optional<DhcpResponder> responder_;
  UniqueFd dhcp_fd_;
  UniqueFd proxy_fd_;
  std::unique_ptr<TftpServer> tftp_;
  std::array<std::byte, kMaxDhcpBytes> buffer_{};
  NetbootStats stats_;
  BootObserver on_boot_;
};

}  // namespace

Result<std::unique_ptr<NetbootService>> NetbootService::Create(const NetbootOptions& options,
                                                               EventLoop& loop, Logger& log,
                                                               Clock& clock, std::string& why,
                                                               BootObserver on_boot) {
  if (std::string problem = ValidateNetbootOptions(options); !problem.empty()) {
    why = problem;
    return Err(std::errc::invalid_argument);
  }
  Result<InterfaceIpv4> interface = LookupInterfaceIpv4(options.interface_name);
  if (!interface) {
    if (interface.error().value() == ENODEV) {
      why = fmt::format("no interface named {}; see `ip link`", options.interface_name);
    } else if (interface.error().value() == EADDRNOTAVAIL) {
      why = fmt::format(
          "interface {} has no IPv4 address; DHCP and TFTP need one (it is the "
          "server identifier and the TFTP server): e.g. ip addr add "
          "10.77.0.1/24 dev {}",
          options.interface_name, options.interface_name);
    } else {
      why = fmt::format("cannot read the addresses of {}: {}", options.interface_name,
                        interface.error().message());
    }
    return Unexpected{interface.error()};
  }
  auto service =
      std::make_unique<NetbootServiceImpl>(options, loop, log, *interface, std::move(on_boot));
  if (Result<void> started = service->Start(clock, why); !started) {
    if (why.empty()) why = started.error().message();
    return Unexpected{started.error()};
  }
  log.Info("netboot", "{} on {} ({}): TFTP root {}, {}",
           options.mode() == DhcpMode::kFull
               ? fmt::format("full DHCP for {}-{}", options.range_first->ToString(),
                             options.range_last->ToString())
               : std::string("proxy DHCP (addresses come from the existing DHCP server)"),
           options.interface_name, interface->address.ToString(), options.tftp_root,
           options.targets.default_target
               ? fmt::format("default target aoe:{}", options.targets.default_target->ToString())
               : std::string("no default target"));
  // A first stage that is not there shows only when a machine fails to boot: say so now.
  for (const auto& [file, kind] :
       {std::pair{options.files.bios, "BIOS"}, std::pair{options.files.efi, "UEFI"}}) {
    const std::string path = options.tftp_root + "/" + file;
    if (::access(path.c_str(), R_OK) != 0) {
      log.Warn("netboot",
               "{} is not readable in the TFTP root {} ({}): {} PXE clients cannot boot; "
               "install ipxe, or name another file with --{}-file",
               file, options.tftp_root, std::strerror(errno), kind,
               std::string_view(kind) == "BIOS" ? "bios" : "efi");
    }
  }
  return std::unique_ptr<NetbootService>(std::move(service));
}

}  // namespace aoe::netboot
