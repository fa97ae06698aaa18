#include "net/role_filter.h"

#include <gtest/gtest.h>

#include <array>

namespace aoe {
namespace {

std::array<std::byte, 60> Frame(uint16_t ether_type, uint8_t ver_flags) {
  std::array<std::byte, 60> frame{};
  StoreBe16(frame, kEtherTypeOffset, ether_type);
  StoreU8(frame, kAoeVerFlagsOffset, ver_flags);
  return frame;
}

TEST(RoleFilter, TargetAcceptsRequestsOnly) {
  EXPECT_TRUE(AcceptsFrame(PortRole::kTarget, Frame(kAoeEtherType, 0x10)));
  EXPECT_FALSE(AcceptsFrame(PortRole::kTarget, Frame(kAoeEtherType, 0x18)));
  EXPECT_FALSE(AcceptsFrame(PortRole::kTarget, Frame(kAoeEtherType, 0x1C)));
}

TEST(RoleFilter, InitiatorAcceptsResponsesOnly) {
  EXPECT_FALSE(AcceptsFrame(PortRole::kInitiator, Frame(kAoeEtherType, 0x10)));
  EXPECT_TRUE(AcceptsFrame(PortRole::kInitiator, Frame(kAoeEtherType, 0x18)));
  EXPECT_TRUE(AcceptsFrame(PortRole::kInitiator, Frame(kAoeEtherType, 0x1C)));
}

TEST(RoleFilter, AnyAcceptsBothDirections) {
  EXPECT_TRUE(AcceptsFrame(PortRole::kAny, Frame(kAoeEtherType, 0x10)));
  EXPECT_TRUE(AcceptsFrame(PortRole::kAny, Frame(kAoeEtherType, 0x18)));
}

TEST(RoleFilter, OtherEtherTypesRejected) {
  for (PortRole role : {PortRole::kTarget, PortRole::kInitiator, PortRole::kAny}) {
    EXPECT_FALSE(AcceptsFrame(role, Frame(0x0800, 0x10)));
    EXPECT_FALSE(AcceptsFrame(role, Frame(0x88A3, 0x18)));
  }
}

TEST(RoleFilter, FrameWithoutFlagsByteRejected) {
  auto frame = Frame(kAoeEtherType, 0x10);
  EXPECT_FALSE(AcceptsFrame(PortRole::kAny, ConstByteSpan(frame).first(14)));
  EXPECT_TRUE(AcceptsFrame(PortRole::kAny, ConstByteSpan(frame).first(15)));
  EXPECT_FALSE(AcceptsFrame(PortRole::kAny, ConstByteSpan()));
}

}  // namespace
}  // namespace aoe
