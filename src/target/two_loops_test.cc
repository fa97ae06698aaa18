// Two event loops serving one disk (docs/architecture.md, "More cores"), played by two Targets
// in one process: loop 0 serves the export and owns its state; loop 1 serves a copy of it
// (Export::CopyForLoop) on its own storage. Every request goes to the loop the kernel's fanout
// selector would hand it to (FanoutMember): an initiator's ATA commands to one loop for good,
// every config, mask and reserve command to loop 0.
//
// What must hold: a change of the mask or the reservation binds every loop from the moment its
// reply is sent (the threaded test checks it with loop 1 on its own thread, under TSan in CI);
// a state another target host saved reaches every loop; a copy never answers about the state
// nor announces it.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "net/fanout.h"
#include "storage/memory_backend.h"
#include "target/target.h"
#include "target/testing/frames.h"
#include "target/testing/memory_state_store.h"
#include "target/testing/recording_wire.h"
#include "target/testing/target_fixture.h"

namespace aoe::target {
namespace {

using testkit::AtaOp;
using testkit::BuildAta;
using testkit::BuildConfig;
using testkit::BuildMask;
using testkit::BuildReserve;
using testkit::Frame;
using testkit::Harness;
using testkit::kHostA;
using testkit::kHostB;
using testkit::kIdentify;
using testkit::kRead48;
using testkit::kSector;
using testkit::kTargetMac;
using testkit::kWrite48;
using testkit::MemoryStateStore;
using testkit::Pattern;
using testkit::RecordingWire;
using testkit::Reply;
using testkit::RequestHeader;

constexpr size_t kLoops = 2;
constexpr size_t kFrameCapacity = 9000 + 14;
constexpr size_t kPoolSize = 64;
constexpr size_t kDiskBytes = 64 * kSector;
constexpr uint8_t kReserveSet = 1;
constexpr uint8_t kMaskEdit = 1, kDirAdd = 1;
constexpr uint8_t kConfigRead = 0;
constexpr uint8_t kTargetReserved = 6;  // AoE error 6, as on the wire (frames.h reads no proto/)

// One event loop's share of the target: its Target, way out and counters.
struct Loop {
  explicit Loop(std::shared_ptr<Export> served)
      : target(log, stats, wire, store, clock, 16, kFrameCapacity) {
    target.AddExport(std::move(served));
  }
  Logger log{LogLevel::kError, [](LogLevel, std::string_view) {}};
  Stats stats;
  RecordingWire wire{kPoolSize, kFrameCapacity, {"mem0", kTargetMac, 1500}};
  MemoryStateStore store;  // only the owner's loop saves
  FakeClock clock;
  Target target;
};

class TwoLoops : public ::testing::Test {
 protected:
  TwoLoops() {
    ExportOptions options;
    options.address = {1, 1};
    options.backend.path = "mem:e1.1";
    auto owner = std::make_shared<Export>(options, std::make_unique<MemoryBackend>(kDiskBytes),
                                          ExportState{}, "test", ConstByteSpan(),
                                          /*incarnation=*/1);
    auto copy = Export::CopyForLoop(*owner, std::make_unique<MemoryBackend>(kDiskBytes));
    owner_ = owner.get();
    copy_ = copy.get();
    loops_[0] = std::make_unique<Loop>(owner);
    loops_[1] = std::make_unique<Loop>(copy);
  }

  Loop& loop(size_t index) { return *loops_[index]; }

  RequestHeader From(MacAddress host) { return Harness::To(1, 1, host, next_tag_++); }
  static Frame Write(RequestHeader from) {
    return BuildAta(from, AtaOp(kWrite48).Flags(0x41).Count(1).Lba(3).Data(Pattern(kSector, 7)));
  }

  // Delivers the frame to the loop the fanout selector picks, and returns that loop's replies.
  std::vector<Reply> Send(const Frame& frame) {
    Loop& to = loop(FanoutMember(frame, kLoops));
    EXPECT_TRUE(to.wire.Deliver(to.target, frame));
    return to.wire.TakeSent();
  }
  // Sends a change to loop 0 and returns its reply, sent once the change is durable.
  std::vector<Reply> SendChange(const Frame& frame) {
    EXPECT_EQ(FanoutMember(frame, kLoops), 0u);
    EXPECT_TRUE(Send(frame).empty()) << "answered before the change was durable";
    FinishSaves();
    return loop(0).wire.TakeSent();
  }
  void FinishSaves() {
    std::vector<StateStore::Saved> saved;
    while (loop(0).store.FinishOldest()) {
    }
    loop(0).store.TakeCompleted(saved);
    for (const auto& s : saved) loop(0).target.StateSaved(s);
  }

  static bool Refused(const std::vector<Reply>& replies) {
    return replies.size() == 1 && replies[0].error_flag() && replies[0].error() == kTargetReserved;
  }
  static bool Written(const std::vector<Reply>& replies) {
    return replies.size() == 1 && !replies[0].error_flag() && replies[0].status() == 0x40;
  }

  std::array<std::unique_ptr<Loop>, kLoops> loops_;
  Export* owner_ = nullptr;  // loop 0's
  Export* copy_ = nullptr;   // loop 1's
  uint32_t next_tag_ = 1;
};

TEST_F(TwoLoops, EachInitiatorsIoStaysOnOneLoopAndStateCommandsGoToLoopZero) {
  EXPECT_EQ(FanoutMember(Write(From(kHostA)), kLoops), 0u);
  EXPECT_EQ(FanoutMember(Write(From(kHostB)), kLoops), 1u);
  EXPECT_EQ(FanoutMember(BuildReserve(From(kHostB), kReserveSet, {kHostB}), kLoops), 0u);
  EXPECT_EQ(FanoutMember(BuildConfig(From(kHostB), kConfigRead, ""), kLoops), 0u);
}

TEST_F(TwoLoops, AReservationAnsweredOnLoopZeroRefusesWritesOnLoopOne) {
  ASSERT_TRUE(Written(Send(Write(From(kHostB)))));

  // At the very moment the reserve's reply leaves loop 0, loop 1 already refuses host B.
  std::vector<bool> refused_as_the_reply_left;
  loop(0).wire.on_transmit = [&](const Reply&) {
    refused_as_the_reply_left.push_back(Refused(Send(Write(From(kHostB)))));
  };
  auto reply = SendChange(BuildReserve(From(kHostA), kReserveSet, {kHostA}));
  loop(0).wire.on_transmit = nullptr;
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_FALSE(reply[0].error_flag());
  EXPECT_EQ(refused_as_the_reply_left, std::vector<bool>{true});

  EXPECT_TRUE(Refused(Send(Write(From(kHostB)))))
      << "loop 1 served a write the reservation shuts out";
  EXPECT_EQ(loop(1).stats.refused_reserved, 2u);  // with the one as the reply left
  auto identify = Send(BuildAta(From(kHostB), AtaOp(kIdentify).Count(1)));
  ASSERT_EQ(identify.size(), 1u);
  EXPECT_FALSE(identify[0].error_flag()) << "IDENTIFY stays open to every host";
  EXPECT_TRUE(Written(Send(Write(From(kHostA)))));

  // Released: loop 1 serves the other host again.
  reply = SendChange(BuildReserve(From(kHostA), kReserveSet, {}));
  ASSERT_EQ(reply.size(), 1u);
  EXPECT_TRUE(Written(Send(Write(From(kHostB)))));
}

TEST_F(TwoLoops, AMaskSetOnLoopZeroDropsOtherHostsOnLoopOne) {
  auto reply = SendChange(BuildMask(From(kHostA), kMaskEdit, {{kDirAdd, kHostA}}));
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_FALSE(reply[0].error_flag());

  EXPECT_TRUE(Send(BuildAta(From(kHostB), AtaOp(kRead48).Flags(0x40).Count(1))).empty());
  EXPECT_EQ(loop(1).stats.dropped_masked, 1u);
  // Host A, on the list, is still served there (its I/O lands on loop 0; sent to loop 1 here).
  ASSERT_TRUE(loop(1).wire.Deliver(loop(1).target,
                                   BuildAta(From(kHostA), AtaOp(kRead48).Flags(0x40).Count(1))));
  EXPECT_EQ(loop(1).wire.TakeSent().size(), 1u);
}

TEST_F(TwoLoops, AStateAnotherHostSavedReachesEveryLoop) {
  ExportState saved_elsewhere;
  saved_elsewhere.reservation = {kHostA};
  ASSERT_TRUE(loop(0).store.SaveNow("e1.1", saved_elsewhere).has_value());
  loop(0).store.Refresh("e1.1");
  FinishSaves();

  EXPECT_TRUE(Refused(Send(Write(From(kHostB)))));
}

TEST_F(TwoLoops, ACopyNeitherAnswersNorChangesTheState) {
  // Not what the selector does; what a copy does if a state command reaches it anyway: drop it
  // rather than answer from a state it does not own.
  for (const Frame& frame : {BuildConfig(From(kHostB), kConfigRead, ""),
                             BuildReserve(From(kHostB), kReserveSet, {kHostB})}) {
    ASSERT_TRUE(loop(1).wire.Deliver(loop(1).target, frame));
    EXPECT_TRUE(loop(1).wire.TakeSent().empty());
  }
  EXPECT_EQ(loop(1).stats.dropped_state_elsewhere, 2u);
  EXPECT_EQ(loop(1).stats.reserve_commands, 0u);
  EXPECT_TRUE(Written(Send(Write(From(kHostB)))));
}

// A partition table written through one loop gives IDENTIFY its geometry on every loop.
TEST_F(TwoLoops, APartitionTableWrittenOnOneLoopSetsTheGeometryEveryLoopReports) {
  auto identify = [&](MacAddress host) {
    auto replies = Send(BuildAta(From(host), AtaOp(kIdentify).Count(1)));
    EXPECT_EQ(replies.size(), 1u);
    return replies.empty() ? Reply(Frame{}) : replies[0];
  };
  for (MacAddress host : {kHostA, kHostB}) {
    const Reply r = identify(host);
    EXPECT_EQ(testkit::IdentifyWord(r, 3), 255);
    EXPECT_EQ(testkit::IdentifyWord(r, 6), 63);
  }
  // One partition for 16 heads x 32 sectors per track: CHS end (1, 15, 32), LBA 32 to 1023.
  Frame mbr(kSector);
  mbr[446 + 4] = std::byte{0x83};
  mbr[446 + 5] = std::byte{15};
  mbr[446 + 6] = std::byte{32};
  mbr[446 + 7] = std::byte{1};
  mbr[446 + 8] = std::byte{32};
  mbr[446 + 12] = std::byte{992 & 0xFF};
  mbr[446 + 13] = std::byte{992 >> 8};
  mbr[510] = std::byte{0x55};
  mbr[511] = std::byte{0xAA};
  ASSERT_TRUE(
      Written(Send(BuildAta(From(kHostB), AtaOp(kWrite48).Flags(0x41).Count(1).Data(mbr)))));
  for (MacAddress host : {kHostA, kHostB}) {  // loop 0, which did not see the write, and loop 1
    const Reply r = identify(host);
    EXPECT_EQ(testkit::IdentifyWord(r, 3), 16) << "heads reported on loop " << (host == kHostB);
    EXPECT_EQ(testkit::IdentifyWord(r, 6), 32) << "sectors per track on loop " << (host == kHostB);
  }
}

// durability=auto: an initiator that flushes gets the cached path until its next IDENTIFY, on
// every loop. Its FLUSH reaches the loop that serves its I/O (loop 1 for host B), but a wildcard
// IDENTIFY (WinAoE's discovery) reaches loop 0; loop 1 must then make B's writes durable again.
TEST_F(TwoLoops, AnIdentifyOnLoopZeroEndsTheCachedPathOfAnInitiatorOnLoopOne) {
  ASSERT_TRUE(copy_->ContextFor(kHostB).durable()) << "no FLUSH seen yet";
  auto flushed = Send(BuildAta(From(kHostB), AtaOp(testkit::kFlushCacheExt)));
  ASSERT_EQ(flushed.size(), 1u);
  EXPECT_FALSE(copy_->ContextFor(kHostB).durable()) << "B flushes: its writes may be cached";
  EXPECT_FALSE(owner_->ContextFor(kHostB).durable()) << "on every loop";

  Frame identify =
      BuildAta(Harness::To(0xffff, 0xff, kHostB, next_tag_++), AtaOp(kIdentify).Count(1));
  ASSERT_EQ(FanoutMember(identify, kLoops), 0u) << "a wildcard IDENTIFY goes to loop 0";
  EXPECT_EQ(Send(identify).size(), 1u);
  EXPECT_TRUE(copy_->ContextFor(kHostB).durable()) << "loop 1 did not see B's IDENTIFY";
  EXPECT_TRUE(owner_->ContextFor(kHostB).durable());
}

TEST_F(TwoLoops, OnlyTheOwnersLoopAnnouncesTheExport) {
  loop(1).target.Announce(*loop(1).target.exports().front(), 0);
  EXPECT_TRUE(loop(1).wire.TakeSent().empty());
  loop(0).target.Announce(*loop(0).target.exports().front(), 0);
  EXPECT_EQ(loop(0).wire.TakeSent().size(), 1u);
}

// Loop 1 on its own thread serves host B's writes without pause while this thread reserves the
// disk for host A on loop 0 and releases it, round after round. The phase moves on at the moment
// each reply leaves loop 0 (RecordingWire::on_transmit); a write loop 1 takes up after a
// reserve's reply left must be refused, and after a release's reply, served (checked for the
// writes during which the phase did not move on).
TEST_F(TwoLoops, AChangeBindsTheOtherLoopFromTheMomentItsReplyIsSent) {
  // phase = round * 4 + what the latest reply sent made of the reservation.
  enum Kind : int { kChanging, kReserved, kReleased };
  std::atomic<int> phase{kChanging};
  std::atomic<int> writes_in_phase{0};
  std::atomic<int> wrong{0};
  std::atomic<bool> stop{false};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);

  std::thread loop1([&] {
    Loop& l = loop(1);
    RequestHeader from = Harness::To(1, 1, kHostB);
    for (uint32_t tag = 0; tag < 10'000'000 && !stop.load(); ++tag) {
      const int before = phase.load(std::memory_order_acquire);
      from.tag = tag;
      if (!l.wire.Deliver(l.target, Write(from))) {
        wrong.fetch_add(1);  // a buffer never came back
        return;
      }
      auto sent = l.wire.TakeSent();
      if (phase.load(std::memory_order_acquire) != before) continue;
      const int kind = before % 4;
      if ((kind == kReserved && !Refused(sent)) || (kind == kReleased && !Written(sent))) {
        wrong.fetch_add(1);
      }
      if (kind != kChanging) writes_in_phase.fetch_add(1);
    }
  });
  // Stops and joins loop 1 however this test ends (a thread destroyed unjoined ends the binary).
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Joiner() {
      stop.store(true);
      if (thread.joinable()) thread.join();
    }
  } joiner{stop, loop1};
  // Waits (bounded) until loop 1 has taken up `count` writes in the phase.
  auto let_loop1_serve = [&](int count) {
    while (writes_in_phase.load() < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  };

  int phase_at_reply = kChanging;
  loop(0).wire.on_transmit = [&](const Reply&) {
    phase.store(phase_at_reply, std::memory_order_release);
  };
  constexpr int kRounds = 20;
  constexpr int kWritesPerPhase = 50;
  int replies = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (bool reserve : {true, false}) {
      phase.store(round * 4 + kChanging);
      writes_in_phase.store(0);
      phase_at_reply = round * 4 + (reserve ? kReserved : kReleased);
      const std::vector<MacAddress> holders =
          reserve ? std::vector{kHostA} : std::vector<MacAddress>{};
      replies +=
          static_cast<int>(SendChange(BuildReserve(From(kHostA), kReserveSet, holders)).size());
      let_loop1_serve(kWritesPerPhase);
    }
  }
  loop(0).wire.on_transmit = nullptr;

  EXPECT_EQ(replies, 2 * kRounds);
  EXPECT_LT(std::chrono::steady_clock::now(), deadline) << "loop 1 did not keep up";
  stop.store(true);
  loop1.join();
  EXPECT_EQ(wrong.load(), 0) << "loop 1 served a write by a state older than a reply sent";
}

}  // namespace
}  // namespace aoe::target
