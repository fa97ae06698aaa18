#include "netboot/boot_notifier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

namespace aoe::netboot {
namespace {

const MacAddress kA({2, 0, 0, 0, 0, 0xa});
const MacAddress kB({2, 0, 0, 0, 0, 0xb});

// A receiver that hangs until the test lets it go (a hung `aoe serve`), recording each call.
class HungReceiver {
 public:
  void Deliver(const MacAddress& client) {
    std::unique_lock lock(mutex_);
    calls_.push_back(client);
    ++started_;
    started_changed_.notify_all();
    released_.wait(lock, [this] { return open_; });
  }
  void WaitForCalls(size_t n) {
    std::unique_lock lock(mutex_);
    started_changed_.wait(lock, [&] { return started_ >= n; });
  }
  void Open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    released_.notify_all();
  }
  std::vector<MacAddress> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable started_changed_;
  std::condition_variable released_;
  std::vector<MacAddress> calls_;
  size_t started_ = 0;
  bool open_ = false;
};

// While the receiver hangs, a flood of notices returns at once (Notify would otherwise wait for
// the receiver: this test would hang) and waits as one notice per client.
TEST(BootNotifier, AHungReceiverStallsNoNoticeAndAFloodIsOneNoticePerClient) {
  Logger log(LogLevel::kError);
  HungReceiver receiver;
  BootNotifier notifier([&](const MacAddress& mac) { receiver.Deliver(mac); }, log);
  notifier.Notify(kA);
  receiver.WaitForCalls(1);  // the first call hangs
  for (int i = 0; i < 10000; ++i) {
    notifier.Notify(kA);
    notifier.Notify(kB);
  }
  receiver.Open();
  notifier.WaitIdle();
  EXPECT_EQ(receiver.calls(), (std::vector<MacAddress>{kA, kA, kB}));
}

TEST(BootNotifier, BeyondTheQueuesBoundNoticesAreDroppedAndReported) {
  std::vector<std::string> lines;
  std::mutex lines_mutex;
  Logger log(LogLevel::kInfo, [&](LogLevel, std::string_view line) {
    std::lock_guard lock(lines_mutex);
    lines.emplace_back(line);
  });
  HungReceiver receiver;
  BootNotifier notifier([&](const MacAddress& mac) { receiver.Deliver(mac); }, log);
  notifier.Notify(MacAddress({2, 0, 0, 0xff, 0xff, 0xff}));
  receiver.WaitForCalls(1);
  for (uint32_t i = 0; i < BootNotifier::kMaxWaiting + 10; ++i) {
    notifier.Notify(MacAddress({2, 0, 0, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)}));
  }
  receiver.Open();
  notifier.WaitIdle();
  EXPECT_EQ(receiver.calls().size(), 1 + BootNotifier::kMaxWaiting);
  std::lock_guard lock(lines_mutex);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("10 boot notices were dropped"), std::string::npos) << lines[0];
}

TEST(BootNotifier, ANotifierGivenNoNoticeEndsCleanly) {
  Logger log(LogLevel::kError);
  std::atomic<int> calls{0};
  {
    BootNotifier notifier([&](const MacAddress&) { ++calls; }, log);
  }
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace aoe::netboot
