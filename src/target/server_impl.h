// ServerImpl: the Server (server.h) that Server::Create makes. Internal to the server*.cc files
// of src/target: server.cc creates the server and its loops, runs loop 0 (with housekeeping and
// shutdown) and hands the other loops their ports; server_exports.cc changes the export table
// (start, SIGHUP reload, the control socket's add, remove and reload) on every loop and keeps
// the exports' persistent state saved.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/mac_address.h"
#include "net/event_loop.h"
#include "net/port.h"
#include "storage/block_backend.h"
#include "storage/chain.h"
#include "target/data_loop.h"
#include "target/export.h"
#include "target/file_state_store.h"
#include "target/incarnation.h"
#include "target/loop_thread.h"
#include "target/server.h"
#include "target/state_store.h"
#include "target/target.h"

namespace aoe::target {

inline constexpr std::chrono::milliseconds kHousekeepingInterval{1000};

// One storage request the server waits for (start-up and shutdown only, never on the data
// path).
struct BlockingIo final : IoCallback {
  std::optional<int64_t> result;
  void IoDone(int64_t r) override { result = r; }
};

// Each interface's ports, one per loop: `sets[i][k]` is interface i's port for loop k.
using PortSets = std::vector<std::vector<std::unique_ptr<Port>>>;

// An export opened on every loop: loop 0's, which owns its state, and a copy for each other
// loop (Export::CopyForLoop), on that loop's own storage chain; no copies for an export loop 0
// alone serves (ServerImpl::FirstLoopOnly).
struct OpenedExport {
  std::shared_ptr<Export> owner;
  std::vector<std::shared_ptr<Export>> copies;  // copies[k] is loop k + 1's, or null
};

class ServerImpl final : public Server {
 public:
  using milliseconds = std::chrono::milliseconds;
  ServerImpl(Logger& log, ServerOptions options, ServerEnvironment env,
             std::unique_ptr<FileStateStore> store, std::unique_ptr<DataLoop> loop,
             std::vector<std::unique_ptr<LoopThread>> other_loops)
      : log_(log),
        options_(std::move(options)),
        env_(std::move(env)),
        store_(std::move(store)),
        incarnations_(options_.state_dir, BootId(), log),
        loop_(std::move(loop)),
        other_loops_(std::move(other_loops)),
        loops_answering_(other_loops_.size(), true) {}

  ~ServerImpl() override;

  // Opens one port per loop on each interface `names` lists that is not served yet, spread over
  // the loops by a fanout group (JoinSourceMacFanout) when there are several.
  Result<PortSets> OpenPorts(const std::vector<std::string>& names);
  // Gives each loop its port of each interface.
  void AdoptPorts(PortSets ports);
  void StartWatchingState();

  // Opens every export in `wanted` on every loop (nothing is applied if one fails).
  Result<std::vector<OpenedExport>> OpenExports(const std::vector<ExportOptions>& wanted);
  void AddExports(std::vector<OpenedExport> exports);
  // Warns of read-write exports that write the same sectors as one of `names`
  // (SharedWritableImages), each pair once.
  void WarnOfSharedImages(const std::set<std::string>& names);

  // Server interface -------------------------------------------------------------------------

  void Watch(int fd, std::function<void()> on_readable) override {
    loop_->Watch(fd, std::move(on_readable));
  }
  EventLoop& loop() override { return loop_->loop(); }

  Result<void> Run() override;
  void RequestStop() override { stop_ = true; }

  void Poll(milliseconds max_wait) override;
  Result<void> Reconfigure(const ServerOptions& options) override;

  // Live management -----------------------------------------------------------------------

  const ServerOptions& options() const override { return options_; }
  const std::vector<std::shared_ptr<Export>>& exports() const override {
    return target().exports();
  }

  std::string AddExport(const ExportOptions& options) override;
  std::string RemoveExport(std::string_view name) override;
  std::string ReloadExport(const ExportOptions& options) override;
  std::vector<BootOutcome> ClientBooted(const MacAddress& mac) override;
  ClientList Clients(const Export& e) override;
  Stats stats() override { return Sum(loop_stats()); }
  std::vector<std::optional<Stats>> loop_stats() override;
  size_t replies_waiting_for_state() const override { return target().held_replies(); }

 private:
  Target& target() { return loop_->target(); }
  const Target& target() const { return loop_->target(); }
  // Runs `task` on every loop but loop 0, one after the other, each on its own thread.
  void OnOtherLoops(const std::function<void(DataLoop&, size_t copy_index)>& task);
  // DataLoop::HoldReceiving on every loop but loop 0.
  void HoldOtherLoops(bool hold) {
    OnOtherLoops([hold](DataLoop& loop, size_t) { loop.HoldReceiving(hold); });
  }
  // How long a query or a change waits for another loop to take it up. A loop stuck longer
  // (storage that hangs inside a read on its own thread) is reported, not waited for: the
  // control socket and loop 0 go on.
  static constexpr std::chrono::seconds kLoopAnswerTimeout{1};
  // "" when every other loop answers now; else one line naming the first that does not. An
  // export table change checks this first, and changes nothing if a loop is stuck.
  std::string LoopNotAnswering();
  // Runs `task` on loop k + 1 if it answers within kLoopAnswerTimeout (20 ms, if it was found
  // stuck and has not woken since); logs when it stops and starts answering.
  bool AskLoop(size_t k, const std::function<void(DataLoop&)>& task);

  // Whether only loop 0 serves the export, with no copies on the other loops: an overlay
  // export, whose directory and every client's overlay one OverlayFilter owns. Its ATA
  // requests are sent to loop 0 by the fanout selector (UpdateFanout), from every initiator.
  bool FirstLoopOnly(const ExportOptions& options) const {
    return !other_loops_.empty() && options.has_overlay();
  }
  // Gives every interface's fanout group the exports loop 0 alone serves as its first-member
  // disks (net/fanout.h); after every change of the export table or of the ports. Only groups
  // whose list differs are set: the kernel waits for an RCU grace period at each new program.
  void UpdateFanout();

  static const ExportOptions* FindWanted(const ServerOptions& options, std::string_view name);
  std::string OpenError(const ExportOptions& options, const OpenFailure& failure) const;

  // Takes the export out of every loop's table once its state is saved (a state that cannot be
  // saved is given up, with its held replies), makes its writes durable and waits (bounded)
  // until the commands in flight on it are done, so that its storage is released when this
  // returns. Where its writes could not all be made durable, its next opening takes another
  // incarnation (IncarnationBook::Lost), and so does `successor`: the export that replaces it
  // at a reload, opened already (over the same storage) and not serving yet.
  void CloseExport(const std::string& name, std::string_view why,
                   OpenedExport* successor = nullptr);

  // An RBD image may have been resized since it was opened (`rbd resize`), and its size is read
  // when it is opened: a reload opens it again, unchanged or not (docs/ceph.md).
  static bool ReopenedOnReload(const ExportOptions& options) {
    return options.backend.kind == BackendSpec::Kind::kRbd;
  }

  // Drops exports opened but not added (a change that failed), each copy on its own loop.
  void Discard(OpenedExport& e);
  void Discard(std::vector<OpenedExport>& exports);
  // Re-opens exports closed for a change that then failed (best effort, logged).
  void RestoreExports(const std::vector<ExportOptions>& previous);
  // Where each export's state is kept besides its file (the store's SharedMetadata, null for
  // none), to put back after a change that failed: OpenExport switches it before the change is
  // committed.
  using SharedMetadataMapping =
      std::vector<std::pair<std::string, std::shared_ptr<SharedMetadata>>>;
  SharedMetadataMapping SharedMetadataOf(const std::vector<ExportOptions>& exports) const;
  void UseSharedMetadata(const SharedMetadataMapping& mapping);
  // The export's storage chain on `loop`'s engine. Its base is `owner_base` shared with this
  // loop where that storage is opened once per process (BlockBackend::ShareWithThread), else
  // opened from env_. Errors name the layer.
  Expected<StorageChain, OpenFailure> OpenChain(DataLoop& loop, const ExportOptions& options,
                                                BlockBackend* owner_base = nullptr);
  // Errors name what failed: a layer of the storage chain or the state file (OpenFailure).
  Expected<OpenedExport, OpenFailure> OpenExport(const ExportOptions& options);
  // The same disk for another loop: its own chain on that loop's engine (over `owner_base`,
  // the base of the owner's chain, as OpenChain says), `owner`'s state.
  Expected<std::shared_ptr<Export>, OpenFailure> OpenCopy(DataLoop& loop, const Export& owner,
                                                          BlockBackend& owner_base);
  void AnnounceEverywhere(Export& e);

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

  // Housekeeping -----------------------------------------------------------------------------

  // Follows MTU and link changes, re-binds interfaces that were deleted and re-created, and
  // announces the exports again when a link comes (back) up, retries failed state saves and
  // reports suppressed log lines. (The other loops follow their own ports and report their own
  // suppressed lines: LoopThread.)
  void Housekeeping();
  // Opens the ports of every loop on the interface of port `index` again, in a new fanout
  // group, in place of ports that cannot bind to their re-created interface.
  void ReopenPorts(size_t index);

  // Shutdown ---------------------------------------------------------------------------------

  // Makes the writes of `e` (on `loop`) durable; false (logged) if that failed.
  bool FlushExport(DataLoop& loop, Export& e);
  void Shutdown();

  Logger& log_;
  ServerOptions options_;
  ServerEnvironment env_;
  std::unique_ptr<FileStateStore> store_;  // before the loops, whose Targets save through it
  IncarnationBook incarnations_;
  std::unique_ptr<DataLoop> loop_;  // loop 0, run by the thread that calls Poll()
  std::vector<std::unique_ptr<LoopThread>> other_loops_;  // loops 1 .. N-1
  std::vector<bool> loops_answering_;  // as AskLoop last found each of other_loops_
  // By port index: the first-member disks UpdateFanout last gave that interface's fanout group
  // (a new group has none).
  std::vector<std::vector<FanoutDisk>> fanout_first_;
  std::thread state_writer_;  // runs store_->RunWriter() from the first Poll(); joined at the end
  std::vector<StateStore::Saved> saved_;
  // Exports whose Refresh() has not been reported yet, by name: the export it was asked for
  // (a report for an export re-opened since is dropped).
  std::map<std::string, std::weak_ptr<Export>> refreshing_;
  bool serving_ = false;  // StartServing() has run
  bool stop_ = false;
  bool shut_down_ = false;
  std::optional<std::error_code> failure_;  // what stopped the server, for Run() to return
  std::chrono::steady_clock::time_point next_housekeeping_ =
      std::chrono::steady_clock::now() + kHousekeepingInterval;
};

}  // namespace aoe::target
