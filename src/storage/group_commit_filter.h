// GroupCommitFilter: completes writes and trims marked IoContext::kDurable only once they are
// durable, and makes one inner Flush serve every such request that completed meanwhile
// (group commit, as databases do for their logs).
//
// Why: Linux's aoe driver never sends FLUSH CACHE and tells its block layer the disk has no
// volatile cache, so a journaling file system on it trusts every acknowledged write. Such
// writes must be durable when acknowledged (durability=auto or sync), but one fdatasync per
// frame would cost most of the throughput. Here a durable write goes to the inner chain at
// once; when it completes it waits for the next inner Flush that *starts* after it completed.
// If no flush is running, one starts at once; if one is running, it may have started before
// this write completed, so the write waits for the following one, which starts as soon as the
// running one ends and covers every write that completed in between. A steady stream of durable
// writes thus costs one fdatasync per fdatasync time, not one per write.
//
// Requests without the flag pass straight through: their initiator sends FLUSH itself. A FLUSH
// joins the same queue (it needs exactly what a durable write needs: a flush that starts after
// it), so concurrent FLUSHes and durable writes share one fdatasync too.
//
// Errors: a write that fails completes with its error at once. A failed inner flush completes
// every request it covered and every one waiting for the next flush with its error. Where the
// inner chain says a failed flush loses data unseen (failed_flush_loses_data: the page cache),
// it fails for good: every FLUSH and durable write after it fails too, until the export is
// opened again. The kernel reports a writeback error to one fdatasync only (errseq, per open
// file) and marks the failed pages clean; the failed page may have been anyone's (the fdatasync
// writes back whatever is dirty when it gets there: another initiator's cached write, a write
// still in flight), so a later fdatasync would succeed although data is lost, and nothing says
// whose. Elsewhere (RBD, where a lost write fails its own request) a later flush may succeed,
// so service comes back after a cluster outage.
//
// Ownership: owns the inner backend. Requests waiting here keep their callbacks, which the
// target's commands own (and commands keep their export, hence this filter, alive), so the
// filter is never destroyed with requests waiting. Not thread-safe: the chain's thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/block_backend.h"

namespace aoe {

class GroupCommitFilter final : public BlockBackend {
 public:
  explicit GroupCommitFilter(std::unique_ptr<BlockBackend> inner);

  uint64_t size_bytes() const override { return inner_->size_bytes(); }
  BackendCapabilities capabilities() const override { return inner_->capabilities(); }
  std::string Describe() const override;

  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override;
  ConstByteSpan View(const IoContext& context, uint64_t offset_bytes, size_t length) override {
    return inner_->View(context, offset_bytes, length);  // reads pass straight through
  }
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override;
  void Flush(const IoContext& context, IoCallback* done) override;
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override;

  // Inner flushes issued, and requests (durable writes, trims, FLUSHes) they completed: the
  // ratio is how many requests share one fdatasync.
  uint64_t commits() const { return commits_; }
  uint64_t committed_requests() const { return committed_requests_; }

 private:
  // A request that waits for a flush, with the result it completes with if the flush works.
  struct Waiter {
    IoCallback* done;
    int64_t result;
  };

  // A durable write or trim on its way through the inner chain. Pooled: the data path
  // allocates nothing once the pool has grown to the number of requests in flight.
  struct InFlight final : IoCallback {
    void IoDone(int64_t result) override;
    GroupCommitFilter* owner = nullptr;
    IoCallback* done = nullptr;
  };

  // The inner flush's completion.
  struct FlushDone final : IoCallback {
    void IoDone(int64_t result) override;
    GroupCommitFilter* owner = nullptr;
  };

  InFlight* Acquire(IoCallback* done);
  void InnerCompleted(InFlight& request, int64_t result);
  void Wait(IoCallback* done, int64_t result);
  void MaybeStartFlush();
  void FlushCompleted(int64_t result);

  std::unique_ptr<BlockBackend> inner_;
  std::vector<std::unique_ptr<InFlight>> pool_;
  std::vector<InFlight*> free_;
  std::vector<Waiter> next_;     // completed; wait for a flush that has not started yet
  std::vector<Waiter> covered_;  // covered by the flush in flight
  bool flushing_ = false;
  const bool failures_are_final_;  // the inner chain's failed_flush_loses_data
  int64_t failed_ = 0;  // the first inner flush's error (-errno) there: every later one fails
  FlushDone flush_done_;
  uint64_t commits_ = 0;
  uint64_t committed_requests_ = 0;
};

}  // namespace aoe
