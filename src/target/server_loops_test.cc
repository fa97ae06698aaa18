// The Server with two event loops (ServerOptions::loops; docs/architecture.md, "More cores"):
// loop 0 on the test's thread, loop 1 on its own, each with its own port on one MemoryWire,
// joined in a fanout group that hands host B's ATA commands to loop 1 (its MAC ends in 0x0B:
// odd) and everything else to loop 0. The export is an image file, opened by each loop on its
// own io_uring, as `aoe serve --loops 2` does. Runs under the tsan preset (CMakeLists.txt).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/fanout.h"
#include "storage/backend_spec.h"
#include "target/testing/target_fixture.h"

namespace aoe::target::testkit {
namespace {

class ServerLoops : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = h_.AddFileExport(kShelf, kSlot, kDiskSectors * kSector);
    h_.options().loops = 2;
    ASSERT_TRUE(h_.Start());
    // The hosts this suite relies on land where it says.
    ASSERT_EQ(LoopOf(kHostA), 0u);
    ASSERT_EQ(LoopOf(kHostB), 1u);
  }

  static size_t LoopOf(const MacAddress& host) {
    Frame frame(proto::kHeaderSize);
    host.Store(frame, 6);
    return FanoutMember(frame, 2);
  }

  MemoryPort& HostFor(const MacAddress& mac) { return mac == kHostB ? h_.host_b() : h_.host_a(); }

  // Sends `frame` and waits (bounded) for its one reply: loop 1 answers on its own thread, at
  // its own pace.
  std::optional<Reply> Ask(const Frame& frame, const MacAddress& from) {
    h_.Send(frame, HostFor(from));
    std::vector<Reply> replies = h_.Await(HostFor(from), 1);
    if (replies.empty()) return std::nullopt;
    return replies.front();
  }
  std::optional<Reply> Write(uint64_t lba, const Frame& data, const MacAddress& from) {
    auto count = static_cast<uint8_t>(data.size() / kSector);
    return Ask(BuildAta(Harness::To(kShelf, kSlot, from),
                        AtaOp(kWrite48).Flags(0x41).Count(count).Lba(lba).Data(data)),
               from);
  }
  std::optional<Reply> Read(uint64_t lba, uint8_t count, const MacAddress& from) {
    return Ask(BuildAta(Harness::To(kShelf, kSlot, from),
                        AtaOp(kRead48).Flags(0x40).Count(count).Lba(lba)),
               from);
  }
  std::optional<Reply> Reserve(uint8_t rcmd, const std::vector<MacAddress>& macs,
                               const MacAddress& from) {
    return Ask(BuildReserve(Harness::To(kShelf, kSlot, from), rcmd, macs), from);
  }

  Frame ImageBytes(uint64_t offset, size_t size) const {
    std::ifstream in(image_, std::ios::binary);
    Frame bytes(size);
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
    return bytes;
  }
  uint64_t AtaCommandsOn(size_t loop) {
    std::optional<Stats> stats = h_.server().loop_stats().at(loop);
    EXPECT_TRUE(stats.has_value()) << "loop " << loop << " did not answer";
    return stats ? stats->ata_commands : 0;
  }

  Harness h_;
  std::string image_;
};

TEST_F(ServerLoops, EachHostIsServedByTheLoopItsMacIsSpreadTo) {
  // Two sectors: what a 1500-byte frame holds.
  const Frame a = Pattern(2 * kSector, 1);
  const Frame b = Pattern(2 * kSector, 2);
  ExpectAtaOk(Write(100, a, kHostA));
  ExpectAtaOk(Write(200, b, kHostB));
  auto read_a = Read(200, 2, kHostA);  // each reads what the other loop wrote
  auto read_b = Read(100, 2, kHostB);
  ExpectAtaOk(read_a);
  ExpectAtaOk(read_b);
  EXPECT_EQ(read_a->ata_data(b.size()), b);
  EXPECT_EQ(read_b->ata_data(a.size()), a);
  EXPECT_EQ(ImageBytes(100 * kSector, a.size()), a);
  EXPECT_EQ(ImageBytes(200 * kSector, b.size()), b);

  EXPECT_EQ(AtaCommandsOn(0), 2u);
  EXPECT_EQ(AtaCommandsOn(1), 2u);
  EXPECT_EQ(h_.server().stats().ata_commands, 4u);
}

// Each loop rate-limits its own storage error lines and reports what it suppressed from its own
// once-a-second work, with no further line and no stop: loop 0 from the server's housekeeping,
// loop 1 from its LoopThread. (Waits out the 5 s interval in real time.)
TEST_F(ServerLoops, EachLoopReportsTheLinesItSuppressedOnceTheIntervalHasEnded) {
  std::filesystem::resize_file(image_, 0);  // every read comes up short now
  for (int i = 0; i < 13; ++i) ExpectAtaError(Read(0, 1, kHostA), kErrUnc);
  for (int i = 0; i < 17; ++i) ExpectAtaError(Read(0, 1, kHostB), kErrUnc);
  EXPECT_EQ(h_.LogLinesWith("e1.2: read of sectors 0-0 by ").size(), 20u) << "ten per loop";
  const std::string loop0 = "e1.2: 3 more \"read failed\" lines suppressed in the last";
  const std::string loop1 = "e1.2: 7 more \"read failed\" lines suppressed in the last";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((!h_.LogContains(loop0) || !h_.LogContains(loop1)) &&
         std::chrono::steady_clock::now() < deadline) {
    h_.server().Poll(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(h_.LogContains(loop0));
  EXPECT_TRUE(h_.LogContains(loop1));
}

TEST_F(ServerLoops, AReservationSetOnLoopZeroBindsLoopOneFromItsReply) {
  ASSERT_TRUE(Reserve(1, {kHostA}, kHostA));
  ExpectAoeError(Write(10, Pattern(kSector, 3), kHostB), 6);
  EXPECT_EQ(ImageBytes(10 * kSector, kSector), Frame(kSector));
  ExpectAoeError(Read(10, 1, kHostB), 6);  // reads too

  ASSERT_TRUE(Reserve(1, {}, kHostA));  // released
  ExpectAtaOk(Write(10, Pattern(kSector, 3), kHostB));
  EXPECT_EQ(AtaCommandsOn(0), 0u);  // every ATA command above was host B's, on loop 1
}

TEST_F(ServerLoops, AHostSeenOnBothLoopsIsOneClient) {
  // Host B's config query goes to loop 0, its reads to loop 1.
  ASSERT_TRUE(Ask(BuildConfig(Harness::To(kShelf, kSlot, kHostB), 0, ""), kHostB));
  ExpectAtaOk(Read(0, 2, kHostB));
  ExpectAtaOk(Read(2, 2, kHostB));
  const Export& e = *h_.server().exports().front();
  ClientList seen = h_.server().Clients(e);
  ASSERT_EQ(seen.clients.size(), 1u);
  EXPECT_EQ(seen.clients[0].mac, kHostB);
  EXPECT_EQ(seen.clients[0].frames, 3u);
  EXPECT_EQ(seen.clients[0].bytes_read, 4 * kSector);
}

TEST_F(ServerLoops, RemoveAddAndReloadReachEveryLoop) {
  ExportOptions options = h_.options().exports.front();
  ASSERT_EQ(h_.server().RemoveExport(options.name()), "");
  h_.Send(BuildAta(Harness::To(kShelf, kSlot, kHostB), AtaOp(kRead48).Flags(0x40).Count(1)),
          h_.host_b());
  EXPECT_TRUE(h_.Await(h_.host_b(), 1, std::chrono::milliseconds(300)).empty())
      << "loop 1 still serves a removed export";

  ASSERT_EQ(h_.server().AddExport(options), "");
  ExpectAtaOk(Write(20, Pattern(kSector, 4), kHostB));

  // A reload makes a new owner, and loop 1 a new copy that reads the new owner's state: here
  // read-only, and reserved by host A.
  options.read_only = true;
  ASSERT_EQ(h_.server().ReloadExport(options), "");
  ExpectAtaError(Write(20, Pattern(kSector, 5), kHostB), kErrAbrt);
  ASSERT_TRUE(Reserve(1, {kHostA}, kHostA));
  ExpectAoeError(Read(20, 1, kHostB), 6);
  EXPECT_EQ(ImageBytes(20 * kSector, kSector), Pattern(kSector, 4));
}

// Like the state writer, the other loops' threads start at the first Poll(): a daemon drops
// its privileges after Create(), and a start that fails after Create() must have served nothing.
TEST(ServerLoopsStart, TheOtherLoopsServeNothingBeforeTheFirstPoll) {
  Harness h;
  h.AddFileExport(kShelf, kSlot, kDiskSectors * kSector);
  h.options().loops = 2;
  h.options().announce = false;
  ASSERT_TRUE(h.Start());
  h.Send(BuildAta(Harness::To(kShelf, kSlot, kHostB), AtaOp(kRead48).Flags(0x40).Count(1)),
         h.host_b());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(h.Collect(h.host_b()).empty()) << "loop 1 answered before the first Poll()";
  EXPECT_EQ(h.Await(h.host_b(), 1).size(), 1u);  // the first Poll() starts it
}

// A frame that reaches the interface while its sockets form their fanout group waits on two
// loops (loop 0's socket takes every frame while it is alone in the group, loop 1's every frame
// since its bind), so both would serve it; and an initiator's older frames on loop 0 with its
// newer ones on loop 1 could be served out of order. The server drops what its sockets took in
// before the group was whole: the initiator sends it again, and that is served once, by the
// loop its MAC is spread to.
TEST(ServerLoopsStart, AFrameThatArrivesWhileTheLoopsFormTheirGroupIsServedOnlyWhenSentAgain) {
  Harness h;
  h.AddFileExport(kShelf, kSlot, kDiskSectors * kSector);
  h.options().loops = 2;
  h.options().announce = false;
  const Frame write =
      BuildAta(Harness::To(kShelf, kSlot, kHostB, 0x80000042),
               AtaOp(kWrite48).Flags(0x41).Count(1).Lba(5).Data(Pattern(kSector, 7)));
  h.OnPortOpened([&](const std::string&, size_t count) {
    if (count == 2) h.Send(write, h.host_b());  // loop 1's socket is bound, not yet a member
  });
  ASSERT_TRUE(h.Start());
  std::vector<Reply> early = h.Await(h.host_b(), 2, std::chrono::milliseconds(500));
  EXPECT_TRUE(early.empty()) << early.size() << " replies to a frame sent while the group formed";
  h.Send(write, h.host_b());
  std::vector<Reply> replies = h.Await(h.host_b(), 1);  // loop 1's thread starts first
  ASSERT_EQ(replies.size(), 1u);
  ExpectAtaOk(replies.front());
  EXPECT_TRUE(h.Await(h.host_b(), 1, std::chrono::milliseconds(300)).empty()) << "served twice";
  std::vector<std::optional<Stats>> stats = h.server().loop_stats();
  ASSERT_TRUE(stats.at(0) && stats.at(1));
  EXPECT_EQ(stats[0]->ata_commands, 0u);
  EXPECT_EQ(stats[1]->ata_commands, 1u);
}

// A reload keeps the loops the server started with, so what they cannot serve is refused even
// when the new file asks for one loop (a count that would apply only after a restart).
TEST_F(ServerLoops, AReloadIsCheckedAgainstTheLoopsItRunsWith) {
  ServerOptions next = h_.options();
  next.loops = 1;
  // More overlay exports than the fanout selector can send to loop 0 (refused before any is
  // opened).
  for (size_t i = 0; i <= kMaxFanoutFirstDisks; ++i) {
    ExportOptions image = next.exports.front();
    image.address = {static_cast<uint16_t>(kShelf + 1 + i / 200), static_cast<uint8_t>(i % 200)};
    image.backend = ParseBackendSpec("/nonexistent/base" + std::to_string(i));
    image.overlay_dir = "/nonexistent/overlays" + std::to_string(i);
    next.exports.push_back(image);
  }
  EXPECT_FALSE(h_.server().Reconfigure(next));
  EXPECT_TRUE(h_.LogContains("with --loops above 1 at most 2000 can be served"));
  EXPECT_TRUE(h_.LogContains("this aoe serve runs 2 event loop(s) until it is restarted"));
  EXPECT_EQ(h_.server().exports().size(), 1u);
}

// A loop stuck in storage that hangs on its thread (a FUSE or NFS image) does not take the
// control socket and loop 0 with it: queries leave it out after a second, and export table
// changes are refused with nothing changed, until it answers again.
TEST(ServerLoopsStuck, ALoopStuckInItsStorageIsReportedNotWaitedFor) {
  Harness h;
  h.AddExport(kShelf, kSlot, kDiskSectors * kSector);  // a memory disk: read on the loop's thread
  h.options().loops = 2;
  ASSERT_TRUE(h.Start());
  const std::string path = Harness::DiskPath(kShelf, kSlot);
  CountingBackend& loop1_disk = h.counter(path);  // the chain opened last: loop 1's copy's
  loop1_disk.HoldReads();
  // Released on every way out, while the export (and so this backend) still exists.
  struct Release {
    CountingBackend* disk;
    ~Release() {
      if (disk != nullptr) disk->ReleaseReads();
    }
  } release{&loop1_disk};
  h.Send(BuildAta(Harness::To(kShelf, kSlot, kHostB), AtaOp(kRead48).Flags(0x40).Count(1)),
         h.host_b());
  for (int i = 0; i < 200 && !loop1_disk.read_held(); ++i)
    h.server().Poll(std::chrono::milliseconds(10));
  ASSERT_TRUE(loop1_disk.read_held()) << "loop 1 never reached the read";

  const auto asked = std::chrono::steady_clock::now();
  std::vector<std::optional<Stats>> stats = h.server().loop_stats();
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(3));
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_TRUE(stats[0].has_value());
  EXPECT_FALSE(stats[1].has_value()) << "a stuck loop's counters cannot be read";
  // Known stuck: the next queries do not wait for it again (a query per export would hold
  // loop 0 a second each).
  const auto asked_again = std::chrono::steady_clock::now();
  EXPECT_FALSE(h.server().loop_stats()[1].has_value());
  EXPECT_EQ(h.server().Clients(*h.server().exports().front()).clients.size(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - asked_again, std::chrono::milliseconds(500));
  EXPECT_TRUE(h.LogContains("event loop 1 does not answer within 1 s"));
  EXPECT_EQ(h.server().RemoveExport("e1.2"),
            "event loop 1 does not answer (is the storage it reads hanging?); nothing was "
            "changed; try again once it does");
  ASSERT_EQ(h.server().exports().size(), 1u);
  // Loop 0 goes on serving its hosts.
  h.Send(BuildAta(Harness::To(kShelf, kSlot, kHostA), AtaOp(kRead48).Flags(0x40).Count(1)),
         h.host_a());
  EXPECT_EQ(h.Await(h.host_a(), 1).size(), 1u);

  loop1_disk.ReleaseReads();
  release.disk = nullptr;  // the removal below closes it
  EXPECT_EQ(h.Await(h.host_b(), 1).size(), 1u);
  stats = h.server().loop_stats();
  ASSERT_TRUE(stats[1].has_value()) << "a loop that answers again is read again";
  EXPECT_TRUE(h.LogContains("event loop 1 answers again"));
  EXPECT_EQ(stats[1]->ata_commands, 1u);
  EXPECT_EQ(h.server().RemoveExport("e1.2"), "");
}

TEST_F(ServerLoops, BothLoopsServeAtOnce) {
  // Host A and host B keep 16 commands each in flight, on two threads' loops at the same time.
  constexpr int kRounds = 8;
  constexpr int kInFlight = 16;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kInFlight; ++i) {
      const uint64_t lba = static_cast<uint64_t>(round * kInFlight + i);
      for (const MacAddress host : {kHostA, kHostB}) {
        const uint64_t at = lba + (host == kHostB ? 1024 : 0);
        Frame data = Pattern(kSector, static_cast<uint8_t>(at));
        h_.Send(BuildAta(Harness::To(kShelf, kSlot, host, 0x80000000u + static_cast<uint32_t>(at)),
                         AtaOp(kWrite48).Flags(0x41).Count(1).Lba(at).Data(data)),
                HostFor(host));
      }
    }
    EXPECT_EQ(h_.Await(h_.host_a(), kInFlight).size(), static_cast<size_t>(kInFlight));
    EXPECT_EQ(h_.Await(h_.host_b(), kInFlight).size(), static_cast<size_t>(kInFlight));
  }
  for (uint64_t lba = 0; lba < kRounds * kInFlight; ++lba) {
    ASSERT_EQ(ImageBytes(lba * kSector, kSector), Pattern(kSector, static_cast<uint8_t>(lba)));
    ASSERT_EQ(ImageBytes((lba + 1024) * kSector, kSector),
              Pattern(kSector, static_cast<uint8_t>(lba + 1024)));
  }
  EXPECT_EQ(AtaCommandsOn(0), static_cast<uint64_t>(kRounds * kInFlight));
  EXPECT_EQ(AtaCommandsOn(1), static_cast<uint64_t>(kRounds * kInFlight));
}

}  // namespace
}  // namespace aoe::target::testkit
