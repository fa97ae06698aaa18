// Disk: one shelf.slot of the initiator engine (initiator.h): asynchronous block I/O over all of
// the target's paths. A request is split into frames of info().sectors_per_frame sectors; each
// frame is sent on the path with the most room in its window (flow.h), retransmitted on its
// path's RTO (and on another path if there is one), and completes its request when its reply
// arrives. Paths are learnt from config replies, marked down after repeated loss and probed
// until they answer again (disk_paths.cc).
//
// Owned by the Initiator, which routes replies and timers to it; valid as long as the Initiator.
// Thread-safety: none, as for the Initiator.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/mac_address.h"
#include "initiator/error.h"
#include "initiator/flow.h"
#include "initiator/types.h"
#include "initiator/unsettled_writes.h"
#include "proto/ata.h"
#include "proto/config.h"

namespace aoe::initiator {

using IoCallback = std::function<void(Outcome<void>)>;
using IdentifyCallback = std::function<void(Outcome<IdentifyData>)>;

class Initiator;

// Obtained from Initiator::disk().
class Disk {
 public:
  Disk(const Disk&) = delete;
  Disk& operator=(const Disk&) = delete;
  ~Disk();

  // `buffer.size()` must be a non-zero multiple of 512. The request is split into frames of
  // info().sectors_per_frame sectors, always with LBA48 opcodes (READ/WRITE EXT) and the E flag.
  // The engine uses `buffer` (`data`) until `done` runs: replies are copied into it as they
  // come, and a write's frames are sent, and resent, from it without a copy. Keep it valid
  // until then, and a write's data unchanged.
  void Read(uint64_t lba, ByteSpan buffer, IoCallback done);
  void Write(uint64_t lba, ConstByteSpan data, IoCallback done);
  // FLUSH CACHE EXT (0xEA). A target that aborts it (vblade implements only 0xE7) gets FLUSH
  // CACHE (0xE7) instead, at once and for every later flush of this disk.
  void Flush(IoCallback done);
  // IDENTIFY DEVICE (0xEC); also updates info().identify.
  void Identify(IdentifyCallback done);
  // For a writer that flushes, after its FLUSH: which target MACs may have lost writes they
  // acknowledged since the last check (disk_restarts.cc). Each MAC that acknowledged a write or
  // trim since then, and reports an incarnation, is sent an IDENTIFY on each of its paths, and
  // its incarnation is compared with the one it had. A MAC that restarted is listed; so is one
  // that did not answer within the dead-target timeout (for ever when that is off), unless
  // another MAC of the same disk with its serial answered with its incarnation (the same
  // target, reached another way; the check then ends without waiting for the silent one). A
  // target without an incarnation is never asked: vblade (nothing can be told), or an aoe
  // serve export whose acknowledged writes are durable (durability=sync, RBD). Note that aoe
  // serve takes an IDENTIFY as a new session and serves the initiator as not flushing until
  // its next FLUSH (DeclareFlushing): `asked` says whether one was sent.
  void CheckForRestarts(std::function<void(Outcome<RestartCheck>)> done);
  // For a writer that flushes: tells the target so, where its IDENTIFY reports a volatile write
  // cache (else `done` gets success at once). aoe serve (durability=auto) acknowledges a host's
  // writes from its cache only once that MAC has sent a FLUSH, and makes every other write
  // durable before its reply (target/export.h). Each local port has its own MAC, so this is a
  // Flush and then, when the disk is reached through several local ports, a FLUSH on one path
  // of each (an admin exchange, waiting up to kPortFlushTimeout). `done` gets the Flush's
  // outcome: a port that misses its FLUSH only has its writes made durable one by one.
  void DeclareFlushing(IoCallback done);
  // Long enough for a target's fdatasync of what other hosts left in its cache. Such a FLUSH
  // is sent once (every copy would be another fdatasync), and a path gets one at most this
  // often.
  static constexpr Duration kPortFlushTimeout = std::chrono::seconds(5);
  // DATA SET MANAGEMENT with TRIM (0x06, feature 1) of sectors [lba, lba + sectors): one command
  // carrying up to 64 ranges of 65535 sectors, so `sectors` may be at most kMaxTrimSectors.
  // Whether the target can trim, and whether trimmed sectors then read as zeroes, is in
  // IDENTIFY (proto::ReadIdentifyFeatures); a target without TRIM answers with an ATA abort.
  static constexpr uint64_t kMaxTrimSectors =
      uint64_t{proto::kDsmRangesPerBlock} * proto::kDsmMaxRangeSectors;
  void Trim(uint64_t lba, uint64_t sectors, IoCallback done);
  // Fails every pending request and restart check now with kCancelled ("<request>: <why>"), as
  // the dead-target timeout would, and sends nothing more for them (frames already queued in the
  // current engine pass still leave, before the callbacks run): for an owner that must stop while
  // the target does not answer. Callbacks run before this returns (unless called from inside one).
  // The disk stays usable; copies of aborted writes still hold back overlapping new writes.
  void Abort(const std::string& why);

  const TargetInfo& info() const { return info_; }
  DiskAddress address() const { return info_.address; }
  std::vector<PathStats> path_stats() const;
  // True while an IDENTIFY is out to a path whose identity is not known yet (Client::Discover
  // waits for these, so that a listing shows which MACs serve another disk).
  bool identifying_paths() const;
  // Requests submitted and not yet completed, restart checks included (Abort ends both).
  size_t pending_requests() const { return requests_.size() + restart_checks_.size(); }
  // True once the target aborted FLUSH CACHE EXT and flushes use FLUSH CACHE (0xE7).
  bool uses_flush_cache() const { return flush_ext_refused_; }
  // Copies of finished WRITE frames that may still reach the target (UnsettledWrites), and how
  // many write requests had to wait for such a copy before (part of) them could be sent.
  size_t unsettled_write_copies() const { return unsettled_.size(); }
  uint64_t writes_held_back() const { return writes_held_back_; }

 private:
  friend class Initiator;

  enum class Op : uint8_t { kRead, kWrite, kFlush, kIdentify, kTrim };

  struct Request {
    Op op = Op::kRead;
    uint64_t lba = 0;
    uint64_t sectors = 0;       // total to transfer (1 page for IDENTIFY, 0 for FLUSH), or trimmed
    std::byte* data = nullptr;  // read destination or write source (caller-owned)
    uint64_t framed = 0;        // sectors already put into frames
    // Ranges of sectors taken back from frames cut to a lowered MTU (CutToFrameSize), framed
    // again before the rest.
    struct Range {
      uint64_t offset = 0;  // sectors into the request
      uint64_t sectors = 0;
    };
    std::vector<Range> taken_back;  // empty but on an MTU change, so no allocation
    // SendQueue batch of the last transmission of any of its frames: a frame that waits there
    // still points into the request's data, so the request must not complete before it leaves.
    uint64_t queued_batch = 0;
    uint32_t frames_active = 0;
    bool fully_framed = false;
    bool held_back = false;  // counted in writes_held_back_
    std::optional<Error> error;
    IoCallback done;
    IdentifyCallback identify_done;
    // IDENTIFY's reply, or the TRIM's block of ranges.
    std::unique_ptr<std::array<std::byte, 512>> identify_page;
    std::list<Request>::iterator self;
  };

  // What an ATA command sent to one path got back.
  struct PathAtaReply {
    bool answered = false;  // a reply came, even an AoE error or an ATA failure
    // A successful reply's data (as many bytes as SendPathAta was told to expect); nullopt for
    // silence, an AoE error, an ATA failure or a shorter reply.
    std::optional<ConstByteSpan> data;
  };

  struct Path {
    size_t port = 0;
    MacAddress target_mac;
    uint16_t buffer_count = 0;
    uint8_t advertised_sectors = 2;
    // A READ or WRITE frame was refused with AoE error 2 (too many sectors) while the target
    // advertised `advertised_at_refusal`: frames stay at `refusal_cap` sectors at most (0: no
    // cap) until the target advertises another count (its MTU changed again), so that a target
    // advertising more than it takes is not sent refused frames for ever.
    uint8_t refusal_cap = 0;
    uint8_t advertised_at_refusal = 0;
    // Frame size probes (disk_frame_size.cc). Frames longer than a standard 1500-byte frame
    // went unanswered here while standard ones were answered: a switch or link between does
    // not carry the interfaces' jumbo MTU. Frames stay at `size_cap` sectors (0: no cap) until
    // a later probe finds the longer frames answered again, `size_probe_interval` after the
    // last (doubling each time).
    uint8_t size_cap = 0;
    uint32_t long_frame_losses = 0;  // timeouts of long frames since a long frame's last reply
    bool size_probe_pending = false;
    TimePoint size_probe_sent_at{};
    // A probe sent then got no reply at all: none is sent again before the path answers.
    std::optional<TimePoint> size_probe_unanswered_since;
    TimePoint next_size_probe{};
    Duration size_probe_interval{};
    uint64_t size_probes = 0;
    CongestionWindow window{1};
    RttEstimator rtt;
    uint32_t in_flight = 0;
    uint64_t sent = 0, retransmits = 0, timeouts = 0, replies = 0, spurious_timeouts = 0;
    uint32_t consecutive_timeouts = 0;  // loss events since the last reply on this path
    TimePoint last_reply{};             // or since the path was learnt or came back up
    uint64_t loss_counted_seq = 0;      // transmissions up to here belong to a counted event
    bool up = true;
    TimePoint next_probe{};
    bool probe_pending = false;
    // Whether this MAC serves the disk of the first path (the reference): only kSame paths
    // carry I/O. The first path is kSame by definition; every other one is kUnknown until its
    // own IDENTIFY shows the reference's capacity and model (kSame) or not (kOther, never used).
    enum class Verdict : uint8_t { kUnknown, kSame, kOther };
    Verdict verdict = Verdict::kUnknown;
    std::optional<DiskIdentity> identity;  // this MAC's IDENTIFY, once it answered
    uint64_t writes_acked = 0;             // replies to WRITE and TRIM frames
    uint64_t writes_acked_at_check = 0;    // `writes_acked` when CheckForRestarts last looked
    // Writes were acknowledged here while a check that found a restart was out: the next
    // check reports this MAC whatever it answers (disk_restarts.cc).
    bool restart_owed = false;
    bool identify_pending = false;
    bool redeclare_pending = false;  // a FLUSH out to say again that we flush (Redeclare)
    std::optional<TimePoint> last_redeclare{};
    TimePoint next_identify{};  // a failed IDENTIFY is asked again from then on
  };

  // One transmission of a frame. A frame keeps its last few transmissions live so that a late
  // reply to an earlier one still completes it (and still measures that path's RTT).
  struct Transmission {
    uint32_t tag = 0;
    uint32_t path = 0;
    TimePoint sent_at{};
    uint64_t seq = 0;        // CongestionWindow sequence number on that path
    bool counted = false;    // still counted in the path's in_flight (not timed out)
    bool timed_out = false;  // its timeout was counted in the window's loss event below
    uint64_t loss_event = 0;
    bool answered = false;  // its reply arrived: the target has executed this copy
  };
  static constexpr size_t kMaxTransmissions = 4;
  // Frame size probes (ProbeFrameSize): the sectors a standard 1500-byte Ethernet frame
  // carries, how long a probe waits and resends, and how often a capped path tries long frames
  // again (doubling from the first interval up to the most).
  static constexpr uint8_t kStandardFrameSectors = 2;
  // 3 s: a busy target's storage may answer the long READ (sectors the short one did not read,
  // perhaps not in its cache) well after the short one, and a slow disk must not pass for a
  // link that drops long frames; a stall for a probe stays well inside the dead-target timeout.
  static constexpr Duration kSizeProbeTimeout = std::chrono::seconds(3);
  static constexpr Duration kSizeProbeResend = std::chrono::milliseconds(500);
  static constexpr Duration kFirstSizeReprobe = std::chrono::seconds(10);
  static constexpr Duration kMostSizeReprobe = std::chrono::minutes(10);
  // Any of these ATA status bits means the command failed (as the Linux driver checks, 0xA9).
  static constexpr uint8_t kAtaFailureBits = proto::kAtaStatusBusy | proto::kAtaStatusFault |
                                             proto::kAtaStatusDrq | proto::kAtaStatusError;
  static DiskIdentity IdentityOf(ConstByteSpan identify_page);

  struct Frame {
    enum class State : uint8_t { kFree, kInFlight, kAwaitingResend };
    State state = State::kFree;
    Request* request = nullptr;
    uint64_t lba = 0;
    uint8_t sectors = 0;
    size_t data_offset = 0;         // bytes into the request's buffer
    std::vector<std::byte> buffer;  // the encoded request's head, reused across transmissions
    size_t length = 0;              // of the head in `buffer`
    // A WRITE's or TRIM's data, sent from where the request holds it rather than copied into
    // `buffer` (TxFrame's tail); empty for other commands.
    ConstByteSpan data;
    uint64_t queued_batch = 0;  // SendQueue batch of its last transmission (waiting if current)
    std::array<Transmission, kMaxTransmissions> tx{};
    size_t tx_count = 0;  // live transmissions, oldest first
    TimePoint first_sent{};
    TimePoint deadline{};  // retransmission deadline of the newest transmission
    uint32_t retries = 0;
    uint32_t backoff = 0;      // RTO doublings for the next transmission (see Disk::OnTimer)
    uint32_t paths_tried = 0;  // bit i: sent on path i (i < 32)
    bool flush_ext = false;    // a flush sent as FLUSH CACHE EXT (0xEA), not 0xE7
  };

  // Bit 15 of a tag owner cookie's low half: the tag belongs to an unsettled write copy (the
  // rest is its UnsettledWrites index), not to a frame slot.
  static constexpr uint32_t kCopyBit = 0x8000;
  // The owner slot of a tag set aside after its frame finished (stale_tags_): replies dropped.
  static constexpr uint32_t kStaleSlot = kCopyBit - 1;

  Disk(Initiator& owner, uint16_t id, DiskAddress address);

  void Submit(Op op, uint64_t lba, uint64_t sectors, std::byte* data, IoCallback done,
              IdentifyCallback identify_done);
  // Sends as many frames (retransmissions first) as windows and frame slots allow.
  void Pump();
  // The next sectors of a read or write to put into a frame, at most `max`: a range taken back
  // first, else the next unframed ones. TakePiece marks them framed.
  static Request::Range NextPiece(const Request& r, uint64_t max);
  void TakePiece(Request& r, const Request::Range& piece);
  // A frame longer than frames now are (the MTU was lowered: the kernel refuses it) keeps its
  // first sectors_per_frame sectors and gives the rest back to its request. Its transmissions
  // are forgotten first, a write's copy over the range it had.
  void CutToFrameSize(Frame& f);
  std::optional<uint32_t> ChoosePath(std::optional<uint32_t> avoid) const;
  Frame* AcquireFrameSlot();
  void BuildFrame(Frame& f);
  void Transmit(uint32_t slot, uint32_t path);
  // Sends the engine's queued frames if this frame's last transmission is still among them:
  // called before anything rewrites the frame's buffer (SendQueue).
  void SendIfQueued(const Frame& f);
  void OnReply(uint32_t slot, uint32_t tag, size_t port, const MacAddress& source,
               ConstByteSpan frame);
  void OnTimer(TimePoint now);
  std::optional<TimePoint> NextDeadline() const;
  void RetireTransmissions(Frame& f);
  // A transmission that its frame no longer tracks: its tag is released, unless it is an
  // unanswered copy of a write, which becomes an unsettled copy (keeping its tag).
  void ForgetTransmission(const Frame& f, const Transmission& t);
  void OnCopyReply(uint32_t index, uint32_t tag, size_t port, const MacAddress& source);
  // How long a write copy sent on `path` may still arrive (InitiatorOptions::write_copy_lifetime).
  Duration CopyLifetime(uint32_t path) const;
  // The first request waiting to be framed whose next frame may go out now: a write waits while
  // an unsettled copy overlaps its next frame, and requests behind it go first.
  Request* NextRequestToFrame();
  void FinishFrame(uint32_t slot, std::optional<Error> error);
  void MaybeComplete(Request& r);
  // Fails every pending request with `code`; each message is "<what the request was>: <why>".
  void FailAll(InitiatorErrc code, const std::string& why);
  // CheckForRestarts' state, kept here so that Abort can end it.
  struct RestartCheckState;
  // Reports what the check found (the callback runs deferred); EndRestartCheck cancels the
  // IDENTIFYs still out, for both.
  void FinishRestartCheck(RestartCheckState& check);
  void EndRestartCheck(RestartCheckState& check);
  void CancelRestartChecks(const std::string& why);
  // How long a restart check waits when the dead-target timeout is off: a year stands for ever.
  static constexpr Duration kCheckWaitsForEver = std::chrono::hours(24 * 365);
  // "reading e0.1 sectors 8-15", "flushing e0.1" ...
  std::string DescribeRequest(const Request& r) const;
  // Any reply of ours on (port, mac), even one too late to match a frame: the path works.
  void NoteReply(size_t port, const MacAddress& mac);
  void MarkPathUp(uint32_t path);
  // The target behind `path` may be a new process that serves us as not flushing (aoe serve
  // forgets at a restart): a path back up, an announcement (TargetAnnounced). If this writer
  // declared that it flushes, one FLUSH on that path says so again; otherwise its writes would
  // each be made durable before their reply until its next flush.
  void Redeclare(uint32_t path);
  void TargetAnnounced(size_t port, const MacAddress& mac);
  proto::AtaArg FlushArg() const;
  void MarkPathDown(uint32_t path);
  void SendProbe(uint32_t path, TimePoint now);
  // Sectors per frame from the paths' counts, caps and the ports' FrameMtu, and info().paths
  // again: after a config reply, a path's verdict, a refusal, a size probe or a port's MTU
  // changed.
  void RecomputeSectorsPerFrame();
  // The most sectors a frame on this path may carry by the target's count, its refusals and the
  // local MTU; the size cap (size_cap) is not applied.
  uint8_t PathSectors(const Path& p) const;
  // Frame size probes (disk_frame_size.cc) ------------------------------------------------
  // A frame of `sectors` timed out on `path` (a reply to one came: NoteFrameAnswered): two
  // long ones lost in a row with no long reply between start a probe.
  void NoteFrameLost(uint32_t path, uint8_t sectors);
  void NoteFrameAnswered(uint32_t path, uint8_t sectors);
  // Sends two READs of LBA 0 on `path`, one of `sectors` and one that fits a standard
  // 1500-byte frame. Only the short one answered: a link between drops long frames, and the
  // path's frames are capped to the short size; the long one answered: a capped path is
  // uncapped (OnFrameSizeProbe). Once at a time per path, not on a disk smaller than the probe,
  // and not again on a path silent since a probe nobody answered.
  void ProbeFrameSize(uint32_t path, uint8_t sectors);
  struct ProbeRead {
    bool answered = false;   // any reply, an error too
    bool with_data = false;  // a successful reply with all its data
  };
  void OnFrameSizeProbe(uint32_t path, uint8_t sectors, ProbeRead short_read, ProbeRead long_read);
  // A capped path whose time to look again has come: probes it (OnTimer).
  void ReprobeFrameSizes(TimePoint now);
  std::string PathName(uint32_t path) const;
  std::string DescribeRange(const Frame& f) const;
  Error AtaError(const Frame& f, uint8_t status, uint8_t error) const;
  Error AoeErrorFor(const Frame& f, proto::AoeError code) const;
  PathInfo MakePathInfo(const Path& p) const;
  // Registers or refreshes a path from a config reply.
  void LearnPath(size_t port, const MacAddress& mac, const proto::ConfigArg& config);
  bool Usable(const Path& p) const { return p.verdict == Path::Verdict::kSame; }
  // Once the disk has two paths: sends an IDENTIFY (an admin exchange, to that MAC only) to each
  // path whose identity is unknown, and is not being asked or asked too recently.
  void IdentifyPaths(TimePoint now);
  // An ATA command to this path's MAC on its port only, as an admin exchange, waiting up to
  // `timeout`; resent (same tag) every `resend_interval`, or sent once if that is zero. `what`
  // names it in the debug log.
  std::optional<ExchangeHandle> SendPathAta(uint32_t path, const proto::AtaArg& arg,
                                            size_t reply_bytes, Duration timeout,
                                            Duration resend_interval, std::string_view what,
                                            std::function<void(const PathAtaReply&)> done);
  // An IDENTIFY to this path's MAC on its port only; `done` gets the identity, or nullopt for
  // silence, a refusal or a short page.
  std::optional<ExchangeHandle> SendPathIdentify(
      uint32_t path, Duration timeout, std::function<void(std::optional<DiskIdentity>)> done);
  void OnPathIdentify(uint32_t path, std::optional<DiskIdentity> identity);
  // Compares the paths whose identity is known with the first path's; says so (Notice) when
  // another MAC has another disk, or the same disk under another serial.
  void JudgePaths();
  // Tells the user (InitiatorOptions::on_notice, else the log's warning), once per message.
  void Notice(std::string message);
  void RefreshPathInfo();
  std::optional<uint32_t> FindPath(size_t port, const MacAddress& mac) const;

  Initiator& owner_;
  uint16_t id_;
  TargetInfo info_;
  std::vector<Path> paths_;
  std::vector<Frame> frames_;  // slots; grows up to max_frames_per_disk, never shrinks
  std::vector<uint32_t> free_frames_;
  std::deque<uint32_t> resend_queue_;  // frame slots awaiting retransmission, oldest first
  std::list<Request> requests_;        // all pending requests, submission order
  std::deque<Request*> unframed_;      // requests with sectors not yet in a frame
  UnsettledWrites unsettled_;          // copies of finished writes that may still arrive
  // Tags of unanswered copies of finished reads, flushes and IDENTIFYs, taken until the copy
  // can no longer arrive (ForgetTransmission), oldest first.
  struct StaleTag {
    TimePoint gone_at;
    uint32_t tag;
  };
  std::deque<StaleTag> stale_tags_;
  uint64_t writes_held_back_ = 0;
  bool flush_ext_refused_ = false;    // the target aborted 0xEA: flush with 0xE7
  bool declared_flushing_ = false;    // DeclareFlushing ran on a target with a volatile cache
  TimePoint next_rediscover_{};       // see InitiatorOptions::rediscover_interval
  std::vector<std::string> noticed_;  // what Notice has said (each is said once)
  std::vector<std::shared_ptr<RestartCheckState>> restart_checks_;  // not finished yet
};

}  // namespace aoe::initiator
