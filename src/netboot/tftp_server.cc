#include "netboot/tftp_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>

#include "base/log.h"
#include "netboot/tftp_path.h"
#include "netboot/udp_socket.h"
#include "net/timer_fd.h"

namespace aoe::netboot {

namespace {

constexpr size_t kMaxDatagram = 65536;

struct ActiveTransfer {
  UniqueFd fd;
  std::string name;
  std::string description;
  Ipv4Address client;
  uint16_t client_port = 0;
  TimePoint started;
  std::unique_ptr<TftpTransfer> transfer;
};

class TftpServerImpl final : public TftpServer {
 public:
  TftpServerImpl(const TftpServerOptions& options, EventLoop& loop, Logger& log, Clock& clock,
                 VirtualFiles virtual_files, UniqueFd listen_fd, UniqueFd root_fd,
                 TimerFd timer)
      : options_(options),
        loop_(loop),
        log_(log),
        clock_(clock),
        virtual_files_(std::move(virtual_files)),
        listen_fd_(std::move(listen_fd)),
        root_fd_(std::move(root_fd)),
        timer_(std::move(timer)),
        buffer_(kMaxDatagram) {}

  ~TftpServerImpl() override {
    for (auto& [fd, t] : transfers_) (void)loop_.Remove(fd);
    (void)loop_.Remove(listen_fd_.get());
    (void)loop_.Remove(timer_.fd());
  }

  Result<void> Start() {
    AOE_TRY(loop_.Add(listen_fd_.get(), [this] { OnRequest(); }));
    AOE_TRY(loop_.Add(timer_.fd(), [this] { OnTimer(); }));
    return {};
  }

  size_t active_transfers() const override { return transfers_.size(); }
  uint64_t files_sent() const override { return files_sent_; }

 private:
  std::string Subject(Ipv4Address client, uint16_t port) const {
    return fmt::format("tftp {}:{}", client.ToString(), port);
  }

  // Replies with an ERROR from the listening port (no transfer id exists yet).
  void Refuse(const Datagram& from, TftpErrorCode code, std::string_view message) {
    std::array<std::byte, 600> packet{};
    size_t n = EncodeTftpError(packet, code, message.substr(0, 500));
    (void)SendTo(listen_fd_.get(), ConstByteSpan(packet.data(), n), from.source, from.source_port);
  }

  void OnRequest() {
    // Bounded per wake-up so a flood cannot starve the transfers; the level-triggered loop
    // calls again for the rest.
    for (int i = 0; i < 16; ++i) {
      std::optional<Datagram> d = ReceiveFrom(listen_fd_.get(), buffer_);
      if (!d) return;
      HandleRequest(*d, ConstByteSpan(buffer_.data(), d->size));
    }
  }

  void HandleRequest(const Datagram& from, ConstByteSpan bytes) {
    const std::string subject = Subject(from.source, from.source_port);
    std::optional<TftpPacket> request = DecodeTftp(bytes);
    if (!request) {
      log_.Debug(subject, "ignored a malformed packet ({} bytes)", bytes.size());
      return;
    }
    if (request->opcode == TftpOpcode::kWriteRequest) {
      log_.Warn(subject, "refused write request for '{}': this server is read-only",
                Printable(request->filename));
      Refuse(from, TftpErrorCode::kAccessViolation, "read-only server");
      return;
    }
    if (request->opcode != TftpOpcode::kReadRequest) return;  // strays for old transfers
    if (request->mode != "octet" && request->mode != "netascii") {
      Refuse(from, TftpErrorCode::kIllegalOperation, "mode must be octet");
      return;
    }
    // A retransmitted RRQ while its transfer runs: the transfer's own retransmission answers.
    for (const auto& [fd, t] : transfers_) {
      if (t.client == from.source && t.client_port == from.source_port) return;
    }
    if (transfers_.size() >= options_.max_transfers) {
      log_.Warn(subject, "refused '{}': {} transfers already running", Printable(request->filename),
                transfers_.size());
      Refuse(from, TftpErrorCode::kNotDefined, "server busy, try again");
      return;
    }
    const auto from_client = static_cast<size_t>(
        std::count_if(transfers_.begin(), transfers_.end(),
                      [&](const auto& entry) { return entry.second.client == from.source; }));
    if (from_client >= options_.max_transfers_per_client) {
      log_.Warn(subject, "refused '{}': {} transfers from {} already running",
                Printable(request->filename), from_client, from.source.ToString());
      Refuse(from, TftpErrorCode::kNotDefined, "too many transfers from this host, try again");
      return;
    }
    std::optional<std::string> name = NormalizeTftpPath(request->filename);
    if (!name) {
      log_.Warn(subject, "refused '{}': the name leaves the TFTP root or is malformed",
                Printable(request->filename));
      Refuse(from, TftpErrorCode::kAccessViolation, "access violation");
      return;
    }
    ActiveTransfer t;
    std::unique_ptr<TftpFile> file;
    if (std::optional<VirtualFile> generated = virtual_files_(*name, from.source)) {
      t.description = std::move(generated->description);
      file = std::make_unique<MemoryTftpFile>(std::move(generated->contents));
    } else {
      Result<UniqueFd> opened = OpenBeneath(root_fd_.get(), *name);
      Result<std::unique_ptr<FdTftpFile>> fd_file =
          opened ? FdTftpFile::Open(std::move(*opened))
                 : Result<std::unique_ptr<FdTftpFile>>(Unexpected{opened.error()});
      if (!fd_file) {
        const int err = fd_file.error().value();
        const bool not_found = err == ENOENT || err == ENOTDIR;
        log_.Warn(subject, "refused '{}': {}{}", *name,
                  err == EXDEV ? "it resolves outside the TFTP root" : fd_file.error().message(),
                  not_found ? fmt::format(" (looked in {})", options_.root) : "");
        Refuse(from, not_found ? TftpErrorCode::kFileNotFound : TftpErrorCode::kAccessViolation,
               not_found ? "file not found" : "access violation");
        return;
      }
      file = std::move(*fd_file);
    }
    UdpSocketOptions socket_options;
    socket_options.bind_address = options_.address;
    Result<UniqueFd> fd = OpenUdpSocket(options_.interface_name, socket_options);
    if (!fd) {
      log_.Error(subject, "cannot open a transfer socket: {}", fd.error().message());
      return;
    }
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_port = htons(from.source_port);
    peer.sin_addr.s_addr = htonl(from.source.value());
    if (::connect(fd->get(), reinterpret_cast<const sockaddr*>(&peer), sizeof peer) != 0) {
      log_.Error(subject, "cannot connect the transfer socket: {}", std::strerror(errno));
      return;
    }
    t.fd = std::move(*fd);
    t.name = *name;
    t.client = from.source;
    t.client_port = from.source_port;
    t.started = clock_.Now();
    t.transfer = std::make_unique<TftpTransfer>(std::move(file), request->options, options_.limits);
    const int key = t.fd.get();
    ConstByteSpan first = t.transfer->Start(clock_.Now());
    Send(t, first);
    log_.Debug(subject, "RRQ '{}' ({} bytes, blksize {})", *name, t.transfer->file_size(),
               t.transfer->block_size());
    if (!loop_.Add(key, [this, key] { OnTransferReadable(key); })) {
      log_.Error(subject, "cannot watch the transfer socket");
      return;
    }
    transfers_.emplace(key, std::move(t));
    ArmTimer();
  }

  void Send(ActiveTransfer& t, ConstByteSpan packet) {
    if (packet.empty()) return;
    if (::send(t.fd.get(), packet.data(), packet.size(), 0) < 0) {
      log_.Debug(Subject(t.client, t.client_port), "send failed: {}", std::strerror(errno));
    }
  }

  void OnTransferReadable(int key) {
    auto it = transfers_.find(key);
    if (it == transfers_.end()) return;
    ActiveTransfer& t = it->second;
    for (int i = 0; i < 16; ++i) {
      ssize_t n = ::recv(t.fd.get(), buffer_.data(), buffer_.size(), 0);
      if (n < 0) break;
      Send(t, t.transfer->OnPacket(ConstByteSpan(buffer_.data(), static_cast<size_t>(n)),
                                   clock_.Now()));
      if (t.transfer->state() != TftpTransfer::State::kRunning) break;
    }
    FinishIfDone(it);
    ArmTimer();
  }

  void OnTimer() {
    // Only clears the timer: each transfer's own deadline, checked below, says what expired.
    timer_.Consume();
    const TimePoint now = clock_.Now();
    for (auto it = transfers_.begin(); it != transfers_.end();) {
      auto next = std::next(it);
      if (now >= it->second.transfer->deadline()) {
        Send(it->second, it->second.transfer->OnTimeout(now));
        FinishIfDone(it);
      }
      it = next;
    }
    ArmTimer();
  }

  void FinishIfDone(std::map<int, ActiveTransfer>::iterator it) {
    ActiveTransfer& t = it->second;
    const TftpTransfer::State state = t.transfer->state();
    if (state == TftpTransfer::State::kRunning) return;
    const std::string subject = Subject(t.client, t.client_port);
    const double seconds = std::chrono::duration<double>(clock_.Now() - t.started).count();
    if (state == TftpTransfer::State::kDone) {
      ++files_sent_;
      log_.Info(subject, "sent {}{} ({} bytes, blksize {}, {:.2f} s, {} retransmissions)", t.name,
                t.description.empty() ? "" : " [" + t.description + "]", t.transfer->file_size(),
                t.transfer->block_size(), seconds, t.transfer->retransmits());
    } else if (t.transfer->size_query()) {
      log_.Debug(subject, "size query for {} answered (tsize {}), then ended by the client", t.name,
                 t.transfer->file_size());
    } else {
      log_.Warn(subject, "transfer of {} failed after {} of {} bytes: {}", t.name,
                t.transfer->bytes_acked(), t.transfer->file_size(), t.transfer->failure());
    }
    (void)loop_.Remove(it->first);
    transfers_.erase(it);
  }

  void ArmTimer() {
    if (transfers_.empty()) return timer_.Disarm();
    TimePoint earliest = TimePoint::max();
    for (const auto& [fd, t] : transfers_) earliest = std::min(earliest, t.transfer->deadline());
    timer_.ArmOnce(std::chrono::duration_cast<std::chrono::nanoseconds>(earliest - clock_.Now()));
  }

  TftpServerOptions options_;
  EventLoop& loop_;
  Logger& log_;
  Clock& clock_;
  VirtualFiles virtual_files_;
  UniqueFd listen_fd_;
  UniqueFd root_fd_;
  TimerFd timer_;
  std::vector<std::byte> buffer_;
  std::map<int, ActiveTransfer> transfers_;  // by socket fd
  uint64_t files_sent_ = 0;
};

}  // namespace

Result<std::unique_ptr<TftpServer>> TftpServer::Create(const TftpServerOptions& options,
                                                       EventLoop& loop, Logger& log, Clock& clock,
                                                       VirtualFiles virtual_files,
                                                       std::string& why) {
  UniqueFd root_fd(::open(options.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) {
    const int err = errno;
    why = fmt::format(
        "cannot open the TFTP root {}: {}; install the ipxe package or give "
        "--tftp-root DIR",
        options.root, std::strerror(err));
    return Errno(err);
  }
  UdpSocketOptions socket_options;
  socket_options.port = options.port;
  Result<UniqueFd> listen_fd = OpenUdpSocket(options.interface_name, socket_options);
  if (!listen_fd) {
    if (listen_fd.error().value() == EADDRINUSE) {
      why = fmt::format(
          "port {} is in use (another TFTP server such as dnsmasq --enable-tftp or "
          "tftpd-hpa?); stop it, or disable its TFTP on {}",
          options.port, options.interface_name);
    } else {
      why = fmt::format("cannot listen on UDP port {} on {}: {}", options.port,
                        options.interface_name, listen_fd.error().message());
    }
    return Unexpected{listen_fd.error()};
  }
  Result<TimerFd> timer = TimerFd::Create();
  if (!timer) {
    why = fmt::format("cannot create a timerfd: {}", timer.error().message());
    return Unexpected{timer.error()};
  }
  auto server = std::make_unique<TftpServerImpl>(options, loop, log, clock,
                                                 std::move(virtual_files), std::move(*listen_fd),
                                                 std::move(root_fd), std::move(*timer));
  if (Result<void> started = server->Start(); !started) {
    why = fmt::format("cannot watch the TFTP sockets: {}", started.error().message());
    return Unexpected{started.error()};
  }
  return std::unique_ptr<TftpServer>(std::move(server));
}

}  // namespace aoe::netboot
