#include "base/log.h"

#include <gtest/gtest.h>

#include <string>

namespace aoe {
namespace {

TEST(Printable, KeepsPrintableAsciiAndEscapesTheRest) {
  EXPECT_EQ(Printable("pxelinux.0"), "pxelinux.0");
  EXPECT_EQ(Printable("a b/c-d_e.f"), "a b/c-d_e.f");
  // A forged second line, a terminal escape, a byte above ASCII, a NUL, and the escape itself.
  EXPECT_EQ(Printable("x\n2026-01-01 info  fake"), "x\\x0a2026-01-01 info  fake");
  EXPECT_EQ(Printable("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(Printable("caf\xc3\xa9"), "caf\\xc3\\xa9");
  EXPECT_EQ(Printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(Printable("a\\x0a"), "a\\x5cx0a");
}

}  // namespace
}  // namespace aoe
