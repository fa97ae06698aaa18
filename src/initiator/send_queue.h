// SendQueue: the frames an engine pass transmits, handed to each port with one Send() call when
// the pass ends instead of one call per frame (one sendmmsg on a socket port, one kick on a ring
// port). A pass is whatever the engine does between two flushes: handling one batch of received
// replies, one timer tick, or one submitted request, together with the frames it makes.
//
// The queue holds spans, not copies: a queued frame's bytes (its head and its tail) are read
// only by Flush(). So their owner must not change or free them while the frame waits. Each
// frame remembers the batch() it was queued in; while that is still the queue's batch() the
// frame waits, and the owner flushes first: Initiator::Disk does so before rewriting a frame
// buffer (BuildFrame, Transmit) and before completing a request, whose data a WRITE frame's
// tail points into (MaybeComplete).
//
// Ownership: borrows the ports (which outlive it) and the frame bytes until Flush().
// Thread-safety: none; the engine's thread.
#pragma once

#include <cstdint>
#include <vector>

#include "base/bytes.h"
#include "base/log.h"
#include "net/port.h"

namespace aoe::initiator {

class SendQueue {
 public:
  explicit SendQueue(const std::vector<Port*>& ports);

  // Queues a frame for port `port` (an index into the ports given at construction).
  void Add(size_t port, TxFrame frame);
  // The batch being filled. A frame added while batch() == b has been sent once batch() != b.
  uint64_t batch() const { return batch_; }
  bool empty() const { return queued_ == 0; }
  // Sends every queued frame, one Send() per port that has any, in the order they were added;
  // then starts a new batch. A full send queue or a failed send is loss, as for a frame dropped
  // on the wire: the engine's retransmission covers it. Failures are logged at debug level.
  void Flush(Logger* logger);

 private:
  const std::vector<Port*>& ports_;
  std::vector<std::vector<TxFrame>> pending_;  // by port
  size_t queued_ = 0;
  uint64_t batch_ = 1;
};

}  // namespace aoe::initiator
