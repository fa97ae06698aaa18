#include "base/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

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

// The signal thread's sink: a line when stderr takes it, nothing (and no wait) when it cannot.
TEST(WriteToStderrWithoutWaitingDeathTest, WritesWhenThereIsRoomAndNeverWaits) {
  EXPECT_EXIT(
      {
        int ends[2];
        if (::pipe2(ends, O_NONBLOCK) != 0 || ::dup2(ends[1], STDERR_FILENO) < 0) std::_Exit(10);
        WriteToStderrWithoutWaiting(LogLevel::kWarn, "a line");
        char got[16] = {};
        if (::read(ends[0], got, sizeof got) != 7 || std::string_view(got, 7) != "a line\n") {
          std::_Exit(11);
        }
        // Fill the pipe, then make stderr blocking, as it is in aoe serve: a plain write would
        // now wait for a reader for ever.
        const std::string block(4096, 'x');
        while (::write(ends[1], block.data(), block.size()) > 0) {
        }
        ::fcntl(STDERR_FILENO, F_SETFL, 0);
        WriteToStderrWithoutWaiting(LogLevel::kWarn, "dropped");  // would block: dropped
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace aoe
