// Server (server.h): the loop of `aoe serve` (ServerImpl, server_impl.h): its ports, receiving
// and replying, busy polling, housekeeping and shutdown; and Server::Create. The export table
// (with flushing an export and announcing it) and the exports' persistent state (with the
// state writer thread) are in server_exports.cc.
#include "target/server.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <system_error>

#include "net/event_loop.h"
#include "net/packet_io.h"
#include "proto/ata.h"
#include "proto/header.h"
#include "storage/chain.h"
#include "storage/completion_queue.h"
#include "storage/rbd/rbd_open.h"
#include "storage/storage_error.h"
#include "target/busy_poll_policy.h"
#include "target/command.h"
#include "target/export.h"
#include "target/file_state_store.h"
#include "target/server_impl.h"
#include "target/target.h"

namespace aoe::target {

namespace {

// Receive buffers are sized for jumbo frames even when the links start at 1500, so that an MTU
// raised at run time works without a restart.
constexpr size_t kMinFrameCapacity = 9000 + proto::kEthernetHeaderSize;
constexpr size_t kMaxFrameCapacity = 65535 + proto::kEthernetHeaderSize;

// A spin-wait hint to the CPU: lets a sibling hyperthread run, and saves power.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

Result<std::unique_ptr<Port>> OpenPort(const ServerEnvironment& env, Logger& log,
                                       const std::string& name) {
  auto port = env.open_port(name);
  if (!port) log.Error(name, "{}", DescribeOpenError(name, port.error()));
  return port;
}

}  // namespace

ServerImpl::~ServerImpl() {
  // Commands still waiting for storage point into the pool and the exports. Bounded, so that
  // a test that leaks a command fails instead of hanging.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  RunStorageUntil([&] {
    return pool_.free_count() == pool_.size() || std::chrono::steady_clock::now() > give_up;
  });
  engine_->Drain();
  // Saves already queued are written before the writer returns (here, if it never started).
  store_->StopWriter();
  if (state_writer_.joinable()) {
    state_writer_.join();
  } else {
    store_->RunWriter();
  }
}

Result<void> ServerImpl::OpenPorts(const std::vector<std::string>& names) {
  std::vector<std::unique_ptr<Port>> opened;
  for (const auto& name : names) {
    if (FindPort(name) != kNoPort) continue;
    auto port = OpenPort(env_, log_, name);
    AOE_TRY(port);
    opened.push_back(std::move(*port));
  }
  for (auto& port : opened) AdoptPort(std::move(port));
  return {};
}

void ServerImpl::AdoptPort(std::unique_ptr<Port> port) {
  log_.Info(port->name(), "serving on {} (mac {}, mtu {})", port->name(), port->mac().ToString(),
            port->mtu());
  if (port->mtu() + proto::kEthernetHeaderSize > pool_.frame_capacity()) {
    log_.Warn(port->name(),
              "mtu {} exceeds the {}-byte frame buffers; larger frames are "
              "dropped (restart to resize)",
              port->mtu(), pool_.frame_capacity());
  }
  ports_.push_back(PortEntry{std::move(port), -1, true});
  // While every buffer is busy the ports are not watched (PauseReceiving); ResumeReceiving
  // watches this one too.
  if (!paused_) Watch(ports_.size() - 1);
}

void ServerImpl::StartWatchingStorage() {
  Watch(engine_->fd(), [this] { OnStorageReady(); });
  Watch(completions_->fd(), [this] { OnStorageReady(); });
  Watch(store_->completion_fd(), [this] { OnStateSaved(); });
}

void ServerImpl::Watch(int fd, std::function<void()> on_readable) {
  if (auto added = loop_.Add(fd, std::move(on_readable)); !added) {
    log_.Error("server", "cannot watch fd {}: {}", fd, added.error().message());
  }
}

Result<void> ServerImpl::Run() {
  while (!stop_) Poll(kHousekeepingInterval);
  Shutdown();
  return {};
}

void ServerImpl::Poll(milliseconds max_wait) {
  StartServing();
  auto now = std::chrono::steady_clock::now();
  auto until_housekeeping = std::chrono::duration_cast<milliseconds>(next_housekeeping_ - now);
  auto wait = std::clamp(until_housekeeping, milliseconds(0), max_wait);
  if (wait.count() > 0 && handled_frames_ && BusyPollFoundFrames()) wait = milliseconds(0);
  handled_frames_ = false;
  if (auto ran = loop_.RunOnce(wait); !ran) {
    log_.Error("server", "event loop failed: {}", ran.error().message());
  }
  if (std::chrono::steady_clock::now() >= next_housekeeping_) Housekeeping();
  ResumeReceiving();
}

bool ServerImpl::BusyPollFoundFrames() {
  const auto budget = options_.busy_poll;
  if (budget.count() <= 0 || engine_->in_flight() > 0) return false;
  // What the receiving ports say now: a frame waits, none does, or they cannot tell.
  auto look = [this]() -> std::optional<bool> {
    std::optional<bool> any;
    for (const PortEntry& entry : ports_) {
      if (!entry.port || entry.watched_fd < 0) continue;  // gone, or paused (pool empty)
      std::optional<bool> waiting = entry.port->FramesWaiting();
      if (waiting == true) return true;
      if (waiting) any = false;
    }
    return any;
  };
  std::optional<bool> found = look();
  if (!found) return false;
  if (!*found && !busy_poll_policy_.ShouldPoll()) {
    ++stats_.busy_polls_skipped;
    return false;
  }
  ++stats_.busy_polls;
  const auto until = std::chrono::steady_clock::now() + budget;
  while (!*found && std::chrono::steady_clock::now() < until) {
    CpuRelax();
    found = look();
  }
  if (*found) ++stats_.busy_poll_hits;
  busy_poll_policy_.Polled(*found);
  return *found;
}

size_t ServerImpl::FindPort(const std::string& name) const {
  for (size_t i = 0; i < ports_.size(); ++i)
    if (ports_[i].port && ports_[i].port->name() == name) return i;
  return kNoPort;
}

void ServerImpl::Watch(size_t index) {
  PortEntry& entry = ports_[index];
  int fd = entry.port->fd();
  if (fd < 0 || entry.watched_fd == fd) return;
  Unwatch(entry);
  if (loop_.Add(fd, [this, index] { OnPortReadable(index); })) entry.watched_fd = fd;
}

void ServerImpl::Unwatch(PortEntry& entry) {
  if (entry.watched_fd >= 0) (void)loop_.Remove(entry.watched_fd);
  entry.watched_fd = -1;
}

void ServerImpl::OnPortReadable(size_t index) {
  Port* port = ports_[index].port.get();
  if (port == nullptr) return;
  target_.set_now_unix(std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
  const bool in_place = port->receives_in_place();
  for (size_t round = 0; round < kMaxReceiveRounds; ++round) {
    size_t want = std::min(kReceiveBatch, pool_.free_count());
    if (want == 0) {
      PauseReceiving();
      break;
    }
    for (size_t i = 0; i < want; ++i) {
      rx_commands_[i] = pool_.Take();
      rx_slots_[i] = RxSlot{rx_commands_[i]->buffer, 0, false};
    }
    const std::span slots(rx_slots_.data(), want);
    auto received = in_place ? port->ReceiveInPlace(slots) : port->Receive(slots);
    size_t n = received ? *received : 0;
    if (n > 0) handled_frames_ = true;
    if (!received) log_.Debug(port->name(), "receive failed: {}", received.error().message());
    for (size_t i = 0; i < want; ++i) {
      Command* command = rx_commands_[i];
      if (i >= n || !TakeFrame(*command, rx_slots_[i])) {
        pool_.Give(command);
      } else {
        command->port_index = index;
        command->owner = &target_;
        target_.Handle(*command);
      }
    }
    if (in_place) {
      // Storage is done with the write data left in the port's frames
      // (Command::payload_in_port) once the writes it held back to merge have run; the
      // frames go back at once, so a turn holds at most one batch of ring slots. (Never
      // reached from inside deferred work, where RunDeferred would return at once: the loop
      // calls this from epoll and busy polling only.)
      engine_->RunDeferred();
      port->ReleaseInPlace();
    }
    if (n < want) break;
  }
  // The submit also does the reads and writes the file backends held back to merge
  // (IoEngine::Defer), and reads served from the page cache often complete during it: answer
  // them in this turn, in one batch with the rest, instead of waiting for the eventfd to wake
  // the loop again.
  engine_->Submit();
  if (engine_->in_flight() > 0) return OnStorageReady();
  FlushTx();
}

bool ServerImpl::TakeFrame(Command& command, const RxSlot& slot) {
  if (slot.truncated || slot.length > command.buffer.size()) {
    ++stats_.dropped_truncated;
    return false;
  }
  command.length = slot.length;
  if (slot.in_place == nullptr) return true;  // Receive() copied it
  const ConstByteSpan frame = slot.received();
  size_t copied = frame.size();
  if (proto::IsWriteRequestWithData(frame)) {
    copied = proto::kAtaHeaderSize;
    command.payload_in_port = frame.subspan(copied);
  }
  std::memcpy(command.buffer.data(), frame.data(), copied);
  return true;
}

void ServerImpl::OnStorageReady() {
  engine_->Reap();
  completions_->Reap();
  FlushTx();
}

void ServerImpl::PauseReceiving() {
  if (paused_) return;
  paused_ = true;
  for (auto& entry : ports_) Unwatch(entry);
}

void ServerImpl::ResumeReceiving() {
  if (!paused_ || pool_.free_count() < pool_.size() / 4) return;
  paused_ = false;
  for (size_t i = 0; i < ports_.size(); ++i)
    if (ports_[i].port) Watch(i);
}

Command* ServerImpl::Acquire() {
  Command* command = pool_.Take();
  if (command != nullptr) command->owner = &target_;
  return command;
}

PortInfo ServerImpl::PortAt(size_t index) const {
  const auto& port = ports_[index].port;
  if (!port) return {};
  return {port->name(), port->mac(), port->mtu()};
}

ByteSpan ServerImpl::LendFrame(size_t index) {
  const auto& port = ports_[index].port;
  return port ? port->LendTxFrame() : ByteSpan{};
}

void ServerImpl::FlushTx() {
  if (tx_queue_.empty()) return;
  for (size_t index = 0; index < ports_.size(); ++index) {
    tx_frames_.clear();
    for (Command* c : tx_queue_)
      if (c->port_index == index) tx_frames_.push_back(c->reply());
    if (tx_frames_.empty()) continue;
    auto& port = ports_[index].port;
    size_t sent = 0;
    if (port) {
      auto result = port->Send(tx_frames_);
      sent = result ? *result : 0;
    }
    stats_.send_dropped += tx_frames_.size() - sent;
  }
  for (Command* c : tx_queue_) pool_.Give(c);
  tx_queue_.clear();
}

void ServerImpl::Housekeeping() {
  next_housekeeping_ = std::chrono::steady_clock::now() + kHousekeepingInterval;
  target_.RetryFailedSaves();
  RefreshSharedState();
  for (size_t i = 0; i < ports_.size(); ++i) {
    PortEntry& entry = ports_[i];
    if (!entry.port) continue;
    size_t old_mtu = entry.port->mtu();
    auto refreshed = entry.port->Refresh();
    bool up = refreshed && entry.port->link_up();
    if (entry.watched_fd != entry.port->fd()) {
      Unwatch(entry);
      if (!paused_) Watch(i);
    }
    if (up && entry.port->mtu() != old_mtu) {
      log_.Info(entry.port->name(), "mtu changed from {} to {}", old_mtu, entry.port->mtu());
    }
    if (up && !entry.was_up) {
      log_.Info(entry.port->name(), "link up; announcing exports");
      for (const auto& e : target_.exports())
        if (e->ServesInterface(entry.port->name())) target_.Announce(*e, i);
    } else if (!up && entry.was_up) {
      log_.Warn(entry.port->name(), "link down or interface gone ({}); waiting for it",
                refreshed ? "no carrier" : refreshed.error().message());
    }
    entry.was_up = up;
  }
  FlushTx();
}

void ServerImpl::Shutdown() {
  for (auto& entry : ports_) Unwatch(entry);
  // An overlay commit still copying is abandoned (it may have gigabytes to go, and a service
  // manager kills a target that takes long to stop); whoever asked is told so. Then every
  // overlay's own work ends (a commit past its copy, a reset, a versions.json write), so that
  // their callbacks, which answer the control socket, have run before Run returns and the
  // socket closes.
  auto overlays_busy = [this] {
    return std::any_of(target_.exports().begin(), target_.exports().end(), [](const auto& e) {
      return e->overlay() != nullptr && e->overlay()->busy();
    });
  };
  for (const auto& e : target_.exports()) {
    if (e->overlay() == nullptr || !e->overlay()->commit_running()) continue;
    if (e->overlay()->AbandonCommit()) {
      log_.Info(e->name(),
                "stopping: abandoning the overlay commit that is running (nothing "
                "is changed; commit again after the restart)");
    } else {
      log_.Info(e->name(), "stopping: waiting for the overlay commit to make its version");
    }
  }
  RunStorageUntil([&] { return !overlays_busy(); });
  // In-flight commands complete and their replies go out, except those held until their
  // state is durable: SettleState sends those.
  RunStorageUntil([this] { return pool_.free_count() + target_.held_replies() == pool_.size(); });
  SettleState();  // held replies whose state is saved go out too
  for (const auto& e : target_.exports()) AbandonUnsavedState(*e);
  FlushTx();
  for (const auto& e : target_.exports()) FlushExport(*e);
}

ServerEnvironment RealEnvironment(PacketIo packet_io, Logger& log) {
  ServerEnvironment env;
  env.open_port = [packet_io, &log](const std::string& name) -> Result<std::unique_ptr<Port>> {
    auto opened = OpenPacketPort(name, packet_io, PortRole::kTarget);
    if (!opened) return Unexpected{opened.error()};
    if (!opened->fallback_reason.empty()) {
      log.Info(name, "packet rings unavailable ({}); using the socket path",
               opened->fallback_reason);
    } else if (opened->used == PacketIo::kRing) {
      log.Debug(name, "moving frames through packet rings; read replies {}",
                opened->lends_tx_frames
                    ? "built in TX ring slots"
                    : "copied to a socket (this driver copies ring frames again on delivery)");
    } else {
      log.Debug(name, "moving frames through the socket path");
    }
    return std::move(opened->port);
  };
  env.open_base = [&log](StorageServices& services, const BackendSpec& spec,
                         const BaseOptions& options) -> Result<OpenedBackend> {
    Result<OpenedBackend> opened = OpenBase(services, spec, options);
    // The export's error line says what to do; this one says what the loader found.
    if (!opened && IsRbdModuleError(opened.error())) {
      log.Error("aoekit-rbd", "{}", RbdModuleLoadFailure());
    }
    return opened;
  };
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) env.host_name = host;
  return env;
}

Result<std::unique_ptr<Server>> Server::Create(const ServerOptions& options, Logger& log) {
  return Create(options, log, RealEnvironment(options.packet_io, log));
}

Result<std::unique_ptr<Server>> Server::Create(const ServerOptions& options, Logger& log,
                                               ServerEnvironment environment) {
  auto loop = EventLoop::Create();
  if (!loop) {
    log.Error("server", "cannot create the event loop: {}", loop.error().message());
    return Unexpected{loop.error()};
  }
  size_t command_count = std::clamp<size_t>(
      size_t{2} * options.buffer_count * std::max<size_t>(1, options.exports.size()), 256, 2048);
  auto engine = IoEngine::Create(static_cast<unsigned>(std::min<size_t>(command_count, 1024)));
  if (!engine) {
    log.Error("server",
              "cannot set up io_uring: {} (is io_uring disabled by "
              "kernel.io_uring_disabled?)",
              engine.error().message());
    return Unexpected{engine.error()};
  }
  auto completions = CompletionQueue::Create();
  if (!completions) {
    log.Error("server", "cannot create the storage completion queue: {}",
              completions.error().message());
    return Unexpected{completions.error()};
  }
  // The interfaces are opened first so the frame buffers fit the largest MTU.
  std::vector<std::unique_ptr<Port>> ports;
  size_t frame_capacity = kMinFrameCapacity;
  for (const auto& name : options.interfaces) {
    auto port = OpenPort(environment, log, name);
    AOE_TRY(port);
    frame_capacity = std::max(frame_capacity, (*port)->mtu() + proto::kEthernetHeaderSize);
    ports.push_back(std::move(*port));
  }
  frame_capacity = std::min(frame_capacity, kMaxFrameCapacity);
  auto store = FileStateStore::Create(options.state_dir);
  if (!store) {
    log.Error("server", "cannot set up the state store: {}", store.error().message());
    return Unexpected{store.error()};
  }

  auto server = std::make_unique<ServerImpl>(
      log, options, std::move(environment), std::move(*engine), std::move(*completions),
      std::move(*loop), std::move(*store), frame_capacity, command_count);
  server->StartWatchingStorage();
  // Exports before adopting the ports (which logs "serving on"): a start that fails on an export
  // says only that. The ports were opened above, first, to size the frame buffers.
  auto exports = server->OpenExports(options.exports);
  AOE_TRY(exports);
  for (auto& port : ports) server->AdoptPort(std::move(port));
  server->AddExports(std::move(*exports));
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace aoe::target