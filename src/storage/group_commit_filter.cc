#include "storage/group_commit_filter.h"

#include <cassert>
#include <utility>

namespace aoe {

GroupCommitFilter::GroupCommitFilter(std::unique_ptr<BlockBackend> inner)
    : inner_(std::move(inner)),
      failures_are_final_(inner_ != nullptr && inner_->capabilities().failed_flush_loses_data) {
  assert(inner_ != nullptr);
  flush_done_.owner = this;
}

std::string GroupCommitFilter::Describe() const { return "group-commit <- " + inner_->Describe(); }

void GroupCommitFilter::Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
                             IoCallback* done) {
  inner_->Read(context, offset_bytes, into, done);
}

void GroupCommitFilter::Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
                              IoCallback* done) {
  if (!context.durable()) return inner_->Write(context, offset_bytes, from, done);
  inner_->Write(context, offset_bytes, from, Acquire(done));
}

void GroupCommitFilter::Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
                             IoCallback* done) {
  if (!context.durable()) return inner_->Trim(context, offset_bytes, length_bytes, done);
  inner_->Trim(context, offset_bytes, length_bytes, Acquire(done));
}

void GroupCommitFilter::Flush(const IoContext&, IoCallback* done) { Wait(done, 0); }

GroupCommitFilter::InFlight* GroupCommitFilter::Acquire(IoCallback* done) {
  if (free_.empty()) {
    pool_.push_back(std::make_unique<InFlight>());
    pool_.back()->owner = this;
    free_.push_back(pool_.back().get());
  }
  InFlight* request = free_.back();
  free_.pop_back();
  request->done = done;
  return request;
}

void GroupCommitFilter::InFlight::IoDone(int64_t result) { owner->InnerCompleted(*this, result); }

void GroupCommitFilter::InnerCompleted(InFlight& request, int64_t result) {
  IoCallback* done = request.done;
  free_.push_back(&request);
  // A failed write has nothing to make durable; say so at once.
  if (result < 0) return done->IoDone(result);
  Wait(done, result);
}

void GroupCommitFilter::Wait(IoCallback* done, int64_t result) {
  if (failed_ < 0) return done->IoDone(failed_);  // see the header: no flush can be trusted
  next_.push_back(Waiter{done, result});
  MaybeStartFlush();
}

void GroupCommitFilter::MaybeStartFlush() {
  if (flushing_ || next_.empty()) return;
  flushing_ = true;
  covered_.swap(next_);
  ++commits_;
  // The target's own request: no initiator, nothing to mark durable (it *is* the flush).
  inner_->Flush(IoContext{}, &flush_done_);
}

void GroupCommitFilter::FlushDone::IoDone(int64_t result) { owner->FlushCompleted(result); }

void GroupCommitFilter::FlushCompleted(int64_t result) {
  // Callbacks may queue new durable writes (and an inner flush may complete inline), so
  // complete from a private list and only then look for the next group.
  std::vector<Waiter> completed;
  completed.swap(covered_);
  flushing_ = false;
  committed_requests_ += completed.size();
  // After a failure, the requests waiting for the next flush fail too, and so will every
  // one after them (see the header).
  if (result < 0) {
    if (failures_are_final_ && failed_ == 0) failed_ = result;
    completed.insert(completed.end(), next_.begin(), next_.end());
    next_.clear();
  }
  for (const Waiter& w : completed) w.done->IoDone(result < 0 ? result : w.result);
  // Keep the buffer for a later group instead of allocating one per flush (unless a callback
  // already started the next flush, whose group covered_ now holds).
  completed.clear();
  if (covered_.empty() && covered_.capacity() < completed.capacity()) covered_.swap(completed);
  MaybeStartFlush();
}

}  // namespace aoe
