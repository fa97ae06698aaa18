// Frame size probes (Disk::ProbeFrameSize): jumbo frames on both hosts, a link between that
// carries only standard 1500-byte frames (MemoryWire's max_frame_bytes, as a switch without
// jumbo frames drops the rest). Without the probe every long frame is lost for good and the
// disk fails at the dead-target timeout.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "initiator/testing/initiator_fixture.h"

namespace aoe::initiator::testing {
namespace {

constexpr size_t kStandardFrameBytes = 1514;  // 1500-byte MTU and the Ethernet header

class FrameSizeProbeTest : public InitiatorTest {
 protected:
  // One target, one path, MTU 9000 at both ends (17-sector frames), a 10 s dead timeout.
  SyncDisk OpenJumboDisk(FakeTarget*& target) {
    target = &AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
    MakeClient({.dead_timeout = seconds(10), .write_copy_lifetime = milliseconds(100)}, false);
    SyncDisk disk = OpenOverJumboFrames(0, 1);
    EXPECT_EQ(disk.info().sectors_per_frame, 17);
    return disk;
  }
};

TEST_F(FrameSizeProbeTest, ReadsAndWritesGoOnInStandardFramesWhenTheLinkDropsLongOnes) {
  FakeTarget* target = nullptr;
  SyncDisk disk = OpenJumboDisk(target);
  wire_a_.SetFaults({.max_frame_bytes = kStandardFrameBytes});

  const std::vector<std::byte> data = RandomBytes(256 * 512, 41);
  std::copy(data.begin(), data.end(), target->data().begin() + 1000 * 512);
  const TimePoint start = clock_.Now();
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(1000, back));
  EXPECT_EQ(back, data);
  // Two losses of a long frame, then the probe's second: well inside the dead timeout.
  EXPECT_LT(clock_.Now() - start, seconds(4));
  EXPECT_EQ(disk.info().sectors_per_frame, 2);
  ASSERT_EQ(disk.path_stats().size(), 1u);
  EXPECT_EQ(disk.path_stats()[0].frame_sectors_cap, 2);
  EXPECT_GT(wire_a_.stats().dropped, 0u) << "no frame was too long for the link";

  // Writes are sent in standard frames from the start now.
  const uint64_t dropped = wire_a_.stats().dropped;
  const std::vector<std::byte> written = RandomBytes(256 * 512, 42);
  ASSERT_TRUE(disk.Write(3000, written));
  EXPECT_TRUE(std::equal(written.begin(), written.end(), target->data().begin() + 3000 * 512));
  EXPECT_EQ(wire_a_.stats().dropped, dropped);
}

TEST_F(FrameSizeProbeTest, AWriteOfLongFramesIsCutAndCompletes) {
  FakeTarget* target = nullptr;
  SyncDisk disk = OpenJumboDisk(target);
  wire_a_.SetFaults({.max_frame_bytes = kStandardFrameBytes});
  const std::vector<std::byte> data = RandomBytes(256 * 512, 43);
  ASSERT_TRUE(disk.Write(500, data));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), target->data().begin() + 500 * 512));
  EXPECT_EQ(disk.info().sectors_per_frame, 2);
}

TEST_F(FrameSizeProbeTest, LongFramesComeBackOnceTheLinkCarriesThemAgain) {
  FakeTarget* target = nullptr;
  SyncDisk disk = OpenJumboDisk(target);
  wire_a_.SetFaults({.max_frame_bytes = kStandardFrameBytes});
  std::vector<std::byte> buffer(64 * 512);
  ASSERT_TRUE(disk.Read(0, buffer));
  ASSERT_EQ(disk.info().sectors_per_frame, 2);

  // Still dropped at the first look again (10 s): the cap stays.
  client_->RunUntil([] { return false; }, clock_.Now() + seconds(12));
  EXPECT_EQ(disk.info().sectors_per_frame, 2);

  // Mended: the next look (20 s after the last, the interval doubles) finds long frames
  // answered.
  wire_a_.SetFaults({});
  ASSERT_TRUE(client_->RunUntil([&] { return disk.info().sectors_per_frame == 17; },
                                clock_.Now() + seconds(22)));
  EXPECT_EQ(disk.path_stats()[0].frame_sectors_cap, 0);
  ASSERT_TRUE(disk.Read(0, buffer));
}

// Random loss loses long and short frames alike: the probe's long READ is answered (it is sent
// again within its second), so nothing is capped.
TEST_F(FrameSizeProbeTest, OrdinaryLossDoesNotCapTheFrames) {
  FakeTarget* target = nullptr;
  SyncDisk disk = OpenJumboDisk(target);
  wire_a_.SetFaults({.drop_probability = 0.2, .seed = 7});
  const std::vector<std::byte> data = RandomBytes(1024 * 512, 44);
  ASSERT_TRUE(disk.Write(0, data));
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(0, back));
  EXPECT_EQ(back, data);
  // Every probe started has ended (each waits at most 1 s).
  client_->RunUntil([] { return false; }, clock_.Now() + seconds(2));
  EXPECT_EQ(disk.info().sectors_per_frame, 17);
  EXPECT_EQ(disk.path_stats()[0].frame_sectors_cap, 0);
}

// A silent target answers neither probe: that says nothing about sizes, and the disk fails at
// its dead-target timeout as before, its frames uncapped.
TEST_F(FrameSizeProbeTest, ASilentTargetIsNotTakenForALinkThatDropsLongFrames) {
  FakeTarget* target = nullptr;
  SyncDisk disk = OpenJumboDisk(target);
  target->set_silent(0, true);
  std::vector<std::byte> buffer(64 * 512);
  Outcome<void> read = disk.Read(0, buffer);
  ASSERT_FALSE(read);
  EXPECT_TRUE(read.error() == InitiatorErrc::kDeadTarget);
  EXPECT_EQ(disk.path_stats()[0].frame_sectors_cap, 0);
}

}  // namespace
}  // namespace aoe::initiator::testing
