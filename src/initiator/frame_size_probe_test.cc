// Frame size probes (disk_frame_size.cc): jumbo frames on both hosts, a link between that
// carries only standard 1500-byte frames (MemoryWire's max_frame_bytes, as a switch without
// jumbo frames drops the rest). Without the probe every long frame is lost for good and the
// disk fails at the dead-target timeout.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "initiator/testing/initiator_fixture.h"

namespace aoe::initiator::testing {
namespace {

constexpr size_t kStandardFrameBytes = 1514;  // 1500-byte MTU and the Ethernet header

class FrameSizeProbeTest : public InitiatorTest {
 protected:
  // One target, MTU 9000 at every end (17-sector frames), a 10 s dead timeout; one path, or two
  // (wires A and B). Notices are kept in notices_.
  SyncDisk OpenJumboDisk(FakeTarget*& target, bool two_paths = false) {
    target = &AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, two_paths);
    MakeClient({.dead_timeout = seconds(10),
                .write_copy_lifetime = milliseconds(100),
                .on_notice = [this](DiskAddress,
                                    const std::string& message) { notices_.push_back(message); }},
               two_paths);
    if (two_paths) init_port_b_->set_mtu(9000);
    SyncDisk disk = OpenOverJumboFrames(0, 1);
    if (two_paths) {
      client_->RunUntil([&] { return disk.info().paths.size() == 2; }, clock_.Now() + seconds(2));
    }
    EXPECT_EQ(disk.info().sectors_per_frame, 17);
    return disk;
  }

  // Runs the engine for `d` of fake time with nothing else to do.
  void Idle(Duration d) {
    client_->RunUntil([] { return false; }, clock_.Now() + d);
  }

  std::vector<std::string> notices_;
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
  // Two long frames lost, then the probe's 3 s: well inside the dead timeout.
  EXPECT_LT(clock_.Now() - start, seconds(5));
  EXPECT_EQ(disk.info().sectors_per_frame, 2);
  ASSERT_EQ(disk.path_stats().size(), 1u);
  EXPECT_EQ(disk.path_stats()[0].frame_sectors_cap, 2);
  EXPECT_EQ(disk.path_stats()[0].frame_size_probes, 1u);
  EXPECT_GT(wire_a_.stats().dropped, 0u) << "no frame was too long for the link";

  // Writes are sent in standard frames from the start now.
  const uint64_t dropped = wire_a_.stats().dropped;
  const std::vector<std::byte> written = RandomBytes(256 * 512, 42);
  ASSERT_TRUE(disk.Write(3000, written));
  EXPECT_TRUE(std::equal(written.begin(), written.end(), target->data().begin() + 3000 * 512));
  EXPECT_EQ(wire_a_.stats().dropped, dropped);

  // Said once, with the sizes, the path and the MTU.
  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_NE(notices_[0].find("e0.1: 8740-byte frames get no reply on i0 (mac "), std::string::npos)
      << notices_[0];
  EXPECT_NE(notices_[0].find("while 1060-byte ones do: a switch or link between does not carry "
                             "MTU 9000; using 2-sector frames"),
            std::string::npos)
      << notices_[0];
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
  ASSERT_EQ(disk.path_stats()[0].frame_size_probes, 1u);

  // The first look again, 10 s later: still dropped, the cap stays.
  Idle(seconds(14));
  EXPECT_EQ(disk.path_stats()[0].frame_size_probes, 2u);
  EXPECT_EQ(disk.info().sectors_per_frame, 2);

  // Mended. The next look is 20 s after the last (the interval doubles): none before it, and
  // it finds long frames answered.
  wire_a_.SetFaults({});
  Idle(seconds(17));
  EXPECT_EQ(disk.path_stats()[0].frame_size_probes, 2u);
  ASSERT_TRUE(client_->RunUntil([&] { return disk.info().sectors_per_frame == 17; },
                                clock_.Now() + seconds(8)));
  EXPECT_EQ(disk.path_stats()[0].frame_size_probes, 3u);
  EXPECT_EQ(disk.path_stats()[0].frame_sectors_cap, 0);
  ASSERT_TRUE(disk.Read(0, buffer));
}

// Random loss loses long and short frames alike: the probes' long READs are answered (each is
// sent again every half second for 3 s), so nothing is capped.
TEST_F(FrameSizeProbeTest, OrdinaryLossDoesNotCapTheFrames) {
  FakeTarget* target = nullptr;
  SyncDisk disk = OpenJumboDisk(target);
  wire_a_.SetFaults({.drop_probability = 0.2, .seed = 7});
  const std::vector<std::byte> data = RandomBytes(1024 * 512, 44);
  ASSERT_TRUE(disk.Write(0, data));
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(0, back));
  EXPECT_EQ(back, data);
  Idle(seconds(4));  // every probe started has ended (each waits at most 3 s)
  EXPECT_GT(disk.path_stats()[0].frame_size_probes, 0u) << "the loss started no probe";
  EXPECT_EQ(disk.info().sectors_per_frame, 17);
  EXPECT_EQ(disk.path_stats()[0].frame_sectors_cap, 0);
  EXPECT_TRUE(notices_.empty());
}

// The long READ of a probe is refused (a bad sector in its range; a reservation would do the
// same): an error reply is short and says nothing about long frames, so nothing is capped.
TEST_F(FrameSizeProbeTest, ARefusedProbeIsNotTakenForALinkThatDropsLongFrames) {
  FakeTarget* target = nullptr;
  SyncDisk disk = OpenJumboDisk(target);
  target->set_bad_sector(10);  // inside the long READ of LBA 0, outside the short one
  wire_a_.SetFaults({.drop_probability = 0.2, .seed = 7});
  const std::vector<std::byte> data = RandomBytes(1024 * 512, 45);
  ASSERT_TRUE(disk.Write(1000, data));
  Idle(seconds(4));
  EXPECT_GT(disk.path_stats()[0].frame_size_probes, 0u) << "the loss started no probe";
  EXPECT_EQ(disk.info().sectors_per_frame, 17);
  EXPECT_EQ(disk.path_stats()[0].frame_sectors_cap, 0);
}

// A silent target answers neither READ: that says nothing about sizes, and no probe follows
// before the path answers again. The disk fails at its dead-target timeout as before, its
// frames uncapped.
TEST_F(FrameSizeProbeTest, ASilentTargetIsNotTakenForALinkThatDropsLongFrames) {
  FakeTarget* target = nullptr;
  SyncDisk disk = OpenJumboDisk(target);
  target->set_silent(0, true);
  std::vector<std::byte> buffer(64 * 512);
  Outcome<void> read = disk.Read(0, buffer);
  ASSERT_FALSE(read);
  EXPECT_TRUE(read.error() == InitiatorErrc::kDeadTarget);
  EXPECT_EQ(disk.path_stats()[0].frame_size_probes, 1u);
  EXPECT_EQ(disk.path_stats()[0].frame_sectors_cap, 0);
}

// A trunk whose wire A drops long frames and wire B carries them: a frame lost on A is resent
// on B and completes there, so no frame is lost twice, but A's losses in a row start the probe.
// Frame sizes are per disk: both paths then carry standard frames.
TEST_F(FrameSizeProbeTest, OnATrunkThePathThatDropsLongFramesIsFound) {
  FakeTarget* target = nullptr;
  SyncDisk disk = OpenJumboDisk(target, /*two_paths=*/true);
  ASSERT_EQ(disk.path_stats().size(), 2u);
  wire_a_.SetFaults({.max_frame_bytes = kStandardFrameBytes});
  const std::vector<std::byte> data = RandomBytes(2048 * 512, 46);
  ASSERT_TRUE(disk.Write(0, data));
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(0, back));
  EXPECT_EQ(back, data);
  Idle(seconds(4));
  const std::vector<PathStats> paths = disk.path_stats();
  EXPECT_EQ(paths[0].port, "i0");
  EXPECT_EQ(paths[0].frame_sectors_cap, 2);
  EXPECT_EQ(paths[1].frame_sectors_cap, 0);
  EXPECT_EQ(paths[1].frame_size_probes, 0u);
  EXPECT_EQ(disk.info().sectors_per_frame, 2);
  EXPECT_EQ(notices_.size(), 1u);
}

}  // namespace
}  // namespace aoe::initiator::testing
