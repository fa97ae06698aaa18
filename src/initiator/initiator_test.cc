// Initiator engine and Client facade over MemoryWires against FakeTargets, with a FakeClock:
// retransmission, dead targets and path failover are tested without sleeping.
#include "initiator/initiator.h"

#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <random>
#include <set>

#include "initiator/client.h"
#include "initiator/testing/fake_target.h"
#include "net/memory_port.h"
#include "proto/ata.h"
#include "proto/config.h"
#include "proto/identify.h"

namespace aoe::initiator {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeTarget;
using testing::FakeTargetOptions;

constexpr MacAddress kInitiatorMacA({0x02, 0, 0, 0, 0xA0, 0x01});
constexpr MacAddress kInitiatorMacB({0x02, 0, 0, 0, 0xB0, 0x01});
constexpr MacAddress kOtherHost({0x02, 0, 0, 0, 0xCC, 0x01});

MacAddress TargetMac(uint8_t target, uint8_t wire) {
  return MacAddress({0x02, 0, 0, 0x7, target, wire});
}

std::vector<std::byte> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng());
  return out;
}

// An ATA WRITE request (not a reply), for MemoryWire::DelayNext.
bool IsWriteRequest(ConstByteSpan frame) {
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
    uint64_t before = wire_a_.stats().reordered + wire_b_.stats().reordered;
    wire_a_.FlushHeld();
    wire_b_.FlushHeld();
    for (auto& t : targets_) work += t->Serve();
    if (work > 0) return;
    (void)before;
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

TEST_F(InitiatorTest, ReservationErrorSurfacesClearly) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  MakeClient();
  SyncDisk disk = Open(0, 1);  // IDENTIFY is exempt from reservations
  target.reserve_list() = {kOtherHost};
  std::vector<std::byte> buf(1024);
  Outcome<void> r = disk.Read(10, buf);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == InitiatorErrc::kTargetReserved);
  EXPECT_EQ(r.error().message,
            "e0.1 refused READ of sectors 10-11: target reserved by another host (AoE error 6); "
            "the ATA reply does not say who holds it");
  EXPECT_FALSE(r.error().holders.has_value());
}

TEST_F(InitiatorTest, ReserveRefusalCarriesTheHolderList) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  target.reserve_list() = {kOtherHost};
  Outcome<ReserveReply> taken = client.ReserveForUs(DiskAddress{0, 1});
  ASSERT_FALSE(taken);
  EXPECT_TRUE(taken.error() == InitiatorErrc::kTargetReserved);
  ASSERT_TRUE(taken.error().holders.has_value());
  EXPECT_EQ(*taken.error().holders, (std::vector<MacAddress>{kOtherHost}));
  EXPECT_EQ(taken.error().message,
            "e0.1 refused reserve set: target reserved by another host (AoE error 6): held by "
            "02:00:00:00:cc:01");
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

TEST_F(InitiatorTest, DeclareSelfFlushingFlushesOnceOnlyWhenTheWriteCacheIsVolatile) {
  FakeTarget& cached = AddTarget({.shelf = 0, .slot = 1});
  FakeTarget& write_through = AddTarget({.shelf = 0, .slot = 2, .volatile_write_cache = false});
  MakeClient();
  SyncDisk a = Open(0, 1);
  SyncDisk b = Open(0, 2);
  ASSERT_TRUE(a.DeclareSelfFlushing());
  ASSERT_TRUE(b.DeclareSelfFlushing());
  EXPECT_EQ(cached.stats().flushes, 1u);
  EXPECT_EQ(write_through.stats().flushes, 0u);
  EXPECT_EQ(cached.stats().writes, 0u);
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
  targets_.push_back(std::make_unique<FakeTarget>(FakeTargetOptions{.shelf = 0, .slot = 1},
                                                  std::vector<Port*>{target_ports_.back().get()}));
  EXPECT_FALSE(client.RunUntil([&] { return disk.info().paths.size() == 2; }, start + seconds(59)));
  ASSERT_TRUE(client.RunUntil([&] { return disk.info().paths.size() == 2; }, start + seconds(62)));
  EXPECT_EQ(disk.info().sectors_per_frame, 17);  // (9000 - 36) / 512
}

TEST_F(InitiatorTest, RediscoveryCanBeTurnedOff) {
  AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({.rediscover_interval = Duration::zero()}, false);
  Open(0, 1);
  client.RunUntil([] { return false; }, clock_.Now() + seconds(3));  // discovery ends
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

// --- Admin commands ----------------------------------------------------------------------

TEST_F(InitiatorTest, ConfigStringCommands) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  DiskAddress e01{0, 1};
  Outcome<ConfigReply> set = client.Config(e01, proto::ConfigCommand::kSetIfEmpty, "host-a");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->config_string, "host-a");
  EXPECT_EQ(target.config_string(), "host-a");
  EXPECT_EQ(set->buffer_count, 16);

  Outcome<ConfigReply> again = client.Config(e01, proto::ConfigCommand::kSetIfEmpty, "host-b");
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error() == InitiatorErrc::kAoeError);
  EXPECT_EQ(
      again.error().message,
      "e0.1 refused config set-if-empty: config string already set (AoE error 4): it is 'host-a'");

  EXPECT_TRUE(client.Config(e01, proto::ConfigCommand::kTestExact, "host-a"));
  EXPECT_TRUE(client.Config(e01, proto::ConfigCommand::kTestPrefix, "host"));
  Outcome<ConfigReply> miss = client.Config(e01, proto::ConfigCommand::kTestExact, "host");
  ASSERT_FALSE(miss);
  EXPECT_TRUE(miss.error() == InitiatorErrc::kTimeout);
  EXPECT_EQ(miss.error().message, "no reply from e0.1 to config test within 1 s");

  ASSERT_TRUE(client.Config(e01, proto::ConfigCommand::kForceSet, "host-c"));
  Outcome<ConfigReply> read = client.Config(e01, proto::ConfigCommand::kRead);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->config_string, "host-c");
  EXPECT_EQ(read->address, e01);
}

TEST_F(InitiatorTest, ConfigRetriesWhenTheRequestIsLost) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({}, false);
  // 30% loss each way: one send succeeds with p = 0.49, four sends within the timeout with
  // p = 0.93 (the seed makes the outcome fixed).
  wire_a_.SetFaults({.drop_probability = 0.3, .seed = 3});
  int ok = 0;
  for (int i = 0; i < 10; ++i)
    ok += client.Config(DiskAddress{0, 1}, proto::ConfigCommand::kRead) ? 1 : 0;
  EXPECT_GE(ok, 8);
  EXPECT_GT(target.stats().config, 10u);
}

TEST_F(InitiatorTest, MaskReadAndEdit) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  DiskAddress e01{0, 1};
  Outcome<MaskReply> empty = client.ReadMask(e01);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->macs.empty());
  std::vector<proto::MaskDirective> add{{1, kInitiatorMacA}, {1, kInitiatorMacB}};
  Outcome<MaskReply> edited = client.EditMask(e01, add);
  ASSERT_TRUE(edited) << edited.error().message;
  EXPECT_EQ(edited->macs, (std::vector<MacAddress>{kInitiatorMacA, kInitiatorMacB}));
  EXPECT_EQ(target.mask_list().size(), 2u);
  std::vector<proto::MaskDirective> bad{{2, kInitiatorMacB}, {7, kOtherHost}};
  Outcome<MaskReply> refused = client.EditMask(e01, bad);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error() == InitiatorErrc::kMaskError);
  EXPECT_EQ(refused.error().message, "e0.1 refused mask edit: directive 1 failed: bad directive");
  EXPECT_EQ(target.mask_list(), (std::vector<MacAddress>{kInitiatorMacA}));
}

TEST_F(InitiatorTest, ReserveSetReadAndRelease) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1});
  Client& client = MakeClient();
  DiskAddress e01{0, 1};
  Outcome<ReserveReply> set = client.ReserveForUs(e01);
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->macs, (std::vector<MacAddress>{kInitiatorMacA, kInitiatorMacB}));
  Outcome<ReserveReply> read = client.Reserve(e01, proto::ReserveCommand::kRead, {});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->macs.size(), 2u);
  // I/O still works for us on both paths.
  SyncDisk disk = Open(0, 1);
  std::vector<std::byte> buf(64 * 1024);
  EXPECT_TRUE(disk.Read(0, buf));
  ASSERT_TRUE(client.Release(e01));
  EXPECT_TRUE(target.reserve_list().empty());

  target.reserve_list() = {kOtherHost};
  Outcome<ReserveReply> taken = client.ReserveForUs(e01);
  ASSERT_FALSE(taken);
  EXPECT_TRUE(taken.error() == InitiatorErrc::kTargetReserved);
  ASSERT_TRUE(client.ReserveForUs(e01, /*force=*/true));
  EXPECT_EQ(target.reserve_list().size(), 2u);
}

TEST_F(InitiatorTest, RawFrameGetsTheReplyWithTheSameTag) {
  AddTarget({.shelf = 0, .slot = 1}, false);
  Client& client = MakeClient({}, false);
  std::vector<std::byte> frame(60);
  proto::Header h;
  h.destination = MacAddress::Broadcast();
  h.shelf = 0;
  h.slot = 1;
  h.command = static_cast<uint8_t>(proto::Command::kAta);
  h.tag = 0x8000'1234;  // a foreign tag is fine: raw exchanges match it by value
  proto::EncodeHeader(h, frame);
  proto::EncodeAta({.sector_count = 1, .cmd_status = proto::ata_op::kIdentifyDevice}, frame);
  Outcome<std::vector<std::byte>> reply = client.SendRaw(0, frame, milliseconds(200));
  ASSERT_TRUE(reply) << reply.error().message;
  ASSERT_EQ(reply->size(), 36u + 512u);
  EXPECT_EQ(LoadBe32(*reply, 20), 0x8000'1234u);
  EXPECT_EQ(MacAddress::Load(*reply, 0), kInitiatorMacA);  // zero source was filled in

  // An unknown command: the target answers with error 1, and the raw reply shows it.
  std::vector<std::byte> arg(4);
  Outcome<std::vector<std::byte>> unknown = client.Exchange(DiskAddress{0, 1}, 0x42, arg);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(LoadU8(*unknown, 14) & proto::kFlagError, proto::kFlagError);
  EXPECT_EQ(LoadU8(*unknown, 15), 1);

  h.shelf = 5;  // nobody answers
  proto::EncodeHeader(h, frame);
  Outcome<std::vector<std::byte>> none = client.SendRaw(0, frame, milliseconds(200));
  ASSERT_FALSE(none);
  EXPECT_TRUE(none.error() == InitiatorErrc::kTimeout);
}

TEST_F(InitiatorTest, UnsolicitedAnnouncementTeachesATarget) {
  MakeClient({}, false);
  auto port = MakePort(wire_a_, "ann", TargetMac(9, 0xA), PortRole::kTarget);
  std::vector<std::byte> frame(60);
  proto::Header h;
  h.destination = MacAddress::Broadcast();
  h.source = port->mac();
  h.flags = proto::kFlagResponse;
  h.shelf = 4;
  h.slot = 2;
  h.command = static_cast<uint8_t>(proto::Command::kConfig);
  h.tag = 0;
  proto::EncodeHeader(h, frame);
  proto::ConfigArg config;
  config.buffer_count = 8;
  config.sector_count = 2;
  proto::EncodeConfig(config, frame);
  const TxFrame bytes{ConstByteSpan(frame)};
  ASSERT_TRUE(port->Send(std::span(&bytes, 1)));
  client_->initiator().Poll();
  Disk* d = client_->initiator().disk(DiskAddress{4, 2});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->info().buffer_count, 8);
  EXPECT_EQ(d->path_stats()[0].window, 4u);
}

TEST_F(InitiatorTest, RepliesFromWildcardAddressesAndOtherPortsAreIgnored) {
  AddTarget({.shelf = 0, .slot = 1});
  MakeClient();
  ASSERT_TRUE(client_->OpenDisk(0, 1));
  Initiator& init = client_->initiator();
  uint64_t before = init.unmatched_replies();
  // A reply claiming the wildcard shelf.
  auto rogue = MakePort(wire_a_, "rogue", kOtherHost, PortRole::kTarget);
  std::vector<std::byte> frame(60);
  proto::Header h;
  h.destination = kInitiatorMacA;
  h.source = kOtherHost;
  h.flags = proto::kFlagResponse;
  h.shelf = 0xFFFF;
  h.slot = 1;
  h.tag = 0x8000'0000 | (0x2Au << 16) | 5;
  proto::EncodeHeader(h, frame);
  const TxFrame bytes{ConstByteSpan(frame)};
  ASSERT_TRUE(rogue->Send(std::span(&bytes, 1)));
  init.Poll();
  EXPECT_EQ(init.unmatched_replies(), before + 1);
  EXPECT_EQ(init.targets().size(), 1u);
}

// --- Stale write copies (README.md) -------------------------------------------------------------

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

// --- A target that restarts, or is gone for good ----------------------------------------------

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

// A port that records every Send() call (the address of each frame's head, and its bytes as
// handed over: head and tail) and passes it on to a MemoryPort.
class RecordingPort final : public Port {
 public:
  struct Sent {
    const std::byte* address;
    std::vector<std::byte> bytes;
  };
  explicit RecordingPort(Port& inner) : inner_(inner) {}
  const std::string& name() const override { return inner_.name(); }
  MacAddress mac() const override { return inner_.mac(); }
  size_t mtu() const override { return inner_.mtu(); }
  bool link_up() const override { return inner_.link_up(); }
  Result<void> Refresh() override { return inner_.Refresh(); }
  int fd() const override { return inner_.fd(); }
  Result<size_t> Receive(std::span<RxSlot> slots) override { return inner_.Receive(slots); }
  Result<size_t> Send(std::span<const TxFrame> frames) override {
    std::vector<Sent>& batch = batches_.emplace_back();
    for (const TxFrame& f : frames) {
      Sent& sent = batch.emplace_back(Sent{f.head.data(), {f.head.begin(), f.head.end()}});
      sent.bytes.insert(sent.bytes.end(), f.tail.begin(), f.tail.end());
    }
    return inner_.Send(frames);
  }
  const std::vector<std::vector<Sent>>& batches() const { return batches_; }

 private:
  Port& inner_;
  std::vector<std::vector<Sent>> batches_;
};

// One path whose initiator port records what the engine hands it.
class SendBatchTest : public InitiatorTest {
 protected:
  ~SendBatchTest() override { client_.reset(); }  // before the recorder it borrows

  Client& MakeRecordedClient() {
    init_port_a_ = MakePort(wire_a_, "i0", kInitiatorMacA, PortRole::kInitiator);
    recorder_ = std::make_unique<RecordingPort>(*init_port_a_);
    ClientOptions co;
    co.initiator.tag_session = 0x2A;
    co.wait_hook = [this](std::optional<TimePoint> d) { Wait(d); };
    client_ = Client::Create({recorder_.get()}, clock_, co).value();
    return *client_;
  }

  std::unique_ptr<RecordingPort> recorder_;
};

// The frames of one engine pass leave with one Send() (one sendmmsg), not one call per frame.
TEST_F(SendBatchTest, AnEnginePassHandsThePortOneBatch) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeRecordedClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WarmUp(disk));
  // 64 KiB at MTU 1500 are 32 frames of 2 sectors; the window lets 16 out at once.
  std::vector<std::byte> buf(64 * 1024);
  std::optional<Outcome<void>> result;
  size_t before = recorder_->batches().size();
  disk.async().Read(0, buf, [&](Outcome<void> r) { result.emplace(std::move(r)); });
  ASSERT_EQ(recorder_->batches().size(), before + 1);
  EXPECT_EQ(recorder_->batches().back().size(), 16u);
  // The 16 replies arrive in one receive batch; the 16 frames they make room for leave together.
  ASSERT_EQ(target.Serve(), 16u);
  before = recorder_->batches().size();
  client.initiator().Poll();
  ASSERT_EQ(recorder_->batches().size(), before + 1);
  EXPECT_EQ(recorder_->batches().back().size(), 16u);
  ASSERT_TRUE(client.RunUntil([&] { return result.has_value(); }, clock_.Now() + seconds(5)));
  EXPECT_TRUE(*result);
  EXPECT_EQ(buf, std::vector<std::byte>(target.data().begin(), target.data().begin() + 65536));
}

// A queued frame points into its frame slot's buffer until the batch is sent. The late replies
// of a stall complete frames whose retransmissions are queued in the same pass, and their slots
// are refilled at once; each of those frames must leave before its buffer is rebuilt, so no
// batch may hold one buffer twice (the first entry would go out with the second one's bytes).
TEST_F(SendBatchTest, NoQueuedFrameIsRebuiltBeforeItIsSent) {
  FakeTarget& target = AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeRecordedClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WarmUp(disk));
  std::vector<std::byte> buf(256 * 1024);
  std::optional<Outcome<void>> result;
  disk.async().Read(0, buf, [&](Outcome<void> r) { result.emplace(std::move(r)); });
  ASSERT_EQ(disk.path_stats()[0].in_flight, 16u);
  clock_.Advance(milliseconds(100));
  client.initiator().OnTimer();  // the whole window times out: a retransmission goes out
  target.Serve();                // the stall ends: every first transmission is answered
  const size_t first = recorder_->batches().size();
  client.initiator().Poll();
  ASSERT_TRUE(client.RunUntil([&] { return result.has_value(); }, clock_.Now() + seconds(5)));
  ASSERT_TRUE(*result);
  EXPECT_EQ(buf, std::vector<std::byte>(target.data().begin(), target.data().begin() + buf.size()));
  EXPECT_EQ(disk.path_stats()[0].spurious_timeouts, 16u);
  size_t frames = 0;
  for (size_t b = first; b < recorder_->batches().size(); ++b) {
    std::set<const std::byte*> addresses;
    std::set<uint32_t> tags;
    for (const RecordingPort::Sent& s : recorder_->batches()[b]) {
      ++frames;
      EXPECT_TRUE(addresses.insert(s.address).second) << "batch " << b << " holds a buffer twice";
      EXPECT_TRUE(tags.insert(LoadBe32(s.bytes, 20)).second) << "batch " << b << " repeats a tag";
    }
  }
  EXPECT_GT(frames, 128u);
}

// A WRITE's data (and a TRIM's block of ranges) is sent from where the request holds it, not
// from a copy in the frame buffer, so a frame must leave before its request lets go of that
// memory: a write's buffer goes back to its caller with the callback, a TRIM's block is freed
// with the request. Here a callback submits a write and then aborts the disk, all in one engine
// pass: the write's frames still wait in the send queue when the abort completes the write, and
// its callback then reuses the buffer. Sent after that, the frames would carry the reused bytes.
TEST_F(SendBatchTest, AFrameLeavesBeforeItsRequestLetsGoOfItsData) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeRecordedClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WarmUp(disk));
  std::vector<std::byte> data(8 * 1024, std::byte{0x5A});
  std::vector<std::byte> first_sector(512);
  std::optional<Outcome<void>> read, write;
  const size_t before = recorder_->batches().size();
  disk.async().Read(0, first_sector, [&](Outcome<void> r) {
    read.emplace(std::move(r));
    disk.async().Write(64, data, [&](Outcome<void> w) {
      write.emplace(std::move(w));
      std::fill(data.begin(), data.end(), std::byte{0xEE});  // the caller's buffer, reused
    });
    disk.async().Abort("the test aborts the disk");
  });
  ASSERT_TRUE(client.RunUntil([&] { return write.has_value(); }, clock_.Now() + seconds(5)));
  ASSERT_TRUE(read.has_value() && *read);
  ASSERT_FALSE(*write);
  EXPECT_EQ(write->error().code, InitiatorErrc::kCancelled);
  size_t write_frames = 0;
  for (size_t b = before; b < recorder_->batches().size(); ++b) {
    for (const RecordingPort::Sent& s : recorder_->batches()[b]) {
      if (s.bytes.size() <= proto::kAtaHeaderSize + 512) continue;  // not the write's
      ++write_frames;
      for (size_t i = proto::kAtaHeaderSize; i < s.bytes.size(); ++i) {
        ASSERT_EQ(s.bytes[i], std::byte{0x5A}) << "a WRITE frame went out with reused bytes";
      }
    }
  }
  EXPECT_GT(write_frames, 0u);
}

// The same for a TRIM, whose block of ranges the request owns and frees when it completes: sent
// after that, the frame would carry freed memory (and AddressSanitizer would stop the test).
TEST_F(SendBatchTest, ATrimFrameLeavesBeforeItsRequestFreesItsRanges) {
  AddTarget({.shelf = 0, .slot = 1, .sectors = 8192}, false);
  Client& client = MakeRecordedClient();
  SyncDisk disk = Open(0, 1);
  ASSERT_NO_FATAL_FAILURE(WarmUp(disk));
  std::vector<std::byte> first_sector(512);
  std::optional<Outcome<void>> read, trim;
  const size_t before = recorder_->batches().size();
  disk.async().Read(0, first_sector, [&](Outcome<void> r) {
    read.emplace(std::move(r));
    disk.async().Trim(4000, 96, [&](Outcome<void> t) { trim.emplace(std::move(t)); });
    disk.async().Abort("the test aborts the disk");
  });
  ASSERT_TRUE(client.RunUntil([&] { return trim.has_value(); }, clock_.Now() + seconds(5)));
  ASSERT_TRUE(read.has_value() && *read);
  ASSERT_FALSE(*trim);
  size_t trim_frames = 0;
  for (size_t b = before; b < recorder_->batches().size(); ++b) {
    for (const RecordingPort::Sent& s : recorder_->batches()[b]) {
      if (s.bytes.size() != proto::kAtaHeaderSize + proto::kSectorSize) continue;  // a read's
      ++trim_frames;
      const ConstByteSpan ranges = ConstByteSpan(s.bytes).subspan(proto::kAtaHeaderSize);
      EXPECT_EQ(proto::DecodeDsmRange(ranges, 0), (proto::DsmRange{4000, 96}))
          << "a TRIM frame went out with bytes that are not its ranges";
      EXPECT_EQ(proto::DecodeDsmRange(ranges, 1), proto::DsmRange{});
    }
  }
  EXPECT_EQ(trim_frames, 1u);
}

}  // namespace
}  // namespace aoe::initiator
