// File backend: an export stored in a regular file or a block device, read and written
// through an IoEngine (io_uring), so many requests are in flight at once.
//
// Requests go straight between the caller's buffers and the file: with `direct`, the caller's
// buffers, offsets and lengths must be multiples of 512 bytes (the target's frame buffers are
// 4096-aligned, and AoE addresses 512-byte sectors). A short transfer is resubmitted once for
// the remainder; if that is short again the request fails with -EIO (the image shrank
// underneath us, or the device is failing). Trim punches a hole (fallocate PUNCH_HOLE, which
// on a block device discards or zeroes), falling back to ZERO_RANGE where holes are not
// supported, so a trimmed range always reads back as zeroes.
//
// Durability is not this layer's business: writes complete when the kernel has them (page cache,
// or the device with `direct`), and Flush is fdatasync. The group-commit filter above makes
// writes durable where an export's durability setting asks for it.
//
// Ownership: the backend owns its fd and borrows the engine, which must outlive it. Destroying
// the backend with requests in flight drains the engine first (running every callback), so
// no completion can reach a destroyed backend. Not thread-safe: one thread drives the backend
// and its engine.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "storage/block_backend.h"
#include "storage/io_engine.h"
#include "storage/shared_metadata.h"

namespace aoe {

struct FileOptions {
  // Open O_RDONLY, so the image can never change; writes complete with -EROFS.
  bool read_only = false;
  // O_DIRECT: bypass the page cache. Falls back to buffered I/O, with a warning, when the
  // filesystem refuses O_DIRECT (EINVAL), is tmpfs, or needs alignment coarser than 512-byte
  // offsets and 4096-byte buffers (e.g. a 4Kn disk, BLKSSZGET > 512).
  bool direct = false;
};

// A backend fresh from opening, with what the caller should log about how it was opened
// (e.g. "O_DIRECT not available ...; using buffered I/O").
struct OpenedBackend {
  std::unique_ptr<BlockBackend> backend;
  std::vector<std::string> warnings;
  // Values shared by every host serving the same storage (an RBD image's metadata); null for
  // storage only this host serves (files, block devices).
  std::shared_ptr<SharedMetadata> shared_metadata;
};

// Opens `path` (regular file: size from fstat; block device: size from BLKGETSIZE64).
// Errors carry the errno of the failing call (ENOENT, EACCES, EISDIR, EROFS, ...) or
// StorageErrc::kNotFileOrBlockDevice; the caller adds the path when reporting them.
Result<OpenedBackend> OpenFileBackend(IoEngine& engine, const std::string& path,
                                      FileOptions options);

}  // namespace aoe
