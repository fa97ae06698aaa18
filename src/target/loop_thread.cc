// LoopThread (loop_thread.h): the thread of one extra event loop and the tasks the server
// hands it.
#include "target/loop_thread.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <system_error>

namespace aoe::target {

namespace {
// How often the loop re-reads its ports' MTU and link, as the server does for loop 0.
constexpr std::chrono::milliseconds kRefreshInterval{1000};
// How long CallWithin waits for a loop found stuck before, which has not woken since.
constexpr std::chrono::milliseconds kStuckRecheck{20};
}  // namespace

Result<std::unique_ptr<LoopThread>> LoopThread::Create(std::unique_ptr<DataLoop> loop) {
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return Errno();
  const int wake_fd = wake.get();
  auto created = std::unique_ptr<LoopThread>(new LoopThread(std::move(loop), std::move(wake)));
  // A loop that is not woken for its tasks would leave every Call() waiting.
  AOE_TRY(created->loop_->loop().Add(wake_fd, [self = created.get()] { self->RunPending(); }));
  return created;
}

LoopThread::LoopThread(std::unique_ptr<DataLoop> loop, UniqueFd wake)
    : loop_(std::move(loop)), wake_(std::move(wake)) {}

LoopThread::~LoopThread() {
  if (!thread_.joinable()) return;  // never started: the loop goes with this object
  Call([this](DataLoop&) { stopping_ = true; });
  thread_.join();
}

Result<void> LoopThread::Start() {
  if (thread_.joinable()) return {};
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {  // EAGAIN: out of threads (RLIMIT_NPROC after --user)
    return Unexpected{e.code()};
  }
  return {};
}

void LoopThread::Call(const std::function<void(DataLoop&)>& task) {
  (void)CallWithin(task, std::nullopt);
}

bool LoopThread::CallWithin(const std::function<void(DataLoop&)>& task,
                            std::optional<std::chrono::milliseconds> timeout) {
  if (!thread_.joinable()) {
    task(*loop_);
    return true;
  }
  Pending pending{&task};
  std::unique_lock lock(mutex_);
  // Found stuck before and not woken since: waiting the whole timeout again would hold the
  // caller that long per call; a loop that has come back takes the task at once.
  if (timeout && stuck_at_wakeup_ == wakeups_) timeout = std::min(*timeout, kStuckRecheck);
  pending_.push_back(&pending);
  const uint64_t one = 1;
  while (::write(wake_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  auto done = [&] { return pending.done; };
  if (!timeout) {
    task_done_.wait(lock, done);
    return true;
  }
  if (task_done_.wait_for(lock, *timeout, done)) {
    stuck_at_wakeup_.reset();
    return true;
  }
  if (!pending.taken) {  // still queued: withdrawn, never run
    std::erase(pending_, &pending);
    stuck_at_wakeup_ = wakeups_;
    return false;
  }
  task_done_.wait(lock, done);  // running: it uses `task`, so wait for it
  return true;
}

void LoopThread::RunPending() {
  uint64_t count = 0;
  while (::read(wake_.get(), &count, sizeof count) < 0 && errno == EINTR) {
  }
  std::vector<Pending*> tasks;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(pending_);
    for (Pending* p : tasks) p->taken = true;
    ++wakeups_;
  }
  for (Pending* p : tasks) {
    (*p->task)(*loop_);
    std::lock_guard lock(mutex_);
    p->done = true;
  }
  if (!tasks.empty()) task_done_.notify_all();
}

void LoopThread::Run() {
  auto next_refresh = std::chrono::steady_clock::now() + kRefreshInterval;
  while (!stopping_) {
    loop_->Turn(kRefreshInterval);
    if (std::chrono::steady_clock::now() >= next_refresh) {
      next_refresh = std::chrono::steady_clock::now() + kRefreshInterval;
      // Loop 0 logs the changes and announces on a link that came up; this loop only follows.
      (void)loop_->RefreshPorts(/*log_changes=*/false);
      // This loop's own storage failures: their counts are reported here, as loop 0 does its.
      loop_->target().ReportSuppressedLogs();
      loop_->FlushTx();
    }
  }
  loop_.reset();
}

}  // namespace aoe::target
