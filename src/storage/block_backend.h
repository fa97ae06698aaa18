// BlockBackend: asynchronous block storage, the seam between the target and disks.
//
// Storage is a chain (style.md principle 3): an export's backend is a stack of filters
// (read-only, offset window, fault injection) over a base backend (file or block device through
// io_uring, or memory). Requests are validated against the export's size once, at the target's
// entry; filters still refuse anything outside their window so that no frame can ever touch
// bytes outside an export.
//
// Completion: every call reports exactly once through `done->IoDone(result)`, where result is
// the byte count on success (the full length) or -errno. The callback may run before the call
// returns (memory backend) or later, from IoEngine::Reap() (io_uring backends). `into` / `from`
// must stay valid until then. Not thread-safe: one thread drives a backend and its engine.
#pragma once

#include <cstdint>
#include <string>

#include "base/bytes.h"

namespace aoe {

class IoCallback {
 public:
  virtual void IoDone(int64_t result) = 0;

 protected:
  ~IoCallback() = default;
};

class BlockBackend {
 public:
  virtual ~BlockBackend() = default;

  virtual uint64_t size_bytes() const = 0;
  virtual bool read_only() const = 0;
  // Human-readable chain description for logs, e.g. "window(offset=1024,length=4096) <- file(/x)".
  virtual std::string Describe() const = 0;

  virtual void Read(uint64_t offset_bytes, ByteSpan into, IoCallback* done) = 0;
  virtual void Write(uint64_t offset_bytes, ConstByteSpan from, IoCallback* done) = 0;
  // Makes every write that completed before this call durable (fdatasync), then completes.
  virtual void Flush(IoCallback* done) = 0;
};

}  // namespace aoe
