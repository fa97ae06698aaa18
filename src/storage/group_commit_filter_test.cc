#include "storage/group_commit_filter.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>

#include "storage/storage_test_util.h"

namespace aoe {
namespace {

using testing_util::Completion;
using testing_util::kPending;

// An inner backend whose requests complete only when the test says so, in any order.
class ManualBackend final : public BlockBackend {
 public:
  enum class Kind { kRead, kWrite, kFlush, kTrim };
  struct Pending {
    Kind kind;
    IoCallback* done;
  };

  explicit ManualBackend(bool failed_flush_loses_data = true)
      : failed_flush_loses_data_(failed_flush_loses_data) {}

  uint64_t size_bytes() const override { return 1 << 20; }
  BackendCapabilities capabilities() const override {
    return {.can_trim = true,
            .trim_reads_zeroes = true,
            .failed_flush_loses_data = failed_flush_loses_data_};
  }
  std::string Describe() const override { return "manual"; }
  void Read(const IoContext&, uint64_t, ByteSpan, IoCallback* done) override {
    pending_.push_back({Kind::kRead, done});
  }
  void Write(const IoContext&, uint64_t, ConstByteSpan, IoCallback* done) override {
    pending_.push_back({Kind::kWrite, done});
  }
  void Flush(const IoContext&, IoCallback* done) override {
    pending_.push_back({Kind::kFlush, done});
  }
  void Trim(const IoContext&, uint64_t, uint64_t, IoCallback* done) override {
    pending_.push_back({Kind::kTrim, done});
  }

  size_t count(Kind kind) const {
    size_t n = 0;
    for (const Pending& p : pending_) n += p.kind == kind;
    return n;
  }
  // Completes the oldest pending request of `kind`.
  void Complete(Kind kind, int64_t result) {
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->kind != kind) continue;
      IoCallback* done = it->done;
      pending_.erase(it);
      done->IoDone(result);
      return;
    }
    ADD_FAILURE() << "nothing of that kind is pending";
  }

 private:
  std::deque<Pending> pending_;
  bool failed_flush_loses_data_;
};

using Kind = ManualBackend::Kind;
constexpr IoContext kCached{};
constexpr IoContext kDurable{.flags = IoContext::kDurable};

class GroupCommitTest : public ::testing::Test {
 protected:
  GroupCommitTest() {
    auto inner = std::make_unique<ManualBackend>();
    inner_ = inner.get();
    filter_ = std::make_unique<GroupCommitFilter>(std::move(inner));
  }
  void Write(const IoContext& context, Completion& done) {
    filter_->Write(context, 0, ConstByteSpan(data_, sizeof data_), &done);
  }

  std::byte data_[512]{};
  ManualBackend* inner_;
  std::unique_ptr<GroupCommitFilter> filter_;
};

TEST_F(GroupCommitTest, CachedWritesPassStraightThrough) {
  Completion w;
  Write(kCached, w);
  inner_->Complete(Kind::kWrite, 512);
  EXPECT_EQ(w.result(), 512);
  EXPECT_EQ(inner_->count(Kind::kFlush), 0u);
  EXPECT_EQ(filter_->commits(), 0u);
}

TEST_F(GroupCommitTest, DurableWriteCompletesOnlyAfterAFlush) {
  Completion w;
  Write(kDurable, w);
  inner_->Complete(Kind::kWrite, 512);
  EXPECT_FALSE(w.done()) << "acknowledged before it was durable";
  ASSERT_EQ(inner_->count(Kind::kFlush), 1u);
  inner_->Complete(Kind::kFlush, 0);
  EXPECT_EQ(w.result(), 512);
  EXPECT_EQ(w.calls(), 1);
}

TEST_F(GroupCommitTest, WritesCompletedDuringAFlushWaitForTheNextOne) {
  // The first flush may have started before the second write reached the disk, so it cannot
  // cover it.
  Completion first, second;
  Write(kDurable, first);
  Write(kDurable, second);
  inner_->Complete(Kind::kWrite, 512);  // first write done: flush 1 starts
  inner_->Complete(Kind::kWrite, 512);  // second write done while flush 1 runs
  ASSERT_EQ(inner_->count(Kind::kFlush), 1u) << "only one flush at a time";
  inner_->Complete(Kind::kFlush, 0);
  EXPECT_EQ(first.result(), 512);
  EXPECT_FALSE(second.done()) << "covered by a flush that may have started before it";
  ASSERT_EQ(inner_->count(Kind::kFlush), 1u) << "the next flush starts at once";
  inner_->Complete(Kind::kFlush, 0);
  EXPECT_EQ(second.result(), 512);
  EXPECT_EQ(filter_->commits(), 2u);
}

TEST_F(GroupCommitTest, ManyWritesShareOneFlush) {
  // While one flush runs, every write that completes joins the next group.
  Completion opener;
  Write(kDurable, opener);
  inner_->Complete(Kind::kWrite, 512);
  std::vector<Completion> group(50);
  for (Completion& c : group) Write(kDurable, c);
  for (size_t i = 0; i < group.size(); ++i) inner_->Complete(Kind::kWrite, 512);
  inner_->Complete(Kind::kFlush, 0);  // the opener's flush
  EXPECT_EQ(opener.result(), 512);
  ASSERT_EQ(inner_->count(Kind::kFlush), 1u);
  inner_->Complete(Kind::kFlush, 0);  // one flush for all fifty
  for (const Completion& c : group) EXPECT_EQ(c.result(), 512);
  EXPECT_EQ(filter_->commits(), 2u);
  EXPECT_EQ(filter_->committed_requests(), 51u);
}

TEST_F(GroupCommitTest, AFailedFlushFailsEveryDurableRequestAfterIt) {
  // The failed fdatasync may have written back (and lost) any dirty page: a write still in
  // flight while it ran, another initiator's cached write. The kernel reports that to it only,
  // so a later fdatasync would succeed over the loss: nothing durable may be claimed again.
  Completion a, b, flush, cached;
  Write(kDurable, a);
  Write(kDurable, b);
  inner_->Complete(Kind::kWrite, 512);
  inner_->Complete(Kind::kFlush, -EIO);
  EXPECT_EQ(a.result(), -EIO) << "its data may not be durable";
  inner_->Complete(Kind::kWrite, 512);
  EXPECT_EQ(b.result(), -EIO) << "a write in flight while the flush failed";
  Write(IoContext{}, cached);
  inner_->Complete(Kind::kWrite, 512);
  EXPECT_EQ(cached.result(), 512) << "a write not asked to be durable claims nothing";
  filter_->Flush(IoContext{}, &flush);
  EXPECT_EQ(flush.result(), -EIO) << "a later FLUSH";
  EXPECT_EQ(inner_->count(Kind::kFlush), 0u) << "no flush is asked of the inner layer again";
}

// Storage where a lost write fails its own request (RBD): a flush that failed in a cluster
// outage says nothing about writes after it, and service comes back with the cluster.
TEST(GroupCommitOverStorageThatReportsEachLoss, AFlushAfterAFailedOneMayWork) {
  auto owned = std::make_unique<ManualBackend>(/*failed_flush_loses_data=*/false);
  ManualBackend& inner = *owned;
  GroupCommitFilter filter(std::move(owned));
  std::byte data[512]{};
  Completion a, b;
  filter.Write(kDurable, 0, ConstByteSpan(data, sizeof data), &a);
  inner.Complete(Kind::kWrite, 512);
  inner.Complete(Kind::kFlush, -ETIMEDOUT);
  EXPECT_EQ(a.result(), -ETIMEDOUT);
  filter.Write(kDurable, 0, ConstByteSpan(data, sizeof data), &b);
  inner.Complete(Kind::kWrite, 512);
  inner.Complete(Kind::kFlush, 0);
  EXPECT_EQ(b.result(), 512);
}

TEST_F(GroupCommitTest, AFailedFlushAlsoFailsWritesWaitingForTheNextOne) {
  // The kernel reports a writeback error to one fdatasync only. The running one may have
  // written back (and failed) the second write's pages, so the next one could succeed although
  // that data is lost: the second write must fail too.
  Completion a, b;
  Write(kDurable, a);
  Write(kDurable, b);
  inner_->Complete(Kind::kWrite, 512);  // a done: flush 1 starts
  inner_->Complete(Kind::kWrite, 512);  // b done while flush 1 runs
  inner_->Complete(Kind::kFlush, -EIO);
  EXPECT_EQ(a.result(), -EIO);
  EXPECT_EQ(b.result(), -EIO) << "its writeback error may have been reported to flush 1";
  EXPECT_EQ(inner_->count(Kind::kFlush), 0u) << "nothing is left to flush";
}

TEST_F(GroupCommitTest, AFailedWriteFailsAtOnceWithoutAFlush) {
  Completion w;
  Write(kDurable, w);
  inner_->Complete(Kind::kWrite, -ENOSPC);
  EXPECT_EQ(w.result(), -ENOSPC);
  EXPECT_EQ(inner_->count(Kind::kFlush), 0u);
}

TEST_F(GroupCommitTest, AFlushJoinsTheGroupOfDurableWrites) {
  Completion opener, flush, durable;
  Write(kDurable, opener);
  inner_->Complete(Kind::kWrite, 512);  // flush 1 runs
  filter_->Flush(kCached, &flush);      // an initiator's FLUSH arrives meanwhile
  Write(kDurable, durable);
  inner_->Complete(Kind::kWrite, 512);
  inner_->Complete(Kind::kFlush, 0);
  EXPECT_FALSE(flush.done()) << "flush 1 may have started before the FLUSH arrived";
  inner_->Complete(Kind::kFlush, 0);
  EXPECT_EQ(flush.result(), 0);
  EXPECT_EQ(durable.result(), 512);
  EXPECT_EQ(filter_->commits(), 2u) << "the FLUSH and the write shared one inner flush";
}

TEST_F(GroupCommitTest, DurableTrimsWaitLikeWritesAndReadsPassThrough) {
  Completion trim, read;
  filter_->Trim(kDurable, 0, 4096, &trim);
  filter_->Read(kDurable, 0, ByteSpan(data_, sizeof data_), &read);
  inner_->Complete(Kind::kRead, 512);
  EXPECT_EQ(read.result(), 512);
  inner_->Complete(Kind::kTrim, 0);
  EXPECT_FALSE(trim.done());
  inner_->Complete(Kind::kFlush, 0);
  EXPECT_EQ(trim.result(), 0);
}

TEST(GroupCommitInline, InnerBackendsThatCompleteInlineWork) {
  // A memory backend completes every request, flushes included, before the call returns.
  auto memory = std::make_unique<MemoryBackend>(8192);
  MemoryBackend& disk = *memory;
  GroupCommitFilter filter(std::move(memory));
  std::vector<std::byte> data(512, std::byte{7});
  Completion w;
  filter.Write(kDurable, 1024, data, &w);
  EXPECT_EQ(w.result(), 512);
  EXPECT_EQ(disk.flush_count(), 1u);
  EXPECT_EQ(disk.bytes()[1024], std::byte{7});
}

}  // namespace
}  // namespace aoe
