// ServerImpl: the Server (server.h) that Server::Create makes. Internal to the server*.cc files
// of src/target: server.cc runs the loop (ports, receiving, replies, busy polling,
// housekeeping, shutdown) and creates the server; server_exports.cc changes the export table
// (start, SIGHUP reload, the control socket's add, remove and reload) and keeps the exports'
// persistent state saved.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mac_address.h"
#include "net/event_loop.h"
#include "net/port.h"
#include "storage/block_backend.h"
#include "storage/chain.h"
#include "storage/completion_queue.h"
#include "storage/io_engine.h"
#include "target/busy_poll_policy.h"
#include "target/command.h"
#include "target/export.h"
#include "target/file_state_store.h"
#include "target/server.h"
#include "target/state_store.h"
#include "target/target.h"

namespace aoe::target {

inline constexpr std::chrono::milliseconds kHousekeepingInterval{1000};
// Frames taken from a socket per readiness event before other fds get a turn.
inline constexpr size_t kReceiveBatch = 64;
inline constexpr size_t kMaxReceiveRounds = 8;

// One storage request the server waits for (start-up and shutdown only, never on the data
// path).
struct BlockingIo final : IoCallback {
  std::optional<int64_t> result;
  void IoDone(int64_t r) override { result = r; }
};

class ServerImpl final : public Server, private Transmitter {
 public:
  using milliseconds = std::chrono::milliseconds;
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

  ~ServerImpl() override;

  // Opens the interfaces not served yet (nothing is added if one fails).
  Result<void> OpenPorts(const std::vector<std::string>& names);
  void AdoptPort(std::unique_ptr<Port> port);
  void StartWatchingStorage();

  // Opens every export in `wanted` (nothing is applied if one fails).
  Result<std::vector<std::shared_ptr<Export>>> OpenExports(
      const std::vector<ExportOptions>& wanted);
  void AddExports(std::vector<std::shared_ptr<Export>> exports);

  // Server interface -------------------------------------------------------------------------

  void Watch(int fd, std::function<void()> on_readable) override;
  EventLoop& loop() override { return loop_; }

  Result<void> Run() override;
  void RequestStop() override { stop_ = true; }

  void Poll(milliseconds max_wait) override;

  // Busy polling (--busy-poll): right after handling frames, watch the receive rings for a
  // while before sleeping in epoll. On a busy link the next command arrives within tens of
  // microseconds; sleeping and being woken for it costs more than that (a system call, a
  // context switch and the waker's wake-up, worse in a VM) and adds it to every command's
  // latency. An idle target does not poll: only work starts a poll. Nor does a loop with
  // storage I/O in flight (its eventfd wakes it), or one whose ports cannot look without a
  // system call (the socket path), or one whose recent polls mostly found nothing (a trickle
  // of commands; BusyPollPolicy).
  bool BusyPollFoundFrames();
  Result<void> Reconfigure(const ServerOptions& options) override;

  // Live management -----------------------------------------------------------------------

  const ServerOptions& options() const override { return options_; }
  const std::vector<std::shared_ptr<Export>>& exports() const override { return target_.exports(); }

  std::string AddExport(const ExportOptions& options) override;
  std::string RemoveExport(std::string_view name) override;
  std::string ReloadExport(const ExportOptions& options) override;
  void ClientBooted(const MacAddress& mac) override;
  Stats stats() const override { return stats_; }
  size_t replies_waiting_for_state() const override { return target_.held_replies(); }

 private:
  static constexpr size_t kNoPort = static_cast<size_t>(-1);

  struct PortEntry {
    std::unique_ptr<Port> port;  // null once the interface is no longer served
    int watched_fd = -1;         // the fd registered with the loop, -1 if none
    bool was_up = true;
  };
  static const ExportOptions* FindWanted(const ServerOptions& options, std::string_view name);
  std::string OpenError(const ExportOptions& options, const OpenFailure& failure) const;

  // Takes the export out of the table once its state is saved (a state that cannot be saved is
  // given up, with its held replies), makes its writes durable and waits (bounded) until the
  // commands in flight on it are done, so that its storage is released when this returns.
  void CloseExport(const std::string& name, std::string_view why);

  // An RBD image may have been resized since it was opened (`rbd resize`), and its size is read
  // when it is opened: a reload opens it again, unchanged or not (docs/ceph.md).
  static bool ReopenedOnReload(const ExportOptions& options) {
    return options.backend.kind == BackendSpec::Kind::kRbd;
  }

  // Re-opens exports closed for a change that then failed (best effort, logged).
  void RestoreExports(const std::vector<ExportOptions>& previous);
  // Where each export's state is kept besides its file (the store's SharedMetadata, null for
  // none), to put back after a change that failed: OpenExport switches it before the change is
  // committed.
  using SharedMetadataMapping =
      std::vector<std::pair<std::string, std::shared_ptr<SharedMetadata>>>;
  SharedMetadataMapping SharedMetadataOf(const std::vector<ExportOptions>& exports) const;
  void UseSharedMetadata(const SharedMetadataMapping& mapping);
  size_t FindPort(const std::string& name) const;
  void Watch(size_t index);
  void Unwatch(PortEntry& entry);
  // Errors name what failed: a layer of the storage chain or the state file (OpenFailure).
  Expected<std::shared_ptr<Export>, OpenFailure> OpenExport(const ExportOptions& options);
  void AnnounceEverywhere(Export& e);

  // Receiving ------------------------------------------------------------------------------

  void OnPortReadable(size_t index);

  // Makes a received frame the command's request; false (counted) for a frame cut short. A
  // frame received in place is copied into the command's buffer, except a write request's
  // data: storage may take that from where it lies (Command::payload_in_port).
  bool TakeFrame(Command& command, const RxSlot& slot);
  void OnStorageReady();

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

  // What the first Poll() does, not Create(): starts the state writer and announces the
  // exports. The one thread the server starts writes (and fsyncs) the state files, so the loop
  // never waits for the disk to serve a config, mask or reserve command; a daemon drops its
  // privileges between Create() and the first Poll(), and a thread started earlier would keep
  // root's capabilities (they belong to each thread). The announcements wait for the same
  // moment because a start can still fail after Create() (the control socket, [netboot]), and
  // initiators must not be told of exports that will not be served.
  void StartServing();

  // State other hosts may change (Shared()) is read again every housekeeping interval, one
  // read per export at a time, so a cluster that does not answer piles nothing up.
  void RefreshSharedState();
  void OnStateSaved();

  // Waits for the saves in flight, and for the saves they lead to (changes coalesced while
  // they ran); the loop is not serving meanwhile, so this ends. Reload and shutdown only.
  void SettleState();
  void AbandonUnsavedState(const Export& e);

  // With every buffer busy, stop watching the sockets (the kernel queues frames meanwhile)
  // instead of spinning on readable fds we cannot serve.
  void PauseReceiving();
  void ResumeReceiving();

  // Transmitter ------------------------------------------------------------------------------

  void Transmit(Command& command) override { tx_queue_.push_back(&command); }
  void Release(Command& command) override { pool_.Give(&command); }
  Command* Acquire() override;
  PortInfo PortAt(size_t index) const override;
  // Read replies built in the port's TX ring (Port::LendTxFrame). Their commands reach
  // tx_queue_ during the same Handle() call, and FlushTx() hands every queued frame of a port
  // to one Send(), so each lent frame goes to the port's next Send() as port.h requires.
  ByteSpan LendFrame(size_t index) override;
  void ReturnFrame(size_t index) override {
    if (const auto& port = ports_[index].port) port->ReturnTxFrame();
  }

  // Sends queued replies in one batch per port, then returns their buffers.
  void FlushTx();

  // Housekeeping -----------------------------------------------------------------------------

  // Follows MTU and link changes, re-binds interfaces that were deleted and re-created, and
  // announces the exports again when a link comes (back) up.
  void Housekeeping();

  // Shutdown ---------------------------------------------------------------------------------

  void FlushExport(Export& e);
  void Shutdown();

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
  // Exports whose Refresh() has not been reported yet, by name: the export it was asked for
  // (a report for an export re-opened since is dropped).
  std::map<std::string, std::weak_ptr<Export>> refreshing_;
  bool serving_ = false;  // StartServing() has run
  bool stop_ = false;
  bool paused_ = false;
  std::chrono::steady_clock::time_point next_housekeeping_ =
      std::chrono::steady_clock::now() + kHousekeepingInterval;
};

}  // namespace aoe::target
