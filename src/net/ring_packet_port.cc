#include "net/ring_packet_port.h"

#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace aoe {

namespace {

// Room in front of a frame inside its slot. RX: the kernel places the Ethernet header at
// TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14 = 66 bytes into the slot. TX: the frame starts right
// after the aligned tpacket2_hdr (32 bytes) unless PACKET_TX_HAS_OFF is set, which it is not.
constexpr size_t kSlotHeadroom = 128;
constexpr size_t kTxDataOffset = TPACKET_ALIGN(sizeof(tpacket2_hdr));
// Ring blocks are allocated as power-of-two runs of pages; 64 KiB keeps the waste per block
// under one slot for jumbo frames.
constexpr size_t kMinBlockBytes = size_t{64} << 10;
constexpr size_t kEthernetFrameMax = 65535 + kEthernetHeaderBytes;
constexpr size_t kJumboMtu = 9000;

// The slot header is the kernel's ABI (linux/if_packet.h), shared memory rather than wire data;
// its status word is the hand-over point, read with acquire and written with release ordering so
// the frame bytes are visible before the status says so.
tpacket2_hdr* Header(std::byte* slot) { return reinterpret_cast<tpacket2_hdr*>(slot); }
uint32_t LoadStatus(std::byte* slot) {
  return __atomic_load_n(&Header(slot)->tp_status, __ATOMIC_ACQUIRE);
}
void StoreStatus(std::byte* slot, uint32_t status) {
  __atomic_store_n(&Header(slot)->tp_status, status, __ATOMIC_RELEASE);
}

Result<void> SetIntOption(int fd, int option, int value) {
  if (setsockopt(fd, SOL_PACKET, option, &value, sizeof(value)) != 0) return Errno();
  return {};
}

}  // namespace

Result<std::unique_ptr<RingPacketPort>> RingPacketPort::Open(const std::string& ifname,
                                                             Options options) {
  auto socket = PacketSocket::Create(ifname, options.role);
  AOE_TRY(socket);
  auto mtu = socket->InterfaceMtu();
  AOE_TRY(mtu);
  std::unique_ptr<RingPacketPort> port(new RingPacketPort(std::move(*socket), options.lending));
  // Rings before bind: a bound socket without its RX ring would queue frames on its ordinary
  // receive queue, which nothing would ever read (and which would keep the fd readable).
  AOE_TRY(port->SetUpRings(options, *mtu));
  auto copy_socket = CreateSendOnlySocket(options.bypass_qdisc);
  AOE_TRY(copy_socket);
  // Room for as many frames in flight as the TX ring holds.
  AOE_TRY(SetSocketBufferSize(copy_socket->get(), SO_SNDBUFFORCE, SO_SNDBUF,
                              port->tx_.count * port->frame_capacity_));
  port->copy_socket_ = std::move(*copy_socket);
  port->copies_.reserve(port->tx_.count);
  AOE_TRY(port->socket_.Attach());
  return port;
}

RingPacketPort::~RingPacketPort() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_bytes_);
}

Result<void> RingPacketPort::SetUpRings(const Options& options, size_t interface_mtu) {
  const int fd = socket_.fd();
  AOE_TRY(SetIntOption(fd, PACKET_VERSION, TPACKET_V2));
  // A TX slot the kernel cannot send (malformed) is skipped instead of stopping the ring.
  AOE_TRY(SetIntOption(fd, PACKET_LOSS, 1));
  // Straight to the driver. Not fatal where unsupported: the qdisc path works, a little slower.
  if (options.bypass_qdisc) (void)SetIntOption(fd, PACKET_QDISC_BYPASS, 1);

  frame_capacity_ = options.frame_capacity_bytes;
  if (frame_capacity_ == 0) {
    frame_capacity_ = std::max(interface_mtu, kJumboMtu) + kEthernetHeaderBytes;
  }
  frame_capacity_ = std::min(frame_capacity_, kEthernetFrameMax);
  const size_t slot_bytes = TPACKET_ALIGN(kSlotHeadroom + frame_capacity_);
  const size_t block_bytes = std::max(kMinBlockBytes, std::bit_ceil(slot_bytes));
  const size_t per_block = block_bytes / slot_bytes;

  auto request = [&](Ring& ring, size_t frames) {
    size_t blocks = std::max<size_t>(1, (frames + per_block - 1) / per_block);
    ring = Ring{nullptr, block_bytes, per_block, slot_bytes, blocks * per_block, 0};
    tpacket_req req{};
    req.tp_block_size = static_cast<unsigned>(block_bytes);
    req.tp_block_nr = static_cast<unsigned>(blocks);
    req.tp_frame_size = static_cast<unsigned>(slot_bytes);
    req.tp_frame_nr = static_cast<unsigned>(ring.count);
    return req;
  };
  tpacket_req rx = request(rx_, options.rx_frames);
  tpacket_req tx = request(tx_, options.tx_frames);
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof(rx)) != 0) return Errno();
  if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof(tx)) != 0) return Errno();

  // One mapping holds both rings, RX first.
  const size_t rx_bytes = size_t{rx.tp_block_size} * rx.tp_block_nr;
  const size_t tx_bytes = size_t{tx.tp_block_size} * tx.tp_block_nr;
  void* mapping = ::mmap(nullptr, rx_bytes + tx_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapping == MAP_FAILED) return Errno();
  mapping_ = mapping;
  mapping_bytes_ = rx_bytes + tx_bytes;
  rx_.base = static_cast<std::byte*>(mapping);
  tx_.base = rx_.base + rx_bytes;
  return {};
}

bool RingPacketPort::NextFrame(RxSlot& out) {
  std::byte* slot = rx_.Slot(rx_.next);
  if ((LoadStatus(slot) & TP_STATUS_USER) == 0) return false;
  const tpacket2_hdr* header = Header(slot);
  // The kernel keeps tp_mac + tp_snaplen inside the slot; checked anyway, since a bad value
  // would read outside the ring.
  const size_t offset = header->tp_mac;
  const size_t captured =
      offset < rx_.slot_bytes ? std::min<size_t>(header->tp_snaplen, rx_.slot_bytes - offset) : 0;
  out.in_place = slot + offset;
  out.length = captured;
  out.truncated = captured < header->tp_len;
  return true;
}

void RingPacketPort::NoticeEmptyWakeUp() {
  // Woken with nothing in the ring: a pending socket error (ENETDOWN when the link went down)
  // makes the fd poll readable until it is taken. Refresh() tells "down" from "deleted".
  if (int err = socket_.TakeSocketError(); IsInterfaceGone(err)) socket_.MarkLinkDown();
}

Result<size_t> RingPacketPort::Receive(std::span<RxSlot> slots) {
  size_t received = 0;
  RxSlot frame;
  while (received < slots.size() && held_ == 0 && NextFrame(frame)) {
    RxSlot& out = slots[received];
    out.length = std::min(frame.length, out.buffer.size());
    out.truncated = frame.truncated || frame.length > out.buffer.size();
    std::memcpy(out.buffer.data(), frame.in_place, out.length);
    StoreStatus(rx_.Slot(rx_.next), TP_STATUS_KERNEL);
    rx_.Advance();
    ++received;
  }
  if (received == 0) NoticeEmptyWakeUp();
  return received;
}

Result<size_t> RingPacketPort::ReceiveInPlace(std::span<RxSlot> slots) {
  if (held_ == 0) held_first_ = rx_.next;
  size_t received = 0;
  // Never round onto the first held slot: its status still says "the caller's".
  while (received < slots.size() && held_ < rx_.count && NextFrame(slots[received])) {
    rx_.Advance();
    ++held_;
    ++received;
  }
  if (received == 0) NoticeEmptyWakeUp();
  return received;
}

void RingPacketPort::ReleaseInPlace() {
  for (size_t index = held_first_; held_ > 0; --held_) {
    StoreStatus(rx_.Slot(index), TP_STATUS_KERNEL);
    index = index + 1 == rx_.count ? 0 : index + 1;
  }
}

std::optional<bool> RingPacketPort::FramesWaiting() const {
  return (LoadStatus(rx_.Slot(rx_.next)) & TP_STATUS_USER) != 0;
}

bool RingPacketPort::lends_tx_frames() const {
  if (lending_ == TxLending::kAlways) return true;
  // Drivers that deliver to a local receiver, which copies frames built on ring pages.
  const std::string& driver = socket_.driver();
  return driver != "veth" && driver != "tun";
}

ByteSpan RingPacketPort::LendTxFrame() {
  if (!lends_tx_frames()) return {};
  // Not past a slot the kernel still owns, nor round onto the first lent one.
  if (tx_lent_ == tx_.count) return {};
  std::byte* slot = tx_.Slot(tx_.next);
  if (LoadStatus(slot) != TP_STATUS_AVAILABLE) return {};
  tx_.Advance();
  ++tx_lent_;
  return ByteSpan(slot + kTxDataOffset, frame_capacity_);
}

void RingPacketPort::ReturnTxFrame() {
  if (tx_lent_ == 0) return;
  // The newest lent slot is the one just behind tx_.next; its status was never changed.
  tx_.next = tx_.next == 0 ? tx_.count - 1 : tx_.next - 1;
  --tx_lent_;
}

std::byte* RingPacketPort::LentSlotAt(const std::byte* data) const {
  if (tx_lent_ == 0) return nullptr;
  if (!tx_.Contains(data)) return nullptr;
  const auto at = reinterpret_cast<uintptr_t>(data);
  const auto base = reinterpret_cast<uintptr_t>(tx_.base);
  if (at < base + kTxDataOffset) return nullptr;
  const size_t offset = at - base - kTxDataOffset;
  const size_t in_block = offset % tx_.block_bytes;
  if (in_block % tx_.slot_bytes != 0 || in_block / tx_.slot_bytes >= tx_.per_block) return nullptr;
  // Only the lent slots, the tx_lent_ just behind tx_.next: a frame pointing into any other
  // slot (one the kernel owns) is not the caller's to send.
  const size_t index = (offset / tx_.block_bytes) * tx_.per_block + in_block / tx_.slot_bytes;
  const size_t behind = (tx_.next + tx_.count - index - 1) % tx_.count;
  if (behind >= tx_lent_) return nullptr;
  std::byte* slot = tx_.Slot(index);
  return LoadStatus(slot) == TP_STATUS_AVAILABLE ? slot : nullptr;
}

size_t RingPacketPort::CommitLent(std::span<const TxFrame> frames) {
  size_t committed = 0;
  for (const TxFrame& frame : frames) {
    std::byte* slot = LentSlotAt(frame.head.data());
    if (slot == nullptr) continue;
    // Bounded by the slot; the caller sized the frame for the MTU when it built it. Should the
    // MTU have shrunk since, the kernel refuses the frame and, with PACKET_LOSS, skips the slot.
    Header(slot)->tp_len = static_cast<uint32_t>(std::min(frame.size(), frame_capacity_));
    StoreStatus(slot, TP_STATUS_SEND_REQUEST);
    ++committed;
  }
  // A lent slot the caller did not send (against port.h) would stop the kernel at it for good,
  // with our own next slot stuck behind it. Marked ready with length 0 instead: the kernel
  // refuses a frame shorter than an Ethernet header and, with PACKET_LOSS, skips the slot.
  for (size_t behind = 1; behind <= tx_lent_; ++behind) {
    std::byte* slot = tx_.Slot((tx_.next + tx_.count - behind) % tx_.count);
    if (LoadStatus(slot) != TP_STATUS_AVAILABLE) continue;
    Header(slot)->tp_len = 0;
    StoreStatus(slot, TP_STATUS_SEND_REQUEST);
  }
  tx_lent_ = 0;
  return committed;
}

Result<size_t> RingPacketPort::Send(std::span<const TxFrame> frames) {
  // Lent slots first, all of them before the kick: the kernel stops at the first slot that is
  // not ready.
  const size_t lent_sent = CommitLent(frames);
  // Only a missing interface is decided here. Whether the link is down is left to the kernel
  // (the kick and sendmmsg fail with ENETDOWN, below), as in PacketPort: link_up() is as old as
  // the last Refresh(), and a caller that refreshes seldom (the initiator: only when frames go
  // unanswered) would otherwise drop every frame after opening the port while the link was
  // still coming up.
  if (socket_.ifindex() == 0) {
    // Documented choice, as in PacketPort: drop while the interface is missing. The lent slots
    // just made ready are taken back, as after a failed kick.
    DropUnsent();
    tx_dropped_ += frames.size() - lent_sent;
    return frames.size();
  }
  // Every frame outside the ring is the caller's own memory and leaves by the copy socket.
  copies_.clear();
  for (const TxFrame& frame : frames) {
    if (!tx_.Contains(frame.head.data())) copies_.push_back(frame);
  }
  // Frames pointing into TX slots that were not lent to the caller: dropped.
  const size_t in_ring = frames.size() - copies_.size();
  tx_dropped_ += in_ring - lent_sent;
  size_t sent = in_ring;
  // Lent frames count as handed over whatever the kick says (port.h): one that fails leaves
  // them ready for the next.
  if (lent_sent > 0) (void)Kick();
  if (copies_.empty()) return sent;
  auto copied = copy_sender_.Send(copy_socket_.get(), socket_, copies_, tx_dropped_);
  if (!copied) {
    if (sent > 0) return sent;
    return Unexpected{copied.error()};
  }
  return sent + *copied;
}

Result<void> RingPacketPort::Kick() {
  bool retried_after_stale_error = false;
  for (;;) {
    if (::send(socket_.fd(), nullptr, 0, MSG_DONTWAIT) >= 0) return {};
    const int err = errno;
    if (err == EINTR) continue;
    // The kernel is short of buffers: the ready slots stay ready and leave with the next kick.
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) return {};
    if (IsInterfaceGone(err) && !retried_after_stale_error) {
      // The socket remembers an ENETDOWN from when the link last went down and fails the next
      // send with it (consuming it), even if the link is up again; the slots stay ready. Retry
      // once: a link that is really down fails again at once.
      retried_after_stale_error = true;
      continue;
    }
    if (IsInterfaceGone(err)) {
      // The link went down (or the interface away) since the last Refresh(): drop what waits,
      // as PacketPort does, rather than send stale replies once it is back.
      socket_.MarkLinkDown();
      DropUnsent();
      return {};
    }
    return Errno(err);
  }
}

void RingPacketPort::DropUnsent() {
  // The slots still marked ready are the newest ones, just behind tx_.next: the kernel takes
  // them in ring order and, having failed, took none. Hand them back and rewind, so that our
  // next slot is again the one the kernel looks at first. Safe without a race: only this
  // thread makes the kernel look at the ring (send), and it is not doing so now.
  for (size_t i = 0; i < tx_.count; ++i) {
    const size_t previous = tx_.next == 0 ? tx_.count - 1 : tx_.next - 1;
    std::byte* slot = tx_.Slot(previous);
    if (LoadStatus(slot) != TP_STATUS_SEND_REQUEST) break;
    StoreStatus(slot, TP_STATUS_AVAILABLE);
    tx_.next = previous;
    ++tx_dropped_;
  }
}

}  // namespace aoe
