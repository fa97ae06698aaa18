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

// An error that says more than a code: what cli::ParseResult and initiator::Outcome carry.
struct Complaint {
  std::string message;
};
struct CodedComplaint {
  explicit CodedComplaint(std::error_code c) : code(c) {}
  std::error_code code;
};

TEST(Expected, CarriesAnErrorOfAnyType) {
  Expected<std::string, Complaint> parsed = Complaint{"e0.1 is listed twice"};
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, "e0.1 is listed twice");
  Expected<std::string, Complaint> value = std::string("e0.1");
  EXPECT_EQ(*value, "e0.1");
  Expected<void, Complaint> failed = Complaint{"no"};
  EXPECT_FALSE(failed);
  EXPECT_TRUE((Expected<void, Complaint>()));
}

TEST(Expected, ASystemErrorConvertsOnlyToErrorsMadeFromACode) {
  Expected<int, CodedComplaint> coded = Errno(EIO);
  EXPECT_EQ(coded.error().code.value(), EIO);
  Expected<void, CodedComplaint> coded_void = Errno(EIO);
  EXPECT_EQ(coded_void.error().code.value(), EIO);
  static_assert(!std::is_convertible_v<Unexpected, Expected<int, Complaint>>,
                "a bare code cannot make a message for a person");
  static_assert(std::is_convertible_v<Unexpected, Result<int>>);
}

}  // namespace
}  // namespace aoe
