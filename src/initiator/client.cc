#include "initiator/client.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "net/packet_io.h"
#include "proto/identify.h"

namespace aoe::initiator {

// --- Client ----------------------------------------------------------------------------------

Client::Client(std::vector<std::unique_ptr<Port>> owned_ports, std::unique_ptr<Clock> owned_clock,
               std::vector<Port*> ports, Clock& clock, ClientOptions options)
    : owned_ports_(std::move(owned_ports)),
      owned_clock_(std::move(owned_clock)),
      clock_(clock),
      options_(std::move(options)),
      initiator_(std::make_unique<Initiator>(clock, std::move(ports), options_.initiator)) {}

Client::~Client() = default;

Outcome<std::unique_ptr<Client>> Client::Open(const std::vector<std::string>& interfaces,
                                              ClientOptions options) {
  if (interfaces.empty()) {
    return Error(InitiatorErrc::kNoPorts, "no network interface given");
  }
  std::vector<std::unique_ptr<Port>> owned;
  std::vector<Port*> ports;
  for (const std::string& name : interfaces) {
    // PACKET_MMAP rings where the kernel has them (replies are read from the RX ring without a
    // system call), else the socket path: the choice `aoe serve --packet-io auto` makes.
    Result<OpenedPort> port = OpenPacketPort(name, PacketIo::kAuto, PortRole::kInitiator);
    if (!port) return Error(port.error(), DescribeOpenError(name, port.error()));
    if (Logger* log = options.initiator.logger; log && !port->fallback_reason.empty()) {
      log->Debug(name, "packet rings unavailable ({}); using the socket path",
                 port->fallback_reason);
    }
    ports.push_back(port->port.get());
    owned.push_back(std::move(port->port));
  }
  auto clock = std::make_unique<SteadyClock>();
  Clock& clock_ref = *clock;
  std::unique_ptr<Client> client(new Client(std::move(owned), std::move(clock), std::move(ports),
                                            clock_ref, std::move(options)));
  if (auto r = client->RegisterFds(); !r) return r.error();
  return client;
}

Outcome<std::unique_ptr<Client>> Client::Create(std::vector<Port*> ports, Clock& clock,
                                                ClientOptions options) {
  if (ports.empty()) return Error(InitiatorErrc::kNoPorts, "no network interface given");
  std::unique_ptr<Client> client(
      new Client({}, nullptr, std::move(ports), clock, std::move(options)));
  if (!client->options_.wait_hook) {
    if (auto r = client->RegisterFds(); !r) return r.error();
  }
  return client;
}

Outcome<void> Client::RegisterFds() {
  Result<EventLoop> loop = EventLoop::Create();
  if (!loop) return Error(loop.error(), "cannot create the event loop: " + loop.error().message());
  loop_.emplace(std::move(*loop));
  for (int fd : initiator_->fds()) {
    if (auto r = loop_->Add(fd, [this, fd] { initiator_->OnReadable(fd); }); !r) {
      return Error(r.error(), "cannot watch a port: " + r.error().message());
    }
  }
  return {};
}

bool Client::RunUntil(const std::function<bool()>& done, std::optional<TimePoint> give_up) {
  while (true) {
    initiator_->Poll();
    if (done()) return true;
    TimePoint now = clock_.Now();
    if (give_up && now >= *give_up) return false;
    std::optional<TimePoint> deadline = initiator_->NextDeadline();
    if (give_up && (!deadline || *give_up < *deadline)) deadline = give_up;
    if (options_.wait_hook || !loop_) {
      if (options_.wait_hook) options_.wait_hook(deadline);
      continue;
    }
    // Round up so that we never wake just before the deadline and spin.
    std::chrono::milliseconds wait(1000);
    if (deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now);
      wait = std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(1000));
    }
    (void)loop_->RunOnce(wait);  // EINTR and friends: just go round again
  }
}

template <typename T, typename Start>
Outcome<T> Client::Await(Start start) {
  // Shared, so that a callback arriving after we stopped waiting writes to live memory.
  auto result = std::make_shared<std::optional<Outcome<T>>>();
  start([result](Outcome<T> r) { result->emplace(std::move(r)); });
  RunUntil([&] { return result->has_value(); });
  return std::move(**result);
}

Outcome<std::vector<TargetInfo>> Client::Discover(Duration timeout, DiskAddress where) {
  auto found = std::make_shared<std::optional<std::vector<DiskAddress>>>();
  initiator_->Discover(where, timeout,
                       [found](std::vector<DiskAddress> a) { *found = std::move(a); });
  RunUntil([&] { return found->has_value(); });
  auto pending = std::make_shared<size_t>(0);
  for (DiskAddress a : **found) {
    Disk* d = initiator_->disk(a);
    if (d == nullptr) continue;
    ++*pending;
    d->Identify([pending](const Outcome<IdentifyData>&) { --*pending; });
  }
  // Also the IDENTIFYs that tell a disk's other MACs apart, so that the listing shows which
  // of them serve another disk.
  auto identifying = [&] {
    return std::any_of((*found)->begin(), (*found)->end(), [&](DiskAddress a) {
      const Disk* d = initiator_->disk(a);
      return d != nullptr && d->identifying_paths();
    });
  };
  RunUntil([&] { return *pending == 0 && !identifying(); }, clock_.Now() + timeout);
  std::vector<TargetInfo> out;
  for (DiskAddress a : **found) {
    if (Disk* d = initiator_->disk(a)) out.push_back(d->info());
  }
  return out;
}

Outcome<SyncDisk> Client::OpenDisk(DiskAddress address, Duration hear_others) {
  if (address.is_wildcard()) {
    return Error(InitiatorErrc::kInvalidArgument,
                 fmt::format("{} is not a single disk: give shelf and slot", address.ToString()));
  }
  Disk* d = initiator_->disk(address);
  if (d == nullptr) {
    auto finished = std::make_shared<bool>(false);
    initiator_->Discover(address, options_.open_timeout,
                         [finished](std::vector<DiskAddress>) { *finished = true; });
    RunUntil([&] { return *finished || initiator_->disk(address) != nullptr; });
    d = initiator_->disk(address);
    // The first answer opens the disk; another target on the LAN answers the same broadcast
    // a moment later (a busy vblade, say, after the first one's IDENTIFY is already done).
    if (d != nullptr && hear_others > Duration::zero()) {
      RunUntil([&] { return *finished; }, clock_.Now() + hear_others);
    }
  }
  if (d == nullptr) {
    std::string names;
    for (const Port* p : initiator_->ports()) names += (names.empty() ? "" : ", ") + p->name();
    return Error(
        InitiatorErrc::kNoSuchTarget,
        fmt::format(
            "{} did not answer on {} within {} ms{}", address.ToString(), names,
            std::chrono::duration_cast<std::chrono::milliseconds>(options_.open_timeout).count(),
            NoLinkHint()));
  }
  SyncDisk disk(*this, *d);
  if (!d->info().identify) {
    if (auto id = disk.Identify(); !id) return id.error();
  }
  // The other MACs that answered meanwhile are being told apart: wait for that (one round
  // trip), so that a second disk under this address is reported before any I/O, not midway.
  // I/O never goes to such a MAC either way.
  RunUntil([&] { return !d->identifying_paths(); }, clock_.Now() + options_.open_timeout);
  return disk;
}

std::string Client::NoLinkHint() const {
  std::vector<std::string> down;
  for (const Port* p : initiator_->ports())
    if (!p->link_up()) down.push_back(p->name());
  if (down.empty()) return "";
  if (down.size() == 1) {
    return fmt::format(
        " (no link on {0}: bring it up with `ip link set {0} up` if it is down, "
        "else check its cable or peer)",
        down[0]);
  }
  return fmt::format(
      " (no link on {}: bring each up with `ip link set IFACE up` if it is down, "
      "else check its cable or peer)",
      fmt::join(down, ", "));
}

Outcome<ConfigReply> Client::Config(DiskAddress address, proto::ConfigCommand command,
                                    std::string_view value, const ExchangeOptions& options) {
  return Await<ConfigReply>(
      [&](auto cb) { initiator_->Config(address, command, value, options, cb); });
}

Outcome<MaskReply> Client::ReadMask(DiskAddress address, const ExchangeOptions& options) {
  return Await<MaskReply>([&](auto cb) { initiator_->ReadMask(address, options, cb); });
}

Outcome<MaskReply> Client::EditMask(DiskAddress address,
                                    std::span<const proto::MaskDirective> directives,
                                    const ExchangeOptions& options) {
  return Await<MaskReply>([&](auto cb) { initiator_->EditMask(address, directives, options, cb); });
}

Outcome<ReserveReply> Client::Reserve(DiskAddress address, proto::ReserveCommand command,
                                      std::span<const MacAddress> macs,
                                      const ExchangeOptions& options) {
  return Await<ReserveReply>(
      [&](auto cb) { initiator_->Reserve(address, command, macs, options, cb); });
}

Outcome<ReserveReply> Client::ReserveForUs(DiskAddress address, bool force,
                                           const ExchangeOptions& options) {
  std::vector<MacAddress> macs = local_macs();
  return Reserve(address, force ? proto::ReserveCommand::kForceSet : proto::ReserveCommand::kSet,
                 macs, options);
}

Outcome<ReserveReply> Client::Release(DiskAddress address, const ExchangeOptions& options) {
  return Reserve(address, proto::ReserveCommand::kSet, {}, options);
}

Outcome<std::vector<std::byte>> Client::Exchange(DiskAddress address, uint8_t command,
                                                 ConstByteSpan arg,
                                                 const ExchangeOptions& options) {
  return Await<std::vector<std::byte>>(
      [&](auto cb) { initiator_->Exchange(address, command, arg, options, cb); });
}

Outcome<std::vector<std::byte>> Client::SendRaw(size_t port, ConstByteSpan frame,
                                                Duration timeout) {
  return Await<std::vector<std::byte>>(
      [&](auto cb) { initiator_->SendRaw(port, frame, timeout, cb); });
}

std::vector<MacAddress> Client::local_macs() const {
  std::vector<MacAddress> out;
  for (const Port* p : initiator_->ports()) {
    if (std::find(out.begin(), out.end(), p->mac()) == out.end()) out.push_back(p->mac());
  }
  return out;
}

std::optional<size_t> Client::PortIndex(std::string_view name) const {
  const auto& ports = initiator_->ports();
  for (size_t i = 0; i < ports.size(); ++i) {
    if (ports[i]->name() == name) return i;
  }
  return std::nullopt;
}

// --- SyncDisk --------------------------------------------------------------------------------

uint64_t SyncDisk::sector_count() const {
  return disk_->info().identify ? disk_->info().identify->sector_count : 0;
}

// I/O waits for its callback however long it takes (bounded by the dead-target timeout): the
// engine may write into `buffer` until then, so giving up early would be unsafe.
Outcome<void> SyncDisk::Read(uint64_t lba, ByteSpan buffer) {
  return client_->Await<void>([&](auto done) { disk_->Read(lba, buffer, done); });
}

Outcome<void> SyncDisk::Write(uint64_t lba, ConstByteSpan data) {
  return client_->Await<void>([&](auto done) { disk_->Write(lba, data, done); });
}

Outcome<void> SyncDisk::Flush() {
  return client_->Await<void>([&](auto done) { disk_->Flush(done); });
}

Outcome<void> SyncDisk::Trim(uint64_t lba, uint64_t sectors) {
  while (sectors > 0) {
    const uint64_t n = std::min(sectors, Disk::kMaxTrimSectors);
    Outcome<void> trimmed = client_->Await<void>([&](auto done) { disk_->Trim(lba, n, done); });
    if (!trimmed) return trimmed;
    lba += n;
    sectors -= n;
  }
  return {};
}

Outcome<void> SyncDisk::DeclareSelfFlushing() {
  return client_->Await<void>([&](auto done) { disk_->DeclareFlushing(done); });
}

Outcome<IdentifyData> SyncDisk::Identify() {
  return client_->Await<IdentifyData>([&](auto done) { disk_->Identify(done); });
}

Outcome<RestartCheck> SyncDisk::CheckForRestarts() {
  return client_->Await<RestartCheck>([&](auto done) { disk_->CheckForRestarts(done); });
}

Outcome<void> SyncDisk::Pipeline(size_t queue_depth,
                                 const std::function<std::optional<IoOp>()>& next,
                                 const std::function<Outcome<void>(const IoOp&)>& done,
                                 IoOp* failed_op) {
  queue_depth = std::max<size_t>(queue_depth, 1);
  size_t in_flight = 0;
  uint64_t completed = 0;
  bool exhausted = false;
  std::optional<Error> first_error;
  auto on_done = [&](const IoOp& op, Outcome<void> r) {
    --in_flight;
    ++completed;
    if (first_error) return;
    if (!r) {
      first_error = r.error();
    } else if (done) {
      if (Outcome<void> c = done(op); !c) first_error = c.error();
    }
    if (first_error && failed_op != nullptr) *failed_op = op;
  };
  while (true) {
    while (!first_error && !exhausted && in_flight < queue_depth) {
      std::optional<IoOp> op = next();
      if (!op) {
        exhausted = true;
        break;
      }
      ++in_flight;
      auto cb = [&on_done, op = *op](Outcome<void> r) { on_done(op, std::move(r)); };
      switch (op->kind) {
        case IoOp::Kind::kRead:
          disk_->Read(op->lba, op->buffer, cb);
          break;
        case IoOp::Kind::kWrite:
          disk_->Write(op->lba, op->buffer, cb);
          break;
        case IoOp::Kind::kFlush:
          disk_->Flush(cb);
          break;
        case IoOp::Kind::kTrim:
          disk_->Trim(op->lba, op->trim_sectors, cb);
          break;
      }
    }
    // A failed pipeline fails as a whole: its other operations are cancelled, not waited for.
    // Waiting can take long: storage that fails every command after a timeout (a Ceph cluster
    // gone: rados_osd_op_timeout) fails the requests still queued here one after another, a
    // timeout each (docs/ceph.md, "Failures"). Only if every pending request of the disk is one
    // of ours, since Abort fails them all.
    if (first_error && in_flight > 0 && disk_->pending_requests() == in_flight) {
      disk_->Abort("cancelled: another operation of the same pipeline failed");
    }
    if (in_flight == 0) break;
    uint64_t before = completed;
    client_->RunUntil([&] { return completed != before; });
  }
  if (first_error) return *first_error;
  return {};
}

}  // namespace aoe::initiator
