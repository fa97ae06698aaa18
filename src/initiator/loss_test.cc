// The initiator engine when frames go missing, over two MemoryWires against FakeTargets with a
// FakeClock (testing/initiator_fixture.h), so timeouts are tested without sleeping: loss,
// spurious timeouts and stalls, duplicate and reordered replies, dead targets, paths that fail
// over and come back, and a target that restarts or is gone for good.
#include <gtest/gtest.h>

#include <tuple>

#include "initiator/testing/initiator_fixture.h"

namespace aoe::initiator::testing {
namespace {

class LossTest : public InitiatorTest,
                 public ::testing::WithParamInterface<std::tuple<double, uint64_t>> {};

TEST_P(LossTest, DataStaysCorrectUnderLoss) {
  auto [loss, seed] = GetParam();
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  wire_a_.SetFaults({.drop_probability = loss, .seed = seed});
  wire_b_.SetFaults({.drop_probability = loss, .seed = seed + 100});
  std::vector<std::byte> data = RandomBytes(1 << 20, static_cast<uint32_t>(seed));
  Outcome<void> w = disk.Write(0, data);
  ASSERT_TRUE(w) << w.error().message;
  std::vector<std::byte> back(data.size());
  Outcome<void> r = disk.Read(0, back);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(back, data);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), target.data().begin()));
  uint64_t retransmits = 0;
  for (const PathStats& p : disk.path_stats()) retransmits += p.retransmits;
  EXPECT_GT(retransmits, 0u);
}

INSTANTIATE_TEST_SUITE_P(FivePercentAndTwentyPercent, LossTest,
                         ::testing::Values(std::make_tuple(0.05, 1), std::make_tuple(0.05, 2),
                                           std::make_tuple(0.20, 3), std::make_tuple(0.20, 4)));

TEST_F(InitiatorTest, TwentyPercentLossEachWayCostsLittleTime) {
  // Regression: with a fixed 50 ms RTO floor, the window back to 1 on every loss event and the
  // RTO doubling on every retry, 1 MiB up and down under 20 % loss each way took 87 s of (fake)
  // time; with the RTO following the RTT, isolated losses only halving the window and no
  // back-off while the path delivers, 0.46 s.
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  wire_a_.SetFaults({.drop_probability = 0.2, .seed = 21});
  std::vector<std::byte> data = RandomBytes(1 << 20, 21);
  TimePoint start = clock_.Now();
  ASSERT_TRUE(disk.Write(0, data));
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(0, back));
  Duration took = clock_.Now() - start;
  EXPECT_EQ(back, data);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), target.data().begin()));
  PathStats s = disk.path_stats()[0];
  EXPECT_GT(s.retransmits, 500u);
  EXPECT_LT(took, milliseconds(1000))
      << std::chrono::duration<double>(took).count() << " window " << s.window << " ssthresh "
      << s.ssthresh << " timeouts " << s.timeouts << " spurious " << s.spurious_timeouts
      << " rexmit " << s.retransmits << " sent " << s.sent;
}

TEST_F(InitiatorTest, ASpuriousTimeoutIsUndoneWhenTheLateRepliesCome) {
  // A stall: the target answers a whole window only after it timed out. The late replies
  // complete the frames (the retransmissions were spurious) and undo the window reduction.
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WarmUp(disk));
  std::vector<std::byte> buf(64 * 1024);
  std::optional<Outcome<void>> result;
  disk.async().Read(0, buf, [&](Outcome<void> r) { result.emplace(std::move(r)); });
  ASSERT_EQ(disk.path_stats()[0].in_flight, 16u);
  clock_.Advance(milliseconds(100));
  client.initiator().OnTimer();
  PathStats s = disk.path_stats()[0];
  EXPECT_EQ(s.timeouts, 16u);
  EXPECT_EQ(s.window, 1u);  // nothing answered since: as if the link had died
  target.Serve();           // the stall ends: the first transmissions are answered
  client.initiator().Poll();
  s = disk.path_stats()[0];
  EXPECT_EQ(s.spurious_timeouts, 16u);
  EXPECT_GE(s.window, 16u);  // undone
  ASSERT_TRUE(client.RunUntil([&] { return result.has_value(); }, clock_.Now() + seconds(5)));
  EXPECT_TRUE(*result);
}

// A busy host: the target is not scheduled for 20 ms (four times the 5 ms RTO floor), twice,
// with many timely replies between. Returns the path's timeouts after both stalls.
uint64_t TimeoutsOfTwoStalls(FakeTarget& target, Client& client, SyncDisk& disk, FakeClock& clock) {
  std::vector<std::byte> warm(1 << 20);
  EXPECT_TRUE(disk.Read(0, warm));
  EXPECT_EQ(disk.path_stats()[0].rto, milliseconds(5));
  std::vector<std::byte> buf(64 * 1024);
  for (int stall = 0; stall < 2; ++stall) {
    std::optional<Outcome<void>> result;
    disk.async().Read(0, buf, [&](Outcome<void> r) { result.emplace(std::move(r)); });
    EXPECT_EQ(disk.path_stats()[0].in_flight, 16u);
    clock.Advance(milliseconds(20));
    client.initiator().OnTimer();
    target.Serve();  // the stall ends
    client.initiator().Poll();
    EXPECT_TRUE(client.RunUntil([&] { return result.has_value(); }, clock.Now() + seconds(5)));
    EXPECT_TRUE(result && *result);
    if (stall == 0) {
      EXPECT_EQ(disk.path_stats()[0].spurious_timeouts, 16u);
      EXPECT_TRUE(disk.Read(0, warm));  // many timely replies between the stalls
    }
  }
  return disk.path_stats()[0].timeouts;
}

TEST_F(InitiatorTest, AStallSeenOnceNoLongerTimesOutWhenItRecurs) {
  // The first stall times the whole window out (spuriously: the late replies come); the late
  // replies raise the RTO's floor above 20 ms, so the second stall costs no timeout.
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  EXPECT_EQ(TimeoutsOfTwoStalls(target, client, disk, clock_), 16u)
      << "the second stall timed out again";
  EXPECT_GE(disk.path_stats()[0].rto, milliseconds(40));
}

TEST_F(InitiatorTest, WithoutTheStallFloorTheSecondStallTimesOutAgain) {
  // The counterpart of the test above: the floor, not the RTT estimate, covers the stall.
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  InitiatorOptions options;
  options.flow.stall_floor_multiple = 0;
  Client& client = MakeClient(options, false);
  SyncDisk disk = Open(0, 1);
  EXPECT_EQ(TimeoutsOfTwoStalls(target, client, disk, clock_), 32u);
  EXPECT_EQ(disk.path_stats()[0].rto, milliseconds(5));
}

TEST_F(InitiatorTest, DuplicateAndReorderedRepliesAreIgnored) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  wire_a_.SetFaults({.duplicate_probability = 0.3, .reorder_probability = 0.3, .seed = 11});
  wire_b_.SetFaults({.duplicate_probability = 0.3, .reorder_probability = 0.3, .seed = 12});
  std::vector<std::byte> data = RandomBytes(1 << 20, 5);
  ASSERT_TRUE(disk.Write(0, data));
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(0, back));
  EXPECT_EQ(back, data);
  EXPECT_GT(wire_a_.stats().duplicated, 0u);
  EXPECT_GT(wire_a_.stats().reordered, 0u);
  EXPECT_GT(client_->initiator().unmatched_replies(), 0u);  // the duplicates
}

TEST_F(InitiatorTest, DeadTargetFailsTheIoWithTheDocumentedError) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1}, false);
  MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  target.set_silent(0, true);
  TimePoint start = clock_.Now();
  std::vector<std::byte> buf(4096);
  Outcome<void> r = disk.Read(0, buf);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == InitiatorErrc::kDeadTarget);
  EXPECT_EQ(r.error().message,
            "reading e0.1 sectors 0-7: no reply from e0.1 for 30 s on i0 (mac 02:00:00:07:01:0a)");
  EXPECT_GE(clock_.Now() - start, seconds(30));
  EXPECT_LT(clock_.Now() - start, seconds(35));
  // The engine forgot every frame: nothing in flight, no request left.
  EXPECT_EQ(disk.path_stats()[0].in_flight, 0u);
  EXPECT_EQ(disk.async().pending_requests(), 0u);
}

TEST_F(InitiatorTest, DeadTimeoutIsConfigurable) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  MakeClient({.dead_timeout = seconds(5)});
  SyncDisk disk = Open(0, 1);
  target.set_silent(0, true);
  target.set_silent(1, true);
  std::vector<std::byte> buf(512);
  Outcome<void> r = disk.Read(0, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "reading e0.1 sectors 0-0: no reply from e0.1 for 5 s on i0 (mac 02:00:00:07:01:0a), "
            "i1 (mac 02:00:00:07:01:0b)");
}

TEST_F(InitiatorTest, DeadTargetErrorNamesEachRequestsOwnSectorRange) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({.dead_timeout = seconds(5)}, false);
  SyncDisk disk = Open(0, 1);
  target.set_silent(0, true);
  std::vector<std::byte> a(4096), b(8192);
  std::vector<std::byte> c = RandomBytes(1024, 3);
  std::optional<Outcome<void>> ra, rb, rc, rf;
  disk.async().Read(16, a, [&](Outcome<void> r) { ra.emplace(std::move(r)); });
  disk.async().Read(100, b, [&](Outcome<void> r) { rb.emplace(std::move(r)); });
  disk.async().Write(200, c, [&](Outcome<void> r) { rc.emplace(std::move(r)); });
  disk.async().Flush([&](Outcome<void> r) { rf.emplace(std::move(r)); });
  ASSERT_TRUE(client.RunUntil([&] { return ra && rb && rc && rf; }, clock_.Now() + seconds(10)));
  const std::string why = ": no reply from e0.1 for 5 s on i0 (mac 02:00:00:07:01:0a)";
  ASSERT_FALSE(*ra);
  EXPECT_EQ(ra->error().message, "reading e0.1 sectors 16-23" + why);
  ASSERT_FALSE(*rb);
  EXPECT_EQ(rb->error().message, "reading e0.1 sectors 100-115" + why);
  ASSERT_FALSE(*rc);
  EXPECT_EQ(rc->error().message, "writing e0.1 sectors 200-201" + why);
  ASSERT_FALSE(*rf);
  EXPECT_EQ(rf->error().message, "flushing e0.1" + why);
  EXPECT_TRUE(rf->error() == InitiatorErrc::kDeadTarget);
}

TEST_F(InitiatorTest, PipelineReportsTheFailingOperation) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  MakeClient({.dead_timeout = seconds(5)}, false);
  SyncDisk disk = Open(0, 1);
  target.set_bad_sector(300);
  std::vector<std::byte> out(1 << 20);
  size_t next = 0;
  SyncDisk::IoOp failed;
  Outcome<void> r = disk.Pipeline(
      1,
      [&]() -> std::optional<SyncDisk::IoOp> {
        if (next >= out.size()) return std::nullopt;
        SyncDisk::IoOp op{
            .lba = next / 512, .buffer = ByteSpan(out).subspan(next, 65536), .cookie = next};
        next += 65536;
        return op;
      },
      nullptr, &failed);
  ASSERT_FALSE(r);
  EXPECT_EQ(failed.lba, 256u);  // the 64 KiB op holding sector 300
  EXPECT_EQ(failed.buffer.size(), 65536u);
  EXPECT_NE(r.error().message.find("sectors 300-301"), std::string::npos) << r.error().message;
}

TEST_F(InitiatorTest, SilentPathFailsOverMarksDownAndComesBack) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  Client& client = MakeClient();
  SyncDisk disk = Open(0, 1);
  target.set_silent(0, true);  // the target's port on wire A stops answering
  std::vector<std::byte> data = RandomBytes(1 << 20, 9);
  size_t a = disk.path_stats()[0].port == "i0" ? 0 : 1;
  // The silent path gets a frame now and then (when the other one is full); each loss is one
  // event, so it takes a few of them (a few RTOs) to mark it down.
  TimePoint start = clock_.Now();
  for (int i = 0; i < 100 && disk.path_stats()[a].up; ++i) {
    Outcome<void> w = disk.Write(0, data);
    ASSERT_TRUE(w) << w.error().message;
  }
  EXPECT_LT(clock_.Now() - start, seconds(10));
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(0, back));
  EXPECT_EQ(back, data);
  std::vector<PathStats> paths = disk.path_stats();
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_FALSE(paths[a].up);
  EXPECT_TRUE(paths[1 - a].up);
  EXPECT_GT(paths[a].timeouts, 0u);
  uint64_t sent_while_down = paths[a].sent;

  // While down, the path gets no new data frames.
  ASSERT_TRUE(disk.Read(0, back));
  EXPECT_EQ(disk.path_stats()[a].sent, sent_while_down);

  target.set_silent(0, false);
  ASSERT_TRUE(client.RunUntil([&] { return disk.path_stats()[a].up; }, clock_.Now() + seconds(5)));
  ASSERT_TRUE(disk.Read(0, back));
  EXPECT_GT(disk.path_stats()[a].sent, sent_while_down);
}

TEST_F(InitiatorTest, FramesTimingOutTogetherAreOneLossEventAndDoNotMarkThePathDown) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(64 * 1024);
  std::optional<Outcome<void>> result;
  // A stall: a full window is in flight and the target answers none of it in time.
  target.set_silent(0, true);
  disk.async().Read(0, buf, [&](Outcome<void> r) { result.emplace(std::move(r)); });
  ASSERT_GE(disk.path_stats()[0].in_flight, 8u);
  clock_.Advance(seconds(1));
  client.initiator().OnTimer();
  EXPECT_GE(disk.path_stats()[0].timeouts, 8u);
  EXPECT_TRUE(disk.path_stats()[0].up);  // 8 timeouts in one tick, but one loss event
  target.set_silent(0, false);
  ASSERT_TRUE(client.RunUntil([&] { return result.has_value(); }, clock_.Now() + seconds(5)));
  EXPECT_TRUE(*result);
  EXPECT_TRUE(disk.path_stats()[0].up);
}

TEST_F(InitiatorTest, PathGoesDownAfterConsecutiveLossEventsAndAReplyResetsTheCount) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeClient({.down_after_timeouts = 2}, false);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(64 * 1024);
  std::optional<Outcome<void>> result;
  target.set_silent(0, true);
  disk.async().Read(0, buf, [&](Outcome<void> r) { result.emplace(std::move(r)); });
  target.Serve();  // silent: swallows the window
  clock_.Advance(seconds(1));
  client.initiator().OnTimer();  // event 1: the whole window; one retransmission goes out
  EXPECT_TRUE(disk.path_stats()[0].up);
  // A reply on the path (the retransmission answered) resets the count.
  target.set_silent(0, false);
  target.Serve();
  client.initiator().Poll();
  target.set_silent(0, true);
  target.Serve();
  clock_.Advance(seconds(1));
  client.initiator().OnTimer();  // one event since the reply, not the second in a row
  EXPECT_TRUE(disk.path_stats()[0].up);
  target.Serve();
  clock_.Advance(seconds(2));
  client.initiator().OnTimer();  // the retransmission sent after it timed out too: event 2
  EXPECT_FALSE(disk.path_stats()[0].up);
  target.set_silent(0, false);
  ASSERT_TRUE(client.RunUntil([&] { return result.has_value(); }, clock_.Now() + seconds(5)));
  EXPECT_TRUE(*result);
}

// `aoe serve` is killed (its link drops every frame: requests are lost, as in a crash) in the
// middle of queue-depth writes and is back 3 s later: every request completes, nothing stays
// pending or counted in flight, and the disk holds exactly what was written.
TEST_F(InitiatorTest, EveryRequestCompletesWhenTheTargetComesBackAfterARestart) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 16384}, false);
  Client& client = MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  constexpr size_t kChunk = 256 * 1024;
  const std::vector<std::byte> data = RandomBytes(16 * kChunk, 61);
  std::vector<std::optional<Outcome<void>>> results(16);
  for (size_t i = 0; i < results.size(); ++i) {
    disk.async().Write(i * kChunk / 512, ConstByteSpan(data).subspan(i * kChunk, kChunk),
                       [&results, i](Outcome<void> r) { results[i].emplace(std::move(r)); });
  }
  for (int round = 0; round < 20; ++round) {
    target.Serve();
    client.initiator().Poll();
    clock_.Advance(std::chrono::microseconds(50));
  }
  auto done = [&] {
    return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); });
  };
  ASSERT_FALSE(done()) << "the target was killed too late to matter";
  target_ports_[0]->set_link_up(false);
  EXPECT_FALSE(client.RunUntil([] { return false; }, clock_.Now() + seconds(3)));
  EXPECT_FALSE(disk.path_stats()[0].up);
  target_ports_[0]->set_link_up(true);
  ASSERT_TRUE(client.RunUntil(done, clock_.Now() + seconds(25)));
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(*results[i]) << "write " << i << ": " << results[i]->error().message;
  }
  EXPECT_TRUE(std::equal(data.begin(), data.end(), target.data().begin()));
  EXPECT_EQ(disk.async().pending_requests(), 0u);
  EXPECT_EQ(disk.path_stats()[0].in_flight, 0u);
  EXPECT_TRUE(disk.path_stats()[0].up);
}

// Regression (issue 8): a request waiting for a target that is gone could end only by the
// dead-target timeout (30 s). `aoe mount`'s daemon had no way to give up on it, so it ignored
// SIGTERM while stopping and `aoe umount` waited. Abort fails every pending request at once,
// with its own sectors in the message, and nothing more is sent for them.
TEST_F(InitiatorTest, AbortFailsEveryPendingRequestAtOnceWhileTheTargetIsGone) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  target_ports_[0]->set_link_up(false);
  std::vector<std::byte> a(4096);
  const std::vector<std::byte> b = RandomBytes(2048, 71);
  std::optional<Outcome<void>> ra, rb, rf;
  disk.async().Read(16, a, [&](Outcome<void> r) { ra.emplace(std::move(r)); });
  disk.async().Write(100, b, [&](Outcome<void> r) { rb.emplace(std::move(r)); });
  disk.async().Flush([&](Outcome<void> r) { rf.emplace(std::move(r)); });
  EXPECT_FALSE(client.RunUntil([] { return false; }, clock_.Now() + seconds(2)));
  ASSERT_FALSE(ra || rb || rf);
  const TimePoint before = clock_.Now();
  const uint64_t sent_before = init_port_a_->stats().tx_frames;
  disk.async().Abort("stopping: the target does not answer");
  ASSERT_TRUE(ra && rb && rf) << "every callback runs inside Abort";
  EXPECT_EQ(clock_.Now(), before);
  ASSERT_FALSE(*ra);
  EXPECT_TRUE(ra->error() == InitiatorErrc::kCancelled);
  EXPECT_EQ(ra->error().message,
            "reading e0.1 sectors 16-23: stopping: the target does not answer");
  ASSERT_FALSE(*rb);
  EXPECT_EQ(rb->error().message,
            "writing e0.1 sectors 100-103: stopping: the target does not answer");
  ASSERT_FALSE(*rf);
  EXPECT_EQ(rf->error().message, "flushing e0.1: stopping: the target does not answer");
  EXPECT_EQ(disk.async().pending_requests(), 0u);
  EXPECT_EQ(disk.path_stats()[0].in_flight, 0u);
  // Nothing more goes out for them: only the down path's probes (config queries, no ATA).
  const uint64_t ata_before = target.stats().ata;
  target_ports_[0]->set_link_up(true);
  EXPECT_FALSE(client.RunUntil([] { return false; }, clock_.Now() + seconds(10)));
  EXPECT_EQ(target.stats().ata, ata_before);
  EXPECT_GT(init_port_a_->stats().tx_frames, sent_before);
  // The disk stays usable.
  ASSERT_TRUE(disk.Read(16, a));
}

}  // namespace
}  // namespace aoe::initiator::testing
