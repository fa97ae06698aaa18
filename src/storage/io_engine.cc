#include "storage/io_engine.h"

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>
#include <cstdint>

namespace aoe {
namespace {

// Completions are copied out of the ring in batches of this size before their callbacks run,
// so the ring's slots are free again while callbacks queue new work.
constexpr unsigned kReapBatch = 64;

// The completion queue is this many times the submission queue: the target keeps more
// commands in flight than it submits per loop iteration.
constexpr unsigned kCqPerSq = 4;

}  // namespace

// Backends that defer work in one turn: a few per export; the vectors grow past this rarely.
constexpr size_t kDeferredReserve = 64;

IoEngine::IoEngine() : ring_(std::make_unique<io_uring>()) {
  deferred_.reserve(kDeferredReserve);
  running_.reserve(kDeferredReserve);
}

Result<std::unique_ptr<IoEngine>> IoEngine::Create(unsigned queue_depth) {
  assert(queue_depth > 0);
  std::unique_ptr<IoEngine> engine(new IoEngine());

  io_uring_params params{};
  // CLAMP: a depth past the kernel's limits gets the largest ring instead of EINVAL.
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  params.cq_entries = queue_depth > UINT_MAX / kCqPerSq ? UINT_MAX : queue_depth * kCqPerSq;
  int r = io_uring_queue_init_params(queue_depth, engine->ring_.get(), &params);
  if (r < 0) return Errno(-r);
  engine->ring_ready_ = true;
  engine->max_in_flight_ = engine->ring_->cq.ring_entries;

  engine->event_fd_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!engine->event_fd_) return Errno();
  r = io_uring_register_eventfd(engine->ring_.get(), engine->event_fd_.get());
  if (r < 0) return Errno(-r);
  return engine;
}

IoEngine::~IoEngine() {
  if (!ring_ready_) return;
  // The kernel may still be reading into or writing from the buffers of submitted requests;
  // wait for them, but run no callbacks: their owners may already be gone. Requests never
  // submitted are dropped with the ring.
  while (in_flight_ > unsubmitted_) {
    io_uring_cqe* cqe;
    int r = io_uring_wait_cqe(ring_.get(), &cqe);
    if (r < 0 && r != -EINTR && r != -EAGAIN) break;
    ProcessCompletions(/*dispatch=*/false);
  }
  io_uring_queue_exit(ring_.get());
}

void IoEngine::Defer(DeferredIo* io) { deferred_.push_back(io); }

void IoEngine::CancelDeferred(DeferredIo* io) {
  std::erase(deferred_, io);
  std::replace(running_.begin(), running_.end(), io, static_cast<DeferredIo*>(nullptr));
}

void IoEngine::RunDeferred() {
  // Nested calls (a deferred write's callback submitting) find running_ in use and leave the
  // work to the outer loop, which goes round until nothing is deferred.
  if (!running_.empty()) return;
  while (!deferred_.empty()) {
    running_.swap(deferred_);
    for (size_t i = 0; i < running_.size(); ++i) {
      if (running_[i] != nullptr) running_[i]->RunDeferred();
    }
    running_.clear();
  }
}

void IoEngine::Submit() {
  RunDeferred();
  if (unsubmitted_ == 0) return;
  int r;
  do {
    r = io_uring_submit(ring_.get());
  } while (r == -EINTR);
  // On -EAGAIN/-EBUSY (kernel short of memory, or completions backed up) the SQEs stay in the
  // ring and go with the next Submit(); nothing is lost.
  Submitted(r);
}

void IoEngine::Submitted(int result) {
  if (result > 0) unsubmitted_ -= std::min(static_cast<size_t>(result), unsubmitted_);
}

size_t IoEngine::Reap() {
  // Clear the eventfd before looking at the ring: a completion posted after the look signals
  // it again, so the caller's epoll cannot miss it.
  uint64_t count;
  while (::read(event_fd_.get(), &count, sizeof count) < 0 && errno == EINTR) {
  }
  size_t handled = ProcessCompletions(/*dispatch=*/true);
  Submit();
  return handled;
}

void IoEngine::Drain() {
  RunDeferred();
  while (in_flight_ > 0) {
    int r = io_uring_submit_and_wait(ring_.get(), 1);
    Submitted(r);
    // -EINTR, -EAGAIN, -EBUSY: transient; anything else means the ring is unusable and
    // waiting would never end.
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
      assert(false && "io_uring_submit_and_wait failed while draining");
      return;
    }
    Reap();
  }
}

size_t IoEngine::ProcessCompletions(bool dispatch) {
  struct Completion {
    IoCallback* done;
    int32_t res;
  };
  size_t handled = 0;
  for (;;) {
    io_uring_cqe* cqes[kReapBatch];
    unsigned n = io_uring_peek_batch_cqe(ring_.get(), cqes, kReapBatch);
    if (n == 0) break;
    Completion batch[kReapBatch];
    for (unsigned i = 0; i < n; ++i) {
      batch[i] = {reinterpret_cast<IoCallback*>(io_uring_cqe_get_data(cqes[i])), cqes[i]->res};
    }
    io_uring_cq_advance(ring_.get(), n);
    assert(in_flight_ >= n);
    in_flight_ -= n;
    handled += n;
    if (!dispatch) continue;
    for (unsigned i = 0; i < n; ++i) {
      if (batch[i].done != nullptr) batch[i].done->IoDone(batch[i].res);
    }
  }
  return handled;
}

io_uring_sqe* IoEngine::GetSqe(IoCallback* done) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (sqe != nullptr) return sqe;
  // The submission queue is full: send this batch now to make room.
  int r;
  do {
    r = io_uring_submit(ring_.get());
  } while (r == -EINTR);
  Submitted(r);
  sqe = io_uring_get_sqe(ring_.get());
  if (sqe == nullptr) done->IoDone(r < 0 ? r : -EAGAIN);
  return sqe;
}

void IoEngine::Queued(io_uring_sqe* sqe, IoCallback* done) {
  io_uring_sqe_set_data(sqe, done);
  ++in_flight_;
  ++unsubmitted_;
}

void IoEngine::QueueRead(int fd, uint64_t offset_bytes, ByteSpan into, IoCallback* done) {
  // The CQE's result is an int: a longer request could not report its byte count.
  if (into.size() > INT32_MAX) return done->IoDone(-EINVAL);
  io_uring_sqe* sqe = GetSqe(done);
  if (sqe == nullptr) return;
  io_uring_prep_read(sqe, fd, into.data(), static_cast<unsigned>(into.size()), offset_bytes);
  Queued(sqe, done);
}

void IoEngine::QueueWrite(int fd, uint64_t offset_bytes, ConstByteSpan from, IoCallback* done) {
  if (from.size() > INT32_MAX) return done->IoDone(-EINVAL);
  io_uring_sqe* sqe = GetSqe(done);
  if (sqe == nullptr) return;
  io_uring_prep_write(sqe, fd, from.data(), static_cast<unsigned>(from.size()), offset_bytes);
  Queued(sqe, done);
}

void IoEngine::QueueFdatasync(int fd, IoCallback* done) {
  io_uring_sqe* sqe = GetSqe(done);
  if (sqe == nullptr) return;
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  Queued(sqe, done);
}

void IoEngine::QueueFsync(int fd, IoCallback* done) {
  io_uring_sqe* sqe = GetSqe(done);
  if (sqe == nullptr) return;
  io_uring_prep_fsync(sqe, fd, 0);
  Queued(sqe, done);
}

void IoEngine::QueueNop(IoCallback* done) {
  io_uring_sqe* sqe = GetSqe(done);
  if (sqe == nullptr) return;
  io_uring_prep_nop(sqe);
  Queued(sqe, done);
}

void IoEngine::QueueFallocate(int fd, int mode, uint64_t offset_bytes, uint64_t length_bytes,
                              IoCallback* done) {
  io_uring_sqe* sqe = GetSqe(done);
  if (sqe == nullptr) return;
  io_uring_prep_fallocate(sqe, fd, mode, static_cast<off_t>(offset_bytes),
                          static_cast<off_t>(length_bytes));
  Queued(sqe, done);
}

}  // namespace aoe
