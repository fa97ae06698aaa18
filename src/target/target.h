// Target: the protocol core of `aoe serve`. Decides what each request frame gets (aoe-protocol.md
// §2-4, 7, 8), builds the reply in the request's own buffer (or, for a read storage answers at
// once, in a frame the port lends: Transmitter::LendFrame; or, for a read of data storage keeps
// in memory, with the data left there: BlockBackend::View), and starts storage I/O when the
// command needs it. It owns no sockets, threads or clocks: the Server feeds it received
// commands and sends what it hands back through the Transmitter, and unit tests do the same
// with a recording Transmitter and memory storage.
//
// Persistent state (config string, mask list, reservation): a change is applied in memory at
// once, saved through the StateStore off the loop (coalesced per export: see
// save_coalescer.h), and its reply is held until the save is durable. Replies to one
// initiator's config, mask and reserve commands on one export leave in the order the commands
// came: a read behind a held change waits with it. Config, mask and reserve commands are
// rate-limited per source MAC (SourceRateLimiter; changes tightly, reads generously, so that
// neither kind of flood costs more than receiving and dropping it), and at most kMaxHeldReplies
// replies wait at once; beyond either limit the command is dropped and the initiator
// retransmits.
//
// What a peer or failing storage can cause once per frame (a failed read, write, trim or flush; a
// source over its rate limit) is logged through a LogRateLimiter, per export and kind: the first
// lines of a burst in full, then a count (the Server calls ReportSuppressedLogs once a second).
//
// With several event loops (docs/architecture.md, "More cores"), each loop has its own Target.
// The one whose exports own their state (Export::owns_state) serves every command; the others
// serve copies (Export::CopyForLoop) and drop every command but ATA, which the fanout selector
// sends to the owner's loop, so they neither answer about the state nor change it.
//
// Single-threaded.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/log_rate_limit.h"
#include "base/mac_address.h"
#include "proto/ata.h"
#include "proto/header.h"
#include "target/command.h"
#include "target/export.h"
#include "target/source_rate_limiter.h"
#include "target/state_store.h"
#include "target/stats.h"

namespace aoe::target {

// What the Target needs to know about the interface a command arrived on.
struct PortInfo {
  std::string_view name;
  MacAddress mac;
  size_t mtu = 1500;
};

// The Target's way out; implemented by the Server (and by tests).
class Transmitter {
 public:
  // Sends command.frame() on command.port_index; the command then goes back to the pool.
  virtual void Transmit(Command& command) = 0;
  // Returns a command to the pool unsent (dropped request).
  virtual void Release(Command& command) = 0;
  // A free command for an extra reply (wildcard fan-out, announcements); nullptr if none.
  virtual Command* Acquire() = 0;
  virtual PortInfo PortAt(size_t port_index) const = 0;
  // A frame buffer of the port's send queue to build a reply in, so that it is sent without a
  // copy (Port::LendTxFrame); empty where the port lends none. A lent frame must be transmitted
  // in the same turn (before the Server sends anything on that port), or given back at once
  // with ReturnFrame(). Defaults: nothing lent.
  virtual ByteSpan LendFrame(size_t /*port_index*/) { return {}; }
  virtual void ReturnFrame(size_t /*port_index*/) {}

 protected:
  ~Transmitter() = default;
};

// Per-source limits on config, mask and reserve commands. Real initiators send a handful of
// them (discovery, an occasional set); a wildcard command takes one token per export it reaches.
struct StateCommandLimits {
  // Config set, mask edit, reserve set: each may cost a state file write.
  SourceRateLimiter::Limits changes{.per_second = 32, .burst = 64};
  // Config read and tests, mask read, reserve read, unknown subcommands: answered from memory.
  SourceRateLimiter::Limits reads{.per_second = 512, .burst = 1024};
};

class Target final : public CommandOwner {
 public:
  // Replies that may wait for durable state at once; well under the smallest command pool
  // (256), so held replies can never starve the receive path of buffers.
  static constexpr size_t kMaxHeldReplies = 64;

  // `frame_capacity`: the size of every command buffer (bounds the sectors per command).
  // `clock` paces the rate limiters.
  Target(Logger& log, Stats& stats, Transmitter& transmitter, StateStore& store, const Clock& clock,
         uint16_t buffer_count, size_t frame_capacity, StateCommandLimits limits = {});

  void AddExport(std::shared_ptr<Export> e);
  // Removes the export from the table; commands in flight keep it alive until they finish.
  std::shared_ptr<Export> RemoveExport(std::string_view name);
  const std::vector<std::shared_ptr<Export>>& exports() const { return exports_; }
  Export* FindExport(std::string_view name) const;

  // Handles a received request. The command comes back through the Transmitter, at once or
  // when its storage I/O completes.
  void Handle(Command& command);

  // Sends an unsolicited config reply for `e` on the port: broadcast, or unicast to each MAC of
  // a non-empty mask list (as vblade does), so initiators need not wait for their next poll.
  // Nothing for a copy of an export: its owner's loop announces it.
  void Announce(Export& e, size_t port_index);

  void Complete(Command& command, int64_t result) override;

  // The wall-clock time the Server stamps on what arrives next (per receive batch), for the
  // exports' client tables; the Target reads no clock itself.
  void set_now_unix(int64_t now_unix) { now_unix_ = now_unix; }

  // A save the target started has finished (the Server takes them from the store): sends the
  // replies that waited for it, and starts the next save if the state changed meanwhile.
  // A refresh (saved.refresh) replaces the export's state with what other hosts saved, unless a
  // change made here is still unsaved.
  void StateSaved(const StateStore::Saved& saved);
  // Starts again the saves that failed (the Server calls this once a second).
  void RetryFailedSaves();
  // Logs how many lines were suppressed in each rate-limiting interval that has ended, so that a
  // count is reported even when no further line comes (every loop calls this once a second;
  // what is left is reported when the Target is destroyed).
  void ReportSuppressedLogs() { log_limit_.ReportEnded(); }
  // Whether a save is in flight (shutdown and reload wait for none).
  bool saving() const;
  // Replies waiting for their export's state to become durable.
  size_t held_replies() const { return held_.size(); }
  // Gives up an export's state that could not be saved (reload, shutdown; no save in flight):
  // its held replies go back to the pool unsent, as the changes they acknowledge are not
  // durable. Returns how many were dropped.
  size_t AbandonUnsavedState(const Export& e);

 private:
  enum class StateAccess { kRead, kChange };
  struct HeldReply {
    Command* command;
    const Export* exported;
    MacAddress requester;
    uint64_t version;  // sent once exported->saves().durable() reaches it
  };

  void Serve(Command& command, Export& e, const PortInfo& port);
  void ServeAta(Command& command, Export& e, const PortInfo& port, const MacAddress& requester);
  void ServeTrim(Command& command, Export& e, const PortInfo& port, const proto::AtaArg& ata,
                 const IoContext& context);
  void ServeConfig(Command& command, Export& e, const PortInfo& port, const MacAddress& requester);
  void ServeMask(Command& command, Export& e, const MacAddress& requester);
  void ServeReserve(Command& command, Export& e, const MacAddress& requester);
  // Whether a config, mask or reserve command may proceed (its source's rate limit; for a change,
  // room to hold its reply); if not, the command is dropped.
  bool AdmitStateCommand(Command& command, Export& e, const MacAddress& requester,
                         StateAccess access);
  void StateRefreshed(const StateStore::Saved& refreshed);
  // Records that the command changed its export's state and starts saving it.
  void ChangedState(Command& command);
  void StartSaveIfNeeded(Export& e);
  // Sends a config/mask/reserve reply now, or holds it until the state it must follow is
  // durable (kChange: the export's latest state; both: the requester's held replies).
  void AnswerStateCommand(Command& command, const Export& e, const MacAddress& requester,
                          StateAccess access);
  void RefuseStateCommand(Command& command, const Export& e, const MacAddress& requester,
                          proto::AoeError error);
  void SendDurableReplies(const Export& e);
  void ReplyAoeError(Command& command, proto::AoeError error);
  // Serves a read straight into a frame the port lends, if the port lends one and the export's
  // storage can complete the read during the call; false: nothing was done, read as usual.
  bool ReadIntoLentFrame(Command& command, Export& e, IoContext context, uint64_t offset_bytes);
  // Serves a read whose data the export's storage holds in memory of its own
  // (BlockBackend::View): the reply's data is sent from there, one copy by the kernel instead
  // of a read into the buffer and a copy out of it. False: nothing was done, read as usual.
  bool ReadFromView(Command& command, Export& e, const IoContext& context, uint64_t offset_bytes);
  // The `bytes` of a write request's data to hand to the export's storage: where the port
  // received them (Command::payload_in_port) if that storage is done with them before the port
  // gets the frame back, else copied into the command's buffer first.
  ConstByteSpan WriteData(Command& command, Export& e, uint64_t lba, size_t bytes);
  void FinishAta(Command& command, uint8_t status, uint8_t error, size_t data_bytes,
                 uint8_t sector_count = 0);
  void Send(Command& command);  // pads to 60 bytes and transmits
  size_t WriteConfigReply(ByteSpan frame, Export& e, const PortInfo& port, uint8_t ccmd);
  // Largest sector count per command on this port: bounded by the MTU and our buffers.
  uint8_t MaxSectors(const PortInfo& port) const;

  Logger& log_;
  Stats& stats_;
  Transmitter& tx_;
  StateStore& store_;
  const Clock& clock_;
  LogRateLimiter log_limit_;
  uint16_t buffer_count_;
  size_t frame_capacity_;
  std::vector<std::shared_ptr<Export>> exports_;
  int64_t now_unix_ = 0;
  SourceRateLimiter change_limiter_;
  SourceRateLimiter read_limiter_;
  std::vector<HeldReply> held_;  // in arrival order
  // Exports whose in-memory state is not durable yet (a save in flight, to come, or failed).
  // Held here so a save finishing after the export left the table still finds it. At most one
  // per name: reload abandons a removed export's unsaved state before re-opening it.
  std::vector<std::shared_ptr<Export>> unsaved_;
};

}  // namespace aoe::target
