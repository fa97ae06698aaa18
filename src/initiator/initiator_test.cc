// The initiator engine's everyday work, over two MemoryWires against FakeTargets with a
// FakeClock (testing/initiator_fixture.h): discovery and rediscovery, reads, writes and TRIM split
// into frames, windows, FLUSH, tags, ATA errors and the Pipeline.
#include <gtest/gtest.h>

#include <set>

#include "initiator/testing/initiator_fixture.h"

namespace aoe::initiator::testing {
namespace {

TEST_F(InitiatorTest, DiscoversTwoTargetsWithTwoPathsEach) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 1000, .serial = "serial-1"});
  FakeTarget& second = AddTarget({.shelf = 3, .slot = 7, .sectors = 5000, .model = "second"});
  second.config_string() = "owned by test";
  Client& client = MakeClient();

  Outcome<std::vector<TargetInfo>> found = client.Discover(milliseconds(500));
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->size(), 2u);
  const TargetInfo& a = (*found)[0];
  const TargetInfo& b = (*found)[1];
  EXPECT_EQ(a.address, (DiskAddress{0, 1}));
  EXPECT_EQ(b.address, (DiskAddress{3, 7}));
  ASSERT_EQ(a.paths.size(), 2u);
  ASSERT_EQ(b.paths.size(), 2u);
  std::set<std::string> ports{a.paths[0].port, a.paths[1].port};
  EXPECT_EQ(ports, (std::set<std::string>{"i0", "i1"}));
  std::set<MacAddress> macs{a.paths[0].target_mac, a.paths[1].target_mac};
  EXPECT_EQ(macs, (std::set<MacAddress>{TargetMac(1, 0xA), TargetMac(1, 0xB)}));
  EXPECT_EQ(a.buffer_count, 16);
  EXPECT_EQ(a.firmware_version, 0x4019);
  EXPECT_EQ(a.sectors_per_frame, 2);  // (1500 - 36) / 512
  EXPECT_EQ(b.config_string, "owned by test");
  ASSERT_TRUE(a.identify.has_value());
  ASSERT_TRUE(b.identify.has_value());
  EXPECT_EQ(a.identify->sector_count, 1000u);
  EXPECT_EQ(a.identify->serial, "serial-1");
  EXPECT_EQ(b.identify->sector_count, 5000u);
  EXPECT_EQ(b.identify->model, "second");
}

TEST_F(InitiatorTest, DiscoveryOfOneShelfSlotFindsOnlyThatTarget) {
  AddTarget({.shelf = 0, .slot = 1});
  AddTarget({.shelf = 0, .slot = 2});
  Client& client = MakeClient();
  Outcome<std::vector<TargetInfo>> found = client.Discover(milliseconds(200), DiskAddress{0, 2});
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].address, (DiskAddress{0, 2}));
}

TEST_F(InitiatorTest, SectorsPerFrameFollowTheAdvertisedCountAndTheSmallestMtu) {
  AddTarget({.shelf = 1, .slot = 1, .max_sectors = 0});
  MakeClient();
  init_port_a_->set_mtu(9000);
  init_port_b_->set_mtu(4200);
  for (auto& p : target_ports_) p->set_mtu(9000);
  SyncDisk disk = Open(1, 1);
  // Target offers 17 sectors at MTU 9000, but port i1 carries only (4200 - 36) / 512 = 8.
  EXPECT_EQ(disk.info().sectors_per_frame, 8);
}

TEST_F(InitiatorTest, OpenUnknownDiskFailsWithClearError) {
  AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  Outcome<SyncDisk> d = client.OpenDisk(9, 9);
  ASSERT_FALSE(d);
  EXPECT_TRUE(d.error() == InitiatorErrc::kNoSuchTarget);
  EXPECT_EQ(d.error().message, "e9.9 did not answer on i0, i1 within 2000 ms");
}

TEST_F(InitiatorTest, ReadWriteRoundTripOfSeveralMiBSplitIntoFrames) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 16384});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> data = RandomBytes(4 << 20, 1);
  ASSERT_TRUE(disk.Write(100, data));
  EXPECT_EQ(target.stats().writes, (4u << 20) / 1024);  // 2 sectors per frame
  EXPECT_TRUE(std::equal(data.begin(), data.end(), target.data().begin() + 100 * 512));
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(100, back));
  EXPECT_EQ(back, data);
  ASSERT_TRUE(disk.Flush());
  EXPECT_EQ(target.stats().flushes, 1u);
}

TEST_F(InitiatorTest, TrimSendsOneDataSetManagementCommandWithItsRanges) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 200000});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  const proto::IdentifyFeatures features = proto::ReadIdentifyFeatures(disk.info().identify->page);
  EXPECT_TRUE(features.trim);
  EXPECT_TRUE(features.trim_reads_zeroes);
  std::vector<std::byte> data = RandomBytes(8 * 512, 3);
  ASSERT_TRUE(disk.Write(65530, data));
  // 150000 sectors: three ranges (65535, 65535, 18930) in one command.
  ASSERT_TRUE(disk.Trim(10, 150000));
  EXPECT_EQ(target.stats().trims, 1u);
  EXPECT_EQ(target.stats().trimmed_sectors, 150000u);
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(65530, back));
  EXPECT_EQ(back, std::vector<std::byte>(data.size()));
}

TEST_F(InitiatorTest, ATrimTheTargetRefusesIsAnAtaError) {
  AddTarget({.shelf = 0, .slot = 1, .trim = false});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  EXPECT_FALSE(proto::ReadIdentifyFeatures(disk.info().identify->page).trim);
  Outcome<void> refused = disk.Trim(0, 8);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, InitiatorErrc::kAtaError);
  EXPECT_NE(refused.error().message.find("TRIM of sectors 0-7"), std::string::npos)
      << refused.error().message;
}

TEST_F(InitiatorTest, OddSizedRequestsUseAShortLastFrame) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> data = RandomBytes(5 * 512, 2);
  ASSERT_TRUE(disk.Write(7, data));
  EXPECT_EQ(target.stats().writes, 3u);
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(7, back));
  EXPECT_EQ(back, data);
}

TEST_F(InitiatorTest, LoadIsSpreadOverBothPaths) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(2 << 20);
  ASSERT_TRUE(disk.Read(0, buf));
  uint64_t a = target.stats().per_port_requests[0];
  uint64_t b = target.stats().per_port_requests[1];
  EXPECT_GT(a, 256u);
  EXPECT_GT(b, 256u);
  std::vector<PathStats> paths = disk.path_stats();
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_GT(paths[0].sent, 0u);
  EXPECT_GT(paths[1].sent, 0u);
  EXPECT_EQ(paths[0].in_flight, 0u);
  EXPECT_TRUE(paths[0].up && paths[1].up);
}

// Two disks given one shelf.slot by mistake (an `aoe serve` and a vblade both exporting e0.1
// on one segment): the second MAC to answer serves another disk. Before, it became a second
// path, and a copy took some frames from each disk.
TEST_F(InitiatorTest, AMacWithAnotherDiskUnderTheSameAddressIsNeverSentARequest) {
  FakeTarget& first = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, /*two_paths=*/false);
  FakeTarget& other = AddTarget(
      {.shelf = 0, .slot = 1, .sectors = 4096, .model = "EtherDrive vblade", .serial = "other"},
      /*two_paths=*/false);
  first.data() = RandomBytes(first.data().size(), 1);
  other.data() = RandomBytes(other.data().size(), 2);
  std::vector<std::string> notices;
  InitiatorOptions options;
  options.on_notice = [&](DiskAddress, const std::string& m) { notices.push_back(m); };
  Client& client = MakeClient(options, /*two_ports=*/false);

  Outcome<std::vector<TargetInfo>> found = client.Discover(milliseconds(500));
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->size(), 1u);
  const TargetInfo& t = (*found)[0];
  ASSERT_EQ(t.paths.size(), 1u);
  EXPECT_EQ(t.paths[0].target_mac, TargetMac(1, 0xA));
  ASSERT_EQ(t.conflicting.size(), 1u);
  EXPECT_EQ(t.conflicting[0].target_mac, TargetMac(2, 0xA));
  ASSERT_TRUE(t.conflicting[0].identity.has_value());
  EXPECT_EQ(t.conflicting[0].identity->sector_count, 4096u);
  ASSERT_TRUE(t.identify.has_value());
  EXPECT_EQ(t.identify->sector_count, 8192u);

  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(4 << 20);
  ASSERT_TRUE(disk.Read(0, buf));
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), first.data().begin()));
  std::vector<std::byte> data = RandomBytes(1 << 20, 3);
  ASSERT_TRUE(disk.Write(0, data));
  ASSERT_TRUE(disk.Flush());
  EXPECT_TRUE(std::equal(data.begin(), data.end(), first.data().begin()));
  // The other disk got config queries and the one IDENTIFY that told it apart, nothing else.
  EXPECT_EQ(other.stats().reads, 0u);
  EXPECT_EQ(other.stats().writes, 0u);
  EXPECT_EQ(other.stats().flushes, 0u);
  EXPECT_EQ(other.stats().ata, other.stats().identifies);
  EXPECT_EQ(disk.path_stats().size(), 1u);
  ASSERT_EQ(notices.size(), 1u);  // once, however often it answers
  EXPECT_EQ(notices[0],
            "e0.1 is also answered by 02:00:00:07:02:0a with another disk (4096 sectors, model "
            "\"EtherDrive vblade\" against 8192, \"aoekit fake target\" from 02:00:00:07:01:0a); "
            "not using it: give each disk its own shelf.slot");
}

// Two hosts serving one shared image (aoe serve on one Ceph RBD image on each): same size and
// model, and the serial names each host. Both MACs carry I/O, with one warning.
TEST_F(InitiatorTest, AMacWithTheSameSizeAndModelButAnotherSerialIsUsedWithAWarning) {
  FakeTarget& first = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192, .serial = "0.1:hostA"},
                                /*two_paths=*/false);
  FakeTarget& second = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192, .serial = "0.1:hostB"},
                                 /*two_paths=*/false);
  std::vector<std::string> notices;
  InitiatorOptions options;
  options.on_notice = [&](DiskAddress, const std::string& m) { notices.push_back(m); };
  MakeClient(options, /*two_ports=*/false);
  SyncDisk disk = Open(0, 1);
  ASSERT_TRUE(client_->RunUntil([&] { return !disk.async().identifying_paths(); }));
  std::vector<std::byte> buf(4 << 20);
  ASSERT_TRUE(disk.Read(0, buf));
  EXPECT_GT(first.stats().reads, 100u);
  EXPECT_GT(second.stats().reads, 100u);
  EXPECT_EQ(disk.info().paths.size(), 2u);
  EXPECT_TRUE(disk.info().conflicting.empty());
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("serial \"0.1:hostB\" against \"0.1:hostA\""), std::string::npos)
      << notices[0];
  EXPECT_NE(notices[0].find("a copy would mix them"), std::string::npos) << notices[0];
}

// Until a second MAC's IDENTIFY has answered it gets no request; when it has (same disk), it
// shares the load.
TEST_F(InitiatorTest, ASecondMacCarriesIoOnlyOnceItsIdentifyShowsTheSameDisk) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  std::vector<std::string> notices;
  InitiatorOptions options;
  options.on_notice = [&](DiskAddress, const std::string& m) { notices.push_back(m); };
  MakeClient(options);
  target.set_silent(1, true);  // the MAC on wire B answers config queries only once unsilenced
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(1 << 20);
  ASSERT_TRUE(disk.Read(0, buf));
  EXPECT_EQ(target.stats().per_port_requests[1], 0u);
  target.set_silent(1, false);
  ASSERT_TRUE(
      client_->RunUntil([&] { return disk.path_stats().size() == 2; }, clock_.Now() + seconds(70)));
  ASSERT_TRUE(client_->RunUntil([&] {
    const auto& paths = disk.info().paths;
    return paths.size() == 2 && paths[0].identity && paths[1].identity &&
           !disk.async().identifying_paths();
  }));
  ASSERT_TRUE(disk.Read(0, buf));
  EXPECT_GT(disk.path_stats()[1].sent, 0u);
  EXPECT_TRUE(notices.empty());
}

// A disk opened over one MAC, whose MAC dies before a second one answers: the second is judged by
// the disk's own IDENTIFY (the first can no longer be asked) and takes over. Without that it stayed
// unjudged, so unused, and the disk failed at the dead timeout.
TEST_F(InitiatorTest, ASecondMacTakesOverWhenTheFirstDiesBeforeItWasAskedOnItsOwn) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  MakeClient({});
  target.set_silent(1, true);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(1 << 20);
  ASSERT_TRUE(disk.Read(0, buf));
  target.set_silent(0, true);
  target.set_silent(1, false);
  ASSERT_TRUE(
      client_->RunUntil([&] { return disk.path_stats().size() == 2; }, clock_.Now() + seconds(70)));
  ASSERT_TRUE(disk.Read(0, buf));
  EXPECT_GT(disk.path_stats()[1].sent, 0u);
  EXPECT_EQ(disk.info().paths.size(), 2u);
  EXPECT_TRUE(disk.info().conflicting.empty());
}

TEST_F(InitiatorTest, WindowGrowsToTheBufferCountAndCollapsesOnTimeout) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, /*two_paths=*/false);
  Client& client = MakeClient({}, /*two_ports=*/false);
  SyncDisk disk = Open(0, 1);
  // bufcnt 16 / 2 = 8, plus one for the IDENTIFY reply (slow start).
  EXPECT_EQ(disk.path_stats()[0].window, 9u);
  std::vector<std::byte> buf(1 << 20);
  ASSERT_TRUE(disk.Read(0, buf));
  PathStats s = disk.path_stats()[0];
  EXPECT_EQ(s.window, 16u);
  EXPECT_EQ(s.window_limit, 16u);

  target.set_silent(0, true);
  std::optional<Outcome<void>> result;
  disk.async().Read(0, buf, [&](Outcome<void> r) { result.emplace(std::move(r)); });
  ASSERT_TRUE(client.RunUntil([&] { return disk.path_stats()[0].timeouts > 0; }));
  s = disk.path_stats()[0];
  EXPECT_EQ(s.window, 1u);
  EXPECT_EQ(s.ssthresh, 8u);  // halved once for the whole window of losses
  target.set_silent(0, false);
  ASSERT_TRUE(client.RunUntil([&] { return result.has_value(); }));
  EXPECT_TRUE(*result);
  EXPECT_GT(disk.path_stats()[0].retransmits, 0u);
}

TEST_F(InitiatorTest, WindowNeverExceedsMaxWindowOption) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 4096, .buffer_count = 200}, false);
  MakeClient({.max_window = 12}, false);
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(1 << 20);
  ASSERT_TRUE(disk.Read(0, buf));
  EXPECT_EQ(disk.path_stats()[0].window_limit, 12u);
  EXPECT_EQ(disk.path_stats()[0].window, 12u);
}

TEST_F(InitiatorTest, FlushFallsBackToFlushCacheWhenTheTargetAbortsFlushCacheExt) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .flush_ext = false});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  EXPECT_FALSE(disk.async().uses_flush_cache());
  Outcome<void> f = disk.Flush();
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(target.stats().flush_ext_aborted, 1u);
  EXPECT_EQ(target.stats().flushes, 1u);
  EXPECT_TRUE(disk.async().uses_flush_cache());
  // Remembered per disk: the next flush goes straight to 0xE7.
  uint64_t ata = target.stats().ata;
  ASSERT_TRUE(disk.Flush());
  EXPECT_EQ(target.stats().ata, ata + 1);
  EXPECT_EQ(target.stats().flush_ext_aborted, 1u);
  EXPECT_EQ(target.stats().flushes, 2u);
}

TEST_F(InitiatorTest, FlushUsesFlushCacheExtWhenTheTargetHasIt) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_TRUE(disk.Flush());
  EXPECT_EQ(target.stats().flush_ext_aborted, 0u);
  EXPECT_EQ(target.stats().flushes, 1u);
  EXPECT_FALSE(disk.async().uses_flush_cache());
}

// The client has two local ports (wires A and B), each with its own MAC, and aoe serve
// acknowledges from its cache only the writes of a MAC that flushed: a Flush, then one FLUSH on
// each port.
TEST_F(InitiatorTest, DeclareSelfFlushingFlushesOnEachPortOnlyWhenTheWriteCacheIsVolatile) {
  FakeTarget& cached = AddTarget({.shelf = 0, .slot = 1});
  FakeTarget& write_through = AddTarget({.shelf = 0, .slot = 2, .volatile_write_cache = false});
  MakeClient();
  SyncDisk a = Open(0, 1);
  SyncDisk b = Open(0, 2);
  ASSERT_EQ(a.info().paths.size(), 2u);
  ASSERT_NE(a.info().paths[0].port, a.info().paths[1].port);
  ASSERT_TRUE(a.DeclareSelfFlushing());
  ASSERT_TRUE(b.DeclareSelfFlushing());
  EXPECT_EQ(cached.stats().flushes, 3u);
  EXPECT_EQ(write_through.stats().flushes, 0u);
  EXPECT_EQ(cached.stats().writes, 0u);
}

// aoe serve forgets at a restart that an initiator flushes, and would make each of its writes
// durable before the reply until its next FLUSH. A path that comes back up (the target
// answering again) gets one FLUSH to say so again, from a writer that declared it only.
TEST_F(InitiatorTest, AWriterThatFlushesSaysSoAgainWhenAPathComesBack) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeClient({}, false);
  SyncDisk disk = Open(0, 1);
  auto outage = [&] {
    target.set_silent(0, true);
    std::vector<std::byte> buf(4096);
    std::optional<Outcome<void>> written;
    disk.async().Write(0, buf, [&](Outcome<void> r) { written.emplace(std::move(r)); });
    EXPECT_TRUE(client.RunUntil([&] { return !disk.path_stats()[0].up; }));
    target.set_silent(0, false);
    EXPECT_TRUE(client.RunUntil([&] { return written.has_value(); }));
    EXPECT_TRUE(written && *written);
    client.RunUntil([] { return false; }, clock_.Now() + seconds(1));  // what follows, if any
  };
  outage();
  EXPECT_EQ(target.stats().flushes, 0u) << "not declared: nothing to say again";
  ASSERT_TRUE(disk.DeclareSelfFlushing());
  ASSERT_EQ(target.stats().flushes, 1u);
  outage();
  EXPECT_EQ(target.stats().flushes, 2u);
}

TEST_F(InitiatorTest, PeriodicRediscoveryPicksUpMtuChangesAndNewTargetPorts) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeClient({}, true);
  SyncDisk disk = Open(0, 1);
  ASSERT_EQ(disk.info().paths.size(), 1u);
  EXPECT_EQ(disk.info().sectors_per_frame, 2);
  TimePoint start = clock_.Now();
  // Let the opening discovery (which repeats its query for a while) end first.
  client.RunUntil([] { return false; }, start + seconds(3));
  // Jumbo frames everywhere, and the target gains a port on wire B (nothing announces it).
  for (auto& p : target_ports_) p->set_mtu(9000);
  init_port_a_->set_mtu(9000);
  init_port_b_->set_mtu(9000);
  target_ports_.push_back(MakePort(wire_b_, "tb", TargetMac(1, 0xB), PortRole::kTarget));
  target_ports_.back()->set_mtu(9000);
  targets_.push_back(
      std::make_unique<FakeTarget>(FakeTargetOptions{.shelf = 0, .slot = 1, .sectors = 8192},
                                   std::vector<Port*>{target_ports_.back().get()}));
  EXPECT_FALSE(client.RunUntil([&] { return disk.info().paths.size() == 2; }, start + seconds(59)));
  ASSERT_TRUE(client.RunUntil([&] { return disk.info().paths.size() == 2; }, start + seconds(62)));
  EXPECT_EQ(disk.info().sectors_per_frame, 17);  // (9000 - 36) / 512
}

// The MTU of the initiator's interface is lowered after the disk was opened with jumbo frames:
// its 17-sector frames are refused by the port (as the kernel refuses them with EMSGSIZE). The
// engine re-reads its ports once frames go unanswered, cuts the frames it had built to the new
// size and completes the write, exactly, in 2-sector frames. Without the cut the write fails at
// the dead-target timeout; without the re-reading it waits for its path to go down (500 ms of
// silence) and a config reply. (The write also waits out the lifetime of its refused frames'
// copies, which the engine cannot tell from copies that left: 100 ms here.)
TEST_F(InitiatorTest, AWriteGoesOnInSmallerFramesAfterTheMtuWasLowered) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  MakeClient({.dead_timeout = seconds(10), .write_copy_lifetime = milliseconds(100)}, false);
  SyncDisk disk = OpenOverJumboFrames(0, 1);
  ASSERT_EQ(disk.info().sectors_per_frame, 17);
  init_port_a_->set_mtu(1500);
  const std::vector<std::byte> data = RandomBytes(128 * 512, 31);
  const TimePoint start = clock_.Now();
  ASSERT_TRUE(disk.Write(100, data));
  EXPECT_LT(clock_.Now() - start, milliseconds(300));
  EXPECT_EQ(disk.info().sectors_per_frame, 2);  // (1500 - 36) / 512
  EXPECT_GT(init_port_a_->stats().tx_oversize, 0u) << "no frame was too long for the new MTU";
  EXPECT_TRUE(std::equal(data.begin(), data.end(), target.data().begin() + 100 * 512));
  // Reads are sized for the new MTU from the start.
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(100, back));
  EXPECT_EQ(back, data);
}

// The target's MTU is lowered instead: it refuses requests for more sectors than a frame now
// carries with AoE error 2 (aoe-protocol.md, section 8). The engine asks for fewer, and a config
// reply tells it how many the target takes; the read completes. Without it the read fails with
// the refusal.
TEST_F(InitiatorTest, AReadGoesOnInSmallerFramesWhenTheTargetRefusesTheirSize) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeClient({.dead_timeout = seconds(10)}, false);
  SyncDisk disk = OpenOverJumboFrames(0, 1);
  ASSERT_EQ(disk.info().sectors_per_frame, 17);
  const std::vector<std::byte> data = RandomBytes(128 * 512, 32);
  std::copy(data.begin(), data.end(), target.data().begin() + 200 * 512);
  for (auto& p : target_ports_) p->set_mtu(1500);
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(200, back));
  EXPECT_EQ(back, data);
  ASSERT_TRUE(client.RunUntil([&] { return disk.info().sectors_per_frame == 2; },
                              clock_.Now() + seconds(2)))
      << "sectors per frame: " << int{disk.info().sectors_per_frame};
}

// A target that advertises 17 sectors a frame but takes 4: each refusal halves the frames on
// that path, and its config replies (still saying 17) do not undo that, so after the first
// read's refusals no frame is refused again.
TEST_F(InitiatorTest, ATargetThatTakesFewerSectorsThanItAdvertisesIsSentFramesItTakes) {
  FakeTarget& target =
      AddTarget({.shelf = 0, .slot = 1, .sectors = 8192, .accepted_sectors = 4}, false);
  Client& client = MakeClient({.dead_timeout = seconds(10)}, false);
  SyncDisk disk = OpenOverJumboFrames(0, 1);
  ASSERT_EQ(disk.info().sectors_per_frame, 17);
  const std::vector<std::byte> data = RandomBytes(128 * 512, 33);
  std::copy(data.begin(), data.end(), target.data().begin() + 300 * 512);
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(disk.Read(300, back));
  EXPECT_EQ(back, data);
  EXPECT_GT(target.stats().refused_too_long, 0u);
  // The re-discovery the refusals asked for has been answered (17 again), and more.
  client.RunUntil([] { return false; }, clock_.Now() + seconds(2));
  EXPECT_EQ(disk.info().sectors_per_frame, 4);
  const uint64_t refused = target.stats().refused_too_long;
  ASSERT_TRUE(disk.Read(300, back));
  EXPECT_EQ(back, data);
  EXPECT_EQ(target.stats().refused_too_long, refused);
}

TEST_F(InitiatorTest, RediscoveryCanBeTurnedOff) {
  AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({.rediscover_interval = Duration::zero()}, false);
  Open(0, 1);
  // Discovery ends, and its tags are released 10 s later (Initiator::kExchangeLinger).
  client.RunUntil([] { return false; }, clock_.Now() + seconds(15));
  EXPECT_FALSE(client.initiator().NextDeadline().has_value());
}

TEST_F(InitiatorTest, AtaErrorNamesTheFailingSectorRange) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  target.set_bad_sector(21);
  std::vector<std::byte> buf(8 * 512);
  Outcome<void> r = disk.Read(16, buf);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == InitiatorErrc::kAtaError);
  EXPECT_EQ(r.error().message,
            "e0.1: READ of sectors 20-21 failed: ATA status 0x41, error 0x40 "
            "(UNC: uncorrectable media error)");
  // The failed request left nothing behind, and the disk still works.
  EXPECT_EQ(disk.async().pending_requests(), 0u);
  for (const PathStats& p : disk.path_stats()) EXPECT_EQ(p.in_flight, 0u);
  EXPECT_TRUE(disk.Read(0, buf));
}

TEST_F(InitiatorTest, RequestsBeyondTheEndFailBeforeSending) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 100});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  uint64_t before = target.stats().ata;
  std::vector<std::byte> buf(1024);
  Outcome<void> r = disk.Read(99, buf);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == InitiatorErrc::kOutOfRange);
  EXPECT_EQ(r.error().message,
            "e0.1: READ of sectors 99-100 is beyond the end of the disk (100 sectors)");
  EXPECT_EQ(target.stats().ata, before);
  std::vector<std::byte> odd(100);
  EXPECT_TRUE(disk.Read(0, odd).error() == InitiatorErrc::kInvalidArgument);
}

TEST_F(InitiatorTest, TagsHaveBit31AndOurSessionAndAreUniqueInFlight) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  MakeClient({.tag_session = 0x1ABC});
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(2 << 20);
  ASSERT_TRUE(disk.Read(0, buf));
  const std::vector<uint32_t>& tags = target.ata_tags();
  ASSERT_GT(tags.size(), 2000u);
  std::set<uint32_t> unique(tags.begin(), tags.end());
  EXPECT_EQ(unique.size(), tags.size());  // fewer than 65536 tags: every one distinct
  for (uint32_t t : tags) {
    ASSERT_NE(t & 0x8000'0000, 0u);
    ASSERT_EQ((t >> 16) & 0x7FFF, 0x1ABCu);
  }
}

TEST_F(InitiatorTest, PipelineKeepsQueueDepthRequestsInFlight) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> data = RandomBytes(2 << 20, 3);
  std::copy(data.begin(), data.end(), target.data().begin());
  std::vector<std::byte> out(data.size());
  constexpr size_t kChunk = 64 * 1024;
  size_t next_offset = 0;
  size_t done_bytes = 0;
  Outcome<void> r = disk.Pipeline(
      4,
      [&]() -> std::optional<SyncDisk::IoOp> {
        if (next_offset >= out.size()) return std::nullopt;
        SyncDisk::IoOp op{.kind = SyncDisk::IoOp::Kind::kRead,
                          .lba = next_offset / 512,
                          .buffer = ByteSpan(out).subspan(next_offset, kChunk)};
        next_offset += kChunk;
        EXPECT_LE(disk.async().pending_requests(), 4u);
        return op;
      },
      [&](const SyncDisk::IoOp& op) -> Outcome<void> {
        done_bytes += op.buffer.size();
        return {};
      });
  ASSERT_TRUE(r);
  EXPECT_EQ(done_bytes, out.size());
  EXPECT_EQ(out, data);
}

TEST_F(InitiatorTest, PipelineStopsAtTheFirstError) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  MakeClient();
  SyncDisk disk = Open(0, 1);
  target.set_bad_sector(300);
  std::vector<std::byte> out(1 << 20);
  size_t next = 0;
  Outcome<void> r = disk.Pipeline(
      2,
      [&]() -> std::optional<SyncDisk::IoOp> {
        if (next >= out.size()) return std::nullopt;
        SyncDisk::IoOp op{.lba = next / 512, .buffer = ByteSpan(out).subspan(next, 65536)};
        next += 65536;
        return op;
      },
      nullptr);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == InitiatorErrc::kAtaError);
  EXPECT_LT(next, out.size());  // stopped submitting
}

// Storage that has stopped answering (a Ceph cluster gone) fails the first operation and leaves
// the others in flight: the pipeline fails at once instead of waiting for them, which would
// take until the dead-target timeout here, and one storage timeout per request with rbd_faults.
TEST_F(InitiatorTest, PipelineCancelsTheOperationsInFlightAfterAnError) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192});
  MakeClient({.dead_timeout = seconds(30)});
  SyncDisk disk = Open(0, 1);
  target.set_bad_sector(100);  // in the first 64 KiB operation
  target.set_stuck_from(128);  // every later one is never answered
  for (SyncDisk::IoOp::Kind kind : {SyncDisk::IoOp::Kind::kRead, SyncDisk::IoOp::Kind::kWrite}) {
    std::vector<std::byte> buffer(1 << 20);
    size_t next = 0;
    SyncDisk::IoOp failed;
    const TimePoint start = clock_.Now();
    Outcome<void> r = disk.Pipeline(
        4,
        [&]() -> std::optional<SyncDisk::IoOp> {
          if (next >= buffer.size()) return std::nullopt;
          SyncDisk::IoOp op{
              .kind = kind, .lba = next / 512, .buffer = ByteSpan(buffer).subspan(next, 65536)};
          next += 65536;
          return op;
        },
        nullptr, &failed);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error() == InitiatorErrc::kAtaError) << r.error().message;
    EXPECT_EQ(failed.lba, 0u);
    EXPECT_EQ(next, 4u * 65536);  // the first four only
    EXPECT_LT(clock_.Now() - start, seconds(1));
    EXPECT_EQ(disk.async().pending_requests(), 0u);
  }
}

}  // namespace
}  // namespace aoe::initiator::testing
