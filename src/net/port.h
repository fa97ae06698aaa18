// Port: one network interface as seen by AoE code: send and receive whole Ethernet frames in
// batches. The seam between protocol logic and the OS (style.md principle 2).
//
// Implementations: PacketPort (AF_PACKET socket bound to one interface, batched with
// recvmmsg/sendmmsg, kernel BPF filter for EtherType 0x88A2) and MemoryPort (an in-memory wire
// for tests). A Port is used from one thread at a time.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "base/result.h"

namespace aoe {

// A caller-owned receive buffer. Receive() fills `length` with the frame's size (Ethernet header
// included, no FCS). A frame larger than the buffer is truncated to the buffer's size and has
// `truncated` set, so the caller can drop it.
struct RxSlot {
  ByteSpan buffer;
  size_t length = 0;
  bool truncated = false;
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

  // Receives up to slots.size() waiting frames without blocking. Returns how many slots were
  // filled (0 when nothing is waiting).
  virtual Result<size_t> Receive(std::span<RxSlot> slots) = 0;

  // Sends the frames in order without blocking. Returns how many were handed to the OS; a short
  // count means the send queue is full and the caller may retry the rest later or drop them
  // (AoE tolerates loss: initiators retransmit).
  virtual Result<size_t> Send(std::span<const ConstByteSpan> frames) = 0;
};

}  // namespace aoe
