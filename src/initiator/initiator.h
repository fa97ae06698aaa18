// Initiator: the sans-I/O-style AoE initiator engine. It discovers targets, runs block I/O to
// them with per-path windows, RTT-based retransmission and multipath (each disk: disk.h), and
// performs the admin commands (config string, MAC mask, reservations, raw frames;
// admin_exchanges.cc). See README.md for the policies.
//
// It owns no threads and never blocks. The owner drives it:
//   - watch fds() for readability and call OnReadable(fd) (or just Poll()),
//   - call OnTimer() once clock.Now() reaches NextDeadline(),
// and gets results through completion callbacks. Client (client.h) is the blocking facade that
// does exactly this over an EventLoop.
//
// Callbacks run from inside OnReadable/OnTimer/Poll or a submit call, after the engine's state
// is consistent; they may submit new work (it is queued and sent before the call returns) but
// must not destroy the Initiator. Callbacks still pending when the Initiator is destroyed are
// never called.
//
// Ownership: the ports and the clock are borrowed and must outlive the Initiator. Buffers passed
// to Disk::Read/Write are borrowed until that request's callback has run.
// Thread-safety: none; one thread makes all calls.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/log.h"
#include "initiator/disk.h"
#include "initiator/error.h"
#include "initiator/flow.h"
#include "initiator/send_queue.h"
#include "initiator/tags.h"
#include "initiator/types.h"
#include "net/port.h"
#include "proto/config.h"
#include "proto/mask.h"

namespace aoe::initiator {

struct InitiatorOptions {
  // A frame that has had no reply for this long in total fails its I/O (and every other request
  // on that disk) instead of retrying forever. Zero means retry forever (Linux aoe_deadsecs=0).
  Duration dead_timeout = std::chrono::seconds(30);
  // Upper bound on any path's window whatever the target's buffer count (Linux aoe_maxout).
  uint32_t max_window = 64;
  FlowOptions flow{};
  // A path is marked down after this many consecutive loss events: timeouts of frames that were
  // each sent after the previous counted timeout, with no reply on the path in between. A burst
  // of timeouts of frames that were in flight together is one event, not many.
  uint32_t down_after_timeouts = 4;
  // ... and only once the path has been silent this long: at 20 % loss each way a lone frame
  // is lost 4 times in a row now and then (0.36^4), which is no reason to shun a working path.
  Duration down_after_silence = std::chrono::milliseconds(500);
  // How often a down path is probed with a unicast config query.
  Duration probe_interval = std::chrono::seconds(1);
  // Every known disk gets a broadcast config query this often (and soon after one of its paths
  // goes down), so changed buffer counts, sector counts and MTUs and new target ports are picked
  // up by long-running users. Linux aoe re-discovers every 60 s. Zero turns it off.
  Duration rediscover_interval = std::chrono::seconds(60);
  // Frame slots (each with a preallocated frame buffer) per disk: an upper bound on frames in
  // flight or waiting for retransmission. At most 0x8000 (the tag owner cookie's room).
  size_t max_frames_per_disk = 256;
  // How long a copy of a WRITE frame we sent may still reach the target's disk: a bound on the
  // time a frame spends in the network and in the target's receive queue. A write is held back
  // while an earlier copy of any of its sectors is neither answered nor this old (nor 4 RTOs of
  // its path old, whichever is longer), so that the old copy cannot land on top of it. See
  // README.md, "Stale write copies".
  Duration write_copy_lifetime = std::chrono::seconds(2);
  // Tag session id (bits 30..16); random per Initiator when unset. Tests pin it.
  std::optional<uint16_t> tag_session{};
  Logger* logger = nullptr;  // optional; debug/warn lines about paths and retransmits
  // Told, once per target MAC, when a second MAC answers a disk's shelf.slot with another disk
  // (not used), or with the same capacity and model under another serial (used: shared
  // storage, but possibly two disks). `message` is one line, ready to print after a program
  // name. Runs like the other callbacks. Unset: the line goes to `logger` as a warning.
  std::function<void(DiskAddress address, const std::string& message)> on_notice{};
};

// Which exchange options an admin command uses.
struct ExchangeOptions {
  // How long to wait for the reply. For config tests (exact / prefix) silence is the "no match"
  // answer, which surfaces as InitiatorErrc::kTimeout.
  Duration timeout = std::chrono::seconds(1);
  // The request is sent again (same tag) this often until the reply or the timeout.
  Duration resend_interval = std::chrono::milliseconds(250);
  // Restrict to one local port (index into the Initiator's ports). Default: a path of the
  // target if it is known, else broadcast to the shelf.slot on every port.
  std::optional<size_t> port{};
  // Send to this target MAC (default: the chosen path's MAC or broadcast).
  std::optional<MacAddress> target_mac{};
};
using FrameCallback = std::function<void(Outcome<std::vector<std::byte>>)>;

class Initiator {
 public:
  Initiator(Clock& clock, std::vector<Port*> ports, InitiatorOptions options = {});
  Initiator(const Initiator&) = delete;
  Initiator& operator=(const Initiator&) = delete;
  ~Initiator();

  // --- Event-loop interface -------------------------------------------------------------
  std::vector<int> fds() const;
  // The earliest time OnTimer() has work; nullopt when nothing is waiting on time. While any
  // disk is known this includes its next periodic re-discovery (rediscover_interval), and for
  // kExchangeLinger after an exchange the release of its tag.
  std::optional<TimePoint> NextDeadline() const;
  // Drains the port with this fd. Returns the frames received.
  size_t OnReadable(int fd);
  // Handles every deadline at or before clock.Now(). Returns how many fired.
  size_t OnTimer();
  // OnReadable for every port, then OnTimer; never blocks. Returns frames + deadlines handled.
  size_t Poll();

  // --- Discovery --------------------------------------------------------------------------
  // Broadcasts a Query Config (ccmd read) for `where` on every port and collects replies for
  // `timeout`; then calls `done` with the addresses that answered (sorted). Replies keep
  // updating the target table (targets(), disk()) whether or not anyone waits.
  void Discover(DiskAddress where, Duration timeout,
                std::function<void(std::vector<DiskAddress>)> done);
  // Broadcasts one Query Config (ccmd read) for the disk `address` on every port and calls
  // `on_reply` for every reply, from any MAC, that comes within `timeout`; then `done`. For
  // `aoe ping`, which reports each MAC that answers an address, not only the first.
  void QueryEveryMac(DiskAddress address, Duration timeout,
                     std::function<void(const ConfigReply&)> on_reply, std::function<void()> done);
  std::vector<TargetInfo> targets() const;
  // The disk for a discovered shelf.slot; nullptr if no config reply came from it yet.
  Disk* disk(DiskAddress address);

  // --- Admin commands (one exchange each; resent with the same tag until answered) ---------
  void Config(DiskAddress address, proto::ConfigCommand command, std::string_view value,
              const ExchangeOptions& options, std::function<void(Outcome<ConfigReply>)> done);
  void ReadMask(DiskAddress address, const ExchangeOptions& options,
                std::function<void(Outcome<MaskReply>)> done);
  void EditMask(DiskAddress address, std::span<const proto::MaskDirective> directives,
                const ExchangeOptions& options, std::function<void(Outcome<MaskReply>)> done);
  // kRead ignores `macs`; kSet / kForceSet replace the list (an empty list releases).
  void Reserve(DiskAddress address, proto::ReserveCommand command, std::span<const MacAddress> macs,
               const ExchangeOptions& options, std::function<void(Outcome<ReserveReply>)> done);
  // Sends `command` with argument bytes `arg` (what follows the 24-byte header) to `address`
  // and returns the whole reply frame, error flag or not.
  void Exchange(DiskAddress address, uint8_t command, ConstByteSpan arg,
                const ExchangeOptions& options, FrameCallback done);
  // Protocol tests: sends `frame` (a complete Ethernet frame, sent as is except that a zero
  // source MAC is replaced by the port's MAC and short frames are padded to 60 bytes) on
  // `port`, once, and returns the first reply with the same tag (and, unless the frame used a
  // wildcard, the same shelf.slot) that arrives on that port within `timeout`.
  void SendRaw(size_t port, ConstByteSpan frame, Duration timeout, FrameCallback done);

  // --- Introspection ----------------------------------------------------------------------
  const std::vector<Port*>& ports() const { return ports_; }
  const TagTable& tags() const { return tags_; }
  const InitiatorOptions& options() const { return options_; }
  Clock& clock() const { return clock_; }
  // Replies dropped because nothing was waiting for their tag (late, duplicate, foreign).
  uint64_t unmatched_replies() const { return unmatched_replies_; }

 private:
  friend class Disk;

  // Owner cookies stored in the TagTable: kind in bits 31..30.
  static constexpr uint32_t kKindFrame = 1u << 30;     // | disk id << 16 | frame slot
  static constexpr uint32_t kKindExchange = 2u << 30;  // | exchange slot
  // The owner of a finished exchange's tag while a late or duplicate reply may still come
  // (lingering_tags_): such a reply is dropped, not taken for the reply to a frame that got
  // the tag again (a late FLUSH reply would otherwise complete a WRITE that was lost).
  static constexpr uint32_t kLingeringExchange = kKindExchange | 0x3FFF'FFFF;
  // How long: past any resend of the exchange's own, and past a FLUSH answered after its
  // timeout. At most kMaxLingeringTags at once (the oldest go first), so that a flood of
  // exchanges never runs out of tags.
  static constexpr Duration kExchangeLinger = std::chrono::seconds(10);
  static constexpr size_t kMaxLingeringTags = 16384;

  struct ExchangeState {
    bool live = false;
    bool ours = true;      // tag from our TagTable (false for SendRaw)
    bool collect = false;  // discovery: keep every reply until the deadline
    uint32_t tag = 0;
    DiskAddress address;
    uint8_t command = 0;
    std::vector<std::byte> frame;
    std::vector<size_t> ports;  // sent on these ports
    MacAddress destination;
    Duration timeout{};
    TimePoint deadline{};
    TimePoint next_resend{};
    Duration resend_interval{};
    std::string what;  // for the timeout message: "config read", ...
    std::function<void(size_t port, ConstByteSpan reply)> on_reply;  // collect mode
    std::function<void(Outcome<std::vector<std::byte>>)> on_done;    // single mode result
    std::function<void()> on_end;                                    // collect mode end
  };

  // nullopt when it failed at once (`done` then runs later with the error).
  std::optional<ExchangeHandle> AdminExchange(DiskAddress address, uint8_t command,
                                              ConstByteSpan arg, const ExchangeOptions& options,
                                              std::string what, FrameCallback done);
  // Ends the exchange if it still waits, sending nothing more; its callback is dropped, not run.
  void CancelExchange(ExchangeHandle handle);
  // Starts an exchange; returns its slot. `frame` is complete except for MACs and the tag.
  uint32_t StartExchange(ExchangeState state);
  void FinishExchange(uint32_t slot);
  void SendExchange(ExchangeState& ex);
  // The ports and destination to use for an admin command to `address` (ex.frame built): a
  // known disk's first path that is up and carries the frame.
  void RouteExchange(DiskAddress address, const ExchangeOptions& options, ExchangeState& ex) const;
  std::vector<std::byte> NewFrame(DiskAddress address, uint8_t command, size_t arg_size) const;
  // A config query for `address` broadcast on every port, collecting replies until `timeout`,
  // sent again every `resend_interval` (zero: once). Discovery, re-discovery and ping use it.
  ExchangeState BroadcastConfigQuery(DiskAddress address, Duration timeout,
                                     Duration resend_interval, std::string what) const;

  void HandleFrame(size_t port, ConstByteSpan frame);
  void HandleConfigReply(size_t port, const proto::Header& header, ConstByteSpan frame);
  // Broadcasts a config query for one disk on every port (periodic re-discovery).
  void Rediscover(DiskAddress address);
  // The MTU frames on `port` are sized for: the interface's, as of the last RefreshPorts, up to
  // what the receive buffers take (those of the Initiator and of a ring port hold 9000-byte
  // frames at least, and frames of the MTU the port was opened with).
  size_t FrameMtu(size_t port) const;
  // Frames went unanswered: re-reads each port's interface (its MTU may have been lowered, and
  // the kernel then refuses our frames as too long), at most once a second, and has every disk
  // size its frames again (Disk::RecomputeSectorsPerFrame).
  void RefreshPorts(TimePoint now);
  Disk* GetOrCreateDisk(DiskAddress address);
  // Hands every frame queued in this pass to the ports (SendQueue::Flush).
  void FlushSends();
  // Runs queued callbacks, then sends the frames queued meanwhile; unless called from inside
  // another public call (see in_batch_).
  void DrainCompletions();
  // RAII: marks a public call; the outermost one drains the completions at its end.
  class Batch {
   public:
    explicit Batch(Initiator& i) : i_(i), outer_(!i.in_batch_) { i.in_batch_ = true; }
    ~Batch() {
      if (!outer_) return;
      i_.in_batch_ = false;
      i_.DrainCompletions();
    }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    Initiator& i_;
    bool outer_;
  };
  void Defer(std::function<void()> fn);
  // Reports a request refused before it started the way every outcome is reported: from the
  // completions, never inside the call that made the request.
  template <typename Callback>
  void FailLater(Callback done, Error error) {
    Defer([done = std::move(done), error = std::move(error)] { done(error); });
    DrainCompletions();
  }

  Clock& clock_;
  std::vector<Port*> ports_;
  // Data frames of the current pass, sent together at its end: the end of the outermost public
  // call (DrainCompletions) and after each batch of received frames (OnReadable).
  SendQueue sends_{ports_};
  InitiatorOptions options_;
  TagTable tags_;
  std::map<DiskAddress, uint16_t> disk_ids_;
  std::vector<std::unique_ptr<Disk>> disks_;  // by id
  std::vector<ExchangeState> exchanges_;      // by slot
  struct LingeringTag {
    TimePoint gone_at;
    uint32_t tag;
  };
  std::deque<LingeringTag> lingering_tags_;  // by gone_at (one linger for all)
  std::vector<size_t> open_mtus_;            // each port's MTU when the Initiator was made
  std::vector<size_t> frame_mtus_;           // each port's FrameMtu as of the last RefreshPorts
  std::optional<TimePoint> ports_refreshed_at_;
  // Receive buffers, one batch per call, sized for the largest MTU of any port.
  std::vector<std::byte> rx_storage_;
  std::vector<RxSlot> rx_slots_;
  // Callbacks are run after the state change that triggered them, outside any iteration.
  std::vector<std::function<void()>> completions_;
  // True while the engine is inside a public call (or running callbacks): completions queued
  // meanwhile run once, at the end of the outermost call, never in the middle of an iteration.
  bool in_batch_ = false;
  uint64_t unmatched_replies_ = 0;
};

}  // namespace aoe::initiator
