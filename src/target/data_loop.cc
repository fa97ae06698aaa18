// DataLoop (data_loop.h): receiving frames, handing them to the Target, sending the replies,
// busy polling and following the ports' MTU and link.
#include "target/data_loop.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "proto/ata.h"
#include "proto/header.h"

namespace aoe::target {

namespace {

// A spin-wait hint to the CPU: lets a sibling hyperthread run, and saves power.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace

Result<std::unique_ptr<DataLoop>> DataLoop::Create(Logger& log, StateStore& store,
                                                   const DataLoopShape& shape) {
  auto loop = EventLoop::Create();
  if (!loop) {
    log.Error("server", "cannot create the event loop: {}", loop.error().message());
    return Unexpected{loop.error()};
  }
  auto engine =
      IoEngine::Create(static_cast<unsigned>(std::min<size_t>(shape.command_count, 1024)));
  if (!engine) {
    log.Error("server",
              "cannot set up io_uring: {} (is io_uring disabled by "
              "kernel.io_uring_disabled?)",
              engine.error().message());
    return Unexpected{engine.error()};
  }
  auto completions = CompletionQueue::Create();
  if (!completions) {
    log.Error("server", "cannot create the storage completion queue: {}",
              completions.error().message());
    return Unexpected{completions.error()};
  }
  return std::unique_ptr<DataLoop>(new DataLoop(log, store, shape, std::move(*engine),
                                                std::move(*completions), std::move(*loop)));
}

DataLoop::DataLoop(Logger& log, StateStore& store, const DataLoopShape& shape,
                   std::unique_ptr<IoEngine> engine, std::unique_ptr<CompletionQueue> completions,
                   EventLoop loop)
    : log_(log),
      shape_(shape),
      engine_(std::move(engine)),
      completions_(std::move(completions)),
      services_{*engine_, *completions_},
      loop_(std::move(loop)),
      pool_(shape.command_count, shape.frame_capacity),
      target_(log_, stats_, *this, store, clock_, shape.buffer_count, shape.frame_capacity) {
  rx_slots_.resize(kReceiveBatch);
  rx_commands_.resize(kReceiveBatch);
  tx_queue_.reserve(shape.command_count);
  tx_frames_.reserve(shape.command_count);
  Watch(engine_->fd(), [this] { OnStorageReady(); });
  Watch(completions_->fd(), [this] { OnStorageReady(); });
}

DataLoop::~DataLoop() {
  // Commands still waiting for storage point into the pool and the exports. (Replies held for
  // a state save are not waiting for storage: they go with the Target.) Bounded, so that a
  // test that leaks a command fails instead of hanging.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  RunStorageUntil([&] { return Idle() || std::chrono::steady_clock::now() > give_up; });
  engine_->Drain();
}

void DataLoop::Watch(int fd, std::function<void()> on_readable) {
  if (auto added = loop_.Add(fd, std::move(on_readable)); !added) {
    log_.Error("server", "cannot watch fd {}: {}", fd, added.error().message());
  }
}

size_t DataLoop::AdoptPort(std::unique_ptr<Port> port) {
  ports_.push_back(PortEntry{std::move(port), -1, true});
  // While every buffer is busy the ports are not watched (PauseReceiving); ResumeReceiving
  // watches this one too.
  if (Receiving()) WatchPort(ports_.size() - 1);
  return ports_.size() - 1;
}

void DataLoop::DropPort(size_t index) {
  UnwatchPort(ports_[index]);
  ports_[index].port.reset();
}

void DataLoop::ReplacePort(size_t index, std::unique_ptr<Port> port) {
  PortEntry& entry = ports_[index];
  UnwatchPort(entry);
  entry.port = std::move(port);
  entry.was_up = false;
  if (Receiving()) WatchPort(index);
}

size_t DataLoop::FindPort(const std::string& name) const {
  for (size_t i = 0; i < ports_.size(); ++i)
    if (ports_[i].port && ports_[i].port->name() == name) return i;
  return kNoPort;
}

void DataLoop::WatchPort(size_t index) {
  PortEntry& entry = ports_[index];
  int fd = entry.port->fd();
  if (fd < 0 || entry.watched_fd == fd) return;
  UnwatchPort(entry);
  if (loop_.Add(fd, [this, index] { OnPortReadable(index); })) entry.watched_fd = fd;
}

void DataLoop::UnwatchPort(PortEntry& entry) {
  if (entry.watched_fd >= 0) (void)loop_.Remove(entry.watched_fd);
  entry.watched_fd = -1;
}

void DataLoop::StopReceiving() {
  stopped_ = true;
  for (auto& entry : ports_) UnwatchPort(entry);
}

void DataLoop::Turn(milliseconds max_wait) {
  if (max_wait.count() > 0 && handled_frames_ && BusyPollFoundFrames()) {
    max_wait = milliseconds(0);
  }
  handled_frames_ = false;
  if (auto ran = loop_.RunOnce(max_wait); !ran) {
    log_.Error("server", "event loop failed: {}", ran.error().message());
  }
  ResumeReceiving();
}

bool DataLoop::BusyPollFoundFrames() {
  const auto budget = shape_.busy_poll;
  if (budget.count() <= 0 || engine_->in_flight() > 0) return false;
  // What the receiving ports say now: a frame waits, none does, or they cannot tell.
  auto look = [this]() -> std::optional<bool> {
    std::optional<bool> any;
    for (const PortEntry& entry : ports_) {
      if (!entry.port || entry.watched_fd < 0) continue;  // gone, or paused (pool empty)
      std::optional<bool> waiting = entry.port->FramesWaiting();
      if (waiting == true) return true;
      if (waiting) any = false;
    }
    return any;
  };
  std::optional<bool> found = look();
  if (!found) return false;
  if (!*found && !busy_poll_policy_.ShouldPoll()) {
    ++stats_.busy_polls_skipped;
    return false;
  }
  ++stats_.busy_polls;
  const auto until = std::chrono::steady_clock::now() + budget;
  while (!*found && std::chrono::steady_clock::now() < until) {
    CpuRelax();
    found = look();
  }
  if (*found) ++stats_.busy_poll_hits;
  busy_poll_policy_.Polled(*found);
  return *found;
}

void DataLoop::OnPortReadable(size_t index) {
  Port* port = ports_[index].port.get();
  if (port == nullptr) return;
  target_.set_now_unix(std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
  const bool in_place = port->receives_in_place();
  for (size_t round = 0; round < kMaxReceiveRounds; ++round) {
    size_t want = std::min(kReceiveBatch, pool_.free_count());
    if (want == 0) {
      PauseReceiving();
      break;
    }
    for (size_t i = 0; i < want; ++i) {
      rx_commands_[i] = pool_.Take();
      rx_slots_[i] = RxSlot{rx_commands_[i]->buffer, 0, false};
    }
    const std::span slots(rx_slots_.data(), want);
    auto received = in_place ? port->ReceiveInPlace(slots) : port->Receive(slots);
    size_t n = received ? *received : 0;
    if (n > 0) handled_frames_ = true;
    if (!received) log_.Debug(port->name(), "receive failed: {}", received.error().message());
    for (size_t i = 0; i < want; ++i) {
      Command* command = rx_commands_[i];
      if (i >= n || !TakeFrame(*command, rx_slots_[i])) {
        pool_.Give(command);
      } else {
        command->port_index = index;
        command->owner = &target_;
        target_.Handle(*command);
      }
    }
    if (in_place) {
      // Storage is done with the write data left in the port's frames
      // (Command::payload_in_port) once the writes it held back to merge have run; the
      // frames go back at once, so a turn holds at most one batch of ring slots. (Never
      // reached from inside deferred work, where RunDeferred would return at once: the loop
      // calls this from epoll and busy polling only.)
      engine_->RunDeferred();
      port->ReleaseInPlace();
    }
    if (n < want) break;
  }
  // The submit also does the reads and writes the file backends held back to merge
  // (IoEngine::Defer), and reads served from the page cache often complete during it: answer
  // them in this turn, in one batch with the rest, instead of waiting for the eventfd to wake
  // the loop again.
  engine_->Submit();
  if (engine_->in_flight() > 0) return OnStorageReady();
  FlushTx();
}

bool DataLoop::TakeFrame(Command& command, const RxSlot& slot) {
  if (slot.truncated || slot.length > command.buffer.size()) {
    ++stats_.dropped_truncated;
    return false;
  }
  command.length = slot.length;
  if (slot.in_place == nullptr) return true;  // Receive() copied it
  const ConstByteSpan frame = slot.received();
  size_t copied = frame.size();
  if (proto::IsWriteRequestWithData(frame)) {
    copied = proto::kAtaHeaderSize;
    command.payload_in_port = frame.subspan(copied);
  }
  std::memcpy(command.buffer.data(), frame.data(), copied);
  return true;
}

void DataLoop::OnStorageReady() {
  engine_->Reap();
  completions_->Reap();
  FlushTx();
}

void DataLoop::PauseReceiving() {
  if (paused_) return;
  paused_ = true;
  for (auto& entry : ports_) UnwatchPort(entry);
}

void DataLoop::ResumeReceiving() {
  if (!paused_ || stopped_ || pool_.free_count() < pool_.size() / 4) return;
  paused_ = false;
  if (!Receiving()) return;
  for (size_t i = 0; i < ports_.size(); ++i)
    if (ports_[i].port) WatchPort(i);
}

void DataLoop::HoldReceiving(bool hold) {
  if (hold == held_) return;
  held_ = hold;
  for (size_t i = 0; i < ports_.size(); ++i) {
    if (!ports_[i].port) continue;
    if (Receiving()) {
      WatchPort(i);
    } else {
      UnwatchPort(ports_[i]);
    }
  }
}

Command* DataLoop::Acquire() {
  Command* command = pool_.Take();
  if (command != nullptr) command->owner = &target_;
  return command;
}

PortInfo DataLoop::PortAt(size_t index) const {
  const auto& port = ports_[index].port;
  if (!port) return {};
  return {port->name(), port->mac(), port->mtu()};
}

ByteSpan DataLoop::LendFrame(size_t index) {
  const auto& port = ports_[index].port;
  return port ? port->LendTxFrame() : ByteSpan{};
}

void DataLoop::FlushTx() {
  if (tx_queue_.empty()) return;
  for (size_t index = 0; index < ports_.size(); ++index) {
    tx_frames_.clear();
    for (Command* c : tx_queue_)
      if (c->port_index == index) tx_frames_.push_back(c->reply());
    if (tx_frames_.empty()) continue;
    auto& port = ports_[index].port;
    size_t sent = 0;
    if (port) {
      auto result = port->Send(tx_frames_);
      sent = result ? *result : 0;
    }
    stats_.send_dropped += tx_frames_.size() - sent;
  }
  for (Command* c : tx_queue_) pool_.Give(c);
  tx_queue_.clear();
}

DataLoop::PortChanges DataLoop::RefreshPorts(bool log_changes) {
  PortChanges changes;
  for (size_t i = 0; i < ports_.size(); ++i) {
    PortEntry& entry = ports_[i];
    if (!entry.port) continue;
    size_t old_mtu = entry.port->mtu();
    const MacAddress old_mac = entry.port->mac();
    auto refreshed = entry.port->Refresh();
    bool up = refreshed && entry.port->link_up();
    if (entry.watched_fd != entry.port->fd()) {
      UnwatchPort(entry);
      if (Receiving()) WatchPort(i);
    }
    if (log_changes && up && entry.port->mtu() != old_mtu) {
      log_.Info(entry.port->name(), "mtu changed from {} to {}", old_mtu, entry.port->mtu());
    }
    if (!refreshed && refreshed.error() == std::errc::invalid_argument) {
      changes.cannot_rebind.push_back(i);
    }
    if (up && !entry.was_up) {
      changes.came_up.push_back(i);
    } else if (up && entry.port->mac() != old_mac) {
      if (log_changes) {
        log_.Info(entry.port->name(), "mac changed from {} to {}", old_mac.ToString(),
                  entry.port->mac().ToString());
      }
      changes.new_mac.push_back(i);
    } else if (log_changes && !up && entry.was_up) {
      log_.Warn(entry.port->name(), "link down or interface gone ({}); waiting for it",
                refreshed ? "no carrier" : refreshed.error().message());
    }
    entry.was_up = up;
  }
  return changes;
}

}  // namespace aoe::target
