// DataLoop: one event loop of `aoe serve` and its data path: an epoll loop over its ports and
// its storage completions, its own io_uring (IoEngine), command pool and Target. It receives
// frames in batches, hands them to the Target, and sends the replies in batches; it busy-polls
// after work (--busy-poll) and stops watching its ports while every command buffer is busy.
//
// The server (server_impl.h) runs one DataLoop on its own thread: loop 0, which owns the export
// table and the exports' state. With `loops = N` (docs/architecture.md, "More cores") it runs
// N - 1 more, each on a thread of its own (LoopThread), serving copies of the exports
// (Export::CopyForLoop) on its own packet sockets, which the kernel's fanout feeds.
//
// What a DataLoop does not do: open exports, save state, announce on a link that came up, or
// shut down. Those belong to the server, which decides for loop 0 and tells the others.
//
// Single-threaded: every method runs on the loop's thread (the server's, or its LoopThread's).
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/result.h"
#include "net/event_loop.h"
#include "net/port.h"
#include "storage/chain.h"
#include "storage/completion_queue.h"
#include "storage/io_engine.h"
#include "target/busy_poll_policy.h"
#include "target/command.h"
#include "target/state_store.h"
#include "target/stats.h"
#include "target/target.h"

namespace aoe::target {

// Frames taken from a socket per readiness event before other fds get a turn.
inline constexpr size_t kReceiveBatch = 64;
inline constexpr size_t kMaxReceiveRounds = 8;

// How a loop is sized: every loop of a server the same.
struct DataLoopShape {
  uint16_t buffer_count = 64;  // advertised in Query Config replies
  size_t frame_capacity = 0;   // bytes per command buffer (the largest MTU + header)
  size_t command_count = 256;  // commands the loop can hold at once
  std::chrono::microseconds busy_poll{0};
};

class DataLoop final : private Transmitter {
 public:
  using milliseconds = std::chrono::milliseconds;
  static constexpr size_t kNoPort = static_cast<size_t>(-1);

  // `store` is where the Target saves the state of the exports it owns (loop 0's); a loop that
  // serves copies only never saves. Errors are logged as one line and returned.
  static Result<std::unique_ptr<DataLoop>> Create(Logger& log, StateStore& store,
                                                  const DataLoopShape& shape);
  ~DataLoop();
  DataLoop(const DataLoop&) = delete;
  DataLoop& operator=(const DataLoop&) = delete;

  EventLoop& loop() { return loop_; }
  IoEngine& engine() { return *engine_; }
  StorageServices& services() { return services_; }
  Target& target() { return target_; }
  const Target& target() const { return target_; }
  Stats& stats() { return stats_; }
  const Stats& stats() const { return stats_; }
  const CommandPool& pool() const { return pool_; }
  void set_busy_poll(std::chrono::microseconds busy_poll) { shape_.busy_poll = busy_poll; }

  // Watches an extra fd from the loop; logs a failure.
  void Watch(int fd, std::function<void()> on_readable);

  // Ports. Indexes are stable: a dropped port leaves an empty slot, so the port index a
  // command in flight holds stays valid. Every loop of a server adopts its ports in the same
  // order, so an index names the same interface on each.
  size_t AdoptPort(std::unique_ptr<Port> port);
  void DropPort(size_t index);
  // Serves `port` in place of the one at `index` (an interface re-created: PortChanges), which
  // is closed. Its link counts as down until the next RefreshPorts, which then reports it up.
  void ReplacePort(size_t index, std::unique_ptr<Port> port);
  size_t port_count() const { return ports_.size(); }
  Port* port(size_t index) const { return ports_[index].port.get(); }
  size_t FindPort(const std::string& name) const;

  // One turn: busy-polls if the last turn handled frames (and busy polling pays), then waits up
  // to `max_wait` for frames or completions and serves them.
  void Turn(milliseconds max_wait);

  // Re-reads each port's MTU and link (and re-binds an interface deleted and re-created, where
  // the port can). `log_changes`: whether to log MTU and link changes (one loop logs them for
  // all).
  struct PortChanges {
    std::vector<size_t> came_up;  // ports whose link came (back) up
    // Ports whose link stayed up under a new MAC (`ip link set address`): initiators go on
    // sending to the old one, which the port no longer takes, until they hear the new one.
    std::vector<size_t> new_mac;
    // Ports whose interface was re-created but that cannot bind to it again: a member of a
    // fanout group (net/fanout.h) cannot be bound twice, so the ports of every loop on that
    // interface must be opened again, with a new group (ReplacePort).
    std::vector<size_t> cannot_rebind;
  };
  PortChanges RefreshPorts(bool log_changes);

  // Stops watching the ports for good (shutdown).
  void StopReceiving();
  // While an export is swapped for its re-opened self on every loop, this loop takes no frame:
  // they wait in the kernel, as they do for loop 0, which is busy with the change, instead of
  // arriving while the export is missing and being dropped (the initiator would wait for its
  // retransmit timer). Storage completions and replies go on.
  void HoldReceiving(bool hold);

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
  // Whether no command is in flight (held replies aside: they wait for saved state).
  bool Idle() const { return pool_.free_count() + target_.held_replies() == pool_.size(); }

  // Sends queued replies in one batch per port, then returns their buffers.
  void FlushTx();

 private:
  struct PortEntry {
    std::unique_ptr<Port> port;  // null once the interface is no longer served
    int watched_fd = -1;         // the fd registered with the loop, -1 if none
    bool was_up = true;
  };

  DataLoop(Logger& log, StateStore& store, const DataLoopShape& shape,
           std::unique_ptr<IoEngine> engine, std::unique_ptr<CompletionQueue> completions,
           EventLoop loop);

  void WatchPort(size_t index);
  void UnwatchPort(PortEntry& entry);

  // Busy polling (--busy-poll): right after handling frames, watch the receive rings for a
  // while before sleeping in epoll. On a busy link the next command arrives within tens of
  // microseconds; sleeping and being woken for it costs more than that (a system call, a
  // context switch and the waker's wake-up, worse in a VM) and adds it to every command's
  // latency. An idle target does not poll: only work starts a poll. Nor does a loop with
  // storage I/O in flight (its eventfd wakes it), or one whose ports cannot look without a
  // system call (the socket path), or one whose recent polls mostly found nothing (a trickle
  // of commands; BusyPollPolicy).
  bool BusyPollFoundFrames();

  void OnPortReadable(size_t index);
  // Makes a received frame the command's request; false (counted) for a frame cut short. A
  // frame received in place is copied into the command's buffer, except a write request's
  // data: storage may take that from where it lies (Command::payload_in_port).
  bool TakeFrame(Command& command, const RxSlot& slot);
  void OnStorageReady();

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

  Logger& log_;
  DataLoopShape shape_;
  // Frames arrived since the last turn began: the next one busy-polls before it sleeps.
  bool handled_frames_ = false;
  bool paused_ = false;   // every buffer busy: ports not watched until some are free
  bool stopped_ = false;  // shutting down: ports never watched again
  bool held_ = false;     // HoldReceiving: ports not watched until released
  bool Receiving() const { return !paused_ && !stopped_ && !held_; }
  BusyPollPolicy busy_poll_policy_;
  Stats stats_;
  std::unique_ptr<IoEngine> engine_;
  std::unique_ptr<CompletionQueue> completions_;
  StorageServices services_;
  EventLoop loop_;
  SteadyClock clock_;
  CommandPool pool_;
  Target target_;
  std::vector<PortEntry> ports_;
  std::vector<RxSlot> rx_slots_;
  std::vector<Command*> rx_commands_;
  std::vector<Command*> tx_queue_;
  std::vector<TxFrame> tx_frames_;
};

}  // namespace aoe::target
