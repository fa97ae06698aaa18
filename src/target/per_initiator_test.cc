// What the target keeps per initiator: when a write is acknowledged (durability, per export
// setting and per initiator under `auto`), and the clients table the control socket lists.
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "target/testing/target_fixture.h"

namespace aoe::target::testkit {
namespace {

// ---------------------------------------------------------------------------------------------
// Durability: when a write is acknowledged, per export setting and per initiator.

class Durability : public TargetFixture {
 protected:
  bool LastWriteWasDurable() { return h_.counter(path()).last_write_context().durable(); }
  void WriteOneSector(MacAddress from = kHostA) {
    ExpectAtaOk(Write(10, Pattern(kSector, 3), kWrite48, from));
  }
};

TEST_F(Durability, AutoIsTheDefault) {
  EXPECT_EQ(export_options().durability, target::Durability::kAuto);
}

TEST_F(Durability, AutoMakesWritesDurableForAnInitiatorThatNeverFlushed) {
  StartServer();
  WriteOneSector();
  EXPECT_TRUE(LastWriteWasDurable()) << "Linux's aoe driver never sends FLUSH";
  EXPECT_EQ(h_.counter(path()).last_write_context().initiator, kHostA);
}

TEST_F(Durability, AutoGivesAnInitiatorThatFlushesTheCachedPath) {
  StartServer();
  ExpectAtaOk(AtaCmd(AtaOp(kFlushCacheExt).Flags(0x40)));
  WriteOneSector();
  EXPECT_FALSE(LastWriteWasDurable()) << "it flushes when it needs to";
  WriteOneSector(kHostB);
  EXPECT_TRUE(LastWriteWasDurable()) << "another initiator still has not flushed";
}

TEST_F(Durability, AutoStartsOverWhenAnInitiatorIdentifiesAgain) {
  // iPXE (which flushes) hands the disk to Linux (which does not) on the same MAC; the new
  // program starts with IDENTIFY.
  StartServer();
  ExpectAtaOk(AtaCmd(AtaOp(kFlushCache)));
  ExpectAtaOk(Identify());
  WriteOneSector();
  EXPECT_TRUE(LastWriteWasDurable());
}

TEST_F(Durability, SyncMakesEveryWriteDurableEvenAfterAFlush) {
  export_options().durability = target::Durability::kSync;
  StartServer();
  ExpectAtaOk(AtaCmd(AtaOp(kFlushCache)));
  WriteOneSector();
  EXPECT_TRUE(LastWriteWasDurable());
}

TEST_F(Durability, CacheNeverWaitsForDurability) {
  export_options().durability = target::Durability::kCache;
  StartServer();
  WriteOneSector();
  EXPECT_FALSE(LastWriteWasDurable());
}

TEST_F(Durability, ADurableWriteIsNotAcknowledgedWhenItsFlushFails) {
  // The reply to a durable write waits for the flush that covers it: when that flush fails,
  // the write is reported as failed, because its data may be lost.
  StartServer();
  h_.faults(path()).set_flush_error(EIO);
  ExpectAtaError(Write(10, Pattern(kSector, 3)), kErrAbrt);
  EXPECT_EQ(Region(disk(), 10 * kSector, kSector), Pattern(kSector, 3))
      << "the data reached the disk; only its durability is in doubt";
}

TEST_F(Durability, ACachedWriteIsAcknowledgedWithoutAFlush) {
  export_options().durability = target::Durability::kCache;
  StartServer();
  h_.faults(path()).set_flush_error(EIO);
  ExpectAtaOk(Write(10, Pattern(kSector, 3)));
}

TEST_F(Durability, DurableWritesShareFlushes) {
  // The memory disk completes inline, so each durable write gets its own flush here; the
  // sharing itself is group_commit_filter_test's subject. This checks that the chain counts
  // flushes the initiator never asked for.
  StartServer();
  const uint64_t before = disk().flush_count();
  WriteOneSector();
  EXPECT_EQ(disk().flush_count(), before + 1);
}

TEST_F(Durability, IdentifyReportsAVolatileCacheExceptUnderSync) {
  for (auto [mode, cache] :
       {std::pair{target::Durability::kCache, true}, std::pair{target::Durability::kAuto, true},
        std::pair{target::Durability::kSync, false}}) {
    export_options().durability = mode;
    ASSERT_TRUE(h_.Restart());
    auto r = Identify();
    ExpectAtaOk(r);
    EXPECT_EQ((IdentifyWord(*r, 82) & 0x20) != 0, cache) << DurabilityName(mode);
    EXPECT_EQ((IdentifyWord(*r, 85) & 0x20) != 0, cache) << DurabilityName(mode);
  }
}

// ---------------------------------------------------------------------------------------------
// The clients an export has seen (for the control socket)

TEST_F(TargetFixture, ClientTableCountsFramesBytesAndRepeatedTags) {
  StartServer();
  ExpectAtaOk(Write(0, Pattern(kSector, 1), kWrite48, kHostB));
  // The same read twice with one tag: a retransmission, as iPXE and aoekit send them.
  const Frame read = BuildAta(Harness::To(kShelf, kSlot, kHostA, 0x1234),
                              AtaOp(kRead48).Flags(0x40).Count(2).Lba(0));
  ExpectAtaOk(h_.Exchange(read, h_.host_a()));
  ExpectAtaOk(h_.Exchange(read, h_.host_a()));
  std::vector<ClientStats> clients = h_.server().exports()[0]->clients().List();
  ASSERT_EQ(clients.size(), 2u);
  EXPECT_EQ(clients[0].mac, kHostA);
  EXPECT_EQ(clients[0].frames, 2u);
  EXPECT_EQ(clients[0].bytes_read, 4 * kSector);
  EXPECT_EQ(clients[0].duplicate_tags, 1u);
  EXPECT_GT(clients[0].last_seen_unix, 1600000000);
  EXPECT_EQ(clients[1].mac, kHostB);
  EXPECT_EQ(clients[1].bytes_written, kSector);
  EXPECT_EQ(clients[1].duplicate_tags, 0u);
}

// With several event loops, one initiator's config queries are seen by loop 0 and its ATA
// commands by the loop its MAC is spread to; `aoe ctl clients` shows it once.
TEST(ClientList, AnInitiatorSeenOnTwoLoopsIsOneEntry) {
  ClientTable loop0, loop1;
  loop0.Seen(kHostB, 1, /*ata=*/false, 100);
  loop0.Seen(kHostA, 2, /*ata=*/true, 150);
  loop1.Seen(kHostB, 7, /*ata=*/true, 200);
  loop1.Seen(kHostB, 7, /*ata=*/true, 300);  // a retransmission
  loop1.AddRead(kHostB, 1024);
  ClientList list;
  list.Add(loop1);
  list.Add(loop0);
  ASSERT_EQ(list.clients.size(), 2u);
  EXPECT_EQ(list.clients[0].mac, kHostA);  // by MAC, whichever loop saw it first
  const ClientStats& b = list.clients[1];
  EXPECT_EQ(b.mac, kHostB);
  EXPECT_EQ(b.frames, 3u);
  EXPECT_EQ(b.bytes_read, 1024u);
  EXPECT_EQ(b.duplicate_tags, 1u);
  EXPECT_EQ(b.first_seen_unix, 100);
  EXPECT_EQ(b.last_seen_unix, 300);
}

}  // namespace
}  // namespace aoe::target::testkit
