#include "storage/completion_queue.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <thread>
#include <vector>

namespace aoe {
namespace {

// Counts completions; only the loop thread (the test body) touches it.
struct Tally final : IoCallback {
  void IoDone(int64_t result) override {
    ++calls;
    sum += result;
  }
  int calls = 0;
  int64_t sum = 0;
};

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

TEST(CompletionQueue, PostWakesTheLoopAndReapRunsTheCallback) {
  auto queue = CompletionQueue::Create();
  ASSERT_TRUE(queue) << queue.error().message();
  EXPECT_FALSE(Readable((*queue)->fd(), 0));
  Tally t;
  (*queue)->Post(&t, 42);
  EXPECT_TRUE(Readable((*queue)->fd(), 0));
  EXPECT_EQ(t.calls, 0) << "callbacks run on the loop thread, in Reap";
  EXPECT_EQ((*queue)->Reap(), 1u);
  EXPECT_EQ(t.calls, 1);
  EXPECT_EQ(t.sum, 42);
  EXPECT_FALSE(Readable((*queue)->fd(), 0)) << "reaping clears the wake-up";
}

TEST(CompletionQueue, CompletionsPostedFromManyThreadsAllArriveOnce) {
  auto created = CompletionQueue::Create();
  ASSERT_TRUE(created);
  CompletionQueue& queue = **created;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  Tally t;
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < kPerThread; ++n) queue.Post(&t, 1);
      finished.fetch_add(1);
    });
  }
  // The loop: wait for wake-ups and reap, as the server does, until every post has arrived.
  for (int turns = 0; t.calls < kThreads * kPerThread && turns < 100000; ++turns) {
    queue.WaitAndReap(100);
  }
  for (std::thread& th : threads) th.join();
  queue.Reap();
  EXPECT_EQ(finished.load(), kThreads);
  EXPECT_EQ(t.calls, kThreads * kPerThread);
  EXPECT_EQ(t.sum, kThreads * kPerThread);
}

}  // namespace
}  // namespace aoe
