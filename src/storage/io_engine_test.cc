#include "storage/io_engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "storage/storage_test_util.h"

namespace aoe {
namespace {

using testing_util::AlignedBuffer;
using testing_util::Completion;
using testing_util::Pattern;
using testing_util::RunUntil;
using testing_util::TempFile;

class IoEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_ = UniqueFd(::open(file_.path().c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd_);
  }

  static std::unique_ptr<IoEngine> NewEngine(unsigned depth) {
    auto engine = IoEngine::Create(depth);
    EXPECT_TRUE(engine) << engine.error().message();
    return engine ? std::move(*engine) : nullptr;
  }

  TempFile file_{Pattern(1 << 20)};
  UniqueFd fd_;
};

TEST_F(IoEngineTest, EventFdWakesOnCompletion) {
  auto engine = NewEngine(8);
  ASSERT_TRUE(engine);
  ASSERT_GE(engine->fd(), 0);
  AlignedBuffer buf(4096);
  Completion c;
  engine->QueueRead(fd_.get(), 0, buf.span(), &c);
  EXPECT_EQ(engine->in_flight(), 1u);
  EXPECT_FALSE(c.done()) << "callbacks run only from Reap";
  engine->Submit();
  pollfd p{engine->fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  EXPECT_EQ(engine->Reap(), 1u);
  EXPECT_EQ(c.result(), 4096);
  EXPECT_EQ(engine->in_flight(), 0u);
  // Reap drained the eventfd, so epoll will not spin.
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  EXPECT_EQ(engine->Reap(), 0u);
}

TEST_F(IoEngineTest, SubmitsEarlyWhenTheSubmissionQueueIsFull) {
  auto engine = NewEngine(4);
  ASSERT_TRUE(engine);
  const size_t requests = engine->max_in_flight();
  ASSERT_GT(requests, 4u);
  std::vector<AlignedBuffer> bufs;
  for (size_t i = 0; i < requests; ++i) bufs.emplace_back(512);
  std::vector<Completion> done(requests);
  for (size_t i = 0; i < requests; ++i) {
    engine->QueueRead(fd_.get(), i * 512, bufs[i].span(), &done[i]);
  }
  EXPECT_EQ(engine->in_flight(), requests);
  ASSERT_TRUE(RunUntil(*engine, [&] {
    for (const Completion& c : done) {
      if (!c.done()) return false;
    }
    return true;
  }));
  std::vector<std::byte> expected = Pattern(1 << 20);
  for (size_t i = 0; i < requests; ++i) {
    EXPECT_EQ(done[i].result(), 512);
    EXPECT_EQ(bufs[i].vector(),
              std::vector<std::byte>(expected.begin() + i * 512, expected.begin() + (i + 1) * 512));
  }
}

TEST_F(IoEngineTest, DrainWaitsForEveryRequest) {
  auto engine = NewEngine(16);
  ASSERT_TRUE(engine);
  AlignedBuffer data(4096, std::byte{9});
  std::vector<Completion> done(40);
  for (size_t i = 0; i < done.size(); ++i) {
    engine->QueueWrite(fd_.get(), i * 4096, data.span(), &done[i]);
  }
  Completion sync;
  engine->QueueFdatasync(fd_.get(), &sync);
  engine->Drain();
  EXPECT_EQ(engine->in_flight(), 0u);
  for (const Completion& c : done) EXPECT_EQ(c.result(), 4096);
  EXPECT_EQ(sync.result(), 0);
}

TEST_F(IoEngineTest, ReportsErrnoOfAFailedRequest) {
  auto engine = NewEngine(8);
  ASSERT_TRUE(engine);
  UniqueFd read_only(::open(file_.path().c_str(), O_RDONLY | O_CLOEXEC));
  AlignedBuffer data(512);
  Completion c;
  engine->QueueWrite(read_only.get(), 0, data.span(), &c);
  ASSERT_TRUE(RunUntil(*engine, [&] { return c.done(); }));
  EXPECT_EQ(c.result(), -EBADF);
}

TEST_F(IoEngineTest, DestroyingWithRequestsInFlightRunsNoCallbacks) {
  auto engine = NewEngine(8);
  ASSERT_TRUE(engine);
  AlignedBuffer buf(4096);
  Completion submitted;
  Completion never_submitted;
  engine->QueueRead(fd_.get(), 0, buf.span(), &submitted);
  engine->Submit();
  engine->QueueRead(fd_.get(), 4096, buf.span(), &never_submitted);
  engine.reset();
  EXPECT_FALSE(submitted.done());
  EXPECT_FALSE(never_submitted.done());
}

// Deferred work (IoEngine::Defer): runs at the next Submit(), Reap() or Drain(), once per
// Defer(), also when it defers more while running; cancelled work never runs.
class CountingDeferred final : public DeferredIo {
 public:
  explicit CountingDeferred(std::function<void()> also = {}) : also_(std::move(also)) {}
  void RunDeferred() override {
    ++runs;
    if (also_) also_();
  }
  int runs = 0;

 private:
  std::function<void()> also_;
};

TEST_F(IoEngineTest, DeferredWorkRunsAtTheNextSubmitOnce) {
  auto engine = NewEngine(8);
  ASSERT_TRUE(engine);
  CountingDeferred later;
  CountingDeferred chained;
  CountingDeferred first([&] { engine->Defer(&chained); });
  CountingDeferred cancelled;
  engine->Defer(&first);
  engine->Defer(&later);
  engine->Defer(&cancelled);
  engine->CancelDeferred(&cancelled);
  EXPECT_EQ(first.runs, 0) << "deferred work ran before the submit";
  engine->Submit();
  EXPECT_EQ(first.runs, 1);
  EXPECT_EQ(later.runs, 1);
  EXPECT_EQ(chained.runs, 1) << "work deferred while deferred work ran waited for another turn";
  EXPECT_EQ(cancelled.runs, 0);
  engine->Submit();
  engine->Drain();
  EXPECT_EQ(first.runs, 1) << "ran again without being deferred again";
  engine->Defer(&later);
  engine->Drain();
  EXPECT_EQ(later.runs, 2) << "Drain() left deferred work undone";
}

}  // namespace
}  // namespace aoe
