// MemoryWire and MemoryPort: an in-memory Ethernet segment, the test double for PacketPort
// (style.md principle 2: tests swap the environment instead of mocking syscalls).
//
// A MemoryWire is one broadcast domain. Every MemoryPort attached to it sees a frame sent by
// another port when the destination MAC is its own, broadcast or multicast, its link is up, the
// frame fits its MTU, and its role filter (role_filter.h, the same rule as PacketPort's kernel
// filter) accepts it; of the ports in one fanout group (JoinFanout), only the member the rule of
// net/fanout.h picks sees it, as with the kernel's PACKET_FANOUT. A port never sees its own frames.
// Delivery is synchronous: when Send() returns, the frame is in the receivers' queues, so tests
// need no sleeps.
//
// The wire has a seeded fault injector (drop, duplicate, reorder, delay) for deterministic loss
// tests: the same seed and the same sequence of frames give the same faults on every run and
// platform. A delayed frame lingers for a span of the wire's clock (SetClock: the tests'
// FakeClock) and arrives after the frames sent meanwhile, as a copy held in a switch or a queue
// does; it is delivered by the first Send or DeliverDue at or after its time.
//
// Each port's fd() is an eventfd that polls readable exactly while frames are queued, so a
// MemoryPort can sit in the same EventLoop as real fds.
//
// Ownership: a MemoryPort attaches itself to a wire on creation and detaches in its destructor;
// the wire must outlive its ports. Frames are copied into per-port queues (this fake allocates
// per frame; it is not meant for the production data path).
// Thread-safety: all methods of the wire and its ports are safe to call from several threads
// (one mutex per wire), so a target and an initiator may run in different threads. As for every
// Port, a single port should still be used by one thread at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mac_address.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "net/port.h"
#include "net/role_filter.h"

namespace aoe {

class MemoryPort;

// Fault probabilities are in [0, 1] and are decided per frame sent, in this order: drop, then
// delay (deliver the frame `delay` later on the wire's clock), then reorder (hold the frame back
// and deliver it right after the next frame sent on the wire), then duplicate (deliver it
// twice). A frame is held back for reordering only when no other frame is being held.
struct FaultConfig {
  double drop_probability = 0;
  double duplicate_probability = 0;
  double reorder_probability = 0;
  // Needs a clock (MemoryWire::SetClock). The delay draw is made only when this is non-zero,
  // so configurations without it see the same faults as before it existed.
  double delay_probability = 0;
  Duration delay{};
  uint64_t seed = 1;
  // Frames longer than this many bytes vanish (0: any length passes), whatever the draws: a
  // switch between two jumbo-frame hosts that carries only standard frames. Counted as dropped.
  size_t max_frame_bytes = 0;
};

struct WireStats {
  uint64_t frames_sent = 0;  // frames that reached the wire (after the sender's checks)
  uint64_t dropped = 0;      // by the fault injector
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
  uint64_t delayed = 0;  // by delay_probability or DelayNext
};

class MemoryWire {
 public:
  MemoryWire() = default;
  MemoryWire(const MemoryWire&) = delete;
  MemoryWire& operator=(const MemoryWire&) = delete;
  ~MemoryWire();  // asserts that no port is still attached

  // Replaces the fault configuration and reseeds the generator. A frame currently held back for
  // reordering stays held.
  void SetFaults(const FaultConfig& faults);
  // Delivers a frame held back for reordering now, if any (e.g. at the end of a test when no
  // further frame will push it out). Delayed frames keep their own time (DeliverDue).
  void FlushHeld();
  WireStats stats() const;

  // The clock that times delays. It is read under the wire's mutex by whichever thread sends,
  // so with delays in use it must be safe to read from those threads (a FakeClock advanced by
  // the one thread that also sends). Borrowed; must outlive the wire's use of delays.
  void SetClock(const Clock& clock);
  // Delays the next frame sent for which `match` returns true (every frame when `match` is
  // empty) by `delay`, whatever the random faults would do to it. One frame, once: a test uses
  // it to hold back exactly the copy it cares about.
  void DelayNext(Duration delay, std::function<bool(ConstByteSpan frame)> match = {});
  // Delivers every delayed frame whose time has come, in the order of their times.
  void DeliverDue();
  // When the earliest delayed frame is due; nullopt when none is delayed.
  std::optional<TimePoint> NextDue() const;

 private:
  friend class MemoryPort;

  struct Frame {
    const MemoryPort* sender;
    std::vector<std::byte> bytes;
  };
  struct DelayedFrame {
    TimePoint due;
    uint64_t order;  // ties in `due` go out in sending order
    Frame frame;
  };

  void Attach(MemoryPort* port);
  void Detach(MemoryPort* port);
  // Runs a frame through the fault injector and delivers it. Caller holds mutex_.
  void TransmitLocked(const MemoryPort* sender, ConstByteSpan frame);
  void DeliverLocked(const MemoryPort* sender, ConstByteSpan frame);
  void DelayLocked(const MemoryPort* sender, ConstByteSpan frame, Duration delay);
  void DeliverDueLocked();
  // A deterministic draw in [0, 1), independent of the standard library's distributions.
  double DrawLocked();

  mutable std::mutex mutex_;
  std::vector<MemoryPort*> ports_;
  // A fanout group (MemoryPort::JoinFanout): its members in the kernel's order (the order they
  // joined, the last taking the place of one that leaves), and its first-member disks.
  struct FanoutGroup {
    std::vector<MemoryPort*> members;
    std::vector<FanoutDisk> first;
  };
  std::map<uint16_t, FanoutGroup> fanout_groups_;  // by id
  FaultConfig faults_;
  std::mt19937_64 rng_{faults_.seed};
  std::optional<Frame> held_;
  const Clock* clock_ = nullptr;
  std::vector<DelayedFrame> delayed_;  // unordered; few at a time
  uint64_t delayed_order_ = 0;
  struct DelayRequest {
    Duration delay;
    std::function<bool(ConstByteSpan)> match;
  };
  std::optional<DelayRequest> delay_next_;
  WireStats stats_;
};

struct MemoryPortOptions {
  std::string name = "mem0";
  MacAddress mac;
  PortRole role = PortRole::kTarget;
  size_t mtu = 1500;
  // Frames beyond this many queued are dropped and counted, like a full socket buffer.
  size_t rx_queue_frames = 4096;
};

struct MemoryPortStats {
  uint64_t tx_frames = 0;    // handed to the wire
  uint64_t tx_oversize = 0;  // longer than mtu() + 14: dropped on send, like a real NIC
  uint64_t tx_dropped = 0;   // link down, interface missing, or shorter than 14 bytes
  uint64_t rx_frames = 0;    // queued for Receive()
  uint64_t rx_filtered = 0;  // addressed to us but refused by the role filter
  uint64_t rx_oversize = 0;  // longer than our mtu() + 14
  uint64_t rx_overflow = 0;  // receive queue full
};

class MemoryPort final : public Port {
 public:
  using Options = MemoryPortOptions;

  // Attaches a new port to `wire`. Fails only if no eventfd can be created.
  static Result<std::unique_ptr<MemoryPort>> Create(MemoryWire& wire, Options options);

  MemoryPort(const MemoryPort&) = delete;
  MemoryPort& operator=(const MemoryPort&) = delete;
  ~MemoryPort() override;

  const std::string& name() const override { return name_; }
  MacAddress mac() const override;
  size_t mtu() const override;
  bool link_up() const override;
  // Returns ENODEV while the port simulates a missing interface, otherwise succeeds.
  Result<void> Refresh() override;
  int fd() const override { return event_fd_.get(); }
  // As a packet socket's: every member must be a port of one interface (the same name), and a
  // port joins one group only (EINVAL otherwise). The wire then hands a frame for the members
  // to the one FanoutMember picks.
  Result<uint16_t> JoinFanout(uint16_t group) override;
  // EINVAL for a port in no group or too many disks, as for a socket.
  Result<void> SetFanoutFirstDisks(std::span<const FanoutDisk> first) override;
  // Frames queued before the link went down or the interface went missing are still delivered.
  Result<size_t> Receive(std::span<RxSlot> slots) override;
  std::optional<bool> FramesWaiting() const override { return queued_frames() > 0; }
  // Always accepts every frame (the wire never backs up); frames the sender cannot send are
  // dropped and counted in stats(), matching PacketPort's silent drop while down or missing.
  Result<size_t> Send(std::span<const TxFrame> frames) override;

  // Test controls. They take effect immediately (no Refresh() needed).
  void set_mtu(size_t mtu);
  void set_link_up(bool up);
  void set_mac(MacAddress mac);
  void set_role(PortRole role);
  // Simulates the interface being deleted (false) and re-created (true). While missing the port
  // behaves like PacketPort: link_up() false, Refresh() fails with ENODEV, Send() drops.
  void set_present(bool present);

  MemoryPortStats stats() const;
  size_t queued_frames() const;

 private:
  friend class MemoryWire;

  MemoryPort(MemoryWire& wire, Options options, UniqueFd event_fd);

  // Called by the wire with its mutex held.
  void OfferLocked(ConstByteSpan frame);
  // Makes the eventfd's readability match whether frames are queued. Caller holds the mutex.
  void SyncEventFdLocked();

  MemoryWire& wire_;
  const std::string name_;
  UniqueFd event_fd_;
  // Everything below is guarded by wire_.mutex_.
  MacAddress mac_;
  PortRole role_;
  size_t mtu_;
  size_t rx_queue_frames_;
  bool link_up_ = true;
  bool present_ = true;
  uint16_t fanout_group_ = 0;  // 0: none
  bool event_fd_readable_ = false;
  std::deque<std::vector<std::byte>> queue_;
  std::vector<std::byte> joined_;  // a two-piece frame made one for the wire (Send)
  MemoryPortStats stats_;
};

}  // namespace aoe
