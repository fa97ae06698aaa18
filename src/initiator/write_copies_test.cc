// Stale write copies (README.md, "Write ordering"): a retransmitted write's earlier copy may
// still arrive after its reply, so an overlapping write waits until no copy can land after it.
// Over MemoryWires that delay chosen frames, against FakeTargets (testing/initiator_fixture.h).
#include <gtest/gtest.h>

#include "initiator/testing/initiator_fixture.h"

namespace aoe::initiator::testing {
namespace {

// Regression: a write was acknowledged by the reply to its retransmission while its first copy
// was still on its way. The next write to the same sectors went out at once, and the old copy,
// arriving last, put the old data back (RELIABILITY.md admitted this window).
TEST_F(InitiatorTest, ALateCopyOfAnAcknowledgedWriteNeverLandsOnANewerWrite) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  const std::vector<std::byte> old_data = RandomBytes(1024, 21);
  const std::vector<std::byte> new_data = RandomBytes(1024, 22);
  // The first copy of the next write lingers 50 ms on the wire: far past its RTO (5 ms after
  // the IDENTIFY's RTT sample), so the retransmission is answered first and the write is
  // acknowledged while the old copy is still coming.
  wire_a_.DelayNext(milliseconds(50), IsWriteRequest);
  ASSERT_TRUE(disk.Write(0, old_data));
  ASSERT_EQ(wire_a_.stats().delayed, 1u);
  ASSERT_GT(disk.path_stats()[0].retransmits, 0u);
  ASSERT_TRUE(wire_a_.NextDue().has_value()) << "the old copy is still on the wire";
  ASSERT_TRUE(disk.Write(0, new_data));
  // Whatever is still on the wire arrives and is served.
  ASSERT_TRUE(client.RunUntil([&] { return !wire_a_.NextDue(); }, clock_.Now() + seconds(1)));
  target.Serve();
  client.initiator().Poll();
  EXPECT_TRUE(std::equal(new_data.begin(), new_data.end(), target.data().begin()))
      << "the late copy of the older write landed last";
  EXPECT_EQ(disk.async().writes_held_back(), 1u);
  EXPECT_EQ(disk.async().unsettled_write_copies(), 0u);  // settled by its late reply
}

TEST_F(InitiatorTest, AWriteOverALostCopyWaitsOnlyUntilTheCopyCanNoLongerArrive) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({.write_copy_lifetime = seconds(1)}, false);
  SyncDisk disk = Open(0, 1);
  // The first copy is lost on the way in (the target's link is down for it).
  const TimePoint first_sent = clock_.Now();
  target_ports_[0]->set_link_up(false);
  std::optional<Outcome<void>> first;
  const std::vector<std::byte> old_data = RandomBytes(1024, 31);
  disk.async().Write(0, old_data, [&](Outcome<void> r) { first.emplace(std::move(r)); });
  target_ports_[0]->set_link_up(true);
  ASSERT_TRUE(client.RunUntil([&] { return first.has_value(); }, clock_.Now() + seconds(1)));
  ASSERT_TRUE(*first);
  EXPECT_EQ(disk.async().unsettled_write_copies(), 1u);
  // Nothing will ever answer that copy: the overlapping write goes out once it is a lifetime old.
  const std::vector<std::byte> new_data = RandomBytes(512, 32);
  ASSERT_TRUE(disk.Write(1, new_data));
  EXPECT_GE(clock_.Now() - first_sent, seconds(1));
  EXPECT_LT(clock_.Now() - first_sent, milliseconds(1100));
  EXPECT_TRUE(std::equal(new_data.begin(), new_data.end(), target.data().begin() + 512));
  EXPECT_EQ(disk.async().unsettled_write_copies(), 0u);
  EXPECT_EQ(disk.async().writes_held_back(), 1u);
}

TEST_F(InitiatorTest, WritesBesideAnUnsettledCopyAndReadsOfItAreNotHeldBack) {
  AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  target_ports_[0]->set_link_up(false);
  std::optional<Outcome<void>> first;
  const std::vector<std::byte> data = RandomBytes(1024, 41);
  disk.async().Write(0, data, [&](Outcome<void> r) { first.emplace(std::move(r)); });
  target_ports_[0]->set_link_up(true);
  ASSERT_TRUE(client.RunUntil([&] { return first.has_value(); }, clock_.Now() + seconds(1)));
  ASSERT_EQ(disk.async().unsettled_write_copies(), 1u);
  // Sectors 2 and up, and reads of sectors 0-1: each is one round trip, no wait.
  const TimePoint start = clock_.Now();
  ASSERT_TRUE(disk.Write(2, RandomBytes(64 * 1024, 42)));
  std::vector<std::byte> back(1024);
  ASSERT_TRUE(disk.Read(0, back));
  EXPECT_EQ(back, data);
  EXPECT_LT(clock_.Now() - start, milliseconds(10));
  EXPECT_EQ(disk.async().writes_held_back(), 0u);
  EXPECT_EQ(disk.async().unsettled_write_copies(), 1u);
}

TEST_F(InitiatorTest, CopiesOfAFailedWriteStillHoldBackAnOverlappingRewrite) {
  // A write that failed (dead target) may still have copies on their way; a retry of it must
  // not be overtaken by them either.
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1}, false);
  MakeClient({.dead_timeout = milliseconds(200), .write_copy_lifetime = seconds(1)}, false);
  SyncDisk disk = Open(0, 1);
  target.set_silent(0, true);
  ASSERT_FALSE(disk.Write(0, RandomBytes(1024, 51)));
  EXPECT_GT(disk.async().unsettled_write_copies(), 0u);
  target.set_silent(0, false);
  const std::vector<std::byte> retry = RandomBytes(1024, 52);
  ASSERT_TRUE(disk.Write(0, retry));
  EXPECT_EQ(disk.async().writes_held_back(), 1u);
  EXPECT_TRUE(std::equal(retry.begin(), retry.end(), target.data().begin()));
}

}  // namespace
}  // namespace aoe::initiator::testing
