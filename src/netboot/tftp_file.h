// TftpFile: what a TFTP transfer reads from. A file on disk (pread on an fd) or a generated
// document held in memory (the per-client iPXE scripts). The seam lets TftpTransfer stay free
// of syscalls in tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace aoe::netboot {

class TftpFile {
 public:
  virtual ~TftpFile() = default;
  virtual uint64_t size() const = 0;
  // Reads up to out.size() bytes at `offset`; short only at the end of the file.
  virtual Result<size_t> ReadAt(uint64_t offset, ByteSpan out) = 0;
};

class MemoryTftpFile final : public TftpFile {
 public:
  explicit MemoryTftpFile(std::string contents) : contents_(std::move(contents)) {}
  uint64_t size() const override { return contents_.size(); }
  Result<size_t> ReadAt(uint64_t offset, ByteSpan out) override;

 private:
  std::string contents_;
};

class FdTftpFile final : public TftpFile {
 public:
  // Takes the size once: a file that changes while it is sent is sent as it was opened, which
  // keeps the announced tsize honest.
  static Result<std::unique_ptr<FdTftpFile>> Open(UniqueFd fd);
  uint64_t size() const override { return size_; }
  Result<size_t> ReadAt(uint64_t offset, ByteSpan out) override;

 private:
  FdTftpFile(UniqueFd fd, uint64_t size) : fd_(std::move(fd)), size_(size) {}
  UniqueFd fd_;
  uint64_t size_;
};

}  // namespace aoe::netboot
