#include "target/server.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "net/event_loop.h"
#include "net/packet_io.h"
#include "proto/ata.h"
#include "proto/header.h"
#include "storage/chain.h"
#include "storage/completion_queue.h"
#include "target/busy_poll_policy.h"
#include "target/command.h"
#include "target/export.h"
#include "target/file_state_store.h"
#include "target/target.h"

namespace aoe::target {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kHousekeepingInterval{1000};
// Frames taken from a socket per readiness event before other fds get a turn.
constexpr size_t kReceiveBatch = 64;
constexpr size_t kMaxReceiveRounds = 8;
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

std::string PortErrorText(const std::string& name, const std::error_code& ec) {
  if (ec == std::errc::no_such_device) {
    return fmt::format("no such interface '{}'; check the name with `ip link`", name);
  }
  if (ec == std::errc::operation_not_permitted || ec == std::errc::permission_denied) {
    return fmt::format("opening interface {} needs root or the CAP_NET_RAW capability", name);
  }
  return fmt::format("cannot open interface {}: {}", name, ec.message());
}

Result<std::unique_ptr<Port>> OpenPort(const ServerEnvironment& env, Logger& log,
                                       const std::string& name) {
  auto port = env.open_port(name);
  if (!port) log.Error(name, "{}", PortErrorText(name, port.error()));
  return port;
}

// One storage request the server waits for (start-up and shutdown only, never on the data
// path).
struct BlockingIo final : IoCallback {
  std::optional<int64_t> result;
  void IoDone(int64_t r) override { result = r; }
};

class ServerImpl final : public Server, private Transmitter {
 public:
  ServerImpl(Logger& log, ServerOptions options, ServerEnvironment env,
             std::unique_ptr<IoEngine> engine, std::unique_ptr<CompletionQueue> completions,
             EventLoop loop, std::unique_ptr<FileStateStore> store, size_t frame_capacity,
             size_t command_count)
      : log_(log),
        options_(std::move(options)),
        env_(std::move(env)),
        engine_(std::move(engine)),
        completions_(std::move(completions)),
        services_{*engine_, *completions_},
        loop_(std::move(loop)),
        store_(std::move(store)),
        pool_(command_count, frame_capacity),
        target_(log_, stats_, *this, *store_, clock_, options_.buffer_count, frame_capacity) {
    rx_slots_.resize(kReceiveBatch);
    rx_commands_.resize(kReceiveBatch);
    tx_queue_.reserve(command_count);
    tx_frames_.reserve(command_count);
  }

  ~ServerImpl() override {
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

  // Opens the interfaces not served yet (nothing is added if one fails).
  Result<void> OpenPorts(const std::vector<std::string>& names) {
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

  void AdoptPort(std::unique_ptr<Port> port) {
    log_.Info(port->name(), "serving on {} (mac {}, mtu {})", port->name(), port->mac().ToString(),
              port->mtu());
    if (port->mtu() + proto::kEthernetHeaderSize > pool_.frame_capacity()) {
      log_.Warn(port->name(),
                "mtu {} exceeds the {}-byte frame buffers; larger frames are "
                "dropped (restart to resize)",
                port->mtu(), pool_.frame_capacity());
    }
    ports_.push_back(PortEntry{std::move(port), -1, true});
    Watch(ports_.size() - 1);
  }

  void StartWatchingStorage() {
    Watch(engine_->fd(), [this] { OnStorageReady(); });
    Watch(completions_->fd(), [this] { OnStorageReady(); });
    Watch(store_->completion_fd(), [this] { OnStateSaved(); });
  }

  // Opens every export in `wanted` (nothing is applied if one fails).
  Result<std::vector<std::shared_ptr<Export>>> OpenExports(
      const std::vector<ExportOptions>& wanted) {
    std::vector<std::shared_ptr<Export>> opened;
    for (const auto& options : wanted) {
      auto e = OpenExport(options);
      if (!e) return Unexpected{e.error()};
      opened.push_back(std::move(*e));
    }
    return opened;
  }

  void AddExports(std::vector<std::shared_ptr<Export>> exports) {
    for (auto& e : exports) {
      log_.Info(e->name(), "exporting {} ({} sectors, {}, durability {}{})",
                e->options().backend.ToString(), e->sector_count(),
                e->read_only() ? "read-only" : "read-write",
                DurabilityName(e->options().durability),
                e->state().mask.empty() ? "" : fmt::format(", mask of {}", e->state().mask.size()));
      Export& added = *e;
      target_.AddExport(std::move(e));
      if (options_.announce) AnnounceEverywhere(added);
    }
    FlushTx();
  }

  // Server interface -------------------------------------------------------------------------

  void Watch(int fd, std::function<void()> on_readable) override {
    if (auto added = loop_.Add(fd, std::move(on_readable)); !added) {
      log_.Error("server", "cannot watch fd {}: {}", fd, added.error().message());
    }
  }

  EventLoop& loop() override { return loop_; }

  Result<void> Run() override {
    while (!stop_) Poll(kHousekeepingInterval);
    Shutdown();
    return {};
  }

  void RequestStop() override { stop_ = true; }

  void Poll(milliseconds max_wait) override {
    StartStateWriter();
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

  // Busy polling (--busy-poll): right after handling frames, watch the receive rings for a
  // while before sleeping in epoll. On a busy link the next command arrives within tens of
  // microseconds; sleeping and being woken for it costs more than that (a system call, a
  // context switch and the waker's wake-up, worse in a VM) and adds it to every command's
  // latency. An idle target does not poll: only work starts a poll. Nor does a loop with
  // storage I/O in flight (its eventfd wakes it), or one whose ports cannot look without a
  // system call (the socket path), or one whose recent polls mostly found nothing (a trickle
  // of commands; BusyPollPolicy).
  bool BusyPollFoundFrames() {
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

  Result<void> Reconfigure(const ServerOptions& options) override {
    // Every export's file holds its latest state before any export is (re-)opened from it.
    SettleState();
    // Exports that vanished or changed. A changed export with an overlay is closed before it
    // is opened again (its overlay directory has one owner at a time); every other one is
    // opened first, so that a failure changes nothing.
    std::vector<std::string> gone;
    std::vector<ExportOptions> to_open;
    std::vector<ExportOptions> reopened_overlays;  // their previous options, to restore
    for (const auto& e : target_.exports()) {
      const ExportOptions* wanted = FindWanted(options, e->name());
      if (wanted == nullptr || !(*wanted == e->options()) || ReopenedOnReload(*wanted)) {
        gone.push_back(e->name());
      }
    }
    for (const auto& wanted : options.exports) {
      Export* current = target_.FindExport(wanted.name());
      if (current == nullptr || !(current->options() == wanted) || ReopenedOnReload(wanted)) {
        to_open.push_back(wanted);
      }
    }
    for (const std::string& name : gone) {
      Export* e = target_.FindExport(name);
      if (e->options().has_overlay() && FindWanted(options, name) != nullptr) {
        reopened_overlays.push_back(e->options());
        CloseExport(name, "closing to re-open with new options");
      }
    }
    auto opened = OpenExports(to_open);
    if (!opened) {
      RestoreExports(reopened_overlays);
      return Unexpected{opened.error()};
    }
    // Exports first: OpenPorts adopts the new interfaces at once, so it must come last.
    if (auto ports = OpenPorts(options.interfaces); !ports) {
      RestoreExports(reopened_overlays);
      return ports;
    }
    for (const auto& name : gone) {
      if (target_.FindExport(name) == nullptr) continue;  // closed above
      const bool removed = FindWanted(options, name) == nullptr;
      CloseExport(name, removed ? "removed" : "re-opening with new options");
      if (removed) store_->UseSharedMetadata(name, nullptr);
    }
    // Interfaces no longer listed stop being served (their slot stays, empty, so port indexes
    // held by in-flight commands remain valid).
    for (auto& entry : ports_) {
      if (!entry.port) continue;
      if (std::find(options.interfaces.begin(), options.interfaces.end(), entry.port->name()) ==
          options.interfaces.end()) {
        log_.Info(entry.port->name(), "no longer serving on {}", entry.port->name());
        Unwatch(entry);
        entry.port.reset();
      }
    }
    if (options.buffer_count != options_.buffer_count || options.state_dir != options_.state_dir ||
        options.packet_io != options_.packet_io) {
      log_.Warn("server", "bufcnt, state_dir and packet_io changes take effect after a restart");
    }
    bool announce = options.announce;
    options_.interfaces = options.interfaces;
    options_.exports = options.exports;
    options_.announce = announce;
    options_.busy_poll = options.busy_poll;
    AddExports(std::move(*opened));
    return {};
  }

  // Live management -----------------------------------------------------------------------

  const ServerOptions& options() const override { return options_; }
  const std::vector<std::shared_ptr<Export>>& exports() const override { return target_.exports(); }

  std::string AddExport(const ExportOptions& options) override {
    if (target_.FindExport(options.name()) != nullptr) {
      return fmt::format("export {} exists already; remove it first or reload it", options.name());
    }
    // No save of this name can be pending: CloseExport settled or gave up the state of any
    // export of that name before it left the table.
    ServerOptions next = options_;
    next.exports.push_back(options);
    if (std::string bad = ValidateOptions(next); !bad.empty()) return bad;
    auto opened = OpenExport(options);
    if (!opened) return OpenError(options, opened.error());
    options_.exports.push_back(options);
    AddExports({std::move(*opened)});
    return {};
  }

  std::string RemoveExport(std::string_view name) override {
    if (target_.FindExport(name) == nullptr) return fmt::format("no export {}", name);
    CloseExport(std::string(name), "removed");
    store_->UseSharedMetadata(std::string(name), nullptr);
    std::erase_if(options_.exports, [&](const ExportOptions& e) { return e.name() == name; });
    return {};
  }

  std::string ReloadExport(const ExportOptions& options) override {
    Export* current = target_.FindExport(options.name());
    if (current == nullptr) return fmt::format("no export {}", options.name());
    SettleState();  // the export is opened again from its state file
    ServerOptions next = options_;
    for (ExportOptions& e : next.exports)
      if (e.name() == options.name()) e = options;
    if (std::string bad = ValidateOptions(next); !bad.empty()) return bad;
    const ExportOptions previous = current->options();
    const bool close_first = previous.has_overlay();
    if (close_first) CloseExport(options.name(), "closing to reload");
    auto opened = OpenExport(options);
    if (!opened) {
      if (close_first) RestoreExports({previous});
      return OpenError(options, opened.error());
    }
    if (!close_first) CloseExport(options.name(), "reloading");
    options_.exports = next.exports;
    AddExports({std::move(*opened)});
    return {};
  }

  void ClientBooted(const MacAddress& mac) override {
    for (const auto& e : target_.exports()) {
      overlay::OverlayFilter* overlay = e->overlay();
      if (overlay == nullptr) continue;
      const std::string name = e->name();
      const uint64_t version = overlay->current_version();
      auto action = overlay->BootSeen(mac, [this, name, mac](Result<void> done) {
        if (!done) {
          log_.Error(name, "dropping the overlay of {} failed: {}", mac.ToString(),
                     done.error().message());
        }
      });
      switch (action) {
        case overlay::BootAction::kNone:
          break;
        case overlay::BootAction::kDiscarded:
          log_.Info(name, "{} boots: overlay discarded (lifetime discard-on-boot)", mac.ToString());
          break;
        case overlay::BootAction::kMoved:
          log_.Info(name,
                    "{} boots: its overlay was based on an older version; dropped, it now "
                    "reads version {}",
                    mac.ToString(), version);
          break;
      }
    }
  }

  Stats stats() const override { return stats_; }
  size_t replies_waiting_for_state() const override { return target_.held_replies(); }

 private:
  static constexpr size_t kNoPort = static_cast<size_t>(-1);

  struct PortEntry {
    std::unique_ptr<Port> port;  // null once the interface is no longer served
    int watched_fd = -1;         // the fd registered with the loop, -1 if none
    bool was_up = true;
  };

  static const ExportOptions* FindWanted(const ServerOptions& options, std::string_view name) {
    for (const auto& e : options.exports)
      if (e.name() == name) return &e;
    return nullptr;
  }

  std::string OpenError(const ExportOptions& options, const std::error_code& error) const {
    return fmt::format("cannot open export {} ({}): {}", options.name(), options.backend.ToString(),
                       error.message());
  }

  // Takes the export out of the table once its state is saved (a state that cannot be saved is
  // given up, with its held replies), makes its writes durable and waits (bounded) until the
  // commands in flight on it are done, so that its storage is released when this returns.
  void CloseExport(const std::string& name, std::string_view why) {
    SettleState();
    std::shared_ptr<Export> removed = target_.RemoveExport(name);
    if (!removed) return;
    FlushExport(*removed);
    AbandonUnsavedState(*removed);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    RunStorageUntil(
        [&] { return removed.use_count() == 1 || std::chrono::steady_clock::now() > give_up; });
    log_.Info(name, "{}", why);
  }

  // An RBD image may have been resized since it was opened (`rbd resize`), and its size is read
  // when it is opened: a reload opens it again, unchanged or not (docs/ceph.md).
  static bool ReopenedOnReload(const ExportOptions& options) {
    return options.backend.kind == BackendSpec::Kind::kRbd;
  }

  // Re-opens exports closed for a change that then failed (best effort, logged).
  void RestoreExports(const std::vector<ExportOptions>& previous) {
    for (const ExportOptions& options : previous) {
      auto e = OpenExport(options);
      if (!e) {
        log_.Error(options.name(),
                   "could not be re-opened with its previous options; it is "
                   "not served until the next successful reload");
        continue;
      }
      AddExports({std::move(*e)});
    }
  }

  size_t FindPort(const std::string& name) const {
    for (size_t i = 0; i < ports_.size(); ++i)
      if (ports_[i].port && ports_[i].port->name() == name) return i;
    return kNoPort;
  }

  void Watch(size_t index) {
    PortEntry& entry = ports_[index];
    int fd = entry.port->fd();
    if (fd < 0 || entry.watched_fd == fd) return;
    Unwatch(entry);
    if (loop_.Add(fd, [this, index] { OnPortReadable(index); })) entry.watched_fd = fd;
  }

  void Unwatch(PortEntry& entry) {
    if (entry.watched_fd >= 0) (void)loop_.Remove(entry.watched_fd);
    entry.watched_fd = -1;
  }

  Result<std::shared_ptr<Export>> OpenExport(const ExportOptions& options) {
    const std::string name = options.name();
    auto storage = BuildStorageChain(
        options.Storage(),
        [this](const BackendSpec& spec, const BaseOptions& base) {
          return env_.open_base(services_, spec, base);
        },
        &services_.engine);
    if (!storage) {
      log_.Error(name, "cannot open image {}: {}", options.backend.ToString(),
                 storage.error().message());
      return Unexpected{storage.error()};
    }
    for (const auto& warning : storage->warnings) log_.Warn(name, "{}", warning);

    // State of storage other hosts serve too lives with that storage (an RBD image's metadata).
    store_->UseSharedMetadata(name, storage->shared_metadata);
    auto loaded = store_->Load(name);
    if (!loaded) {
      log_.Error(name, "cannot read state file {}: {}; fix or delete it", store_->Location(name),
                 loaded.error().message());
      return Unexpected{loaded.error()};
    }
    ExportState state = loaded->value_or(ExportState{});
    if (!loaded->has_value() || state.configured_mask != options.mask) {
      // A new export, or the configuration's mask list changed since it was last applied.
      if (loaded->has_value()) log_.Info(name, "mask list replaced by the configuration");
      state.mask = options.mask;
      state.configured_mask = options.mask;
      if (auto saved = store_->SaveNow(name, state); !saved) {
        log_.Error(name, "cannot write state file {}: {}; check --state-dir",
                   store_->Location(name), saved.error().message());
        return Unexpected{saved.error()};
      }
    }

    // The first sector gives IDENTIFY's CHS geometry (from the partition table, if any).
    std::vector<std::byte> mbr;
    if (storage->backend->size_bytes() >= proto::kSectorSize) {
      auto* sector = static_cast<std::byte*>(std::aligned_alloc(4096, 4096));
      BlockingIo io;
      storage->backend->Read(IoContext{}, 0, ByteSpan(sector, proto::kSectorSize), &io);
      RunStorageUntil([&] { return io.result.has_value(); });
      if (io.result == static_cast<int64_t>(proto::kSectorSize)) {
        mbr.assign(sector, sector + proto::kSectorSize);
      }
      std::free(sector);
    }
    return std::make_shared<Export>(options, std::move(storage->backend), std::move(state),
                                    env_.host_name, mbr, storage->overlay);
  }

  void AnnounceEverywhere(Export& e) {
    for (size_t i = 0; i < ports_.size(); ++i) {
      const auto& port = ports_[i].port;
      if (port && port->link_up() && e.ServesInterface(port->name())) target_.Announce(e, i);
    }
  }

  // Receiving ------------------------------------------------------------------------------

  void OnPortReadable(size_t index) {
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

  // Makes a received frame the command's request; false (counted) for a frame cut short. A
  // frame received in place is copied into the command's buffer, except a write request's
  // data: storage may take that from where it lies (Command::payload_in_port).
  bool TakeFrame(Command& command, const RxSlot& slot) {
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

  void OnStorageReady() {
    engine_->Reap();
    completions_->Reap();
    FlushTx();
  }

  // Start-up, reload and shutdown only (never on the data path): turns both storage completion
  // sources, and sends the replies they produce, until `done()` holds. Storage that never
  // answers keeps it waiting; a second SIGTERM ends the process then.
  template <typename Done>
  void RunStorageUntil(Done done) {
    while (!done()) {
      engine_->Submit();
      pollfd ready[2] = {{engine_->fd(), POLLIN, 0}, {completions_->fd(), POLLIN, 0}};
      (void)::poll(ready, 2, 100);
      OnStorageReady();
    }
  }

  // Persistent state ---------------------------------------------------------------------------

  // The one thread the server starts: state files are written (and fsynced) there, so the
  // loop never waits for the disk to serve a config, mask or reserve command. Started by the
  // first Poll(), not by Create(): a daemon drops its privileges in between, and a thread
  // started earlier would keep root's capabilities (they belong to each thread).
  void StartStateWriter() {
    if (state_writer_.joinable()) return;
    state_writer_ = std::thread([store = store_.get()] { store->RunWriter(); });
  }

  // State other hosts may change (Shared()) is read again every housekeeping interval, one
  // read per export at a time, so a cluster that does not answer piles nothing up.
  void RefreshSharedState() {
    for (const auto& e : target_.exports()) {
      const std::string& name = e->name();
      if (!store_->Shared(name) || refreshing_.contains(name)) continue;
      refreshing_.insert(name);
      store_->Refresh(name);
    }
  }

  void OnStateSaved() {
    store_->TakeCompleted(saved_);
    for (const StateStore::Saved& saved : saved_) {
      if (saved.refresh) refreshing_.erase(saved.export_name);
      target_.StateSaved(saved);
    }
    saved_.clear();
    FlushTx();
  }

  // Waits for the saves in flight, and for the saves they lead to (changes coalesced while
  // they ran); the loop is not serving meanwhile, so this ends. Reload and shutdown only.
  void SettleState() {
    while (target_.saving()) {
      store_->WaitIdle();
      OnStateSaved();
    }
  }

  void AbandonUnsavedState(const Export& e) {
    if (size_t dropped = target_.AbandonUnsavedState(e); dropped > 0) {
      log_.Warn(e.name(),
                "{} replies to config, mask or reserve changes dropped unsent: the "
                "state they acknowledge could not be saved to {}",
                dropped, store_->Location(e.name()));
    }
  }

  // With every buffer busy, stop watching the sockets (the kernel queues frames meanwhile)
  // instead of spinning on readable fds we cannot serve.
  void PauseReceiving() {
    if (paused_) return;
    paused_ = true;
    for (auto& entry : ports_) Unwatch(entry);
  }

  void ResumeReceiving() {
    if (!paused_ || pool_.free_count() < pool_.size() / 4) return;
    paused_ = false;
    for (size_t i = 0; i < ports_.size(); ++i)
      if (ports_[i].port) Watch(i);
  }

  // Transmitter ------------------------------------------------------------------------------

  void Transmit(Command& command) override { tx_queue_.push_back(&command); }
  void Release(Command& command) override { pool_.Give(&command); }
  Command* Acquire() override {
    Command* command = pool_.Take();
    if (command != nullptr) command->owner = &target_;
    return command;
  }
  PortInfo PortAt(size_t index) const override {
    const auto& port = ports_[index].port;
    if (!port) return {};
    return {port->name(), port->mac(), port->mtu()};
  }
  // Read replies built in the port's TX ring (Port::LendTxFrame). Their commands reach
  // tx_queue_ during the same Handle() call, and FlushTx() hands every queued frame of a port
  // to one Send(), so each lent frame goes to the port's next Send() as port.h requires.
  ByteSpan LendFrame(size_t index) override {
    const auto& port = ports_[index].port;
    return port ? port->LendTxFrame() : ByteSpan{};
  }
  void ReturnFrame(size_t index) override {
    if (const auto& port = ports_[index].port) port->ReturnTxFrame();
  }

  // Sends queued replies in one batch per port, then returns their buffers.
  void FlushTx() {
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

  // Housekeeping -----------------------------------------------------------------------------

  // Follows MTU and link changes, re-binds interfaces that were deleted and re-created, and
  // announces the exports again when a link comes (back) up.
  void Housekeeping() {
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

  // Shutdown ---------------------------------------------------------------------------------

  void FlushExport(Export& e) {
    BlockingIo io;
    e.backend().Flush(IoContext{}, &io);
    RunStorageUntil([&] { return io.result.has_value(); });
    if (*io.result < 0) {
      log_.Error(e.name(), "flush failed: {}",
                 std::system_category().message(static_cast<int>(-*io.result)));
    }
  }

  void Shutdown() {
    for (auto& entry : ports_) Unwatch(entry);
    // In-flight commands complete and their replies go out, except those held until their
    // state is durable: SettleState sends those.
    RunStorageUntil([this] { return pool_.free_count() + target_.held_replies() == pool_.size(); });
    SettleState();  // held replies whose state is saved go out too
    for (const auto& e : target_.exports()) AbandonUnsavedState(*e);
    FlushTx();
    for (const auto& e : target_.exports()) FlushExport(*e);
  }

  Logger& log_;
  ServerOptions options_;
  // Frames arrived since the last Poll() began: the next one busy-polls before it sleeps.
  bool handled_frames_ = false;
  BusyPollPolicy busy_poll_policy_;
  ServerEnvironment env_;
  Stats stats_;
  std::unique_ptr<IoEngine> engine_;
  std::unique_ptr<CompletionQueue> completions_;
  StorageServices services_;
  EventLoop loop_;
  std::unique_ptr<FileStateStore> store_;
  std::thread state_writer_;  // runs store_->RunWriter() from the first Poll(); joined at the end
  SteadyClock clock_;
  CommandPool pool_;
  Target target_;
  std::vector<PortEntry> ports_;
  std::vector<RxSlot> rx_slots_;
  std::vector<Command*> rx_commands_;
  std::vector<Command*> tx_queue_;
  std::vector<TxFrame> tx_frames_;
  std::vector<StateStore::Saved> saved_;
  std::set<std::string> refreshing_;  // exports whose Refresh() has not been reported yet
  bool stop_ = false;
  bool paused_ = false;
  std::chrono::steady_clock::time_point next_housekeeping_ =
      std::chrono::steady_clock::now() + kHousekeepingInterval;
};

}  // namespace

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
  env.open_base = OpenBase;
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
  for (auto& port : ports) server->AdoptPort(std::move(port));
  auto exports = server->OpenExports(options.exports);
  AOE_TRY(exports);
  server->AddExports(std::move(*exports));
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace aoe::target
