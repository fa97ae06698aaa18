// PacketPort and RingPacketPort against real kernel sockets: two private network namespaces
// joined by a veth pair. Every test runs over both ports (PacketIo kSocket and kRing, forced).
//
// Needs root (skips otherwise). Nothing here touches the host's interfaces: the veth pair is
// created inside the namespaces, and TearDown deletes the namespaces even when a test fails.

#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "net/packet_io.h"
#include "net/packet_port.h"
#include "net/ring_packet_port.h"
#include "net/testing/netns.h"
#include "net/testing/send_all.h"

namespace aoe {
namespace {

using std::chrono::milliseconds;
using testing::NetNamespace;

constexpr size_t kTagOffset = 20;
constexpr milliseconds kWait(3000);
// Any EtherType other than AoE's; 0x88B5 is reserved for local experiments.
constexpr uint16_t kOtherEtherType = 0x88B5;

std::vector<std::byte> Frame(MacAddress dst, MacAddress src, uint16_t ether_type, uint8_t ver_flags,
                             uint32_t tag, size_t size = 60) {
  std::vector<std::byte> frame(size);
  dst.Store(frame, 0);
  src.Store(frame, 6);
  StoreBe16(frame, kEtherTypeOffset, ether_type);
  if (size > kAoeVerFlagsOffset) StoreU8(frame, kAoeVerFlagsOffset, ver_flags);
  if (size >= kTagOffset + 4) StoreBe32(frame, kTagOffset, tag);
  // A recognisable payload so corruption or truncation shows.
  for (size_t i = kTagOffset + 4; i < size; ++i) frame[i] = std::byte(i * 7);
  return frame;
}

std::vector<std::byte> Request(const Port& from, MacAddress to, uint32_t tag, size_t size = 60) {
  return Frame(to, from.mac(), kAoeEtherType, 0x10, tag, size);
}
std::vector<std::byte> Response(const Port& from, MacAddress to, uint32_t tag, size_t size = 60) {
  return Frame(to, from.mac(), kAoeEtherType, 0x18, tag, size);
}

// Sends all frames (testing/send_all.h), retrying briefly if the socket's queue is full.
void SendAll(Port& port, const std::vector<std::vector<std::byte>>& frames) {
  Result<size_t> unsent = testing::SendAll(port, frames, kWait);
  ASSERT_TRUE(unsent) << unsent.error().message();
  ASSERT_EQ(*unsent, 0u) << *unsent << " frames unsent";
}

struct Received {
  std::vector<std::byte> bytes;
  bool truncated;
};

// Receives until `count` frames arrived or `wait` passed, `batch` slots of `slot_bytes` at a time.
std::vector<Received> ReceiveFrames(Port& port, size_t count, size_t slot_bytes = 9100,
                                    size_t batch = 16, milliseconds wait = kWait) {
  std::vector<Received> out;
  std::vector<std::byte> storage(slot_bytes * batch);
  std::vector<RxSlot> slots(batch);
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    pollfd p{port.fd(), POLLIN, 0};
    poll(&p, 1, 50);
    for (size_t i = 0; i < batch; ++i) {
      slots[i] = RxSlot{ByteSpan(storage).subspan(i * slot_bytes, slot_bytes)};
    }
    auto n = port.Receive(slots);
    EXPECT_TRUE(n) << n.error().message();
    if (!n) break;
    for (size_t i = 0; i < *n; ++i) {
      auto bytes = slots[i].buffer.first(slots[i].length);
      out.push_back({{bytes.begin(), bytes.end()}, slots[i].truncated});
    }
  }
  return out;
}

// Whatever arrives within a short grace period; for "nothing else arrived" checks. Frames on a
// veth arrive in order, so after a marker frame was received anything earlier is already queued.
std::vector<Received> ReceiveRest(Port& port) {
  return ReceiveFrames(port, SIZE_MAX, 9100, 16, milliseconds(100));
}

uint32_t TagOf(const Received& r) { return LoadBe32(r.bytes, kTagOffset); }

// The interface's ifindex as text, read from the namespace's own sysfs.
std::string IfIndexText(const NetNamespace& ns, const std::string& ifname) {
  std::string text = ns.Exec("cat /sys/class/net/" + ifname + "/ifindex").output;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

bool WaitForLink(Port& port, bool up) {
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (port.Refresh() && port.link_up() == up) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

// Frames the port dropped while reporting them as sent.
uint64_t TxDropped(const Port& port) {
  if (auto* socket = dynamic_cast<const PacketPort*>(&port)) return socket->tx_dropped();
  if (auto* ring = dynamic_cast<const RingPacketPort*>(&port)) return ring->tx_dropped();
  ADD_FAILURE() << "unknown port type";
  return 0;
}

class PacketPortNetnsTest : public ::testing::TestWithParam<PacketIo> {
 protected:
  static constexpr const char* kIfA = "aoe-a";  // initiator side, in ns_a_
  static constexpr const char* kIfB = "aoe-b";  // target side, in ns_b_

  void SetUp() override {
    if (std::string why = testing::NetnsUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
    auto segment = testing::CreateVethSegment("aoet", kIfA, kIfB);
    ASSERT_TRUE(segment);
    ns_a_.emplace(std::move(segment->a));
    ns_b_.emplace(std::move(segment->b));
    initiator_ = OpenIn(*ns_a_, kIfA, PortRole::kInitiator);
    target_ = OpenIn(*ns_b_, kIfB, PortRole::kTarget);
    ASSERT_TRUE(initiator_ && target_);
    ASSERT_TRUE(WaitForLink(*initiator_, true));
    ASSERT_TRUE(WaitForLink(*target_, true));
  }

  void TearDown() override {
    // Close the sockets first: a namespace lives on while a socket inside it is open.
    initiator_.reset();
    target_.reset();
    for (std::optional<NetNamespace>* ns : {&ns_a_, &ns_b_}) {
      if (*ns) {
        EXPECT_TRUE((*ns)->Delete());
      }
      ns->reset();
    }
  }

  // Opens the port under test inside `ns`; the socket stays there although the test runs
  // outside.
  static std::unique_ptr<Port> OpenIn(const NetNamespace& ns, const std::string& ifname,
                                      PortRole role) {
    std::optional<Result<OpenedPort>> opened;
    auto entered = ns.Run([&] { opened = OpenPacketPort(ifname, GetParam(), role); });
    EXPECT_TRUE(entered) << entered.error().message();
    if (!opened) return nullptr;
    EXPECT_TRUE(*opened) << opened->error().message();
    if (!*opened) return nullptr;
    EXPECT_EQ((*opened)->used, GetParam());
    return std::move((*opened)->port);
  }

  Result<OpenedPort> TryOpenIn(const NetNamespace& ns, const std::string& ifname) {
    Result<OpenedPort> opened = Errno(EINVAL);
    EXPECT_TRUE(ns.Run([&] { opened = OpenPacketPort(ifname, GetParam(), PortRole::kTarget); }));
    return opened;
  }

  std::optional<NetNamespace> ns_a_;
  std::optional<NetNamespace> ns_b_;
  std::unique_ptr<Port> initiator_;
  std::unique_ptr<Port> target_;
};

TEST_P(PacketPortNetnsTest, OpenReportsInterfaceAttributes) {
  EXPECT_EQ(target_->name(), kIfB);
  EXPECT_EQ(target_->mtu(), 1500u);
  EXPECT_FALSE(target_->mac().is_zero());
  EXPECT_NE(target_->mac(), initiator_->mac());
  EXPECT_GE(target_->fd(), 0);
  if (auto* socket = dynamic_cast<PacketPort*>(target_.get())) {
    EXPECT_GT(socket->receive_buffer_bytes(), 1 << 20) << "root may force large buffers";
  }
  if (auto* ring = dynamic_cast<RingPacketPort*>(target_.get())) {
    EXPECT_GE(ring->frame_capacity_bytes(), 9014u) << "room for an MTU raised to 9000 later";
    EXPECT_GE(ring->rx_frames(), 512u);
  }
}

TEST_P(PacketPortNetnsTest, OpenUnknownInterfaceFailsWithNoSuchDevice) {
  auto missing = TryOpenIn(*ns_a_, "nope0");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), std::errc::no_such_device);
  auto too_long = TryOpenIn(*ns_a_, "a-name-longer-than-ifnamsiz");
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error(), std::errc::no_such_device);
  // The host's interfaces are not visible from inside the namespace.
  EXPECT_FALSE(TryOpenIn(*ns_a_, "eth0"));
}

TEST_P(PacketPortNetnsTest, OpenWithoutCapNetRawFailsWithPermissionDenied) {
  // A forked child drops to an unprivileged uid (and with it all capabilities) before opening;
  // it fails at socket() and never reaches an interface.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    auto port = OpenPacketPort("lo", GetParam(), PortRole::kTarget);
    _exit(!port && port.error() == std::errc::operation_not_permitted ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "expected EPERM (2: could not drop privileges)";
}

TEST_P(PacketPortNetnsTest, HundredFramesEachWay) {
  std::vector<std::vector<std::byte>> requests;
  for (uint32_t tag = 0; tag < 100; ++tag) {
    requests.push_back(Request(*initiator_, target_->mac(), tag, 60 + tag));
  }
  SendAll(*initiator_, requests);
  auto at_target = ReceiveFrames(*target_, 100);
  ASSERT_EQ(at_target.size(), 100u);
  for (uint32_t tag = 0; tag < 100; ++tag) {
    EXPECT_EQ(at_target[tag].bytes, requests[tag]) << "frame " << tag;
    EXPECT_FALSE(at_target[tag].truncated);
  }

  std::vector<std::vector<std::byte>> responses;
  for (uint32_t tag = 0; tag < 100; ++tag) {
    responses.push_back(Response(*target_, initiator_->mac(), tag, 1060));
  }
  SendAll(*target_, responses);
  auto at_initiator = ReceiveFrames(*initiator_, 100);
  ASSERT_EQ(at_initiator.size(), 100u);
  for (uint32_t tag = 0; tag < 100; ++tag) EXPECT_EQ(at_initiator[tag].bytes, responses[tag]);
  EXPECT_TRUE(ReceiveRest(*target_).empty()) << "target must not see its own responses";
}

TEST_P(PacketPortNetnsTest, FramesWaitingTellsWithoutReceivingOnlyOnRings) {
  const bool ring = GetParam() == PacketIo::kRing;
  auto nothing = target_->FramesWaiting();
  ASSERT_EQ(nothing.has_value(), ring) << "only a ring can look without a system call";
  if (!ring) return;
  EXPECT_FALSE(*nothing);
  SendAll(*initiator_, {Request(*initiator_, target_->mac(), 7)});
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (target_->FramesWaiting() != true && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(target_->FramesWaiting(), true);
  EXPECT_EQ(target_->FramesWaiting(), true) << "looking takes nothing";
  ASSERT_EQ(ReceiveFrames(*target_, 1).size(), 1u);
  EXPECT_EQ(target_->FramesWaiting(), false);
}

TEST_P(PacketPortNetnsTest, ThousandsOfFramesInOrderWrapTheRings) {
  // More frames than a ring holds, in batches, so both rings wrap several times: every frame
  // arrives once, in order, intact.
  constexpr uint32_t kBatches = 40;
  constexpr uint32_t kBatch = 64;
  for (uint32_t b = 0; b < kBatches; ++b) {
    std::vector<std::vector<std::byte>> frames;
    for (uint32_t i = 0; i < kBatch; ++i) {
      uint32_t tag = b * kBatch + i;
      frames.push_back(Response(*target_, initiator_->mac(), tag, 60 + (tag * 37) % 1000));
    }
    SendAll(*target_, frames);
    auto got = ReceiveFrames(*initiator_, kBatch);
    ASSERT_EQ(got.size(), kBatch) << "batch " << b;
    for (uint32_t i = 0; i < kBatch; ++i) {
      ASSERT_EQ(got[i].bytes, frames[i]) << "batch " << b << " frame " << i;
    }
  }
  EXPECT_TRUE(ReceiveRest(*initiator_).empty());
}

// Receives in place until `count` frames arrived or kWait passed; the frames stay held.
std::vector<ConstByteSpan> ReceiveInPlace(Port& port, size_t count) {
  std::vector<ConstByteSpan> out;
  std::vector<RxSlot> slots(64);
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    pollfd p{port.fd(), POLLIN, 0};
    poll(&p, 1, 50);
    const size_t want = std::min(slots.size(), count - out.size());
    auto n = port.ReceiveInPlace(std::span(slots).first(want));
    EXPECT_TRUE(n) << n.error().message();
    if (!n) break;
    for (size_t i = 0; i < *n; ++i) {
      EXPECT_FALSE(slots[i].truncated);
      out.push_back(slots[i].received());
    }
  }
  return out;
}

// Waits up to kWait until the kernel has dropped `count` frames for want of a free RX ring slot
// (PACKET_STATISTICS, whose counters reset on every read).
bool KernelDropped(const Port& port, size_t count) {
  size_t dropped = 0;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (dropped < count && std::chrono::steady_clock::now() < deadline) {
    tpacket_stats stats{};
    socklen_t length = sizeof(stats);
    if (getsockopt(port.fd(), SOL_PACKET, PACKET_STATISTICS, &stats, &length) != 0) return false;
    dropped += stats.tp_drops;
    if (dropped < count) std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(dropped, count);
  return dropped == count;
}

// A receive ring can hand out frames where they arrived (what the target does with a write's
// data). A held frame's slot is not the kernel's: frames arriving meanwhile fill the other
// slots and are dropped once those are full, never written over a held one; the ring never
// hands a held frame out twice; after the release it goes on in order.
TEST_P(PacketPortNetnsTest, FramesReceivedInPlaceStayUntilReleased) {
  auto* ring = dynamic_cast<RingPacketPort*>(target_.get());
  ASSERT_EQ(target_->receives_in_place(), ring != nullptr);
  if (ring == nullptr) return;  // a socket copies every frame out of the kernel
  std::vector<std::vector<std::byte>> first;
  for (uint32_t tag = 0; tag < 100; ++tag) {
    first.push_back(Request(*initiator_, target_->mac(), tag, 60 + tag * 10));
  }
  SendAll(*initiator_, first);
  std::vector<ConstByteSpan> held = ReceiveInPlace(*target_, first.size());
  ASSERT_EQ(held.size(), first.size());

  // More frames than the ring has slots.
  const size_t free_slots = ring->rx_frames() - held.size();
  std::vector<std::vector<std::byte>> second;
  for (uint32_t i = 0; i < ring->rx_frames(); ++i) {
    second.push_back(Request(*initiator_, target_->mac(), 1000 + i, 60 + i % 1000));
  }
  SendAll(*initiator_, second);
  std::vector<ConstByteSpan> rest = ReceiveInPlace(*target_, free_slots);
  ASSERT_EQ(rest.size(), free_slots) << "every slot not held, and no more";
  for (size_t i = 0; i < rest.size(); ++i) {
    ASSERT_TRUE(std::ranges::equal(rest[i], second[i])) << "frame " << 1000 + i;
  }
  for (size_t i = 0; i < held.size(); ++i) {
    ASSERT_TRUE(std::ranges::equal(held[i], first[i])) << "held frame " << i << " changed";
  }
  std::vector<RxSlot> slots(8);
  EXPECT_EQ(target_->ReceiveInPlace(slots).value_or(99), 0u) << "the whole ring is held";
  // The kernel may still be delivering the last of `second` (from its softirq thread on a busy
  // machine): wait until it has dropped every one that found no slot.
  ASSERT_TRUE(KernelDropped(*target_, second.size() - free_slots));

  // After a release the ring goes on: the next frame arrives, in the slot after the last.
  auto next_frame_arrives = [&](uint32_t tag) {
    auto frame = Request(*initiator_, target_->mac(), tag);
    SendAll(*initiator_, {frame});
    std::vector<ConstByteSpan> got = ReceiveInPlace(*target_, 1);
    ASSERT_EQ(got.size(), 1u) << "frame " << tag;
    EXPECT_TRUE(std::ranges::equal(got[0], frame)) << "frame " << tag;
    target_->ReleaseInPlace();
  };
  target_->ReleaseInPlace();
  ASSERT_NO_FATAL_FAILURE(next_frame_arrives(5000));

  // A whole ring's worth held from the slot after that one, so the held run wraps round the
  // ring's end: all of it goes back, and the ring goes on.
  std::vector<std::vector<std::byte>> third;
  for (uint32_t i = 0; i < ring->rx_frames(); ++i) {
    third.push_back(Request(*initiator_, target_->mac(), 6000 + i, 60 + i % 500));
  }
  SendAll(*initiator_, third);
  std::vector<ConstByteSpan> wrapped = ReceiveInPlace(*target_, third.size());
  ASSERT_EQ(wrapped.size(), third.size());
  for (size_t i = 0; i < wrapped.size(); ++i) {
    ASSERT_TRUE(std::ranges::equal(wrapped[i], third[i])) << "frame " << 6000 + i;
  }
  target_->ReleaseInPlace();
  ASSERT_NO_FATAL_FAILURE(next_frame_arrives(7000));
  EXPECT_TRUE(ReceiveRest(*target_).empty());
}

// Builds `frame` in a lent TX slot, as the target builds a read reply; returns the span to send.
ConstByteSpan BuildInLent(ByteSpan lent, const std::vector<std::byte>& frame) {
  std::memcpy(lent.data(), frame.data(), frame.size());
  return lent.first(frame.size());
}

TEST_P(PacketPortNetnsTest, LentTxFramesAreSentInPlaceInOrder) {
  if (GetParam() == PacketIo::kSocket) {
    EXPECT_TRUE(target_->LendTxFrame().empty()) << "a socket has no slots to lend";
    return;
  }
  // Lent frames and copied ones mixed in one Send, in batches that wrap the ring many times:
  // every frame arrives once and intact, whether it was built in a slot or copied; the lent
  // ones in the order they were lent, ahead of the copied ones (their slots come first).
  constexpr uint32_t kBatches = 40;
  constexpr uint32_t kBatch = 48;
  for (uint32_t b = 0; b < kBatches; ++b) {
    std::vector<std::vector<std::byte>> frames;
    std::vector<TxFrame> spans;
    std::vector<std::vector<std::byte>> lent_first;
    std::vector<std::vector<std::byte>> copied_after;
    for (uint32_t i = 0; i < kBatch; ++i) {
      uint32_t tag = b * kBatch + i;
      frames.push_back(Response(*target_, initiator_->mac(), tag, 60 + (tag * 37) % 1400));
      if (i % 3 == 2) {
        spans.emplace_back(frames.back());
        copied_after.push_back(frames.back());
        continue;
      }
      ByteSpan lent = target_->LendTxFrame();
      ASSERT_GE(lent.size(), 1514u) << "batch " << b << " frame " << i;
      spans.push_back(BuildInLent(lent, frames.back()));
      lent_first.push_back(frames.back());
    }
    auto sent = target_->Send(spans);
    ASSERT_TRUE(sent) << sent.error().message();
    ASSERT_EQ(*sent, kBatch);
    auto got = ReceiveFrames(*initiator_, kBatch);
    ASSERT_EQ(got.size(), kBatch) << "batch " << b;
    lent_first.insert(lent_first.end(), copied_after.begin(), copied_after.end());
    for (uint32_t i = 0; i < kBatch; ++i) {
      ASSERT_EQ(got[i].bytes, lent_first[i]) << "batch " << b << " frame " << i;
    }
  }
  EXPECT_TRUE(ReceiveRest(*initiator_).empty());
  EXPECT_EQ(TxDropped(*target_), 0u);
}

TEST_P(PacketPortNetnsTest, LentTxFramesGivenBackOrLeftUnsentNeverStallTheRing) {
  if (GetParam() == PacketIo::kSocket) {
    EXPECT_TRUE(target_->LendTxFrame().empty()) << "a socket has no slots to lend";
    return;
  }
  // Per batch: one slot lent and given back unused, one lent and never sent (a caller breaking
  // port.h), one lent and sent. Over more batches than the ring has slots, a slot left
  // unready would stop the kernel at it for good; nothing but the sent frames may arrive.
  auto* ring = dynamic_cast<RingPacketPort*>(target_.get());
  ASSERT_NE(ring, nullptr);
  const uint32_t batches = static_cast<uint32_t>(ring->tx_frames()) + 50;
  for (uint32_t b = 0; b < batches; ++b) {
    ASSERT_FALSE(target_->LendTxFrame().empty());
    target_->ReturnTxFrame();
    ByteSpan forgotten = target_->LendTxFrame();
    ASSERT_FALSE(forgotten.empty()) << "batch " << b;
    auto stale = Response(*target_, initiator_->mac(), 0xdead0000 + b, 100);
    (void)BuildInLent(forgotten, stale);
    ByteSpan lent = target_->LendTxFrame();
    ASSERT_FALSE(lent.empty()) << "batch " << b;
    auto frame = Response(*target_, initiator_->mac(), b, 200);
    const TxFrame span{BuildInLent(lent, frame)};
    auto sent = target_->Send(std::span(&span, 1));
    ASSERT_TRUE(sent) << sent.error().message();
    auto got = ReceiveFrames(*initiator_, 1);
    ASSERT_EQ(got.size(), 1u) << "batch " << b;
    ASSERT_EQ(got[0].bytes, frame) << "batch " << b;
  }
  EXPECT_TRUE(ReceiveRest(*initiator_).empty()) << "an unsent lent slot must never be sent";
}

TEST_P(PacketPortNetnsTest, LentTxFramesWhileTheLinkIsDownAreDropped) {
  if (GetParam() == PacketIo::kSocket) {
    EXPECT_TRUE(target_->LendTxFrame().empty()) << "a socket has no slots to lend";
    return;
  }
  ASSERT_TRUE(ns_b_->Ip(std::string("link set ") + kIfB + " down"));
  ASSERT_TRUE(WaitForLink(*target_, false));
  for (uint32_t i = 0; i < 3; ++i) {
    ByteSpan lent = target_->LendTxFrame();
    ASSERT_FALSE(lent.empty());
    auto frame = Response(*target_, initiator_->mac(), 100 + i, 200);
    const TxFrame span{BuildInLent(lent, frame)};
    auto sent = target_->Send(std::span(&span, 1));
    ASSERT_TRUE(sent);
    EXPECT_EQ(*sent, 1u);
  }
  EXPECT_EQ(TxDropped(*target_), 3u);
  ASSERT_TRUE(ns_b_->Ip(std::string("link set ") + kIfB + " up"));
  ASSERT_TRUE(WaitForLink(*target_, true));
  ASSERT_TRUE(WaitForLink(*initiator_, true));
  // The dropped slots were taken back: the next lent frame goes out, and only it.
  ByteSpan lent = target_->LendTxFrame();
  ASSERT_FALSE(lent.empty());
  auto frame = Response(*target_, initiator_->mac(), 7, 200);
  const TxFrame span{BuildInLent(lent, frame)};
  ASSERT_TRUE(target_->Send(std::span(&span, 1)));
  auto got = ReceiveFrames(*initiator_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, frame);
  EXPECT_TRUE(ReceiveRest(*initiator_).empty());
}

TEST_P(PacketPortNetnsTest, CopiedFramesTakeNoTxRingSlot) {
  if (GetParam() == PacketIo::kSocket) {
    EXPECT_TRUE(target_->LendTxFrame().empty()) << "a socket has no slots to lend";
    return;
  }
  // Frames from the caller's own memory leave by the copy socket, not through TX ring slots
  // (ring_packet_port.h): the slot lent after sending them is the one right after the last
  // lent slot. Two slots lent together first give the distance between neighbours (the first
  // three slots lie in one ring block).
  auto lend_and_send = [&](size_t count, uint32_t tag) {
    std::vector<std::byte*> at;
    std::vector<std::vector<std::byte>> frames;
    std::vector<TxFrame> spans;
    for (size_t i = 0; i < count; ++i) {
      ByteSpan lent = target_->LendTxFrame();
      EXPECT_FALSE(lent.empty());
      at.push_back(lent.data());
      frames.push_back(Response(*target_, initiator_->mac(), tag + static_cast<uint32_t>(i)));
      spans.push_back(BuildInLent(lent, frames.back()));
    }
    auto sent = target_->Send(spans);
    EXPECT_TRUE(sent && *sent == count);
    EXPECT_EQ(ReceiveFrames(*initiator_, count).size(), count);
    return at;
  };
  std::vector<std::byte*> neighbours = lend_and_send(2, 1);
  ASSERT_EQ(neighbours.size(), 2u);
  const ptrdiff_t stride = neighbours[1] - neighbours[0];
  std::vector<std::vector<std::byte>> copied;
  for (uint32_t tag = 10; tag < 15; ++tag)
    copied.push_back(Response(*target_, initiator_->mac(), tag));
  SendAll(*target_, copied);
  auto got = ReceiveFrames(*initiator_, copied.size());
  ASSERT_EQ(got.size(), copied.size());
  for (size_t i = 0; i < copied.size(); ++i) EXPECT_EQ(got[i].bytes, copied[i]);
  std::vector<std::byte*> next = lend_and_send(1, 20);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0] - neighbours[1], stride) << "copied frames took ring slots";
  EXPECT_EQ(TxDropped(*target_), 0u);
}

TEST_P(PacketPortNetnsTest, AutoLendsNoTxSlotOnVethYetSendsEverything) {
  if (GetParam() == PacketIo::kSocket) return;  // about the rings' modes
  // `auto` on a veth: rings, but no slot lent (the veth would copy a lent frame again at
  // delivery, TxLending); every frame leaves by the copy socket. `ring` (the fixture's port)
  // lends on the same interface.
  std::optional<Result<OpenedPort>> opened;
  ASSERT_TRUE(
      ns_b_->Run([&] { opened = OpenPacketPort(kIfB, PacketIo::kAuto, PortRole::kTarget); }));
  ASSERT_TRUE(opened && *opened) << (opened && !*opened ? opened->error().message() : "");
  EXPECT_EQ((*opened)->used, PacketIo::kRing);
  auto* automatic = dynamic_cast<RingPacketPort*>((*opened)->port.get());
  ASSERT_NE(automatic, nullptr);
  EXPECT_FALSE(automatic->lends_tx_frames());
  EXPECT_TRUE(automatic->LendTxFrame().empty());
  auto* full = dynamic_cast<RingPacketPort*>(target_.get());
  ASSERT_NE(full, nullptr);
  EXPECT_TRUE(full->lends_tx_frames());

  std::vector<std::vector<std::byte>> frames;
  for (uint32_t tag = 0; tag < 100; ++tag) {
    frames.push_back(Response(*automatic, initiator_->mac(), tag, 60 + tag * 13));
  }
  SendAll(*automatic, frames);
  auto got = ReceiveFrames(*initiator_, frames.size());
  ASSERT_EQ(got.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(got[i].bytes, frames[i]) << "frame " << i;
  EXPECT_EQ(automatic->tx_dropped(), 0u);
}

TEST_P(PacketPortNetnsTest, PortOpenedWhileTheLinkIsDownSendsOnceItIsUpWithoutRefresh) {
  // An initiator opens its port and starts discovery at once, and never calls Refresh(): a port
  // opened while the link was still coming up must send as soon as it is up, whatever link_up()
  // remembered at opening.
  ASSERT_TRUE(ns_b_->Ip(std::string("link set ") + kIfB + " down"));
  ASSERT_TRUE(WaitForLink(*target_, false));
  std::unique_ptr<Port> opened_down = OpenIn(*ns_b_, kIfB, PortRole::kTarget);
  ASSERT_NE(opened_down, nullptr);
  EXPECT_FALSE(opened_down->link_up());
  ASSERT_TRUE(ns_b_->Ip(std::string("link set ") + kIfB + " up"));
  ASSERT_TRUE(WaitForLink(*initiator_, true));
  ASSERT_TRUE(WaitForLink(*target_, true));
  auto frame = Response(*opened_down, initiator_->mac(), 42, 200);
  std::vector<TxFrame> spans{ConstByteSpan(frame)};
  auto sent = opened_down->Send(spans);
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 1u);
  auto got = ReceiveFrames(*initiator_, 1);
  ASSERT_EQ(got.size(), 1u) << "a port opened while the link was down never sent";
  EXPECT_EQ(got[0].bytes, frame);
}

TEST_P(PacketPortNetnsTest, FramesLongerThanTheMtuAreDroppedAndCounted) {
  // A reply built for the old MTU while `ip link set mtu` shrinks it: dropped like a NIC would,
  // reported as sent (the initiator retransmits), counted; the next frame goes out.
  // The dropped frame in the middle of a batch too: sendmmsg then stops at it and reports no
  // error (it only does when it sent nothing), and the frames after it must still go.
  auto too_long = Response(*target_, initiator_->mac(), 1, target_->mtu() + 14 + 1);
  auto fits = Response(*target_, initiator_->mac(), 2, target_->mtu() + 14);
  auto after = Response(*target_, initiator_->mac(), 3, target_->mtu() + 14);
  std::vector<TxFrame> spans{ConstByteSpan(too_long), ConstByteSpan(fits), ConstByteSpan(too_long),
                             ConstByteSpan(after)};
  auto sent = target_->Send(spans);
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 4u);
  EXPECT_EQ(TxDropped(*target_), 2u);
  auto got = ReceiveFrames(*initiator_, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].bytes, fits);
  EXPECT_EQ(got[1].bytes, after);
  EXPECT_TRUE(ReceiveRest(*initiator_).empty());
}

TEST_P(PacketPortNetnsTest, TargetSeesOnlyAoeRequests) {
  MacAddress to = target_->mac();
  SendAll(*initiator_, {
                           Response(*initiator_, to, 1),
                           Frame(to, initiator_->mac(), kOtherEtherType, 0x10, 2),
                           Frame(to, initiator_->mac(), kAoeEtherType, 0x10, 3, 14),  // no flags
                           Response(*initiator_, MacAddress::Broadcast(), 4),
                           Request(*initiator_, to, 5),
                       });
  auto got = ReceiveFrames(*target_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(TagOf(got[0]), 5u);
  EXPECT_TRUE(ReceiveRest(*target_).empty());
}

// A unicast frame for another host reaches the socket on a veth (as on any promiscuous or
// flooded port); the kernel's filter drops it. Broadcasts still pass, and a monitor (kAny) sees
// everything.
TEST_P(PacketPortNetnsTest, NeitherRoleSeesFramesForAnotherHost) {
  const MacAddress other({0x02, 0x00, 0x00, 0x00, 0x00, 0x99});
  auto monitor = OpenIn(*ns_b_, kIfB, PortRole::kAny);
  ASSERT_TRUE(monitor);
  SendAll(*initiator_, {
                           Request(*initiator_, other, 1),
                           Request(*initiator_, MacAddress::Broadcast(), 2),
                           Request(*initiator_, target_->mac(), 3),
                       });
  auto got = ReceiveFrames(*target_, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(TagOf(got[0]), 2u);
  EXPECT_EQ(TagOf(got[1]), 3u);
  EXPECT_TRUE(ReceiveRest(*target_).empty());
  got = ReceiveFrames(*monitor, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(TagOf(got[0]), 1u);

  SendAll(*target_, {Response(*target_, other, 4), Response(*target_, initiator_->mac(), 5)});
  got = ReceiveFrames(*initiator_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(TagOf(got[0]), 5u);
  EXPECT_TRUE(ReceiveRest(*initiator_).empty());
}

TEST_P(PacketPortNetnsTest, InitiatorSeesOnlyAoeResponses) {
  MacAddress to = initiator_->mac();
  SendAll(*target_, {
                        Request(*target_, to, 1),
                        Frame(to, target_->mac(), kOtherEtherType, 0x18, 2),
                        Request(*target_, MacAddress::Broadcast(), 3),
                        Response(*target_, to, 4),
                    });
  auto got = ReceiveFrames(*initiator_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(TagOf(got[0]), 4u);
  EXPECT_TRUE(ReceiveRest(*initiator_).empty());
}

TEST_P(PacketPortNetnsTest, PortDoesNotSeeItsOwnFrames) {
  auto monitor = OpenIn(*ns_a_, kIfA, PortRole::kAny);
  ASSERT_TRUE(monitor);
  SendAll(*monitor, {Request(*monitor, MacAddress::Broadcast(), 1)});
  ASSERT_EQ(ReceiveFrames(*target_, 1).size(), 1u);
  EXPECT_TRUE(ReceiveRest(*monitor).empty());
}

TEST_P(PacketPortNetnsTest, JumboFramesAtMtu9000) {
  ASSERT_TRUE(ns_a_->Ip(std::string("link set ") + kIfA + " mtu 9000"));
  ASSERT_TRUE(ns_b_->Ip(std::string("link set ") + kIfB + " mtu 9000"));
  ASSERT_TRUE(initiator_->Refresh());
  ASSERT_TRUE(target_->Refresh());
  EXPECT_EQ(initiator_->mtu(), 9000u);
  EXPECT_EQ(target_->mtu(), 9000u);

  auto jumbo = Request(*initiator_, target_->mac(), 1, 9014);
  SendAll(*initiator_, {jumbo});
  auto got = ReceiveFrames(*target_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, jumbo);
  EXPECT_FALSE(got[0].truncated);

  // One byte over the MTU: the kernel refuses it; the port drops it like a NIC would and goes on
  // with the rest of the batch.
  auto too_big = Request(*initiator_, target_->mac(), 2, 9015);
  auto after = Request(*initiator_, target_->mac(), 3);
  SendAll(*initiator_, {too_big, after});
  EXPECT_EQ(TxDropped(*initiator_), 1u);
  got = ReceiveFrames(*target_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(TagOf(got[0]), 3u);
}

TEST_P(PacketPortNetnsTest, TruncationIsReported) {
  auto big = Request(*initiator_, target_->mac(), 1, 1000);
  SendAll(*initiator_, {big, Request(*initiator_, target_->mac(), 2)});
  auto got = ReceiveFrames(*target_, 2, /*slot_bytes=*/100);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].truncated);
  ASSERT_EQ(got[0].bytes.size(), 100u);
  EXPECT_TRUE(std::equal(got[0].bytes.begin(), got[0].bytes.end(), big.begin()));
  EXPECT_FALSE(got[1].truncated);
  EXPECT_EQ(got[1].bytes.size(), 60u);
}

TEST_P(PacketPortNetnsTest, RefreshSeesMtuAndLinkChanges) {
  ASSERT_TRUE(ns_b_->Ip(std::string("link set ") + kIfB + " mtu 4000"));
  EXPECT_EQ(target_->mtu(), 1500u) << "cached until Refresh";
  ASSERT_TRUE(target_->Refresh());
  EXPECT_EQ(target_->mtu(), 4000u);

  // Taking the peer down drops the target's carrier.
  ASSERT_TRUE(ns_a_->Ip(std::string("link set ") + kIfA + " down"));
  EXPECT_TRUE(WaitForLink(*target_, false));
  EXPECT_TRUE(WaitForLink(*initiator_, false));
  // Sending on a down link drops silently instead of failing.
  auto frame = Request(*initiator_, target_->mac(), 1);
  auto sent = initiator_->Send(std::vector<TxFrame>(3, ConstByteSpan(frame)));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 3u);
  EXPECT_EQ(TxDropped(*initiator_), 3u);

  ASSERT_TRUE(ns_a_->Ip(std::string("link set ") + kIfA + " up"));
  EXPECT_TRUE(WaitForLink(*target_, true));
  EXPECT_TRUE(WaitForLink(*initiator_, true));
  SendAll(*initiator_, {Request(*initiator_, target_->mac(), 2)});
  auto got = ReceiveFrames(*target_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(TagOf(got[0]), 2u);
}

TEST_P(PacketPortNetnsTest, SurvivesVethDeletedAndRecreated) {
  const int target_fd = target_->fd();
  // Round 0 refreshes while the interface is missing. Round 1 re-creates it before anyone
  // notices, with a new ifindex. Round 2 re-creates the target's end with its old ifindex, so
  // only the socket's lost binding tells Refresh to re-bind.
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    std::string old_ifindex = IfIndexText(*ns_b_, kIfB);
    ASSERT_TRUE(ns_a_->Ip(std::string("link del ") + kIfA));  // removes both ends

    // The pending ENETDOWN makes the fd readable once; Receive consumes it without failing,
    // so an event loop does not spin on it.
    std::array<std::byte, 100> buffer{};
    RxSlot slot{buffer};
    for (int i = 0; i < 3; ++i) {
      auto n = target_->Receive(std::span(&slot, 1));
      ASSERT_TRUE(n) << n.error().message();
      EXPECT_EQ(*n, 0u);
    }
    pollfd p{target_->fd(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0) << "fd must not stay readable while the interface is gone";

    if (round == 0) {
      auto refreshed = target_->Refresh();
      ASSERT_FALSE(refreshed);
      EXPECT_EQ(refreshed.error(), std::errc::no_such_device);
      EXPECT_FALSE(target_->link_up());
      EXPECT_FALSE(initiator_->Refresh());
      // While missing: Send drops and reports success, Receive returns nothing.
      auto frame = Response(*target_, MacAddress::Broadcast(), 1);
      auto sent = target_->Send(std::vector<TxFrame>(5, ConstByteSpan(frame)));
      ASSERT_TRUE(sent);
      EXPECT_EQ(*sent, 5u);
      auto n = target_->Receive(std::span(&slot, 1));
      ASSERT_TRUE(n);
      EXPECT_EQ(*n, 0u);
    }

    if (round < 2) {
      ASSERT_TRUE(testing::CreateVethPair(*ns_a_, kIfA, *ns_b_, kIfB));
    } else {
      ASSERT_TRUE(ns_b_->Ip(std::string("link add ") + kIfB + " index " + old_ifindex +
                            " type veth peer name " + kIfA + " netns " + ns_a_->name()));
      ASSERT_TRUE(ns_a_->Ip(std::string("link set ") + kIfA + " up"));
      ASSERT_TRUE(ns_b_->Ip(std::string("link set ") + kIfB + " up"));
      EXPECT_EQ(IfIndexText(*ns_b_, kIfB), old_ifindex);
    }
    ASSERT_TRUE(WaitForLink(*target_, true));
    ASSERT_TRUE(WaitForLink(*initiator_, true));
    EXPECT_EQ(target_->fd(), target_fd) << "re-bound, not re-opened";

    std::vector<std::vector<std::byte>> requests, responses;
    for (uint32_t tag = 0; tag < 10; ++tag) {
      requests.push_back(Request(*initiator_, target_->mac(), tag));
      responses.push_back(Response(*target_, initiator_->mac(), tag));
    }
    SendAll(*initiator_, requests);
    EXPECT_EQ(ReceiveFrames(*target_, 10).size(), 10u);
    SendAll(*target_, responses);
    EXPECT_EQ(ReceiveFrames(*initiator_, 10).size(), 10u);
  }
}

INSTANTIATE_TEST_SUITE_P(EachPort, PacketPortNetnsTest,
                         ::testing::Values(PacketIo::kSocket, PacketIo::kRing),
                         [](const ::testing::TestParamInfo<PacketIo>& param) {
                           return std::string(PacketIoName(param.param));
                         });

}  // namespace
}  // namespace aoe
