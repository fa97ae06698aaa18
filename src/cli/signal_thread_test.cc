// SignalThread (signal_thread.h): signals reach the loop through its fd, in order, and a second
// stop signal ends the process even when nothing takes the first (a loop stuck on storage).
#include "cli/signal_thread.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
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

}  // namespace
}  // namespace aoe::cli
