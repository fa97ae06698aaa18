// Helpers shared by the storage tests: a completion recorder, a loop that drives an IoEngine
// the way the daemon does (poll on its eventfd, then Reap), temp image files and aligned
// buffers.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/block_backend.h"
#include "storage/file_backend.h"
#include "storage/group_commit_filter.h"
#include "storage/io_engine.h"
#include "storage/memory_backend.h"

namespace aoe::testing_util {

constexpr int64_t kPending = INT64_MIN;

// Records the completion of one request, and how many times it completed (must be once).
class Completion final : public IoCallback {
 public:
  void IoDone(int64_t result) override {
    result_ = result;
    ++calls_;
  }
  bool done() const { return calls_ > 0; }
  int calls() const { return calls_; }
  int64_t result() const { return result_; }

 private:
  int64_t result_ = kPending;
  int calls_ = 0;
};

// Submits, then waits on the engine's eventfd and reaps until `finished()` holds, as the
// daemon's epoll loop does; so every test also checks that completions wake the fd.
template <typename Pred>
::testing::AssertionResult RunUntil(IoEngine& engine, Pred finished,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  engine.Submit();
  while (!finished()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{engine.fd(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
      return ::testing::AssertionFailure() << "no completion within " << timeout.count() << " ms; "
                                           << engine.in_flight() << " in flight";
    }
    engine.Reap();
  }
  return ::testing::AssertionSuccess();
}

inline int64_t Await(IoEngine& engine, Completion& c) {
  EXPECT_TRUE(RunUntil(engine, [&] { return c.done(); }));
  EXPECT_EQ(c.calls(), 1);
  return c.result();
}

// A byte pattern with a prime period, so a shifted or misplaced copy never matches.
inline std::byte PatternByte(uint64_t i) { return static_cast<std::byte>(i % 251); }
inline std::vector<std::byte> Pattern(size_t size) {
  std::vector<std::byte> v(size);
  for (size_t i = 0; i < size; ++i) v[i] = PatternByte(i);
  return v;
}

// Heap memory aligned for O_DIRECT (4096 bytes, as the target's frame buffers are).
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t size, std::byte fill = std::byte{0})
      : size_(size),
        data_(static_cast<std::byte*>(std::aligned_alloc(4096, (size + 4095) / 4096 * 4096))) {
    std::fill(data_.get(), data_.get() + size_, fill);
  }
  ByteSpan span() { return {data_.get(), size_}; }
  ConstByteSpan span() const { return {data_.get(), size_}; }
  std::vector<std::byte> vector() const { return {data_.get(), data_.get() + size_}; }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  size_t size_;
  std::unique_ptr<std::byte, Free> data_;
};

// A file under `dir` holding `contents`, removed when the object dies.
class TempFile {
 public:
  explicit TempFile(const std::vector<std::byte>& contents,
                    const std::string& dir = ::testing::TempDir()) {
    std::string tmpl = dir + (dir.ends_with('/') ? "" : "/") + "aoe_storage_test_XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) {
      ADD_FAILURE() << "mkstemp in " << dir << " failed";
      return;
    }
    path_ = tmpl;
    size_t written = 0;
    while (written < contents.size()) {
      ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    EXPECT_EQ(written, contents.size());
    ::close(fd);
  }
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::byte> Contents() const {
    std::ifstream in(path_, std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(chars.size());
    std::memcpy(out.data(), chars.data(), chars.size());
    return out;
  }

 private:
  std::string path_;
};

// The base backends every parameterized test runs over.
// kFileGroupCommit: a buffered file under the group-commit filter, driven with durable requests
// (what durability=sync and auto give initiators that never flush).
enum class BackendKind { kMemory, kFile, kFileDirect, kFileGroupCommit };

inline std::string BackendKindName(const ::testing::TestParamInfo<BackendKind>& info) {
  switch (info.param) {
    case BackendKind::kMemory:
      return "Memory";
    case BackendKind::kFile:
      return "File";
    case BackendKind::kFileDirect:
      return "FileDirect";
    case BackendKind::kFileGroupCommit:
      return "FileGroupCommit";
  }
  return "Unknown";
}

// A base backend of one kind over an image holding `contents`, and a view of the image's
// bytes as stored (the vector for memory, the file on disk for files).
class TestImage {
 public:
  TestImage(IoEngine& engine, BackendKind kind, const std::vector<std::byte>& contents)
      : kind_(kind) {
    if (kind == BackendKind::kMemory) {
      auto memory = std::make_unique<MemoryBackend>(contents.size());
      std::copy(contents.begin(), contents.end(), memory->bytes().begin());
      memory_ = memory.get();
      backend_ = std::move(memory);
      return;
    }
    file_.emplace(contents);
    FileOptions options{.direct = kind == BackendKind::kFileDirect};
    auto opened = OpenFileBackend(engine, file_->path(), options);
    if (!opened) {
      ADD_FAILURE() << "open " << file_->path() << ": " << opened.error().message();
      return;
    }
    warnings_ = opened->warnings;
    backend_ = std::move(opened->backend);
    if (kind == BackendKind::kFileGroupCommit) {
      backend_ = std::make_unique<GroupCommitFilter>(std::move(backend_));
    }
  }

  // The context requests should carry: durable for the group-commit kind.
  IoContext context() const {
    return IoContext{.flags = kind_ == BackendKind::kFileGroupCommit ? IoContext::kDurable : 0u};
  }
  // The image file's allocated bytes (st_blocks * 512); 0 for memory.
  uint64_t AllocatedBytes() const {
    if (!file_) return 0;
    struct stat st {};
    if (::stat(file_->path().c_str(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

  bool ok() const { return backend_ != nullptr; }
  BlockBackend& backend() { return *backend_; }
  std::unique_ptr<BlockBackend> Take() { return std::move(backend_); }
  const std::vector<std::string>& warnings() const { return warnings_; }
  bool is_file() const { return kind_ != BackendKind::kMemory; }
  bool needs_alignment() const { return kind_ == BackendKind::kFileDirect; }

  std::vector<std::byte> Stored() const {
    if (file_) return file_->Contents();
    ConstByteSpan b = memory_->bytes();
    return {b.begin(), b.end()};
  }

 private:
  BackendKind kind_;
  std::optional<TempFile> file_;
  MemoryBackend* memory_ = nullptr;
  std::unique_ptr<BlockBackend> backend_;
  std::vector<std::string> warnings_;
};

}  // namespace aoe::testing_util
