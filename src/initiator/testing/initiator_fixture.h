// InitiatorTest: the fixture of the initiator engine's unit tests (initiator_test.cc,
// loss_test.cc, admin_commands_test.cc, write_copies_test.cc, send_batch_test.cc,
// frame_size_probe_test.cc). Two
// MemoryWires (segments A and B) and a FakeClock: the initiator has a port on each wire, and so
// does every FakeTarget, so each target is reachable over two paths; retransmission, dead
// targets and path failover are tested without sleeping. Tests only.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mac_address.h"
#include "initiator/client.h"
#include "initiator/initiator.h"
#include "initiator/testing/fake_target.h"
#include "net/memory_port.h"
#include "proto/ata.h"
#include "proto/config.h"
#include "proto/header.h"
#include "proto/identify.h"

namespace aoe::initiator::testing {

using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr MacAddress kInitiatorMacA({0x02, 0, 0, 0, 0xA0, 0x01});
inline constexpr MacAddress kInitiatorMacB({0x02, 0, 0, 0, 0xB0, 0x01});
inline constexpr MacAddress kOtherHost({0x02, 0, 0, 0, 0xCC, 0x01});

inline MacAddress TargetMac(uint8_t target, uint8_t wire) {
  return MacAddress({0x02, 0, 0, 0x7, target, wire});
}

inline std::vector<std::byte> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng());
  return out;
}

// An ATA WRITE request (not a reply), for MemoryWire::DelayNext.
inline bool IsWriteRequest(ConstByteSpan frame) {
  std::optional<proto::Header> h = proto::DecodeHeader(frame);
  std::optional<proto::AtaArg> ata = proto::DecodeAta(frame);
  return h && !h->is_response() && h->command == static_cast<uint8_t>(proto::Command::kAta) &&
         ata && ata->is_write_flagged();
}

// Two segments (wires A and B). The initiator has one port on each; every target has one port on
// each, so each target is reachable over two paths.
class InitiatorTest : public ::testing::Test {
 protected:
  InitiatorTest() {
    wire_a_.SetClock(clock_);
    wire_b_.SetClock(clock_);
  }

  std::unique_ptr<MemoryPort> MakePort(MemoryWire& wire, std::string name, MacAddress mac,
                                       PortRole role) {
    return MemoryPort::Create(wire, {.name = std::move(name), .mac = mac, .role = role}).value();
  }

  // Adds target e<shelf>.<slot> with a port on wire A and (if `two_paths`) on wire B.
  FakeTarget& AddTarget(FakeTargetOptions options, bool two_paths = true) {
    auto index = static_cast<uint8_t>(targets_.size() + 1);
    std::vector<Port*> ports;
    target_ports_.push_back(MakePort(wire_a_, "ta", TargetMac(index, 0xA), PortRole::kTarget));
    ports.push_back(target_ports_.back().get());
    if (two_paths) {
      target_ports_.push_back(MakePort(wire_b_, "tb", TargetMac(index, 0xB), PortRole::kTarget));
      ports.push_back(target_ports_.back().get());
    }
    targets_.push_back(std::make_unique<FakeTarget>(std::move(options), std::move(ports)));
    return *targets_.back();
  }

  // Serves the targets; when nothing is left to do, releases a frame held for reordering, and
  // when even that does nothing, jumps the fake clock to the engine's next deadline or to the
  // arrival of a delayed frame, whichever comes first.
  void Wait(std::optional<TimePoint> deadline) {
    wire_a_.DeliverDue();
    wire_b_.DeliverDue();
    size_t work = 0;
    for (auto& t : targets_) work += t->Serve();
    if (work > 0) {
      clock_.Advance(std::chrono::microseconds(50));  // a little latency for the RTT
      return;
    }
    wire_a_.FlushHeld();
    wire_b_.FlushHeld();
    for (auto& t : targets_) work += t->Serve();
    if (work > 0) return;
    std::optional<TimePoint> wake = deadline;
    for (MemoryWire* wire : {&wire_a_, &wire_b_}) {
      if (std::optional<TimePoint> due = wire->NextDue(); due && (!wake || *due < *wake)) {
        wake = due;
      }
    }
    if (wake && *wake > clock_.Now()) {
      clock_.Advance(*wake - clock_.Now());
    } else {
      clock_.Advance(milliseconds(1));
    }
    wire_a_.DeliverDue();
    wire_b_.DeliverDue();
  }

  Client& MakeClient(InitiatorOptions options = {}, bool two_ports = true) {
    init_port_a_ = MakePort(wire_a_, "i0", kInitiatorMacA, PortRole::kInitiator);
    std::vector<Port*> ports{init_port_a_.get()};
    if (two_ports) {
      init_port_b_ = MakePort(wire_b_, "i1", kInitiatorMacB, PortRole::kInitiator);
      ports.push_back(init_port_b_.get());
    }
    ClientOptions co;
    options.tag_session = options.tag_session.value_or(0x2A);
    co.initiator = options;
    co.wait_hook = [this](std::optional<TimePoint> d) { Wait(d); };
    client_ = Client::Create(ports, clock_, co).value();
    return *client_;
  }

  SyncDisk Open(uint16_t shelf, uint8_t slot) {
    Outcome<SyncDisk> d = client_->OpenDisk(shelf, slot);
    EXPECT_TRUE(d) << d.error().message;
    return *d;
  }

  // Open over jumbo frames: MTU 9000 on every target port and the client's wire A port (17
  // sectors a frame), for the tests that lower an MTU afterwards. After MakeClient.
  SyncDisk OpenOverJumboFrames(uint16_t shelf, uint8_t slot) {
    for (auto& p : target_ports_) p->set_mtu(9000);
    init_port_a_->set_mtu(9000);
    return Open(shelf, slot);
  }

  // Reads 1 MiB so that the path's window grows to its limit (16, the fake target's buffer
  // count) and its RTT estimate settles: the start of the tests of stalls and batches.
  static void WarmUp(SyncDisk& disk) {
    std::vector<std::byte> warm(1 << 20);
    ASSERT_TRUE(disk.Read(0, warm));
    ASSERT_EQ(disk.path_stats()[0].window, 16u);
  }

  FakeClock clock_;
  MemoryWire wire_a_;
  MemoryWire wire_b_;
  std::vector<std::unique_ptr<MemoryPort>> target_ports_;
  std::vector<std::unique_ptr<FakeTarget>> targets_;
  std::unique_ptr<MemoryPort> init_port_a_;
  std::unique_ptr<MemoryPort> init_port_b_;
  std::unique_ptr<Client> client_;  // destroyed first (declared last)
};

}  // namespace aoe::initiator::testing
