#include "base/mac_address.h"

#include <gtest/gtest.h>

namespace aoe {
namespace {

TEST(MacAddress, ParsesAndFormats) {
  auto mac = MacAddress::Parse("02:AA:bb:0c:0d:ff");
  ASSERT_TRUE(mac);
  EXPECT_EQ(mac->ToString(), "02:aa:bb:0c:0d:ff");
  EXPECT_EQ(MacAddress::Parse("02-aa-bb-0c-0d-ff"), mac);
}

TEST(MacAddress, RejectsMalformed) {
  EXPECT_FALSE(MacAddress::Parse(""));
  EXPECT_FALSE(MacAddress::Parse("02:aa:bb:0c:0d"));
  EXPECT_FALSE(MacAddress::Parse("02:aa:bb:0c:0d:fg"));
  EXPECT_FALSE(MacAddress::Parse("02:aa:bb:0c:0d:ff:"));
  EXPECT_FALSE(MacAddress::Parse("02.aa.bb.0c.0d.ff"));
}

TEST(MacAddress, Classifies) {
  EXPECT_TRUE(MacAddress::Broadcast().is_broadcast());
  EXPECT_TRUE(MacAddress::Broadcast().is_multicast());
  EXPECT_TRUE(MacAddress().is_zero());
  EXPECT_FALSE(MacAddress::Parse("02:00:00:00:00:01")->is_multicast());
}

}  // namespace
}  // namespace aoe
