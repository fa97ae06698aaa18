// IoEngine: one io_uring ring plus an eventfd, the asynchronous disk I/O core of a target.
//
// Backends queue reads, writes and fdatasyncs with an IoCallback* as the request's identity
// (the SQE's user_data), so queueing allocates nothing. The owner drives the engine from its
// event loop (style.md principle 4: libraries own no threads):
//
//   epoll on engine.fd()              // readable when completions are waiting
//   ... handle frames, backends queue I/O ...
//   engine.Submit();                  // once per loop iteration: one syscall for the batch
//   engine.Reap();                    // when fd() is readable: runs each IoCallback::IoDone
//
// Submit() is also where a turn's deferred work runs (DeferredIo): a backend may hold requests
// back while the loop handles a batch of frames so as to merge them (FileBackend writes adjacent
// writes with one pwritev), the way the block layer plugs a queue.
//
// Flow control belongs to the caller: keep in_flight() at or below max_in_flight() (the
// completion queue's size). When the submission queue is full, queueing submits the batch
// early and retries, so queue_depth only bounds the batch size, not the work in flight.
//
// Ownership: the engine owns the ring and the eventfd. Every backend and every buffer handed
// to it must outlive its requests; call Drain() before destroying them. Destroying the engine
// with requests in flight waits for the kernel to finish them (so it no longer touches their
// buffers) without running their callbacks.
//
// Thread-safety: none. One thread queues, submits and reaps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "storage/block_backend.h"

struct io_uring;  // liburing's ring; kept out of this header so users need not include it
struct io_uring_sqe;

namespace aoe {

// Work a backend holds back during one turn of the loop, registered with IoEngine::Defer().
class DeferredIo {
 public:
  // Does what was held back (and completes it, or queues it on the engine).
  virtual void RunDeferred() = 0;

 protected:
  ~DeferredIo() = default;
};

class IoEngine {
 public:
  static constexpr unsigned kDefaultQueueDepth = 256;

  // Creates a ring with `queue_depth` submission entries (rounded up to a power of two by the
  // kernel) and a completion queue four times larger. Fails with the errno of
  // io_uring_queue_init (e.g. ENOSYS or EPERM when io_uring is disabled), eventfd or
  // io_uring_register_eventfd.
  static Result<std::unique_ptr<IoEngine>> Create(unsigned queue_depth = kDefaultQueueDepth);

  ~IoEngine();
  IoEngine(const IoEngine&) = delete;
  IoEngine& operator=(const IoEngine&) = delete;

  // The eventfd the kernel signals on every completion: add it to epoll for reading.
  int fd() const { return event_fd_.get(); }

  // Runs the deferred work (Defer()), then hands every request queued since the last call to
  // the kernel.
  void Submit();
  // Runs the deferred work only, until none is left (what it runs may defer more). The target
  // calls it after each batch of frames received in place, before it gives them back
  // (BackendCapabilities::copies_write_data_in_turn).
  void RunDeferred();

  // Has io->RunDeferred() run at the next Submit() (or Reap(), or Drain()), so work held back
  // never waits past the turn that held it. Register once per turn: a second Defer() of the
  // same `io` before then runs it twice. CancelDeferred() before `io` is destroyed.
  void Defer(DeferredIo* io);
  void CancelDeferred(DeferredIo* io);

  // Runs IoDone(cqe->res) for every completion waiting, then submits anything those callbacks
  // queued (so a resubmitted remainder does not wait for the next loop iteration). Never
  // blocks. Returns the number of completions handled.
  size_t Reap();

  // Submits, then blocks until every request in flight has completed and its callback has
  // run (including requests queued by those callbacks). Used on shutdown.
  void Drain();

  // Requests queued or submitted whose completion has not been reaped yet.
  size_t in_flight() const { return in_flight_; }
  // The most requests that may be in flight at once (the completion queue's size).
  size_t max_in_flight() const { return max_in_flight_; }

  // Queue one request; `done` receives the result (bytes transferred or -errno) from Reap().
  // Offsets and buffers must satisfy the fd's O_DIRECT alignment, if any. If the submission
  // queue stays full even after submitting (the kernel refuses the batch), `done` runs before
  // the call returns with that -errno (e.g. -EAGAIN).
  void QueueRead(int fd, uint64_t offset_bytes, ByteSpan into, IoCallback* done);
  void QueueWrite(int fd, uint64_t offset_bytes, ConstByteSpan from, IoCallback* done);
  // fdatasync(2): makes the data of every completed write durable.
  void QueueFdatasync(int fd, IoCallback* done);
  // fsync(2): data and all metadata; on a directory, makes the names created or removed in it
  // durable.
  void QueueFsync(int fd, IoCallback* done);
  // Completes `done` with 0 from a later Reap(), having done nothing: a way to run work once
  // every callback now on the stack has returned (e.g. destroying the object one belongs to).
  void QueueNop(IoCallback* done);
  // fallocate(2) with `mode` (e.g. FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE); completes with
  // 0 or -errno.
  void QueueFallocate(int fd, int mode, uint64_t offset_bytes, uint64_t length_bytes,
                      IoCallback* done);

 private:
  IoEngine();

  // Returns a free SQE, submitting early if the queue is full; nullptr (after completing
  // `done` with the error) if the kernel will not take the batch.
  io_uring_sqe* GetSqe(IoCallback* done);
  void Queued(io_uring_sqe* sqe, IoCallback* done);
  // Accounts for an io_uring_submit* result (the number of SQEs the kernel took, or -errno).
  void Submitted(int result);
  // Consumes waiting completions; runs their callbacks only when `dispatch` is set.
  size_t ProcessCompletions(bool dispatch);
  std::unique_ptr<io_uring> ring_;
  bool ring_ready_ = false;  // io_uring_queue_init succeeded, so the destructor must exit it
  UniqueFd event_fd_;
  size_t max_in_flight_ = 0;
  size_t in_flight_ = 0;
  // Requests queued since the last Submit(); lets Reap() skip a syscall when nothing is new.
  size_t unsubmitted_ = 0;
  std::vector<DeferredIo*> deferred_;  // to run at the next Submit()
  std::vector<DeferredIo*> running_;   // being run now (a null entry was cancelled)
};

}  // namespace aoe
