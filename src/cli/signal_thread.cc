#include "cli/signal_thread.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <system_error>

namespace aoe::cli {

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

Result<std::unique_ptr<SignalThread>> SignalThread::Start(const sigset_t& handled,
                                                          SlowStopNotice slow_stop) {
  if (int err = pthread_sigmask(SIG_BLOCK, &handled, nullptr); err != 0) return Errno(err);
  UniqueFd signal_fd(signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd) return Errno();
  std::array<int, 2> ends{};
  // Both ends non-blocking: the loop drains the pipe, and the signal thread never waits for the
  // loop (it would miss the second stop signal).
  if (::pipe2(ends.data(), O_NONBLOCK | O_CLOEXEC) != 0) return Errno();
  UniqueFd read_end(ends[0]);
  UniqueFd write_end(ends[1]);
  UniqueFd stop_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!stop_fd) return Errno();
  std::unique_ptr<SignalThread> started(new SignalThread(std::move(signal_fd), std::move(read_end),
                                                         std::move(write_end), std::move(stop_fd)));
  started->slow_stop_ = std::move(slow_stop);
  try {
    started->thread_ = std::thread([self = started.get()] { self->Run(); });
  } catch (const std::system_error& error) {
    return Unexpected{error.code()};
  }
  return started;
}

SignalThread::SignalThread(UniqueFd signal_fd, UniqueFd read_end, UniqueFd write_end,
                           UniqueFd stop_fd)
    : signal_fd_(std::move(signal_fd)),
      read_end_(std::move(read_end)),
      write_end_(std::move(write_end)),
      stop_fd_(std::move(stop_fd)) {}

SignalThread::~SignalThread() {
  if (!thread_.joinable()) return;  // Start could not start it
  // An eventfd write of 1 cannot fail short of a counter at its maximum, which nothing else
  // writes.
  const uint64_t one = 1;
  if (::write(stop_fd_.get(), &one, sizeof one) != static_cast<ssize_t>(sizeof one)) std::abort();
  thread_.join();
}

std::vector<int> SignalThread::Take() {
  std::vector<int> taken;
  std::array<uint8_t, 64> numbers{};
  ssize_t n = 0;
  while ((n = ::read(read_end_.get(), numbers.data(), numbers.size())) > 0) {
    taken.insert(taken.end(), numbers.begin(), numbers.begin() + n);
  }
  for (int number : taken) {
    if (number == SIGINT || number == SIGTERM) stop_taken_.store(true, std::memory_order_relaxed);
  }
  return taken;
}

int SignalThread::PollTimeoutMs() const {
  if (!first_stop_ || slow_stop_reported_ || !slow_stop_.report) return -1;
  const auto due = first_stop_->at + slow_stop_.after;
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(due - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

void SignalThread::ReportSlowStop() {
  slow_stop_reported_ = true;
  const auto seconds = std::chrono::duration<double>(slow_stop_.after).count();
  const char* name = first_stop_->signal_number == SIGINT ? "SIGINT" : "SIGTERM";
  if (stop_taken_.load(std::memory_order_relaxed)) {
    slow_stop_.report(fmt::format(
        "still stopping after {:g} s: commands in flight and writes not yet durable wait for "
        "their storage; send {} again to quit at once (losing what is not yet durable)",
        seconds, name));
  } else {
    slow_stop_.report(fmt::format(
        "the {} of {:g} s ago is not taken yet: aoe serve is stuck in a system call (storage "
        "that does not answer, such as a hung FUSE or NFS mount?); send {} again to quit at "
        "once (losing what is not yet durable)",
        name, seconds, name));
  }
}

void SignalThread::Run() {
  std::array<pollfd, 2> watched{pollfd{signal_fd_.get(), POLLIN, 0},
                                pollfd{stop_fd_.get(), POLLIN, 0}};
  while (true) {
    const int ready = ::poll(watched.data(), watched.size(), PollTimeoutMs());
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;  // cannot happen with valid descriptors
    }
    if (ready == 0) {
      ReportSlowStop();
      continue;
    }
    if (watched[1].revents != 0) return;
    signalfd_siginfo info{};
    while (::read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      const int number = static_cast<int>(info.ssi_signo);
      if (number == SIGINT || number == SIGTERM) {
        const auto now = std::chrono::steady_clock::now();
        if (first_stop_) {
          // One request that came twice: coreutils `timeout` signals the process and then its
          // whole process group, which holds the process too.
          const bool same_request =
              info.ssi_pid == first_stop_->sender && now - first_stop_->at < kSameRequestWindow;
          if (!same_request) Die(number);
          continue;
        }
        first_stop_ = FirstStop{info.ssi_pid, number, now};
      }
      const auto byte = static_cast<uint8_t>(number);
      if (::write(write_end_.get(), &byte, 1) != 1) {
        // The pipe is full: the loop has not taken tens of thousands of signals. This one is
        // dropped, as a standard signal already pending would be.
      }
    }
  }
}

void SignalThread::Die(int signal_number) {
  // The default action of SIGINT and SIGTERM ends every thread of the process, also one waiting
  // in the kernel for storage that hangs (those waits give way to a fatal signal).
  ::signal(signal_number, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal_number);
  pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
  ::raise(signal_number);
  std::_Exit(128 + signal_number);  // not reached: the signal was fatal
}

}  // namespace aoe::cli
