#include "net/fanout.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <vector>

#include "base/mac_address.h"
#include "net/role_filter.h"

namespace aoe {
namespace {

constexpr uint8_t kConfigCommand = 1;
constexpr uint8_t kMaskCommand = 2;
constexpr uint8_t kReserveCommand = 3;

std::array<std::byte, 60> Request(uint32_t source_low_word, uint8_t command) {
  std::array<std::byte, 60> frame{};
  StoreU8(frame, 6, 0x02);  // locally administered, as the tests' MACs are
  StoreBe32(frame, kSourceMacLowWordOffset, source_low_word);
  StoreBe16(frame, kEtherTypeOffset, kAoeEtherType);
  StoreU8(frame, kAoeVerFlagsOffset, 0x10);
  StoreU8(frame, kAoeCommandOffset, command);
  return frame;
}

TEST(FanoutMember, AtaRequestsGoByTheSourceMacsLowWord) {
  EXPECT_EQ(FanoutMember(Request(0, kAoeAtaCommand), 2), 0u);
  EXPECT_EQ(FanoutMember(Request(1, kAoeAtaCommand), 2), 1u);
  EXPECT_EQ(FanoutMember(Request(7, kAoeAtaCommand), 3), 1u);
  EXPECT_EQ(FanoutMember(Request(0xFFFFFFFF, kAoeAtaCommand), 4), 3u);
  // Only bytes 8..11 count: the vendor part of the MAC (bytes 6 and 7) does not.
  auto other_vendor = Request(5, kAoeAtaCommand);
  StoreU8(other_vendor, 7, 0xAB);
  EXPECT_EQ(FanoutMember(other_vendor, 4), FanoutMember(Request(5, kAoeAtaCommand), 4));
}

TEST(FanoutMember, ConsecutiveMacsSpreadOverEveryMember) {
  std::set<size_t> used;
  for (uint32_t mac = 0x1000; mac < 0x1000 + 8; ++mac) {
    used.insert(FanoutMember(Request(mac, kAoeAtaCommand), 4));
  }
  EXPECT_EQ(used.size(), 4u);
}

TEST(FanoutMember, StateCommandsAllGoToMemberZero) {
  for (uint8_t command : {kConfigCommand, kMaskCommand, kReserveCommand, uint8_t{0xF0}}) {
    for (uint32_t mac = 0; mac < 8; ++mac) {
      EXPECT_EQ(FanoutMember(Request(mac, command), 4), 0u) << int{command} << " from " << mac;
    }
  }
}

TEST(FanoutMember, OneMemberOrAShortFrameIsMemberZero) {
  EXPECT_EQ(FanoutMember(Request(3, kAoeAtaCommand), 1), 0u);
  EXPECT_EQ(FanoutMember(Request(3, kAoeAtaCommand), 0), 0u);
  auto frame = Request(3, kAoeAtaCommand);
  EXPECT_EQ(FanoutMember(ConstByteSpan(frame).first(kAoeCommandOffset), 2), 0u);
  EXPECT_EQ(FanoutMember(ConstByteSpan(frame).first(kAoeCommandOffset + 1), 2), 1u);
}

TEST(FanoutMember, AtaRequestsToAFirstMemberDiskAllGoToMemberZero) {
  const std::vector<FanoutDisk> first = {{7, 1}, {0x1234, 0xFE}};
  auto to = [](uint32_t source_low_word, uint16_t major, uint8_t minor, uint8_t command) {
    auto frame = Request(source_low_word, command);
    StoreBe16(frame, kAoeMajorOffset, major);
    StoreU8(frame, kAoeMinorOffset, minor);
    return frame;
  };
  for (uint32_t mac = 0; mac < 8; ++mac) {
    EXPECT_EQ(FanoutMember(to(mac, 7, 1, kAoeAtaCommand), 4, first), 0u) << mac;
    EXPECT_EQ(FanoutMember(to(mac, 0x1234, 0xFE, kAoeAtaCommand), 4, first), 0u) << mac;
    // Other disks, even one that differs in the shelf or the slot only, go by the MAC.
    EXPECT_EQ(FanoutMember(to(mac, 7, 2, kAoeAtaCommand), 4, first), mac % 4) << mac;
    EXPECT_EQ(FanoutMember(to(mac, 8, 1, kAoeAtaCommand), 4, first), mac % 4) << mac;
    EXPECT_EQ(FanoutMember(to(mac, 0x1234, 0xFE, kAoeAtaCommand), 4), mac % 4) << mac;
    EXPECT_EQ(FanoutMember(to(mac, 7, 2, kConfigCommand), 4, first), 0u) << mac;
  }
}

TEST(FanoutMember, AtaRequestsToAWildcardShelfOrSlotGoToMemberZero) {
  auto to = [](uint32_t source_low_word, uint16_t major, uint8_t minor) {
    auto frame = Request(source_low_word, kAoeAtaCommand);
    StoreBe16(frame, kAoeMajorOffset, major);
    StoreU8(frame, kAoeMinorOffset, minor);
    return frame;
  };
  for (uint32_t mac = 0; mac < 8; ++mac) {
    EXPECT_EQ(FanoutMember(to(mac, 0xffff, 0xff), 4), 0u) << mac;  // WinAoE's broadcast IDENTIFY
    EXPECT_EQ(FanoutMember(to(mac, 0xffff, 3), 4), 0u) << mac;
    EXPECT_EQ(FanoutMember(to(mac, 3, 0xff), 4), 0u) << mac;
    EXPECT_EQ(FanoutMember(to(mac, 0xfffe, 0xfe), 4), mac % 4) << mac;
  }
}

}  // namespace
}  // namespace aoe
