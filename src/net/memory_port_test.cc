#include "net/memory_port.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <vector>

#include "base/clock.h"

namespace aoe {
namespace {

constexpr MacAddress kTargetMac({0x02, 0, 0, 0, 0, 0x01});
constexpr MacAddress kOtherTargetMac({0x02, 0, 0, 0, 0, 0x02});
constexpr MacAddress kInitiatorMac({0x02, 0, 0, 0, 0, 0x03});
constexpr size_t kTagOffset = 20;

// A minimal AoE frame: Ethernet header, ver/flags, and a tag to tell frames apart.
std::vector<std::byte> AoeFrame(MacAddress dst, MacAddress src, bool response, uint32_t tag,
                                size_t size = 60, uint16_t ether_type = kAoeEtherType) {
  std::vector<std::byte> frame(size);
  dst.Store(frame, 0);
  src.Store(frame, 6);
  StoreBe16(frame, kEtherTypeOffset, ether_type);
  StoreU8(frame, kAoeVerFlagsOffset, response ? 0x18 : 0x10);
  if (size >= kTagOffset + 4) StoreBe32(frame, kTagOffset, tag);
  return frame;
}

size_t SendOne(Port& port, const std::vector<std::byte>& frame) {
  const TxFrame span{ConstByteSpan(frame)};
  return port.Send(std::span(&span, 1)).value();
}

// Receives everything queued and returns the frames' tags in arrival order.
std::vector<uint32_t> DrainTags(Port& port) {
  std::vector<uint32_t> tags;
  std::vector<std::byte> storage(16 * 1024 * 8);
  std::vector<RxSlot> slots(8);
  for (size_t i = 0; i < slots.size(); ++i) {
    slots[i].buffer = ByteSpan(storage).subspan(i * 16 * 1024, 16 * 1024);
  }
  while (true) {
    size_t n = port.Receive(slots).value();
    if (n == 0) return tags;
    for (size_t i = 0; i < n; ++i) {
      tags.push_back(LoadBe32(slots[i].buffer.first(slots[i].length), kTagOffset));
    }
  }
}

bool PollsReadable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

class MemoryPortTest : public ::testing::Test {
 protected:
  std::unique_ptr<MemoryPort> MakePort(std::string name, MacAddress mac, PortRole role) {
    return MemoryPort::Create(wire_, {.name = std::move(name), .mac = mac, .role = role}).value();
  }

  MemoryWire wire_;
  std::unique_ptr<MemoryPort> target_ = MakePort("t0", kTargetMac, PortRole::kTarget);
  std::unique_ptr<MemoryPort> other_target_ = MakePort("t1", kOtherTargetMac, PortRole::kTarget);
  std::unique_ptr<MemoryPort> initiator_ = MakePort("i0", kInitiatorMac, PortRole::kInitiator);
};

TEST_F(MemoryPortTest, UnicastReachesOnlyTheAddressedPort) {
  EXPECT_EQ(SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 7)), 1u);
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{7});
  EXPECT_TRUE(DrainTags(*other_target_).empty());
}

// Ports of one interface in a fanout group share its frames as PACKET_FANOUT members do: each
// frame reaches the one member FanoutMember picks (net/fanout.h), the first to join being 0.
TEST_F(MemoryPortTest, AFanoutGroupHandsEachFrameToOneMember) {
  auto second = MakePort("t0", kTargetMac, PortRole::kTarget);
  const uint16_t group = target_->JoinFanout(0).value();
  ASSERT_EQ(second->JoinFanout(group).value(), group);
  const MacAddress even({0x02, 0, 0, 0, 0, 0x10});
  const MacAddress odd({0x02, 0, 0, 0, 0, 0x11});
  std::vector<std::byte> ata_from_odd = AoeFrame(kTargetMac, odd, false, 1);
  SendOne(*initiator_, AoeFrame(kTargetMac, even, false, 1));  // ATA (command 0): by MAC
  SendOne(*initiator_, ata_from_odd);
  std::vector<std::byte> config_from_odd = AoeFrame(kTargetMac, odd, false, 2);
  StoreU8(config_from_odd, 19, 1);  // config: member 0
  SendOne(*initiator_, config_from_odd);
  EXPECT_EQ(target_->queued_frames(), 2u);
  EXPECT_EQ(second->queued_frames(), 1u);
  EXPECT_EQ(DrainTags(*second), std::vector<uint32_t>{1});
}

TEST_F(MemoryPortTest, AFanoutGroupSendsItsFirstMemberDisksToMemberZero) {
  auto second = MakePort("t0", kTargetMac, PortRole::kTarget);
  EXPECT_EQ(target_->SetFanoutFirstDisks({}).error(), std::errc::invalid_argument);  // no group
  const uint16_t group = target_->JoinFanout(0).value();
  ASSERT_EQ(second->JoinFanout(group).value(), group);
  const MacAddress odd({0x02, 0, 0, 0, 0, 0x11});
  auto ata_from_odd_to = [&](uint16_t major, uint8_t minor, uint32_t tag) {
    std::vector<std::byte> frame = AoeFrame(kTargetMac, odd, false, tag);
    StoreBe16(frame, kAoeMajorOffset, major);
    StoreU8(frame, kAoeMinorOffset, minor);
    return frame;
  };
  const std::vector<FanoutDisk> first = {{1, 2}};
  ASSERT_TRUE(second->SetFanoutFirstDisks(first));  // any member sets the group's
  SendOne(*initiator_, ata_from_odd_to(1, 2, 1));
  SendOne(*initiator_, ata_from_odd_to(1, 3, 2));
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{1});
  EXPECT_EQ(DrainTags(*second), std::vector<uint32_t>{2});
  ASSERT_TRUE(target_->SetFanoutFirstDisks({}));
  SendOne(*initiator_, ata_from_odd_to(1, 2, 3));
  EXPECT_EQ(DrainTags(*second), std::vector<uint32_t>{3});
  const std::vector<FanoutDisk> too_many(kMaxFanoutFirstDisks + 1);
  EXPECT_EQ(target_->SetFanoutFirstDisks(too_many).error(), std::errc::invalid_argument);
}

TEST_F(MemoryPortTest, AFanoutGroupTakesOnePortOnceAndOnlyItsInterface) {
  const uint16_t group = target_->JoinFanout(0).value();
  EXPECT_EQ(target_->JoinFanout(group).error(), std::errc::invalid_argument);
  EXPECT_EQ(other_target_->JoinFanout(group).error(), std::errc::invalid_argument);  // "t1"
  EXPECT_NE(other_target_->JoinFanout(0).value(), group);  // a group of its own
}

TEST_F(MemoryPortTest, BroadcastReachesEveryOtherPort) {
  SendOne(*initiator_, AoeFrame(MacAddress::Broadcast(), kInitiatorMac, false, 1));
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{1});
  EXPECT_EQ(DrainTags(*other_target_), std::vector<uint32_t>{1});
}

TEST_F(MemoryPortTest, MulticastReachesEveryOtherPort) {
  constexpr MacAddress kMulticast({0x01, 0x00, 0x5e, 0x00, 0x00, 0x01});
  SendOne(*initiator_, AoeFrame(kMulticast, kInitiatorMac, false, 2));
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{2});
  EXPECT_EQ(DrainTags(*other_target_), std::vector<uint32_t>{2});
}

TEST_F(MemoryPortTest, SenderDoesNotSeeItsOwnFrames) {
  auto monitor = MakePort("m0", MacAddress({0x02, 0, 0, 0, 0, 9}), PortRole::kAny);
  auto sender = MakePort("m1", MacAddress({0x02, 0, 0, 0, 0, 8}), PortRole::kAny);
  SendOne(*sender, AoeFrame(MacAddress::Broadcast(), sender->mac(), true, 3));
  EXPECT_TRUE(DrainTags(*sender).empty());
  EXPECT_EQ(DrainTags(*monitor), std::vector<uint32_t>{3});
}

TEST_F(MemoryPortTest, TargetDoesNotSeeResponses) {
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, true, 4));
  EXPECT_TRUE(DrainTags(*target_).empty());
  EXPECT_EQ(target_->stats().rx_filtered, 1u);
}

TEST_F(MemoryPortTest, InitiatorDoesNotSeeRequests) {
  SendOne(*target_, AoeFrame(kInitiatorMac, kTargetMac, false, 5));
  EXPECT_TRUE(DrainTags(*initiator_).empty());
  SendOne(*target_, AoeFrame(kInitiatorMac, kTargetMac, true, 6));
  EXPECT_EQ(DrainTags(*initiator_), std::vector<uint32_t>{6});
}

TEST_F(MemoryPortTest, NonAoeEtherTypeIsFiltered) {
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 8, 60, 0x0800));
  EXPECT_TRUE(DrainTags(*target_).empty());
  EXPECT_EQ(target_->stats().rx_filtered, 1u);
}

TEST_F(MemoryPortTest, FrameLargerThanMtuIsDroppedOnSendAndCounted) {
  EXPECT_EQ(initiator_->mtu(), 1500u);
  EXPECT_EQ(SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 1, 1514)), 1u);
  EXPECT_EQ(SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 2, 1515)), 1u);
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{1});
  EXPECT_EQ(initiator_->stats().tx_oversize, 1u);
  EXPECT_EQ(initiator_->stats().tx_frames, 1u);
}

TEST_F(MemoryPortTest, JumboFramesPassWhenBothMtusAllowThem) {
  initiator_->set_mtu(9000);
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 1, 9014));
  EXPECT_TRUE(DrainTags(*target_).empty()) << "receiver's MTU is still 1500";
  EXPECT_EQ(target_->stats().rx_oversize, 1u);
  target_->set_mtu(9000);
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 2, 9014));
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{2});
}

TEST_F(MemoryPortTest, TruncationIsReported) {
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 1, 1000));
  std::array<std::byte, 100> small{};
  RxSlot slot{small};
  ASSERT_EQ(target_->Receive(std::span(&slot, 1)).value(), 1u);
  EXPECT_TRUE(slot.truncated);
  EXPECT_EQ(slot.length, 100u);
}

TEST_F(MemoryPortTest, FdPollsReadableExactlyWhileFramesAreQueued) {
  EXPECT_FALSE(PollsReadable(target_->fd()));
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 1));
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 2));
  EXPECT_TRUE(PollsReadable(target_->fd()));
  std::array<std::byte, 100> buffer{};
  RxSlot slot{buffer};
  ASSERT_EQ(target_->Receive(std::span(&slot, 1)).value(), 1u);
  EXPECT_TRUE(PollsReadable(target_->fd())) << "one frame still queued";
  ASSERT_EQ(target_->Receive(std::span(&slot, 1)).value(), 1u);
  EXPECT_FALSE(PollsReadable(target_->fd()));
}

TEST_F(MemoryPortTest, FullReceiveQueueDropsAndCounts) {
  auto small = MemoryPort::Create(wire_, {.name = "t2",
                                          .mac = MacAddress({0x02, 0, 0, 0, 0, 7}),
                                          .role = PortRole::kTarget,
                                          .rx_queue_frames = 3})
                   .value();
  for (uint32_t tag = 0; tag < 5; ++tag) {
    SendOne(*initiator_, AoeFrame(small->mac(), kInitiatorMac, false, tag));
  }
  EXPECT_EQ(DrainTags(*small), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(small->stats().rx_overflow, 2u);
}

TEST_F(MemoryPortTest, LinkDownDropsSilently) {
  initiator_->set_link_up(false);
  EXPECT_FALSE(initiator_->link_up());
  EXPECT_EQ(SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 1)), 1u);
  EXPECT_EQ(initiator_->stats().tx_dropped, 1u);
  initiator_->set_link_up(true);
  target_->set_link_up(false);
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 2));
  target_->set_link_up(true);
  EXPECT_TRUE(DrainTags(*target_).empty());
}

TEST_F(MemoryPortTest, MissingInterfaceBehavesLikePacketPort) {
  target_->set_present(false);
  EXPECT_EQ(target_->Refresh().error(), std::errc::no_such_device);
  EXPECT_FALSE(target_->link_up());
  EXPECT_EQ(SendOne(*target_, AoeFrame(kInitiatorMac, kTargetMac, true, 1)), 1u);
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 2));
  EXPECT_TRUE(DrainTags(*target_).empty());
  EXPECT_TRUE(DrainTags(*initiator_).empty());

  target_->set_present(true);
  EXPECT_TRUE(target_->Refresh());
  EXPECT_TRUE(target_->link_up());
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 3));
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{3});
}

// ---- fault injector ---------------------------------------------------------------------------

class FaultInjectorTest : public MemoryPortTest {
 protected:
  // Sends requests tagged 0..count-1 from the initiator and returns what the target received.
  std::vector<uint32_t> SendSequence(uint32_t count) {
    std::vector<uint32_t> received;
    auto drain = [&] {
      std::vector<uint32_t> tags = DrainTags(*target_);
      received.insert(received.end(), tags.begin(), tags.end());
    };
    for (uint32_t tag = 0; tag < count; ++tag) {
      SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, tag));
      if (tag % 1000 == 999) drain();  // stay below the receive queue limit
    }
    wire_.FlushHeld();
    drain();
    return received;
  }
};

TEST_F(FaultInjectorTest, NoFaultsByDefault) {
  EXPECT_EQ(SendSequence(4), (std::vector<uint32_t>{0, 1, 2, 3}));
}

TEST_F(FaultInjectorTest, DropProbabilityOneDropsEverything) {
  wire_.SetFaults({.drop_probability = 1.0});
  EXPECT_TRUE(SendSequence(10).empty());
  EXPECT_EQ(wire_.stats().dropped, 10u);
}

TEST_F(FaultInjectorTest, DuplicateProbabilityOneDeliversTwice) {
  wire_.SetFaults({.duplicate_probability = 1.0});
  EXPECT_EQ(SendSequence(2), (std::vector<uint32_t>{0, 0, 1, 1}));
  EXPECT_EQ(wire_.stats().duplicated, 2u);
}

TEST_F(FaultInjectorTest, ReorderDeliversHeldFrameAfterTheNextOne) {
  wire_.SetFaults({.reorder_probability = 1.0});
  EXPECT_EQ(SendSequence(5), (std::vector<uint32_t>{1, 0, 3, 2, 4}));
  EXPECT_EQ(wire_.stats().reordered, 3u);
}

TEST_F(FaultInjectorTest, HeldFrameWaitsForFlush) {
  wire_.SetFaults({.reorder_probability = 1.0});
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 9));
  EXPECT_TRUE(DrainTags(*target_).empty());
  wire_.FlushHeld();
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{9});
}

TEST_F(FaultInjectorTest, FramesLongerThanTheWireCarriesVanish) {
  initiator_->set_mtu(9000);
  target_->set_mtu(9000);
  wire_.SetFaults({.max_frame_bytes = 1514});
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 1, 1514));
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 2, 1515));
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 3, 9014));
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{1});
  EXPECT_EQ(wire_.stats().dropped, 2u);
}

TEST_F(FaultInjectorTest, SameSeedGivesSameFaults) {
  FaultConfig faults{.drop_probability = 0.2,
                     .duplicate_probability = 0.1,
                     .reorder_probability = 0.1,
                     .seed = 42};
  wire_.SetFaults(faults);
  std::vector<uint32_t> first = SendSequence(1000);
  wire_.SetFaults(faults);
  std::vector<uint32_t> second = SendSequence(1000);
  EXPECT_EQ(first, second);

  faults.seed = 43;
  wire_.SetFaults(faults);
  EXPECT_NE(SendSequence(1000), first);
}

TEST_F(FaultInjectorTest, DelayedFrameArrivesAfterItsTimeBehindLaterFrames) {
  FakeClock clock;
  wire_.SetClock(clock);
  wire_.SetFaults({.delay_probability = 1.0, .delay = std::chrono::milliseconds(10)});
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 1));
  clock.Advance(std::chrono::milliseconds(5));
  wire_.SetFaults({});
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 2));
  wire_.DeliverDue();
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{2});  // 1 is still on its way
  EXPECT_EQ(wire_.NextDue(), clock.Now() + std::chrono::milliseconds(5));
  clock.Advance(std::chrono::milliseconds(5));
  wire_.DeliverDue();
  EXPECT_EQ(DrainTags(*target_), std::vector<uint32_t>{1});
  EXPECT_FALSE(wire_.NextDue().has_value());
  EXPECT_EQ(wire_.stats().delayed, 1u);
}

TEST_F(FaultInjectorTest, DelayNextHoldsOnlyTheFirstMatchingFrame) {
  FakeClock clock;
  wire_.SetClock(clock);
  wire_.DelayNext(std::chrono::seconds(1),
                  [](ConstByteSpan frame) { return LoadBe32(frame, kTagOffset) == 2; });
  EXPECT_EQ(SendSequence(4), (std::vector<uint32_t>{0, 1, 3}));
  clock.Advance(std::chrono::seconds(1));
  // A send after the due time delivers the delayed frame first.
  SendOne(*initiator_, AoeFrame(kTargetMac, kInitiatorMac, false, 4));
  EXPECT_EQ(DrainTags(*target_), (std::vector<uint32_t>{2, 4}));
}

TEST_F(FaultInjectorTest, ConfigurationsWithoutDelayKeepTheirFaultSequence) {
  // Adding the delay fault must not change what existing seeds do: its draw is made only when
  // it is configured.
  wire_.SetFaults({.drop_probability = 0.3, .reorder_probability = 0.2, .seed = 9});
  std::vector<uint32_t> received = SendSequence(12);
  // The sequence the injector gave for this seed before delays existed.
  EXPECT_EQ(received, (std::vector<uint32_t>{0, 1, 2, 4, 5, 6, 7, 10, 11}));
}

TEST_F(FaultInjectorTest, LossRateFollowsProbability) {
  wire_.SetFaults({.drop_probability = 0.3, .seed = 7});
  size_t delivered = SendSequence(10000).size();
  EXPECT_GT(delivered, 6700u);
  EXPECT_LT(delivered, 7300u);
}

}  // namespace
}  // namespace aoe
