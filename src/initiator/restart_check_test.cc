// Disk::CheckForRestarts (disk_restarts.cc): after a flush, which target MACs may have lost
// writes they acknowledged, told by the incarnation in their IDENTIFY; over MemoryWires against
// FakeTargets (testing/initiator_fixture.h).
#include <gtest/gtest.h>

#include "initiator/testing/initiator_fixture.h"

namespace aoe::initiator::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Waits until both paths of the disk are judged usable, then writes 1 MiB and flushes, so that
// each path carried writes.
void WriteOverBothPaths(Client& client, FakeClock& clock, SyncDisk& disk) {
  ASSERT_TRUE(client.RunUntil(
      [&] { return disk.info().paths.size() == 2 && !disk.async().identifying_paths(); },
      clock.Now() + seconds(5)));
  std::vector<std::byte> data(1 << 20, std::byte{1});
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  ASSERT_GT(disk.path_stats()[1].replies, 0u) << "both paths carried writes";
}

std::vector<TargetRestart> Check(SyncDisk& disk) {
  Outcome<RestartCheck> r = disk.CheckForRestarts();
  EXPECT_TRUE(r);
  return r ? r->restarts : std::vector<TargetRestart>{};
}

TEST_F(InitiatorTest, ATargetThatRestartedSinceTheLastCheckIsListed) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .incarnation = 7}, false);
  MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> data(64 * 1024, std::byte{1});
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  EXPECT_TRUE(Check(disk).empty()) << "the process that flushed is the one that acknowledged";

  target.set_incarnation(8);
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  std::vector<TargetRestart> restarts = Check(disk);
  ASSERT_EQ(restarts.size(), 1u);
  EXPECT_EQ(restarts[0].target_mac, TargetMac(1, 0xA));
  EXPECT_TRUE(restarts[0].answered);

  // Nothing was written since (a read and a flush lose nothing): nothing to ask, nothing lost.
  const uint64_t identifies = target.stats().identifies;
  ASSERT_TRUE(disk.Read(0, data));
  ASSERT_TRUE(disk.Flush());
  EXPECT_TRUE(Check(disk).empty());
  EXPECT_EQ(target.stats().identifies, identifies);

  // The new process is the reference from now on.
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  EXPECT_TRUE(Check(disk).empty());
}

TEST_F(InitiatorTest, ATargetSilentAfterTheFlushIsListedAsNotAnswering) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .incarnation = 7}, false);
  MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> data(64 * 1024, std::byte{1});
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  target.set_silent(0, true);
  std::vector<TargetRestart> restarts = Check(disk);
  ASSERT_EQ(restarts.size(), 1u);
  EXPECT_FALSE(restarts[0].answered);
}

// The target was killed just after its FLUSH reply and came back at once with the same
// incarnation (its page cache held the writes): the check waits for it as long as a request
// would, and finds nothing lost.
TEST_F(InitiatorTest, ATargetBackWithinTheDeadTimeoutWithTheSameIncarnationLostNothing) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .incarnation = 7}, false);
  MakeClient({.dead_timeout = seconds(30)}, false);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> data(64 * 1024, std::byte{1});
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  target.set_silent(0, true);
  std::optional<Outcome<RestartCheck>> result;
  disk.async().CheckForRestarts([&](Outcome<RestartCheck> r) { result = std::move(r); });
  const TimePoint back = clock_.Now() + seconds(10);
  ASSERT_FALSE(client_->RunUntil([&] { return result.has_value(); }, back));
  target.set_silent(0, false);
  ASSERT_TRUE(client_->RunUntil([&] { return result.has_value(); }, clock_.Now() + seconds(5)));
  ASSERT_TRUE(*result);
  EXPECT_TRUE((*result)->restarts.empty());
}

// ... and lists it once the dead-target timeout has passed.
TEST_F(InitiatorTest, ASilentTargetIsListedAfterTheDeadTimeout) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .incarnation = 7}, false);
  MakeClient({.dead_timeout = seconds(20)}, false);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> data(64 * 1024, std::byte{1});
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  target.set_silent(0, true);
  const TimePoint start = clock_.Now();
  std::vector<TargetRestart> restarts = Check(disk);
  EXPECT_GE(clock_.Now() - start, seconds(20));
  EXPECT_LT(clock_.Now() - start, seconds(21));
  ASSERT_EQ(restarts.size(), 1u);
  EXPECT_FALSE(restarts[0].answered);
}

// A mount stopped by force while its fsync's check waits for a silent target: Abort ends the
// check too, so the stop does not wait out the dead-target timeout.
TEST_F(InitiatorTest, AbortEndsARestartCheck) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .incarnation = 7}, false);
  MakeClient({.dead_timeout = seconds(30)}, false);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> data(64 * 1024, std::byte{1});
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  target.set_silent(0, true);
  std::optional<Outcome<RestartCheck>> result;
  disk.async().CheckForRestarts([&](Outcome<RestartCheck> r) { result = std::move(r); });
  ASSERT_FALSE(client_->RunUntil([&] { return result.has_value(); }, clock_.Now() + seconds(1)));
  EXPECT_EQ(disk.async().pending_requests(), 1u) << "what a mount's stop aborts";
  disk.async().Abort("stopping");
  ASSERT_TRUE(result.has_value()) << "Abort runs the callback before it returns";
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, InitiatorErrc::kCancelled);
  EXPECT_EQ(result->error().message, "checking e0.1 for restarts: stopping");
  EXPECT_EQ(disk.async().pending_requests(), 0u);
  client_->RunUntil([] { return false; }, clock_.Now() + milliseconds(10));  // what was on the wire
  const uint64_t asked = target.stats().per_port_requests.at(0);  // ATA requests
  target.set_silent(0, false);
  client_->RunUntil([] { return false; }, clock_.Now() + seconds(3));
  EXPECT_EQ(target.stats().per_port_requests.at(0), asked)
      << "the check's IDENTIFY is not sent again";
}

// vblade, or an aoe serve export whose acknowledged writes are durable (durability=sync, RBD):
// nothing to tell or nothing to lose, so not even asked (no IDENTIFY, which would end aoe
// serve's count of us as a flushing initiator), not even when it goes silent.
TEST_F(InitiatorTest, ATargetWithoutAnIncarnationIsNeverAsked) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1}, false);
  MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  const uint64_t identifies = target.stats().identifies;
  std::vector<std::byte> data(64 * 1024, std::byte{1});
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  Outcome<RestartCheck> r = disk.CheckForRestarts();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->restarts.empty());
  EXPECT_FALSE(r->asked);
  ASSERT_TRUE(disk.Write(0, data));
  target.set_silent(0, true);
  EXPECT_TRUE(Check(disk).empty());
  EXPECT_EQ(target.stats().identifies, identifies);
}

// One target reached over two links (its two MACs, one serial, one incarnation): one link
// dies after carrying writes. The FLUSH and the IDENTIFY that went over the other reached the
// process that holds them, so nothing is reported: multipath is there to ride through this.
TEST_F(InitiatorTest, ASilentMacIsVouchedForByAnotherMacOfTheSameTarget) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192, .incarnation = 7});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WriteOverBothPaths(*client_, clock_, disk));
  target.set_silent(1, true);
  const TimePoint start = clock_.Now();
  EXPECT_TRUE(Check(disk).empty());
  EXPECT_LT(clock_.Now() - start, seconds(1)) << "the dead link does not hold up the check";
  // Its IDENTIFY on the dead link is not resent after the check ended.
  const uint64_t asked = target.stats().per_port_requests.at(1);
  client_->RunUntil([] { return false; }, clock_.Now() + seconds(3));
  EXPECT_EQ(target.stats().per_port_requests.at(1), asked);
}

// Writes acknowledged while a check is out may come from the process that then died: after a
// check that found a restart, the next one reports it again rather than trust the new process
// with them.
TEST_F(InitiatorTest, WritesAcknowledgedDuringACheckThatFoundARestartAreCheckedAgain) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .incarnation = 7}, false);
  MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> data(64 * 1024, std::byte{1});
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  target.set_incarnation(8);
  std::optional<Outcome<RestartCheck>> check;
  std::optional<Outcome<void>> write;
  disk.async().CheckForRestarts([&](Outcome<RestartCheck> r) { check = std::move(r); });
  disk.async().Write(0, data, [&](Outcome<void> r) { write = std::move(r); });
  ASSERT_TRUE(client_->RunUntil([&] { return check && write; }, clock_.Now() + seconds(5)));
  ASSERT_TRUE(*check && *write);
  ASSERT_EQ((*check)->restarts.size(), 1u);
  ASSERT_TRUE(disk.Flush());
  EXPECT_EQ(Check(disk).size(), 1u) << "the write may have been acknowledged by the old process";
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  EXPECT_TRUE(Check(disk).empty()) << "from then on the new process is the reference";
}

// Two hosts serving one disk (one image, another serial and incarnation each): one dies. Its
// MAC is listed once, for what it acknowledged before it died; after that it carries nothing,
// so it does not fail every later check.
TEST_F(InitiatorTest, OnlyMacsThatAcknowledgedWritesSinceTheLastCheckAreAsked) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 8192, .serial = "0.1:host-a", .incarnation = 7},
            false);
  FakeTarget& b = AddTarget(
      {.shelf = 0, .slot = 1, .sectors = 8192, .serial = "0.1:host-b", .incarnation = 9}, false);
  MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WriteOverBothPaths(*client_, clock_, disk));
  EXPECT_TRUE(Check(disk).empty());
  std::vector<std::byte> data(1 << 20, std::byte{1});

  ASSERT_TRUE(disk.Write(0, data));
  b.set_silent(0, true);
  std::vector<TargetRestart> restarts = Check(disk);
  ASSERT_EQ(restarts.size(), 1u);
  EXPECT_EQ(restarts[0].target_mac, TargetMac(2, 0xA));
  EXPECT_FALSE(restarts[0].answered);

  ASSERT_TRUE(disk.Write(0, data));  // through host a once host b's frames time out
  ASSERT_TRUE(disk.Flush());
  EXPECT_TRUE(Check(disk).empty());
}

}  // namespace
}  // namespace aoe::initiator::testing
