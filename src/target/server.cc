// Server (server.h): the loop of `aoe serve` (ServerImpl, server_impl.h): its ports, receiving
// and replying, busy polling, housekeeping and shutdown; and Server::Create. The export table
// (with flushing an export and announcing it) and the exports' persistent state (with the
// state writer thread) are in server_exports.cc.
#include "target/server.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <span>
#include <system_error>

#include "net/event_loop.h"
#include "net/packet_io.h"
#include "proto/ata.h"
#include "proto/header.h"
#include "storage/chain.h"
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

Result<std::unique_ptr<Port>> OpenPort(const ServerEnvironment& env, Logger& log,
                                       const std::string& name) {
  auto port = env.open_port(name);
  if (!port) log.Error(name, "{}", DescribeOpenError(name, port.error()));
  return port;
}

// Drops every frame waiting on `port`; returns how many. Bounded: frames go on arriving while
// it runs.
size_t DiscardWaitingFrames(Port& port) {
  constexpr size_t kBatch = 32;
  constexpr size_t kMostFrames = 65536;        // more than any receive queue holds
  std::array<std::byte, kBatch * 64> scratch;  // frames are cut short: only their count matters
  std::array<RxSlot, kBatch> slots;
  for (size_t i = 0; i < kBatch; ++i) slots[i].buffer = ByteSpan(scratch).subspan(i * 64, 64);
  size_t dropped = 0;
  while (dropped < kMostFrames) {
    Result<size_t> got = port.Receive(slots);
    if (!got || *got == 0) break;
    dropped += *got;
  }
  return dropped;
}

// One port per loop on each interface of `names`; with several loops, joined to one fanout
// group per interface.
//
// A group is only sticky (each initiator's frames on one loop, in order) once every member has
// joined. Before that, the first member takes every frame (the group hands all to its only
// member) and a later one every frame since its bind (a bound socket receives on its own until
// it joins), so one request could be waiting on two loops, or an initiator's older frames on
// one loop and its newer ones on another: served twice, or out of order, an old write could land
// over a newer one. So what the members took in while the group formed is dropped; the
// initiators send it again.
Result<PortSets> OpenPortSets(const ServerEnvironment& env, Logger& log,
                              const std::vector<std::string>& names, size_t loops) {
  PortSets opened;
  for (const auto& name : names) {
    std::vector<std::unique_ptr<Port>> per_loop;
    uint16_t group = 0;
    for (size_t k = 0; k < loops; ++k) {
      auto port = OpenPort(env, log, name);
      AOE_TRY(port);
      if (loops > 1) {
        // Loop 0's socket joins first: member 0, which gets every command but ATA.
        auto joined = (*port)->JoinFanout(group);
        if (!joined) {
          log.Error(name, "cannot spread {} over {} event loops: {}; serve it with --loops 1", name,
                    loops, joined.error().message());
          return Unexpected{joined.error()};
        }
        group = *joined;
      }
      per_loop.push_back(std::move(*port));
    }
    if (loops > 1) {
      size_t dropped = 0;
      for (auto& port : per_loop) dropped += DiscardWaitingFrames(*port);
      if (dropped > 0) {
        log.Debug(name,
                  "dropped {} frames that arrived while the event loops joined their "
                  "group (initiators send them again)",
                  dropped);
      }
    }
    opened.push_back(std::move(per_loop));
  }
  return opened;
}

}  // namespace

ServerImpl::~ServerImpl() {
  // The loops finish the commands still in flight first (each DataLoop's destructor), so that
  // whatever they lead to is done before the state writer stops. (Flushing the exports is
  // Run()'s: a server that never ran flushes nothing.)
  other_loops_.clear();
  loop_.reset();
  // Saves already queued are written before the writer returns (here, if it never started).
  store_->StopWriter();
  if (state_writer_.joinable()) {
    state_writer_.join();
  } else {
    store_->RunWriter();
  }
}

void ServerImpl::OnOtherLoops(const std::function<void(DataLoop&, size_t)>& task) {
  for (size_t k = 0; k < other_loops_.size(); ++k) {
    other_loops_[k]->Call([&](DataLoop& loop) { task(loop, k); });
  }
}

Result<PortSets> ServerImpl::OpenPorts(const std::vector<std::string>& names) {
  std::vector<std::string> not_served;
  for (const auto& name : names)
    if (loop_->FindPort(name) == DataLoop::kNoPort) not_served.push_back(name);
  return OpenPortSets(env_, log_, not_served, 1 + other_loops_.size());
}

void ServerImpl::AdoptPorts(PortSets ports) {
  for (auto& per_loop : ports) {
    Port& port = *per_loop[0];
    log_.Info(port.name(), "serving on {} (mac {}, mtu {}{})", port.name(), port.mac().ToString(),
              port.mtu(),
              per_loop.size() > 1 ? fmt::format(", {} event loops", per_loop.size()) : "");
    if (port.mtu() + proto::kEthernetHeaderSize > loop_->pool().frame_capacity()) {
      log_.Warn(port.name(),
                "mtu {} exceeds the {}-byte frame buffers; larger frames are "
                "dropped (restart to resize)",
                port.mtu(), loop_->pool().frame_capacity());
    }
    loop_->AdoptPort(std::move(per_loop[0]));
    OnOtherLoops([&](DataLoop& loop, size_t k) { loop.AdoptPort(std::move(per_loop[k + 1])); });
  }
  UpdateFanout();  // new groups (at new indexes) have none yet
}

void ServerImpl::StartWatchingState() {
  Watch(store_->completion_fd(), [this] { OnStateSaved(); });
}

Result<void> ServerImpl::Run() {
  while (!stop_) Poll(kHousekeepingInterval);
  Shutdown();
  if (failure_) return Unexpected{*failure_};
  return {};
}

void ServerImpl::Poll(milliseconds max_wait) {
  StartServing();
  auto now = std::chrono::steady_clock::now();
  auto until_housekeeping = std::chrono::duration_cast<milliseconds>(next_housekeeping_ - now);
  loop_->Turn(std::clamp(until_housekeeping, milliseconds(0), max_wait));
  if (std::chrono::steady_clock::now() >= next_housekeeping_) Housekeeping();
}

std::vector<std::optional<Stats>> ServerImpl::loop_stats() {
  std::vector<std::optional<Stats>> each{loop_->stats()};
  // Read on each loop's thread between two turns: exact, and nothing to publish per turn.
  for (size_t k = 0; k < other_loops_.size(); ++k) {
    std::optional<Stats> read;
    AskLoop(k, [&](DataLoop& loop) { read = loop.stats(); });
    each.push_back(read);
  }
  return each;
}

bool ServerImpl::AskLoop(size_t k, const std::function<void(DataLoop&)>& task) {
  const bool answered = other_loops_[k]->CallWithin(task, kLoopAnswerTimeout);
  if (answered == loops_answering_[k]) return answered;
  loops_answering_[k] = answered;
  if (answered) {
    log_.Info("server", "event loop {} answers again", k + 1);
  } else {
    log_.Warn("server",
              "event loop {} does not answer within {} s (is the storage it reads hanging?); "
              "left out of stats and clients, and export changes wait, until it does",
              k + 1, kLoopAnswerTimeout.count());
  }
  return answered;
}

ClientList ServerImpl::Clients(const Export& e) {
  ClientList list;
  list.Add(e.clients());
  for (size_t k = 0; k < other_loops_.size(); ++k) {
    auto add = [&](DataLoop& loop) {
      if (const Export* copy = loop.target().FindExport(e.name())) list.Add(copy->clients());
    };
    AskLoop(k, add);
  }
  return list;
}

std::string ServerImpl::LoopNotAnswering() {
  for (size_t k = 0; k < other_loops_.size(); ++k) {
    if (!AskLoop(k, [](DataLoop&) {})) {
      return fmt::format(
          "event loop {} does not answer (is the storage it reads hanging?); nothing was "
          "changed; try again once it does",
          k + 1);
    }
  }
  return {};
}

void ServerImpl::Housekeeping() {
  next_housekeeping_ = std::chrono::steady_clock::now() + kHousekeepingInterval;
  target().RetryFailedSaves();
  target().ReportSuppressedLogs();
  RefreshSharedState();
  const DataLoop::PortChanges changes = loop_->RefreshPorts(/*log_changes=*/true);
  auto announce = [this](size_t i, std::string_view why) {
    Port& port = *loop_->port(i);
    log_.Info(port.name(), "{}; announcing exports", why);
    for (const auto& e : target().exports())
      if (e->ServesInterface(port.name())) target().Announce(*e, i);
  };
  for (size_t i : changes.came_up) announce(i, "link up");
  for (size_t i : changes.new_mac) announce(i, "new mac");
  for (size_t i : changes.cannot_rebind) ReopenPorts(i);
  loop_->FlushTx();
}

void ServerImpl::ReopenPorts(size_t index) {
  const std::string name = loop_->port(index)->name();
  auto opened = OpenPortSets(env_, log_, {name}, 1 + other_loops_.size());
  if (!opened) return;  // logged; tried again at the next housekeeping
  std::vector<std::unique_ptr<Port>>& per_loop = opened->front();
  log_.Info(name, "{} was re-created; serving on it again with new sockets", name);
  loop_->ReplacePort(index, std::move(per_loop[0]));
  OnOtherLoops(
      [&](DataLoop& loop, size_t k) { loop.ReplacePort(index, std::move(per_loop[k + 1])); });
  if (index < fanout_first_.size()) fanout_first_[index].clear();  // a new group has none
  UpdateFanout();
}

void ServerImpl::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  loop_->StopReceiving();
  // The other loops finish their commands and make their copies' writes durable.
  std::set<std::string> copy_flush_failed;
  OnOtherLoops([&](DataLoop& loop, size_t) {
    loop.StopReceiving();
    loop.RunStorageUntil([&] { return loop.Idle(); });
    for (const auto& copy : loop.target().exports()) {
      if (!FlushExport(loop, *copy)) copy_flush_failed.insert(copy->name());
    }
  });
  // An overlay commit still copying is abandoned (it may have gigabytes to go, and a service
  // manager kills a target that takes long to stop); whoever asked is told so. Then every
  // overlay's own work ends (a commit past its copy, a reset, a versions.json write), so that
  // their callbacks, which answer the control socket, have run before Run returns and the
  // socket closes.
  auto overlays_busy = [this] {
    return std::any_of(target().exports().begin(), target().exports().end(), [](const auto& e) {
      return e->overlay() != nullptr && e->overlay()->busy();
    });
  };
  for (const auto& e : target().exports()) {
    if (e->overlay() == nullptr || !e->overlay()->commit_running()) continue;
    if (e->overlay()->AbandonCommit()) {
      log_.Info(e->name(),
                "stopping: abandoning the overlay commit that is running (nothing "
                "is changed; commit again after the restart)");
    } else {
      log_.Info(e->name(), "stopping: waiting for the overlay commit to make its version");
    }
  }
  loop_->RunStorageUntil([&] { return !overlays_busy(); });
  // In-flight commands complete and their replies go out, except those held until their
  // state is durable: SettleState sends those.
  loop_->RunStorageUntil([this] { return loop_->Idle(); });
  SettleState();  // held replies whose state is saved go out too
  for (const auto& e : target().exports()) AbandonUnsavedState(*e);
  loop_->FlushTx();
  // An export every loop flushed has nothing acknowledged left to lose: the next start keeps
  // its incarnation, so that initiators do not take this stop for a power cut. One whose
  // flush failed may have lost writes even if the host lives on: the next start takes another.
  for (const auto& e : target().exports()) {
    if (FlushExport(*loop_, *e) && !copy_flush_failed.contains(e->name())) {
      incarnations_.StoppedCleanly(e->name());
    } else {
      incarnations_.Lost(e->name());
    }
  }
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
  auto store = FileStateStore::Create(options.state_dir);
  if (!store) {
    log.Error("server", "cannot set up the state store: {}", store.error().message());
    return Unexpected{store.error()};
  }
  // The interfaces are opened first so the frame buffers fit the largest MTU.
  auto ports =
      OpenPortSets(environment, log, options.interfaces, std::max<size_t>(1, options.loops));
  AOE_TRY(ports);
  DataLoopShape shape;
  shape.buffer_count = options.buffer_count;
  shape.busy_poll = options.busy_poll;
  shape.frame_capacity = kMinFrameCapacity;
  for (const auto& per_loop : *ports) {
    shape.frame_capacity =
        std::max(shape.frame_capacity, per_loop[0]->mtu() + proto::kEthernetHeaderSize);
  }
  shape.frame_capacity = std::min(shape.frame_capacity, kMaxFrameCapacity);
  shape.command_count = std::clamp<size_t>(
      size_t{2} * options.buffer_count * std::max<size_t>(1, options.exports.size()), 256, 2048);

  auto first_loop = DataLoop::Create(log, **store, shape);
  AOE_TRY(first_loop);
  // Their threads start at the first Poll() (StartServing), as the state writer's does.
  std::vector<std::unique_ptr<LoopThread>> other_loops;
  for (size_t k = 1; k < options.loops; ++k) {
    auto loop = DataLoop::Create(log, **store, shape);
    AOE_TRY(loop);
    auto created = LoopThread::Create(std::move(*loop));
    if (!created) {
      log.Error("server", "cannot set up event loop {}: {}", k, created.error().message());
      return Unexpected{created.error()};
    }
    other_loops.push_back(std::move(*created));
  }
  auto server =
      std::make_unique<ServerImpl>(log, options, std::move(environment), std::move(*store),
                                   std::move(*first_loop), std::move(other_loops));
  server->StartWatchingState();
  // Exports before adopting the ports (which logs "serving on"): a start that fails on an export
  // says only that. The ports were opened above, first, to size the frame buffers.
  auto exports = server->OpenExports(options.exports);
  AOE_TRY(exports);
  server->AdoptPorts(std::move(*ports));
  server->AddExports(std::move(*exports));
  std::set<std::string> names;
  for (const ExportOptions& e : options.exports) names.insert(e.name());
  server->WarnOfSharedImages(names);
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace aoe::target