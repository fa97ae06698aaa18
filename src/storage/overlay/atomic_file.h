// AtomicFileWriter: replaces a small file (versions.json) so that after a crash it holds either
// the old or the new contents, without blocking the loop on a sync: the new contents go to
// NAME.tmp through io_uring, fdatasync, rename over NAME, fsync of the directory.
//
// One write at a time; a Write() while one runs waits for the next, which writes the newest
// contents (writers that asked meanwhile all complete with it).
//
// Ownership: borrows the engine and the directory fd, which must outlive it; destroy it only
// when !busy(). Not thread-safe: the loop's thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "storage/block_backend.h"
#include "storage/io_engine.h"

namespace aoe::overlay {

class AtomicFileWriter {
 public:
  using Done = std::function<void(Result<void>)>;

  AtomicFileWriter(IoEngine& engine, int dir_fd, std::string dir, std::string name);

  // Writes `contents()`'s value at the time the write starts; `done` runs once it is durable.
  void Write(std::function<std::string()> contents, Done done);
  bool busy() const { return running_ || !next_.empty(); }

 private:
  enum class Phase { kWrite, kSync, kDirSync };
  struct Step final : IoCallback {
    void IoDone(int64_t result) override { owner->Stepped(result); }
    AtomicFileWriter* owner = nullptr;
  };

  void Start();
  void Stepped(int64_t result);
  void Finish(Result<void> result);

  IoEngine& engine_;
  int dir_fd_;
  std::string path_;
  std::string tmp_path_;
  std::function<std::string()> contents_;
  bool running_ = false;
  Phase phase_ = Phase::kWrite;
  UniqueFd tmp_fd_;
  std::string buffer_;
  Step step_;
  std::vector<Done> covered_;
  std::vector<Done> next_;
};

}  // namespace aoe::overlay
