// Fanout (fanout.h) against the kernel: target ports in one namespace joined to a fanout group,
// requests from forged source MACs sent over a veth pair, and each frame must reach the member
// FanoutMember names, over both port kinds (PacketIo kSocket and kRing, forced).
//
// Needs root (skips otherwise). The veth pair exists only inside the test's namespaces.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <thread>
#include <vector>

#include "net/fanout.h"
#include "net/packet_io.h"
#include "net/testing/netns.h"
#include "net/testing/send_all.h"

namespace aoe {
namespace {

using std::chrono::milliseconds;
using testing::Bytes;
using testing::NetNamespace;

constexpr size_t kTagOffset = 20;
constexpr uint8_t kConfigCommand = 1;
constexpr uint8_t kReserveCommand = 3;
constexpr milliseconds kWait(3000);

// A request from `source` (forged: the veth sends frames as given) with `tag`.
Bytes Request(MacAddress to, MacAddress source, uint8_t command, uint32_t tag) {
  Bytes frame(60);
  to.Store(frame, 0);
  source.Store(frame, 6);
  StoreBe16(frame, kEtherTypeOffset, kAoeEtherType);
  StoreU8(frame, kAoeVerFlagsOffset, 0x10);
  StoreU8(frame, kAoeCommandOffset, command);
  StoreBe32(frame, kTagOffset, tag);
  return frame;
}

MacAddress Initiator(uint32_t n) {
  return MacAddress({0x02, 0x00, 0x5e, 0x10, uint8_t(n >> 8), uint8_t(n)});
}

class FanoutNetnsTest : public ::testing::TestWithParam<PacketIo> {
 protected:
  static constexpr const char* kIfA = "fan-a";  // the initiators' side, in ns_a_
  static constexpr const char* kIfB = "fan-b";  // the target's side, in ns_b_

  void SetUp() override {
    if (std::string why = testing::NetnsUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
    auto segment = testing::CreateVethSegment("aoet", kIfA, kIfB);
    ASSERT_TRUE(segment);
    ns_a_.emplace(std::move(segment->a));
    ns_b_.emplace(std::move(segment->b));
    ASSERT_TRUE(ns_a_->Run([&] {
      auto opened = OpenPacketPort(kIfA, PacketIo::kSocket, PortRole::kInitiator);
      if (opened) sender_ = std::move(opened->port);
    }));
    ASSERT_TRUE(sender_);
  }

  void TearDown() override {
    // Sockets first: a namespace lives on while a socket inside it is open.
    members_.clear();
    sender_.reset();
    for (std::optional<NetNamespace>* ns : {&ns_a_, &ns_b_}) {
      if (*ns) {
        EXPECT_TRUE((*ns)->Delete());
      }
      ns->reset();
    }
  }

  // Opens `count` target ports on the target's end and joins them to one new group, in order:
  // members_[i] is member i.
  void OpenMembers(size_t count) {
    uint16_t group = 0;
    for (size_t i = 0; i < count; ++i) {
      std::unique_ptr<Port> port;
      ASSERT_TRUE(ns_b_->Run([&] {
        auto opened = OpenPacketPort(kIfB, GetParam(), PortRole::kTarget);
        ASSERT_TRUE(opened) << opened.error().message();
        ASSERT_EQ(opened->used, GetParam());
        port = std::move(opened->port);
      }));
      ASSERT_TRUE(port);
      auto joined = JoinSourceMacFanout(port->fd(), group);
      ASSERT_TRUE(joined) << joined.error().message();
      if (group == 0) {
        EXPECT_NE(*joined, 0) << "the kernel gives a new group an id";
        group = *joined;
      }
      EXPECT_EQ(*joined, group);
      members_.push_back(std::move(port));
    }
  }

  // Receives on every member until `count` frames arrived in all or kWait passed; the tags
  // each member received, in order.
  std::vector<std::vector<uint32_t>> ReceiveTags(size_t count) {
    std::vector<std::vector<uint32_t>> tags(members_.size());
    Bytes storage(9100 * 16);
    std::vector<RxSlot> slots(16);
    size_t received = 0;
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (received < count && std::chrono::steady_clock::now() < deadline) {
      std::vector<pollfd> ready;
      for (const auto& member : members_) ready.push_back({member->fd(), POLLIN, 0});
      poll(ready.data(), ready.size(), 50);
      for (size_t m = 0; m < members_.size(); ++m) {
        for (size_t i = 0; i < slots.size(); ++i) {
          slots[i] = RxSlot{ByteSpan(storage).subspan(i * 9100, 9100)};
        }
        auto n = members_[m]->Receive(slots);
        EXPECT_TRUE(n) << n.error().message();
        if (!n) continue;
        for (size_t i = 0; i < *n; ++i) {
          tags[m].push_back(LoadBe32(slots[i].buffer.first(slots[i].length), kTagOffset));
        }
        received += *n;
      }
    }
    return tags;
  }

  // `initiators` initiators each send ATA requests, then a config or a reserve command, then
  // more ATA requests (the tag says who sent what). Every frame must reach the member
  // FanoutMember names, in the order sent, and the ATA requests must reach every member.
  void SendAndExpectEachAtItsMember(uint32_t initiators) {
    const MacAddress target = members_[0]->mac();
    std::vector<Bytes> frames;
    for (int round = 0; round < 3; ++round) {
      for (uint32_t n = 0; n < initiators; ++n) {
        uint8_t command = kAoeAtaCommand;
        if (round == 1) command = n % 2 ? kConfigCommand : kReserveCommand;
        frames.push_back(Request(target, Initiator(n), command, uint32_t(frames.size())));
      }
    }
    auto unsent = testing::SendAll(*sender_, frames, kWait);
    ASSERT_TRUE(unsent) << unsent.error().message();
    ASSERT_EQ(*unsent, 0u);

    auto tags = ReceiveTags(frames.size());
    size_t received = 0;
    std::set<size_t> members_with_ata;
    for (size_t m = 0; m < tags.size(); ++m) {
      received += tags[m].size();
      uint32_t previous = 0;
      for (uint32_t tag : tags[m]) {
        ASSERT_LT(tag, frames.size());
        const Bytes& frame = frames[tag];
        uint8_t command = LoadU8(frame, kAoeCommandOffset);
        EXPECT_EQ(FanoutMember(frame, members_.size()), m)
            << "tag " << tag << " (command " << int{command} << ") reached member " << m;
        if (command == kAoeAtaCommand) members_with_ata.insert(m);
        EXPECT_GE(tag, previous) << "a member receives in the order sent";
        previous = tag;
      }
    }
    EXPECT_EQ(received, frames.size());
    EXPECT_EQ(members_with_ata.size(), members_.size())
        << "the initiators spread over every member";
  }

  static bool WaitForLinkUp(Port& port) {
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (port.Refresh() && port.link_up()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  std::optional<NetNamespace> ns_a_;
  std::optional<NetNamespace> ns_b_;
  std::unique_ptr<Port> sender_;
  std::vector<std::unique_ptr<Port>> members_;
};

TEST_P(FanoutNetnsTest, EachInitiatorsAtaRequestsReachOneMemberAndStateCommandsMemberZero) {
  OpenMembers(3);
  if (HasFatalFailure()) return;
  SendAndExpectEachAtItsMember(24);
}

TEST_P(FanoutNetnsTest, MembersKeepTheirPlacesWhenTheLinkGoesDownAndUp) {
  // The server's housekeeping rides out a link flap without re-opening its ports; the group
  // must then still send each initiator where it went before, and state commands to member 0.
  OpenMembers(3);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(ns_b_->Ip(std::string("link set ") + kIfB + " down"));
  ASSERT_TRUE(ns_b_->Ip(std::string("link set ") + kIfB + " up"));
  for (auto& member : members_) {
    ASSERT_TRUE(WaitForLinkUp(*member));
  }
  SendAndExpectEachAtItsMember(24);
}

TEST_P(FanoutNetnsTest, AMemberCannotBeBoundAgain) {
  // Why a loop whose interface is re-created opens new sockets and a new group (fanout.h):
  // PacketSocket::Refresh re-binds a socket, which the kernel refuses to a fanout member.
  OpenMembers(2);
  if (HasFatalFailure()) return;
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(kAoeEtherType);
  ASSERT_TRUE(ns_b_->Run([&] { address.sll_ifindex = static_cast<int>(if_nametoindex(kIfB)); }));
  ASSERT_NE(address.sll_ifindex, 0);
  errno = 0;
  EXPECT_NE(bind(members_[1]->fd(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(errno, EINVAL);
}

// The exports only loop 0 serves (overlay exports), and wildcard addresses: the kernel sends
// every ATA request to them to member 0, from any initiator, and a new selector takes effect on
// the group at once.
TEST_P(FanoutNetnsTest, AtaRequestsToTheFirstMemberDisksAllReachMemberZero) {
  OpenMembers(2);
  if (HasFatalFailure()) return;
  const MacAddress target = members_[0]->mac();
  const std::vector<FanoutDisk> first = {{0x0102, 3}, {9, 9}};
  std::vector<Bytes> frames;
  for (uint32_t n = 0; n < 8; ++n) {
    for (FanoutDisk disk : {FanoutDisk{0x0102, 3}, FanoutDisk{0x0102, 4}, FanoutDisk{9, 9},
                            FanoutDisk{0xffff, 0xff}, FanoutDisk{0xffff, 4}, FanoutDisk{9, 0xff}}) {
      Bytes frame = Request(target, Initiator(n), kAoeAtaCommand, uint32_t(frames.size()));
      StoreBe16(frame, kAoeMajorOffset, disk.major);
      StoreU8(frame, kAoeMinorOffset, disk.minor);
      frames.push_back(std::move(frame));
    }
  }
  // `with` as the group's first-member disks (set through member 1: any member may), every
  // frame reaches the member FanoutMember names for them.
  auto send_and_expect = [&](std::span<const FanoutDisk> with) {
    ASSERT_TRUE(SetFanoutFirstDisks(members_[1]->fd(), with));
    auto unsent = testing::SendAll(*sender_, frames, kWait);
    ASSERT_TRUE(unsent) << unsent.error().message();
    ASSERT_EQ(*unsent, 0u);
    auto tags = ReceiveTags(frames.size());
    size_t received = 0;
    for (size_t m = 0; m < tags.size(); ++m) {
      received += tags[m].size();
      for (uint32_t tag : tags[m]) {
        ASSERT_LT(tag, frames.size());
        EXPECT_EQ(FanoutMember(frames[tag], members_.size(), with), m) << "tag " << tag;
      }
    }
    EXPECT_EQ(received, frames.size());
    EXPECT_FALSE(tags[1].empty()) << "the other disks still spread by MAC";
  };
  send_and_expect(first);
  send_and_expect({});
}

TEST_P(FanoutNetnsTest, ASocketJoinsOneGroupOnly) {
  OpenMembers(1);
  if (HasFatalFailure()) return;
  auto again = JoinSourceMacFanout(members_[0]->fd(), 0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().value(), EALREADY) << again.error().message();
}

INSTANTIATE_TEST_SUITE_P(EachPort, FanoutNetnsTest,
                         ::testing::Values(PacketIo::kSocket, PacketIo::kRing),
                         [](const ::testing::TestParamInfo<PacketIo>& param) {
                           return std::string(PacketIoName(param.param));
                         });

}  // namespace
}  // namespace aoe
