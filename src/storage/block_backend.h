// BlockBackend: asynchronous block storage, the seam between the target and disks.
//
// Storage is a chain (style.md principle 3): an export's backend is a stack of filters
// (group commit, fault injection, read-only, offset window, ...) over a base backend (a file or
// block device through io_uring, or memory in tests). BuildStorageChain (chain.h) assembles it,
// in one place for every kind of base. Requests are validated against the export's size once,
// at the target's entry; filters still refuse anything outside their window so that no frame
// can ever touch bytes outside an export.
//
// Every request carries its context (IoContext): which initiator sent it and the flags the
// target derived from the command, so that filters with per-client behaviour (durability for
// initiators that never flush, copy-on-write overlays) need no side channel. Each layer
// declares what it can do (BackendCapabilities), the way nbdkit's can_* callbacks do; a filter
// narrows what its inner layer offers.
//
// Completion: every call reports exactly once through `done->IoDone(result)`, where result is
// the byte count on success (the full length; 0 for Flush and Trim) or -errno. The callback
// runs on the thread that drives the chain, either before the call returns (memory backend,
// refusals) or later from that thread's loop: IoEngine::Reap() for io_uring backends,
// CompletionQueue::Reap() for backends whose I/O finishes on threads of their own. `into` /
// `from` must stay valid until then. Not thread-safe: one thread drives a chain.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/mac_address.h"

namespace aoe {

struct StorageServices;  // chain.h

class IoCallback {
 public:
  virtual void IoDone(int64_t result) = 0;

 protected:
  ~IoCallback() = default;
};

// Who a request is for and how it must be completed.
struct IoContext {
  // Complete a write or trim only once it is durable (survives a crash or power loss of the
  // target host), as if a FLUSH had followed it. Set by the target for initiators that never
  // send FLUSH (durability=auto) and for every write of a durability=sync export.
  static constexpr uint32_t kDurable = 1u << 0;
  // Complete during the call or not at all: a layer that would have to wait (for a disk, a
  // worker thread, the network) completes with -EAGAIN before returning and keeps no reference
  // to the buffer. Only for chains whose capabilities().no_wait_reads is set, and only on
  // Read(). Why: the target reads a reply straight into a frame of the port's send ring, which
  // must be filled in ring order; a read that waited there would hold back every later reply.
  static constexpr uint32_t kNoWait = 1u << 1;

  MacAddress initiator{};  // source MAC of the request; all zeroes for the target's own I/O
  uint32_t flags = 0;

  bool durable() const { return (flags & kDurable) != 0; }
  bool no_wait() const { return (flags & kNoWait) != 0; }
};

// What a chain can do. Filters pass on what their inner layer offers, narrowed by their own
// limits (a read-only filter turns writes and trims off).
struct BackendCapabilities {
  bool read_only = false;
  // Trim() discards ranges (a hole punched in a file, an overlay block dropped).
  bool can_trim = false;
  // A trimmed range reads back as zeroes (ATA's "read zeroes after TRIM"). False where a trim
  // reveals older data instead (an overlay falls back to its base image).
  bool trim_reads_zeroes = false;
  // Read() honours IoContext::kNoWait. Filters that pass reads through unchanged pass it on;
  // a layer that may wait on its own (an overlay's files, a network backend) leaves it false.
  bool no_wait_reads = false;
  // Write() is done with the caller's bytes once the engine's deferred work has run
  // (IoEngine::RunDeferred, the first thing every Submit() does): it has copied them (into
  // memory, the page cache) or failed, and keeps no pointer to them. The target then hands it
  // a request's data where the port received it (a receive ring slot, given back right after
  // that) instead of copying it out first. A layer that may read the bytes later (io_uring, a
  // worker thread, the network) leaves it false; filters that pass writes on unchanged pass it
  // on.
  bool copies_write_data_in_turn = false;
  // A Flush that fails may have lost data written before it without any later Flush saying so:
  // the page cache, where Linux reports a writeback error to one fdatasync only and marks the
  // lost pages clean. The group-commit filter then fails every later durable request. False
  // where every lost write fails its own request (RBD) or a layer keeps its own account (an
  // overlay, per client). Filters that pass flushes on unchanged pass it on.
  bool failed_flush_loses_data = false;
  // Where writes acknowledged since the last Flush are until then: what loses them is a power
  // cut of the host (kHostCache: the page cache, a device's write cache), a crash of this
  // process too (kProcess: an overlay's block map, made durable at Flush), any end of this
  // backend, flushed or not (kNotKept: memory), or nothing (kNone: RBD, which acknowledges a
  // write once the OSDs have it). The export's IDENTIFY incarnation follows it
  // (target/incarnation.h). Filters that keep nothing of their own pass it on.
  enum class UnflushedWrites : uint8_t { kHostCache, kProcess, kNotKept, kNone };
  UnflushedWrites unflushed_writes = UnflushedWrites::kHostCache;

  bool operator==(const BackendCapabilities&) const = default;
};

class BlockBackend {
 public:
  virtual ~BlockBackend() = default;

  virtual uint64_t size_bytes() const = 0;
  virtual BackendCapabilities capabilities() const = 0;
  bool read_only() const { return capabilities().read_only; }
  // Human-readable chain description for logs, e.g. "window(offset=1024,length=4096) <- file(/x)".
  virtual std::string Describe() const = 0;

  virtual void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
                    IoCallback* done) = 0;
  // Bytes [offset, offset + length) without reading them: memory of the layer's own that holds
  // them now (a file on tmpfs, mapped), or an empty span where the layer has none for that
  // range (the default); the caller then Read()s. The view sees every write that completed
  // before the call, shows later writes as they complete, and stays valid while the backend
  // lives; it is meant to be copied at once (into a packet, by the kernel) and then forgotten.
  // A filter passes it on only where it would pass the read on unchanged. Why: a read reply can
  // then leave straight from the page cache, one copy instead of two (docs/PERFORMANCE.md,
  // "Replies sent from the page cache").
  virtual ConstByteSpan View(const IoContext& /*context*/, uint64_t /*offset_bytes*/,
                             size_t /*length*/) {
    return {};
  }
  virtual void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
                     IoCallback* done) = 0;
  // Makes every write and trim that completed before this call durable (fdatasync), then
  // completes with 0.
  virtual void Flush(const IoContext& context, IoCallback* done) = 0;
  // Discards [offset, offset + length): later reads return zeroes or, where
  // capabilities().trim_reads_zeroes is false, older data (never anything else). Completes with
  // 0, or -EOPNOTSUPP where can_trim is false and -EROFS on a read-only chain.
  virtual void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
                    IoCallback* done) = 0;

  // For a base backend: another backend over the same open storage, driven by another thread,
  // whose completions reach that thread through `services`. Storage that must be opened once
  // per process returns one (an RBD image: two handles of one image would pass its exclusive
  // lock to and fro on every write, docs/ceph.md); null (the default) means the storage is
  // simply opened again for the other thread (a file: each opening has its own io_uring).
  // Called while the thread that drives this backend waits; the two backends may then be
  // driven at the same time.
  virtual std::unique_ptr<BlockBackend> ShareWithThread(StorageServices& /*services*/) {
    return nullptr;
  }
};

}  // namespace aoe
