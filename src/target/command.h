// Command: one request frame in flight through the target, and the buffer its reply is built in.
//
// Commands live in a fixed pool (CommandPool) created at start-up, so serving a frame allocates
// nothing. Each buffer is placed so that the data part of an ATA frame (offset 36) is 4096-byte
// aligned, as O_DIRECT wants; reads land there and writes leave from there, with no copy.
// A read reply may instead be built in a frame the port lends (a TX ring slot, port.h), so
// that it is sent from where the data landed: `buffer` then points there until the command goes
// back to the pool, which points it at the command's own buffer again. Or a read reply's data
// may stay where storage keeps it (BlockBackend::View, a mapped tmpfs image), as the reply's
// `tail`: the kernel then copies it once, straight into the packet.
// A write request's data may likewise stay where the port received it (a receive ring slot,
// Port::ReceiveInPlace) until storage has taken it (`payload_in_port`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/bytes.h"
#include "net/port.h"
#include "storage/block_backend.h"

namespace aoe::target {

class Export;
class CommandOwner;

// What a command is waiting for from storage.
enum class PendingIo : uint8_t { kNone, kRead, kWrite, kFlush, kTrim };

class Command final : public IoCallback {
 public:
  // The whole buffer; the received frame is its first `length` bytes.
  ByteSpan buffer;
  // The pool's buffer for this command: `buffer`, unless a lent frame is.
  ByteSpan own_buffer;
  size_t length = 0;  // bytes received, then bytes of the reply in `buffer`
  // The reply's data, sent after those `length` bytes, where it stays in storage's memory;
  // empty when the whole reply is in `buffer`.
  ConstByteSpan tail;
  // A write request's data (everything past its ATA header) where the port received it, when
  // the server left it there: `buffer` then holds only the frame's first kAtaHeaderSize bytes,
  // though `length` counts the whole frame. Valid only while the batch of frames it came in is
  // handled (the server gives the frames back once storage's deferred work for the batch has
  // run), so the target either hands it to storage that is done with it by then
  // (BackendCapabilities::copies_write_data_in_turn) or copies it in (CopyPayloadIn).
  ConstByteSpan payload_in_port;
  size_t port_index = 0;           // port the request arrived on and the reply leaves from
  std::shared_ptr<Export> target;  // keeps a removed export alive until its I/O finishes
  PendingIo pending = PendingIo::kNone;
  uint32_t io_bytes = 0;  // expected transfer size of the pending read/write
  // A TRIM is one storage request per range: how many have not completed yet, and the first
  // error among those that have (0 if none).
  uint32_t parts_pending = 0;
  int64_t first_error = 0;
  CommandOwner* owner = nullptr;

  ByteSpan frame() { return buffer.first(length); }
  // Makes `buffer` hold the whole frame: copies payload_in_port in and forgets it.
  void CopyPayloadIn();
  // What goes on the wire.
  TxFrame reply() { return {buffer.first(length), tail}; }
  void IoDone(int64_t result) override;
};

// Receives commands whose storage I/O finished (implemented by Target).
class CommandOwner {
 public:
  virtual void Complete(Command& command, int64_t result) = 0;

 protected:
  ~CommandOwner() = default;
};

inline void Command::IoDone(int64_t result) { owner->Complete(*this, result); }

// A fixed set of commands and their buffers.
class CommandPool {
 public:
  // `frame_capacity`: the largest frame a buffer must hold (MTU + 14).
  CommandPool(size_t count, size_t frame_capacity);
  ~CommandPool();
  CommandPool(const CommandPool&) = delete;
  CommandPool& operator=(const CommandPool&) = delete;

  Command* Take();              // nullptr when every command is in use
  void Give(Command* command);  // returns a command to the pool
  size_t free_count() const { return free_.size(); }
  size_t size() const { return commands_.size(); }
  size_t frame_capacity() const { return frame_capacity_; }

 private:
  std::byte* region_ = nullptr;
  size_t frame_capacity_;
  std::vector<Command> commands_;
  std::vector<Command*> free_;
};

}  // namespace aoe::target
