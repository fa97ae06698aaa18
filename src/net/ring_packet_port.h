// RingPacketPort: a Port over PACKET_MMAP rings (TPACKET_V2) on an AF_PACKET socket bound to
// one interface, for EtherType 0x88A2 only. The same receive filter and interface life cycle as
// PacketPort (both build on PacketSocket); what differs is how frames cross the kernel boundary:
//
// - Receiving: the kernel copies each accepted frame into the next free slot of an RX ring
//   shared with this process and flips the slot's status; Receive() walks the ring without a
//   system call, copies each frame into the caller's RxSlot and hands the slot back.
//   ReceiveInPlace() walks it the same way but copies nothing: the caller reads each frame in
//   its slot and hands the slots back, all at once, with ReleaseInPlace(). The kernel fills
//   slots in ring order and drops frames when the next one is still held, so a caller holds
//   slots only briefly (the target: one batch of up to 64 frames).
// - Sending from the ring: LendTxFrame() lends the next free slot of a TX ring; the caller
//   builds the frame there (the target reads a read reply's data straight into it) and passes
//   it to Send(), which marks the slot ready without copying it. One send(fd, NULL, 0) per call
//   ("kick") makes the kernel transmit every ready slot, by default with PACKET_QDISC_BYPASS
//   (straight to the driver, no qdisc; options.bypass_qdisc). The kernel builds each skb around the
//   ring's pages; on a real NIC the frame is sent from the ring itself, while a local receiver
//   (veth, tap) gets a copy made at delivery. Lent slots come in ring order, so each must reach the
//   very next Send() (or, the newest, ReturnTxFrame()): the kernel stops at the first slot that is
//   not ready (port.h). A lent slot a caller fails to send is marked ready with length 0 by that
//   Send(), which the kernel refuses and, with PACKET_LOSS, skips, so a caller's mistake costs a
//   slot, never the ring.
// - Sending from the caller's memory: every other frame (write acknowledgements, errors, read
//   replies built elsewhere) leaves by sendmmsg on a second, send-only socket (BatchSender), not
//   through the ring. The kernel copies such a frame once into an skb of its own. Copied into a
//   ring slot instead, it would be copied in user space and then again at delivery on a veth or
//   tap, where the kernel must also allocate a page per frame for it (measured: a third of the
//   cost of sending a 60-byte write acknowledgement; docs/PERFORMANCE.md, "Copied frames by
//   socket"). Lent frames leave first, then the copied ones (AoE replies carry their tags).
// - So per batch: no system call to receive, one or two to send, no skb allocated per received
//   frame. A frame received by Receive() is still copied once in user space (RX slot -> the
//   caller's buffer) (docs/PERFORMANCE.md, "What each frame still costs"); one received in
//   place need not be.
//
// RX slots are used strictly in ring order, as the kernel requires, and so are TX slots. A full
// send queue gives a short Send() count, as for PacketPort. Frames longer than the MTU, and
// every frame while the interface is missing or down, are dropped and reported as sent
// (counted in tx_dropped()), as in PacketPort; so are frames waiting in the ring when a kick
// finds the link gone. Frames longer than a ring slot arrive truncated (RxSlot::truncated).
//
// Open() fails (and the caller falls back to PacketPort, see packet_io.h) where the kernel
// refuses TPACKET_V2 rings or the memory for them.
//
// Ownership: owns its two sockets and the rings' mapping. Thread-safety: none; one thread at a
// time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/mac_address.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "net/batch_sender.h"
#include "net/packet_socket.h"
#include "net/port.h"
#include "net/role_filter.h"

namespace aoe {

// Where LendTxFrame() lends TX ring slots.
enum class TxLending {
  // Only on interfaces whose driver can send a frame from the ring's own pages (a NIC). Not on
  // veth or tun/tap: they deliver locally and must copy every frame built on ring pages, with a
  // page allocated for it, so a frame lent there costs more than one the kernel copies from the
  // caller's memory (measured, docs/PERFORMANCE.md "Read replies by socket on veth and tap").
  kWhereSentFromRing,
  // On every interface (`aoe serve --packet-io ring`; tests of the lending itself).
  kAlways,
};

struct RingPacketPortOptions {
  PortRole role = PortRole::kTarget;
  // Slots per ring, rounded up to whole ring blocks. The RX ring holds the frames that arrive
  // between two turns of the caller's loop (more are dropped by the kernel, as with a full
  // socket buffer), and those a caller holds (ReceiveInPlace); the TX ring the frames lent in
  // one turn. The copy socket's send buffer is
  // sized for as many frames as the TX ring.
  size_t rx_frames = 512;
  size_t tx_frames = 512;
  // Largest frame either ring carries, Ethernet header included; 0: the interface's MTU + 14,
  // but never less than a 9000-byte MTU's, so that raising the MTU at run time works.
  size_t frame_capacity_bytes = 0;
  TxLending lending = TxLending::kWhereSentFromRing;
  // Send straight to the driver (PACKET_QDISC_BYPASS), past the interface's queueing discipline
  // and the egress hooks that run there (tc, nftables netdev egress). Faster; an initiator
  // keeps the qdisc so that egress rules apply to it as on the socket path (the fault tests
  // inject duplication with them; net/packet_io.cc).
  bool bypass_qdisc = true;
};

class RingPacketPort final : public Port {
 public:
  using Options = RingPacketPortOptions;

  // Errors as PacketPort::Open, plus the errno of the ring setup (PACKET_VERSION, PACKET_RX_RING,
  // PACKET_TX_RING, mmap): e.g. ENOMEM, or EINVAL/ENOPROTOOPT on a kernel without TPACKET_V2.
  static Result<std::unique_ptr<RingPacketPort>> Open(const std::string& ifname,
                                                      Options options = {});

  RingPacketPort(const RingPacketPort&) = delete;
  RingPacketPort& operator=(const RingPacketPort&) = delete;
  ~RingPacketPort() override;

  const std::string& name() const override { return socket_.name(); }
  MacAddress mac() const override { return socket_.mac(); }
  size_t mtu() const override { return socket_.mtu(); }
  bool link_up() const override { return socket_.link_up(); }
  Result<void> Refresh() override { return socket_.Refresh(); }
  int fd() const override { return socket_.fd(); }
  // Not while frames received in place are held: it receives nothing then.
  Result<size_t> Receive(std::span<RxSlot> slots) override;
  bool receives_in_place() const override { return true; }
  Result<size_t> ReceiveInPlace(std::span<RxSlot> slots) override;
  void ReleaseInPlace() override;
  std::optional<bool> FramesWaiting() const override;
  Result<size_t> Send(std::span<const TxFrame> frames) override;
  // Empty also where options.lending says not to lend on this interface.
  ByteSpan LendTxFrame() override;
  void ReturnTxFrame() override;

  PortRole role() const { return socket_.role(); }
  // Frames Send() reported as sent but dropped (interface missing, longer than the MTU).
  uint64_t tx_dropped() const { return tx_dropped_; }
  size_t rx_frames() const { return rx_.count; }
  size_t tx_frames() const { return tx_.count; }
  // The largest frame a slot holds.
  size_t frame_capacity_bytes() const { return frame_capacity_; }
  // Whether LendTxFrame() lends on the interface as it is now (options.lending and its driver).
  bool lends_tx_frames() const;

 private:
  // One ring inside the shared mapping: `count` slots of `slot_bytes`, `per_block` to a block.
  struct Ring {
    std::byte* base = nullptr;
    size_t block_bytes = 0;
    size_t per_block = 0;
    size_t slot_bytes = 0;
    size_t count = 0;
    size_t next = 0;  // the slot this process looks at next

    std::byte* Slot(size_t index) const {
      return base + (index / per_block) * block_bytes + (index % per_block) * slot_bytes;
    }
    void Advance() { next = next + 1 == count ? 0 : next + 1; }
    // Whether `data` lies inside the ring's blocks. Compared as addresses: `data` may point
    // anywhere (a caller's own buffer).
    bool Contains(const std::byte* data) const {
      const auto at = reinterpret_cast<uintptr_t>(data);
      const auto start = reinterpret_cast<uintptr_t>(base);
      return at >= start && at < start + (count / per_block) * block_bytes;
    }
  };

  RingPacketPort(PacketSocket socket, TxLending lending)
      : socket_(std::move(socket)), lending_(lending) {}

  Result<void> SetUpRings(const Options& options, size_t interface_mtu);
  // Where the frame in slot rx_.next lies, if the kernel has filled it (`out.in_place`,
  // `length`, `truncated`); the slot is neither released nor passed.
  bool NextFrame(RxSlot& out);
  void NoticeEmptyWakeUp();
  // Hands every ready TX slot to the kernel.
  Result<void> Kick();
  // Takes back the TX slots a failed kick left ready, counting them as dropped.
  void DropUnsent();
  // The lent TX slot whose frame starts at `data`, or nullptr if `data` is not one.
  std::byte* LentSlotAt(const std::byte* data) const;
  // Marks the lent slots among `frames` ready; returns how many there were.
  size_t CommitLent(std::span<const TxFrame> frames);

  PacketSocket socket_;
  TxLending lending_;
  void* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
  size_t frame_capacity_ = 0;
  Ring rx_;
  Ring tx_;
  // RX slots received in place and not yet released: `held_` of them from `held_first_` on.
  size_t held_first_ = 0;
  size_t held_ = 0;
  uint64_t tx_dropped_ = 0;
  // TX slots lent and not yet sent: the newest ones, just behind tx_.next.
  size_t tx_lent_ = 0;
  // Send-only socket for the frames Send() is given outside the ring.
  UniqueFd copy_socket_;
  BatchSender copy_sender_;
  std::vector<TxFrame> copies_;  // one Send() call's frames for copy_sender_
};

}  // namespace aoe
