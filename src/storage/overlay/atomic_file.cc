#include "storage/overlay/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>

#include <utility>

namespace aoe::overlay {

AtomicFileWriter::AtomicFileWriter(IoEngine& engine, int dir_fd, std::string dir, std::string name)
    : engine_(engine),
      dir_fd_(dir_fd),
      path_(dir + "/" + name),
      tmp_path_(dir + "/" + name + ".tmp") {
  step_.owner = this;
}

void AtomicFileWriter::Write(std::function<std::string()> contents, Done done) {
  contents_ = std::move(contents);
  next_.push_back(std::move(done));
  if (!running_) Start();
}

void AtomicFileWriter::Start() {
  running_ = true;
  covered_.swap(next_);
  next_.clear();
  buffer_ = contents_();
  tmp_fd_ = UniqueFd(::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!tmp_fd_) return Finish(Errno());
  phase_ = Phase::kWrite;
  engine_.QueueWrite(tmp_fd_.get(), 0, std::as_bytes(std::span(buffer_)), &step_);
}

void AtomicFileWriter::Stepped(int64_t result) {
  if (result < 0) return Finish(Errno(static_cast<int>(-result)));
  switch (phase_) {
    case Phase::kWrite:
      if (static_cast<size_t>(result) != buffer_.size()) return Finish(Errno(EIO));
      phase_ = Phase::kSync;
      return engine_.QueueFdatasync(tmp_fd_.get(), &step_);
    case Phase::kSync:
      tmp_fd_.reset();
      // A rename is a metadata update that never waits for the disk; the fsync that makes it
      // durable goes through the ring.
      if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) return Finish(Errno());
      phase_ = Phase::kDirSync;
      return engine_.QueueFsync(dir_fd_, &step_);
    case Phase::kDirSync:
      return Finish({});
  }
}

void AtomicFileWriter::Finish(Result<void> result) {
  tmp_fd_.reset();
  std::vector<Done> completed;
  completed.swap(covered_);
  running_ = false;
  for (Done& done : completed) done(result);
  if (!running_ && !next_.empty()) Start();
}

}  // namespace aoe::overlay
