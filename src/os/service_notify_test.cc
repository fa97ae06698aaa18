#include "os/service_notify.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace aoe {
namespace {

using std::chrono::milliseconds;

// A datagram socket standing in for systemd's notification socket: $NOTIFY_SOCKET points at
// it for the test's duration, and Receive() returns what the notifier sent.
class FakeServiceManager {
 public:
  FakeServiceManager() {
    char dir_template[] = "/tmp/aoe-notify-test.XXXXXX";
    dir_ = ::mkdtemp(dir_template);
    path_ = dir_ + "/notify";
    socket_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::bind(socket_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~FakeServiceManager() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  // Every message waiting on the socket, in order.
  std::vector<std::string> Receive() {
    std::vector<std::string> messages;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(socket_.get(), buffer, sizeof buffer, 0)) > 0) {
      messages.emplace_back(buffer, static_cast<size_t>(n));
    }
    return messages;
  }

 private:
  std::string dir_;
  std::string path_;
  UniqueFd socket_;
};

TEST(ServiceNotifier, ReadySendsReadyAndTheFirstLineOfTheStatus) {
  FakeServiceManager manager;
  ServiceNotifier notifier;
  ASSERT_TRUE(notifier.Ready("serving 2 exports on 1 interface\nsecond line"));
  EXPECT_EQ(manager.Receive(),
            std::vector<std::string>{"READY=1\nSTATUS=serving 2 exports on 1 interface"});
}

TEST(ServiceNotifier, ReloadingCarriesTheMonotonicTime) {
  FakeServiceManager manager;
  ServiceNotifier notifier;
  ASSERT_TRUE(notifier.Reloading("reloading"));
  std::vector<std::string> got = manager.Receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << got[0];
  EXPECT_NE(got[0].find("\nSTATUS=reloading"), std::string::npos) << got[0];
}

TEST(ServiceNotifier, WithoutNotifySocketEveryCallIsANoOp) {
  ::unsetenv("NOTIFY_SOCKET");
  ServiceNotifier notifier;
  EXPECT_TRUE(notifier.Ready("x"));
  EXPECT_TRUE(notifier.Stopping("x"));
  EXPECT_FALSE(notifier.WatchdogInterval());
}

TEST(ServiceNotifier, WatchdogIntervalIsForThisProcessOnly) {
  FakeServiceManager manager;
  ServiceNotifier notifier;
  EXPECT_FALSE(notifier.WatchdogInterval());
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  ASSERT_TRUE(notifier.WatchdogInterval());
  EXPECT_EQ(*notifier.WatchdogInterval(), std::chrono::seconds(3));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_FALSE(notifier.WatchdogInterval()) << "another process's watchdog";
}

TEST(WatchdogTimer, OffWithoutWatchdogUsec) {
  FakeServiceManager manager;
  ServiceNotifier notifier;
  EventLoop loop = EventLoop::Create().value();
  Result<std::unique_ptr<WatchdogTimer>> dog = WatchdogTimer::Start(loop, notifier);
  ASSERT_TRUE(dog);
  EXPECT_EQ(*dog, nullptr);
  EXPECT_EQ(loop.size(), 0u);
}

TEST(WatchdogTimer, PingsFromTheLoopAtHalfTheInterval) {
  FakeServiceManager manager;
  ::setenv("WATCHDOG_USEC", "40000", 1);  // 40 ms: a ping every 20 ms
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  ServiceNotifier notifier;
  EventLoop loop = EventLoop::Create().value();
  Result<std::unique_ptr<WatchdogTimer>> dog = WatchdogTimer::Start(loop, notifier);
  ASSERT_TRUE(dog);
  ASSERT_NE(*dog, nullptr);
  EXPECT_EQ((*dog)->period(), std::chrono::microseconds(20000));
  EXPECT_EQ(manager.Receive(), std::vector<std::string>{"WATCHDOG=1"}) << "a ping at start";
  // Only the loop sends the pings: nothing arrives while it does not turn...
  ::usleep(50'000);
  EXPECT_TRUE(manager.Receive().empty());
  // ...and each expiry the loop dispatches is one ping (bounded: at most 100 turns).
  int pings = 0;
  for (int i = 0; i < 100 && pings < 3; ++i) {
    (void)loop.RunOnce(milliseconds(100));
    pings += static_cast<int>(manager.Receive().size());
  }
  EXPECT_GE(pings, 3);
  dog->reset();
  EXPECT_EQ(loop.size(), 0u) << "the timer leaves the loop with the WatchdogTimer";
}

}  // namespace
}  // namespace aoe
