// SignalThread (signal_thread.h): signals reach the loop through its fd, in order, and a second
// stop signal ends the process even when nothing takes the first (a loop stuck on storage).
#include "cli/signal_thread.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace aoe::cli {
namespace {

// Takes what the thread passed on until `count` signals arrived or 5 s passed.
std::vector<int> TakeSignals(SignalThread& signals, size_t count) {
  std::vector<int> taken;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (taken.size() < count && std::chrono::steady_clock::now() < give_up) {
    pollfd ready{signals.fd(), POLLIN, 0};
    ::poll(&ready, 1, 100);
    for (int number : signals.Take()) taken.push_back(number);
  }
  return taken;
}

// Every case runs in a child process of its own (a death test): the signals are blocked there
// for good, and the process receives them.
TEST(SignalThreadDeathTest, ReloadAndAFirstStopReachTheLoopInOrder) {
  EXPECT_EXIT(
      {
        auto signals = SignalThread::Start(HandledSignals());
        if (!signals) std::_Exit(10);
        ::kill(::getpid(), SIGHUP);
        if (TakeSignals(**signals, 1) != std::vector<int>{SIGHUP}) std::_Exit(11);
        ::kill(::getpid(), SIGTERM);
        if (TakeSignals(**signals, 1) != std::vector<int>{SIGTERM}) std::_Exit(12);
        ::kill(::getpid(), SIGHUP);  // a reload after the stop request is still passed on
        if (TakeSignals(**signals, 1) != std::vector<int>{SIGHUP}) std::_Exit(13);
        signals->reset();  // the thread stops and is joined
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

// Waits until the thread has passed a signal on (without taking it, as a stuck loop would not).
bool PassedOn(SignalThread& signals) {
  pollfd ready{signals.fd(), POLLIN, 0};
  return ::poll(&ready, 1, 5000) == 1;
}

TEST(SignalThreadDeathTest, ASecondStopSignalEndsTheProcessWhileTheLoopTakesNothing) {
  EXPECT_EXIT(
      {
        auto signals = SignalThread::Start(HandledSignals());
        if (!signals) std::_Exit(10);
        ::kill(::getpid(), SIGTERM);  // passed on; nothing takes it, as in a stuck loop
        if (!PassedOn(**signals)) std::_Exit(11);
        // Not the same request sent twice (that window is 100 ms from one sender).
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        ::kill(::getpid(), SIGTERM);
        std::this_thread::sleep_for(std::chrono::seconds(5));
        std::_Exit(20);  // still alive: the second signal did nothing
      },
      ::testing::KilledBySignal(SIGTERM), "");
}

TEST(SignalThreadDeathTest, AnInterruptAfterATerminateEndsItToo) {
  EXPECT_EXIT(
      {
        auto signals = SignalThread::Start(HandledSignals());
        if (!signals) std::_Exit(10);
        ::kill(::getpid(), SIGTERM);
        if (!PassedOn(**signals)) std::_Exit(11);
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        ::kill(::getpid(), SIGINT);
        std::this_thread::sleep_for(std::chrono::seconds(5));
        std::_Exit(20);
      },
      ::testing::KilledBySignal(SIGINT), "");
}

// coreutils `timeout` sends its signal to the process and then to the process group: one
// request, two signals from one sender at once. The process must stop cleanly, not die.
TEST(SignalThreadDeathTest, OneStopRequestSentTwiceAtOnceIsOneStop) {
  EXPECT_EXIT(
      {
        auto signals = SignalThread::Start(HandledSignals());
        if (!signals) std::_Exit(10);
        ::kill(::getpid(), SIGTERM);
        if (!PassedOn(**signals)) std::_Exit(11);
        ::kill(::getpid(), SIGTERM);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        if (TakeSignals(**signals, 1) != std::vector<int>{SIGTERM}) std::_Exit(12);
        std::_Exit(0);  // alive: the stop is the loop's to make
      },
      ::testing::ExitedWithCode(0), "");
}

// A slow stop leaves one line in the log, saying whether the loop took the signal at all.
// The report runs on the signal thread; the lines go through a pipe to the test's thread.
struct ReportedLines {
  int ends[2] = {-1, -1};
  ReportedLines() {
    if (::pipe(ends) != 0) std::_Exit(30);
  }
  SlowStopNotice Notice(std::chrono::milliseconds after) {
    const int write_end = ends[1];
    return SlowStopNotice{.after = after, .report = [write_end](const std::string& line) {
                            std::string with_end = line + "\n";
                            if (::write(write_end, with_end.data(), with_end.size()) < 0) {
                              std::_Exit(31);
                            }
                          }};
  }
  // What was reported within `wait`.
  std::string Read(std::chrono::milliseconds wait) {
    std::string text;
    pollfd ready{ends[0], POLLIN, 0};
    while (::poll(&ready, 1, static_cast<int>(wait.count())) == 1) {
      char buffer[512];
      const ssize_t n = ::read(ends[0], buffer, sizeof buffer);
      if (n <= 0) break;
      text.append(buffer, static_cast<size_t>(n));
      wait = std::chrono::milliseconds(50);  // the rest of the same line
    }
    return text;
  }
};

TEST(SignalThreadDeathTest, AStopSignalNobodyTakesIsReportedOnceAfterTheDelay) {
  EXPECT_EXIT(
      {
        ReportedLines lines;
        auto signals =
            SignalThread::Start(HandledSignals(), lines.Notice(std::chrono::milliseconds(300)));
        if (!signals) std::_Exit(10);
        ::kill(::getpid(), SIGTERM);
        if (!PassedOn(**signals)) std::_Exit(11);
        if (!lines.Read(std::chrono::milliseconds(100)).empty()) std::_Exit(12);  // too early
        const std::string line = lines.Read(std::chrono::seconds(5));
        if (line.find("SIGTERM of 0.3 s ago is not taken yet: aoe serve is stuck") ==
            std::string::npos) {
          std::_Exit(13);
        }
        if (!lines.Read(std::chrono::milliseconds(700)).empty()) std::_Exit(14);  // once
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(SignalThreadDeathTest, AStopTheLoopTookButThatLastsIsReportedAsStillStopping) {
  EXPECT_EXIT(
      {
        ReportedLines lines;
        auto signals =
            SignalThread::Start(HandledSignals(), lines.Notice(std::chrono::milliseconds(300)));
        if (!signals) std::_Exit(10);
        ::kill(::getpid(), SIGINT);
        if (TakeSignals(**signals, 1) != std::vector<int>{SIGINT}) std::_Exit(11);
        const std::string line = lines.Read(std::chrono::seconds(5));
        if (line.find("still stopping after 0.3 s") == std::string::npos ||
            line.find("send SIGINT again") == std::string::npos) {
          std::_Exit(12);
        }
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(SignalThreadDeathTest, AReloadIsNoStopAndReportsNothing) {
  EXPECT_EXIT(
      {
        ReportedLines lines;
        auto signals =
            SignalThread::Start(HandledSignals(), lines.Notice(std::chrono::milliseconds(100)));
        if (!signals) std::_Exit(10);
        ::kill(::getpid(), SIGHUP);
        if (TakeSignals(**signals, 1) != std::vector<int>{SIGHUP}) std::_Exit(11);
        if (!lines.Read(std::chrono::milliseconds(500)).empty()) std::_Exit(12);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace aoe::cli
