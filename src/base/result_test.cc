#include "base/result.h"

#include <gtest/gtest.h>

namespace aoe {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Err(std::errc::invalid_argument);
  return x / 2;
}

Result<int> Quarter(int x) {
  auto h = Half(x);
  AOE_TRY(h);
  return Half(*h);
}

TEST(Result, CarriesValueOrError) {
  EXPECT_EQ(*Half(8), 4);
  EXPECT_EQ(Half(3).error(), std::errc::invalid_argument);
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_FALSE(Quarter(6));
}

TEST(Result, VoidResult) {
  Result<void> ok;
  EXPECT_TRUE(ok);
  Result<void> bad = Errno(ENOENT);
  EXPECT_EQ(bad.error().value(), ENOENT);
}

}  // namespace
}  // namespace aoe
