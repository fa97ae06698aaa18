// PacketSocket: one raw AF_PACKET socket bound to one interface and one EtherType, with batched
// I/O (sendmmsg/recvmmsg) for the benchmark tools. Deliberately separate from src/net/: the
// tools measure the target's path, so they must not inherit the project's own port code.
//
// Owns its fd. Not thread-safe.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace aoe::bench {

class PacketSocket {
 public:
  // Opens a socket that receives `ethertype` frames arriving on `interface` (never its own
  // outgoing frames) and sends on it. Send and receive buffers are forced to `buffer_bytes`
  // (SO_*BUFFORCE as root; the ordinary limit otherwise).
  static Result<PacketSocket> Open(const std::string& interface, uint16_t ethertype,
                                   int buffer_bytes);

  int fd() const { return fd_.get(); }
  const MacAddress& mac() const { return mac_; }
  size_t mtu() const { return mtu_; }
  // Frames the kernel dropped because the receive buffer was full, since the last call.
  Result<uint64_t> TakeDrops();

 private:
  PacketSocket(UniqueFd fd, MacAddress mac, size_t mtu)
      : fd_(std::move(fd)), mac_(mac), mtu_(mtu) {}

  UniqueFd fd_;
  MacAddress mac_;
  size_t mtu_ = 0;
};

// Frames queued for one sendmmsg call. Holds pointers to the caller's buffers, which must stay
// valid until Send returns.
class SendBatch {
 public:
  explicit SendBatch(size_t capacity);
  bool full() const { return count_ == iov_.size(); }
  size_t size() const { return count_; }
  void Add(ConstByteSpan frame);

  struct Outcome {
    size_t sent = 0;
    size_t dropped = 0;  // refused by the kernel with ENOBUFS (a full queue): lost, not fatal
  };
  // Sends every queued frame (blocking while the socket buffer is full) and empties the batch.
  Result<Outcome> Send(const PacketSocket& socket);

 private:
  std::vector<iovec> iov_;
  std::vector<mmsghdr> msgs_;
  size_t count_ = 0;
};

// Receive buffers for one recvmmsg call.
class ReceiveBatch {
 public:
  // `capacity` frames of up to `frame_bytes` each; a longer frame is truncated to frame_bytes
  // and length() still reports its real size (MSG_TRUNC), which is how a counter can take
  // 9 KB frames without copying them.
  ReceiveBatch(size_t capacity, size_t frame_bytes);

  // Receives what is queued, up to capacity, without waiting. 0 when nothing is queued.
  Result<size_t> Receive(const PacketSocket& socket);
  ConstByteSpan frame(size_t i) const;  // the bytes received (at most frame_bytes)
  size_t length(size_t i) const { return msgs_[i].msg_len; }  // the frame's real length

 private:
  size_t frame_bytes_;
  std::vector<std::byte> storage_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> msgs_;
};

// Waits until the socket is readable or `timeout` (rounded to microseconds) passes.
Result<bool> WaitReadable(const PacketSocket& socket, std::chrono::nanoseconds timeout);

}  // namespace aoe::bench
