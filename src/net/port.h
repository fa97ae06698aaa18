// Port: one network interface as seen by AoE code: send and receive whole Ethernet frames in
// batches. The seam between protocol logic and the OS (style.md principle 2).
//
// Implementations: PacketPort (AF_PACKET socket bound to one interface, batched with
// recvmmsg/sendmmsg, kernel BPF filter for EtherType 0x88A2), RingPacketPort (the same over
// PACKET_MMAP rings; the only one that lends TX slots) and MemoryPort (an in-memory wire for
// tests). A Port is used from one thread at a time.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "base/result.h"
#include "net/fanout.h"

namespace aoe {

// A caller-owned receive buffer. Receive() fills `length` with the frame's size (Ethernet header
// included, no FCS). A frame larger than the buffer is truncated to the buffer's size and has
// `truncated` set, so the caller can drop it. ReceiveInPlace() leaves `buffer` alone and points
// `in_place` at the frame where it arrived instead (`truncated`: the port cut it short).
struct RxSlot {
  ByteSpan buffer;
  size_t length = 0;
  bool truncated = false;
  const std::byte* in_place = nullptr;

  ConstByteSpan received() const { return {in_place, length}; }
};

// A frame to send: `head`, then `tail`, leaving as one frame (`tail` is empty for a frame in one
// piece). Why two pieces: a read reply's header is built in the target's own buffer while its
// data can stay where storage keeps it (an image mapped from tmpfs), so the kernel copies the
// data once, straight into the packet, with no read copying it into a buffer first.
struct TxFrame {
  TxFrame() = default;
  // A frame in one piece; implicit, as most frames are.
  TxFrame(ConstByteSpan whole) : head(whole) {}  // NOLINT(google-explicit-constructor)
  TxFrame(ConstByteSpan head_part, ConstByteSpan tail_part) : head(head_part), tail(tail_part) {}

  size_t size() const { return head.size() + tail.size(); }

  ConstByteSpan head;
  ConstByteSpan tail;
};

class Port {
 public:
  virtual ~Port() = default;

  // Interface name, e.g. "veth0".
  virtual const std::string& name() const = 0;
  virtual MacAddress mac() const = 0;
  // Current MTU in bytes (payload after the 14-byte Ethernet header). May change at run time
  // (`ip link set mtu`); implementations refresh it in Refresh().
  virtual size_t mtu() const = 0;
  // True when the link is up and frames can be sent.
  virtual bool link_up() const = 0;
  // Re-reads MTU, MAC and link state from the OS; also re-binds when the interface was deleted
  // and re-created. Cheap enough to call once a second.
  virtual Result<void> Refresh() = 0;

  // A file descriptor that polls readable while frames are waiting; -1 if none.
  virtual int fd() const = 0;

  // Joins the fanout group `group` of this port's interface (0: a new one), which hands each
  // frame to one member by the rule of net/fanout.h; returns the group's id, for the other
  // members. The first member to join is member 0. Ports of one interface, one per event loop,
  // join one group (docs/architecture.md, "More cores"). A packet port joins with its socket.
  virtual Result<uint16_t> JoinFanout(uint16_t group) { return JoinSourceMacFanout(fd(), group); }
  // Sets the first-member disks of the group this port is a member of (net/fanout.h): the ATA
  // requests to them go to member 0, whatever their source.
  virtual Result<void> SetFanoutFirstDisks(std::span<const FanoutDisk> first) {
    return aoe::SetFanoutFirstDisks(fd(), first);
  }

  // Receives up to slots.size() waiting frames without blocking. Returns how many slots were
  // filled (0 when nothing is waiting).
  virtual Result<size_t> Receive(std::span<RxSlot> slots) = 0;

  // Receiving without the copy, for ports whose frames arrive in memory shared with the kernel
  // (a PACKET_MMAP RX ring): like Receive(), but each frame stays where it arrived
  // (RxSlot::in_place) and its place stays the caller's, so the kernel cannot reuse it, until
  // ReleaseInPlace() gives back every frame received in place so far. Several calls may come
  // before one release; each frame held narrows the room for frames still arriving. Why: a
  // write request's data can then go to storage straight from there, one copy instead of two
  // (docs/PERFORMANCE.md, "Writes taken from the receive ring"). Only where
  // receives_in_place(); the default port receives nothing this way.
  virtual bool receives_in_place() const { return false; }
  virtual Result<size_t> ReceiveInPlace(std::span<RxSlot> /*slots*/) { return size_t{0}; }
  virtual void ReleaseInPlace() {}

  // Whether a frame is waiting, where the port can tell without a system call (a receive ring
  // in shared memory); nullopt where it cannot. For polling a busy link without sleeping.
  virtual std::optional<bool> FramesWaiting() const { return std::nullopt; }

  // Sends the frames in order without blocking. Returns how many were handed to the OS; a short
  // count means the send queue is full and the caller may retry the rest later or drop them
  // (AoE tolerates loss: initiators retransmit). A frame whose bytes cannot be read (a `tail` in
  // a mapping of a file that shrank) is dropped and counted as sent. A frame built in a lent
  // buffer (below) is sent from where it is, without a copy, and always counts as handed over;
  // lent frames leave in the order they were lent, ahead of the call's other frames (AoE replies
  // carry their tags, so the order between replies does not matter).
  virtual Result<size_t> Send(std::span<const TxFrame> frames) = 0;

  // Zero-copy sending, for ports whose frames leave from memory shared with the kernel (a
  // PACKET_MMAP TX ring): the caller builds a frame straight in the next free slot of the send
  // queue instead of in a buffer of its own that Send() would copy. Returns the slot's frame
  // space (at least mtu() + 14 bytes), or an empty span where the port lends nothing (sockets,
  // the default) or has no free slot; the caller then uses its own buffer.
  //
  // Slots are lent in queue order and the kernel sends them in that order, stopping at the first
  // one not ready. So every lent slot must go to the very next Send() call (as one of its
  // frames, in one piece, starting at the span's start), or, only the newest, be given back
  // unused with ReturnTxFrame() before anything else is lent or sent. Nothing that may wait
  // belongs in one.
  virtual ByteSpan LendTxFrame() { return {}; }
  virtual void ReturnTxFrame() {}
};

}  // namespace aoe
