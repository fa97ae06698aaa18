// RecordingWire: a Target's way out (Transmitter) that records every reply, for tests that
// drive a Target directly, without a Server: Deliver() hands it a request frame, TakeSent()
// returns the replies in the order they were sent.
//
// Test-only; single-threaded (one per thread when several Targets run at once).
#pragma once

#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "target/target.h"
#include "target/testing/frames.h"

namespace aoe::target::testkit {

class RecordingWire final : public Transmitter {
 public:
  RecordingWire(size_t pool_size, size_t frame_capacity, PortInfo port)
      : pool_(pool_size, frame_capacity), port_(port) {}

  // Hands `frame` to `target` as a request received on port 0; false if the pool is empty.
  bool Deliver(Target& target, const Frame& frame) {
    Command* command = pool_.Take();
    if (command == nullptr) return false;
    std::memcpy(command->buffer.data(), frame.data(), frame.size());
    command->length = frame.size();
    command->port_index = 0;
    command->owner = &target;
    target.Handle(*command);
    return true;
  }

  void Transmit(Command& command) override {
    auto frame = command.frame();
    sent_.emplace_back(Frame(frame.begin(), frame.end()));
    pool_.Give(&command);
    if (on_transmit) on_transmit(sent_.back());
  }
  void Release(Command& command) override { pool_.Give(&command); }
  Command* Acquire() override { return pool_.Take(); }
  PortInfo PortAt(size_t) const override { return port_; }

  // Called with each reply as it is sent, inside the Target's call: a test can look at the
  // world at the very moment a reply leaves.
  std::function<void(const Reply&)> on_transmit;

  CommandPool& pool() { return pool_; }
  // Replies sent since the last call.
  std::vector<Reply> TakeSent() { return std::exchange(sent_, {}); }

 private:
  CommandPool pool_;
  PortInfo port_;
  std::vector<Reply> sent_;
};

}  // namespace aoe::target::testkit
