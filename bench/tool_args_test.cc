#include "bench/tool_args.h"

#include <gtest/gtest.h>

namespace aoe::bench {
namespace {

TEST(ToolArgs, DiskNames) {
  ASSERT_TRUE(ParseDiskName("e0.1"));
  EXPECT_EQ(ParseDiskName("e12.34")->shelf, 12);
  EXPECT_EQ(ParseDiskName("e12.34")->slot, 34);
  EXPECT_TRUE(ParseDiskName("e65534.254"));
  EXPECT_FALSE(ParseDiskName("e65535.1"));  // the wildcard shelf
  EXPECT_FALSE(ParseDiskName("e1.255"));    // the wildcard slot
  EXPECT_FALSE(ParseDiskName("0.1"));
  EXPECT_FALSE(ParseDiskName("e.1"));
  EXPECT_FALSE(ParseDiskName("e1."));
  EXPECT_FALSE(ParseDiskName("e1.2x"));
}

TEST(ToolArgs, ByteSizes) {
  EXPECT_EQ(ParseByteSize("4096"), 4096u);
  EXPECT_EQ(ParseByteSize("64K"), 65536u);
  EXPECT_EQ(ParseByteSize("256M"), 256u << 20);
  EXPECT_EQ(ParseByteSize("1G"), 1u << 30);
  EXPECT_FALSE(ParseByteSize(""));
  EXPECT_FALSE(ParseByteSize("M"));
  EXPECT_FALSE(ParseByteSize("4q"));
  EXPECT_FALSE(ParseByteSize("-1"));
}

}  // namespace
}  // namespace aoe::bench
