#include "proto/disk_address.h"

#include <gtest/gtest.h>

namespace aoe::proto {
namespace {

TEST(DiskAddress, ParsesShelfAndSlot) {
  Result<DiskAddress> a = ParseDiskAddress("e12.3");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (DiskAddress{12, 3}));
  EXPECT_EQ(a->ToString(), "e12.3");
  EXPECT_FALSE(a->is_wildcard());
}

TEST(DiskAddress, AcceptsWildcardsAndPrintsThemAsStars) {
  Result<DiskAddress> a = ParseDiskAddress("e65535.255");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_wildcard());
  EXPECT_EQ(a->ToString(), "e*.*");
  EXPECT_EQ((DiskAddress{5, kWildcardSlot}).ToString(), "e5.*");
  EXPECT_EQ(kAnyDisk.ToString(), "e*.*");
}

TEST(DiskAddress, RejectsMalformedText) {
  for (std::string_view bad : {"", "e", "e1", "e1.", "e.1", "x1.2", "E1.2", "e1.2.3", "e-1.2",
                               "e+1.2", "e1.2 ", "e 1.2", "e*.1", "e99999999999999999999.1"}) {
    Result<DiskAddress> a = ParseDiskAddress(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(a.error(), std::errc::invalid_argument) << bad;
    EXPECT_EQ(DescribeDiskAddressError(bad),
              "'" + std::string(bad) + "' is not a target name; expected eSHELF.SLOT such as e0.1");
  }
}

TEST(DiskAddress, RejectsOutOfRangeNumbersWithTheRangeInTheMessage) {
  EXPECT_EQ(ParseDiskAddress("e65536.1").error(), std::errc::result_out_of_range);
  EXPECT_EQ(ParseDiskAddress("e1.256").error(), std::errc::result_out_of_range);
  EXPECT_EQ(DescribeDiskAddressError("e65536.1"),
            "shelf 65536 in 'e65536.1' is out of range; use 0-65534");
  EXPECT_EQ(DescribeDiskAddressError("e1.256"), "slot 256 in 'e1.256' is out of range; use 0-254");
}

TEST(DiskAddress, OrdersByShelfThenSlot) {
  EXPECT_LT((DiskAddress{0, 9}), (DiskAddress{1, 0}));
  EXPECT_LT((DiskAddress{1, 0}), (DiskAddress{1, 1}));
}

}  // namespace
}  // namespace aoe::proto
