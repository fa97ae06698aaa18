// Engine tests for the Server: reconfiguration, many commands in flight, per-class counters,
// several interfaces and MTU changes. Same in-memory wire and disks as the protocol tests
// (testing/target_fixture.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "target/testing/frames.h"
#include "target/testing/harness.h"

namespace aoe::target {
namespace {

using testkit::AtaOp;
using testkit::BuildAta;
using testkit::BuildConfig;
using testkit::BuildHeader;
using testkit::BuildMask;
using testkit::BuildReserve;
using testkit::CountingBackend;
using testkit::Frame;
using testkit::Harness;
using testkit::kHostA;
using testkit::kHostB;
using testkit::kSecondTargetMac;
using testkit::kTargetMac;
using testkit::Pattern;
using testkit::Reply;

constexpr size_t kSector = 512;
constexpr uint8_t kRead48 = 0x24;
constexpr uint8_t kWrite48 = 0x34;
constexpr uint8_t kIdentify = 0xEC;

Frame ReadRequest(uint16_t shelf, uint8_t slot, uint64_t lba, uint8_t count,
                  uint32_t tag = 0x80000001, MacAddress from = kHostA) {
  return BuildAta(Harness::To(shelf, slot, from, tag),
                  AtaOp(kRead48).Flags(0x40).Count(count).Lba(lba));
}

Frame IdentifyRequest(uint16_t shelf, uint8_t slot) {
  return BuildAta(Harness::To(shelf, slot), AtaOp(kIdentify).Count(1));
}

Frame DiskBytes(MemoryBackend& disk, uint64_t offset, size_t size) {
  auto bytes = disk.bytes().subspan(offset, size);
  return Frame(bytes.begin(), bytes.end());
}

class ServerTest : public ::testing::Test {
 protected:
  Harness h_;
};

TEST_F(ServerTest, CreateFailsWithActionableLogWhenImageIsMissing) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.options().exports[0].backend.path = "mem:missing";
  auto started = h_.Start();
  EXPECT_FALSE(started);
  EXPECT_TRUE(h_.LogContains("cannot open image mem:missing"));
}

TEST_F(ServerTest, CreateFailsWhenInterfaceIsMissing) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.options().interfaces = {"nosuch0"};
  EXPECT_FALSE(h_.Start());
  EXPECT_TRUE(h_.LogContains("cannot open interface 'nosuch0': no such interface"));
}

TEST_F(ServerTest, CreateFailsOnCorruptStateFile) {
  h_.AddExport(1, 1, 64 * kSector);
  {
    std::filesystem::create_directories(h_.state_dir());
    std::FILE* f = std::fopen((h_.state_dir() + "/e1.1.json").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("{not json", f);
    std::fclose(f);
  }
  EXPECT_FALSE(h_.Start());
  EXPECT_TRUE(h_.LogContains("cannot read state file"));
}

// Two read-write exports of one image are served (as one export shared by two initiators is),
// with a warning at start, and when a reload or `aoe ctl add` makes such a pair.
TEST_F(ServerTest, TwoReadWriteExportsOfOneImageAreWarnedOf) {
  const std::string image = h_.AddFileExport(1, 1, 128 * kSector);
  h_.options().exports[0].length_sectors = 64;  // the first half
  ExportOptions second = h_.options().exports[0];
  second.address = {1, 2};
  h_.options().exports.push_back(second);
  ASSERT_TRUE(h_.Start());
  EXPECT_TRUE(h_.LogContains("exports e1.1 and e1.2 both write " + image +
                             " (the same sectors): initiators of the two would overwrite each "
                             "other's data; export one read-only (ro) unless that is meant"));
  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 2)).has_value());  // served all the same

  ExportOptions third = second;
  third.address = {1, 3};
  ASSERT_EQ(h_.server().AddExport(third), "");
  EXPECT_TRUE(h_.LogContains("exports e1.1 and e1.3 both write"));
  EXPECT_TRUE(h_.LogContains("exports e1.2 and e1.3 both write"));

  // Read-only, or the other half of the image: nothing to warn of.
  ExportOptions read_only = second;
  read_only.address = {1, 4};
  read_only.read_only = true;
  ExportOptions other_part = second;
  other_part.address = {1, 5};
  other_part.offset_sectors = 64;
  ASSERT_EQ(h_.server().AddExport(read_only), "");
  ASSERT_EQ(h_.server().AddExport(other_part), "");
  EXPECT_FALSE(h_.LogContains("e1.4 both write"));
  EXPECT_FALSE(h_.LogContains("and e1.5 both write"));
}

TEST_F(ServerTest, ReconfigureAddsExport) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  EXPECT_FALSE(h_.Exchange(IdentifyRequest(1, 2)).has_value());

  ServerOptions next = h_.options();
  ExportOptions added;
  added.address = {1, 2};
  added.backend.path = "mem:new";
  h_.AddDisk(added.backend.path, 32 * kSector);
  next.exports.push_back(added);
  ASSERT_TRUE(h_.server().Reconfigure(next));

  auto r = h_.Exchange(IdentifyRequest(1, 2));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status(), 0x40);
  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 1)).has_value());
}

TEST_F(ServerTest, ReconfigureRemovesExport) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.AddExport(1, 2, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  ASSERT_TRUE(h_.Exchange(IdentifyRequest(1, 2)).has_value());

  ServerOptions next = h_.options();
  next.exports.pop_back();
  ASSERT_TRUE(h_.server().Reconfigure(next));
  EXPECT_FALSE(h_.Exchange(IdentifyRequest(1, 2)).has_value());
  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 1)).has_value());
  EXPECT_GE(h_.disk(1, 2).flush_count(), 1u) << "a removed export is flushed";
}

TEST_F(ServerTest, ReconfigureLeavesUnchangedExportServing) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.AddExport(1, 2, 64 * kSector);
  std::memcpy(h_.disk(1, 1).bytes().data(), Pattern(2 * kSector, 1).data(), 2 * kSector);
  ASSERT_TRUE(h_.Start());
  ASSERT_TRUE(h_.Exchange(ReadRequest(1, 1, 0, 2)).has_value());
  CountingBackend* before = &h_.counter(Harness::DiskPath(1, 1));

  // A read waiting in the socket while the reload happens.
  h_.Send(ReadRequest(1, 1, 0, 2, 0x80000042), h_.host_a());

  ServerOptions next = h_.options();
  next.exports.erase(next.exports.begin() + 1);  // remove e1.2
  ExportOptions added;
  added.address = {1, 3};
  added.backend.path = "mem:added";
  h_.AddDisk(added.backend.path, 32 * kSector);
  next.exports.push_back(added);
  ASSERT_TRUE(h_.server().Reconfigure(next));
  EXPECT_EQ(&h_.counter(Harness::DiskPath(1, 1)), before) << "unchanged export not re-opened";

  h_.Settle();
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].tag(), 0x80000042u);
  EXPECT_EQ(replies[0].status(), 0x40);
  EXPECT_EQ(replies[0].ata_data(2 * kSector), Pattern(2 * kSector, 1));

  auto r = h_.Exchange(ReadRequest(1, 1, 0, 2));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ata_data(2 * kSector), Pattern(2 * kSector, 1));
  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 3)).has_value());
  EXPECT_FALSE(h_.Exchange(IdentifyRequest(1, 2)).has_value());
}

TEST_F(ServerTest, ReconfigureKeepsStateOfUnchangedExport) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  ASSERT_TRUE(h_.Exchange(BuildConfig(Harness::To(1, 1), 4, "kept")).has_value());
  ASSERT_TRUE(h_.server().Reconfigure(h_.options()));
  auto r = h_.Exchange(BuildConfig(Harness::To(1, 1), 0, ""));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "kept");
}

TEST_F(ServerTest, ReconfigureWithChangedStorageOptionsReopensExport) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  ASSERT_TRUE(h_.Exchange(BuildConfig(Harness::To(1, 1), 4, "survives")).has_value());
  ServerOptions next = h_.options();
  next.exports[0].read_only = true;
  ASSERT_TRUE(h_.server().Reconfigure(next));
  auto r = h_.Exchange(
      BuildAta(Harness::To(1, 1), AtaOp(kWrite48).Flags(0x41).Count(1).Data(Pattern(kSector, 2))));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status(), 0x41);
  EXPECT_EQ(r->ata_error(), 0x04);
  // The persistent state comes along to the re-opened export.
  r = h_.Exchange(BuildConfig(Harness::To(1, 1), 0, ""));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "survives");
}

TEST_F(ServerTest, ReconfigureWhileStateIsBeingSavedReopensFromTheLatestState) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  for (int i = 0; i < 20; ++i) {
    h_.Send(BuildConfig(Harness::To(1, 1, kHostA, 0x100 + i), 4, "v" + std::to_string(i)),
            h_.host_a());
  }
  h_.server().Poll(std::chrono::milliseconds(0));  // taken and changed; saves still running
  ServerOptions next = h_.options();
  next.exports[0].read_only = true;
  ASSERT_TRUE(h_.server().Reconfigure(next));
  EXPECT_EQ(h_.server().replies_waiting_for_state(), 0u);
  EXPECT_EQ(h_.Collect(h_.host_a()).size(), 20u) << "every change acknowledged before reload";
  auto r = h_.Exchange(BuildConfig(Harness::To(1, 1), 0, ""));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "v19");
}

TEST_F(ServerTest, AcknowledgedStateChangeIsAlreadyInTheStateFile) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  ASSERT_TRUE(h_.Exchange(BuildConfig(Harness::To(1, 1), 4, "on-disk")).has_value());
  std::ifstream in(h_.state_dir() + "/e1.1.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("\"config_string\": \"on-disk\""), std::string::npos) << text;
}

TEST_F(ServerTest, ShutdownSendsTheRepliesWaitingForState) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  h_.Send(BuildConfig(Harness::To(1, 1), 4, "last words"), h_.host_a());
  h_.server().Poll(std::chrono::milliseconds(0));
  EXPECT_EQ(h_.server().replies_waiting_for_state(), 1u);
  h_.server().RequestStop();
  ASSERT_TRUE(h_.server().Run());
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].config_string(), "last words");
}

TEST_F(ServerTest, FailingReconfigureChangesNothing) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.AddExport(1, 2, 64 * kSector);
  ASSERT_TRUE(h_.Start());

  ServerOptions next = h_.options();
  next.exports.erase(next.exports.begin());  // would remove e1.1
  ExportOptions missing;
  missing.address = {1, 9};
  missing.backend.path = "mem:missing";  // no such image
  next.exports.push_back(missing);
  EXPECT_FALSE(h_.server().Reconfigure(next));
  EXPECT_TRUE(h_.LogContains("cannot open image mem:missing"));

  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 1)).has_value());
  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 2)).has_value());
  EXPECT_FALSE(h_.Exchange(IdentifyRequest(1, 9)).has_value());
}

// Replies to a broadcast config query from `host`, by source MAC.
std::vector<MacAddress> DiscoverSources(Harness& h) {
  auto a = Harness::To(0xFFFF, 0xFF);
  a.destination = MacAddress::Broadcast();
  h.Send(BuildConfig(a, 0, ""), h.host_a());
  h.Settle();
  std::vector<MacAddress> sources;
  for (const auto& r : h.Collect(h.host_a())) sources.push_back(r.source());
  std::sort(sources.begin(), sources.end());
  return sources;
}

TEST_F(ServerTest, ReconfigureAddsAndRemovesInterfaces) {
  h_.AddInterface("mem1", kSecondTargetMac);
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  EXPECT_EQ(DiscoverSources(h_), std::vector<MacAddress>{kTargetMac});

  ServerOptions next = h_.options();
  next.interfaces = {"mem0", "mem1"};
  ASSERT_TRUE(h_.server().Reconfigure(next));
  EXPECT_EQ(DiscoverSources(h_), (std::vector<MacAddress>{kTargetMac, kSecondTargetMac}));

  next.interfaces = {"mem1"};
  ASSERT_TRUE(h_.server().Reconfigure(next));
  EXPECT_EQ(DiscoverSources(h_), std::vector<MacAddress>{kSecondTargetMac});
}

// With every command buffer held by storage the server stops watching its ports (the kernel
// queues frames meanwhile). An interface added then must wait too: watched, its readable fd
// would have the loop spin without a buffer to receive into.
TEST_F(ServerTest, AnInterfaceAddedWhileReceivingIsPausedWaitsForBuffers) {
  h_.AddInterface("mem1", kSecondTargetMac);
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  CountingBackend& storage = h_.counter(Harness::DiskPath(1, 1));
  storage.set_keep_writes(true);
  constexpr uint32_t kWrites = 300;  // more than the pool's 256 commands
  for (uint32_t i = 0; i < kWrites; ++i) {
    h_.Send(BuildAta(Harness::To(1, 1, kHostA, i),
                     AtaOp(kWrite48).Flags(0x41).Count(1).Lba(i % 64).Data(Pattern(kSector, 1))),
            h_.host_a());
  }
  for (int i = 0; i < 20; ++i) h_.server().Poll(std::chrono::milliseconds(1));
  ASSERT_FALSE(h_.server().loop().Contains(h_.target_port("mem0").fd())) << "not paused";

  ServerOptions next = h_.options();
  next.interfaces = {"mem0", "mem1"};
  ASSERT_TRUE(h_.server().Reconfigure(next));
  EXPECT_FALSE(h_.server().loop().Contains(h_.target_port("mem1").fd()));
  // (Storage's completions would wake the loop and resume it; the memory disk here completes
  // outside the loop, so the test ends with the writes let go.)
  storage.set_keep_writes(false);
  EXPECT_GE(storage.PassKeptWrites(), 1u);
}

TEST_F(ServerTest, FailingReconfigureOpensNoNewInterface) {
  h_.AddInterface("mem1", kSecondTargetMac);
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());

  ServerOptions next = h_.options();
  next.interfaces = {"mem0", "mem1"};
  ExportOptions missing;
  missing.address = {1, 9};
  missing.backend.path = "mem:missing";
  next.exports.push_back(missing);
  EXPECT_FALSE(h_.server().Reconfigure(next));
  EXPECT_EQ(DiscoverSources(h_), std::vector<MacAddress>{kTargetMac});
}

TEST_F(ServerTest, FailingReconfigureOnMissingInterfaceChangesNothing) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());

  ServerOptions next = h_.options();
  next.interfaces = {"mem0", "nosuch0"};
  next.exports.clear();
  EXPECT_FALSE(h_.server().Reconfigure(next));
  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 1)).has_value());
}

// An overlay export is closed before it is opened again with new options (its directory has
// one owner). When the change then fails on an interface, the new export must let go of the
// directory before the old one is opened again, or the old one cannot be, and is not served.
TEST_F(ServerTest, FailingReconfigureKeepsServingAChangedOverlayExport) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.options().exports.front().overlay_dir = h_.state_dir() + "-overlay";
  ASSERT_TRUE(h_.Start());

  ServerOptions next = h_.options();
  next.exports.front().durability = Durability::kSync;
  next.interfaces = {"mem0", "nosuch0"};
  EXPECT_FALSE(h_.server().Reconfigure(next));
  EXPECT_FALSE(h_.LogContains("not served until the next successful reload"));
  ASSERT_EQ(h_.server().exports().size(), 1u);
  EXPECT_EQ(h_.server().exports().front()->options().durability, Durability::kAuto);
  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 1)).has_value());
}

// A reload that would move an export to storage whose metadata holds export state (an RBD
// image) fails on another export: the export keeps serving from its file, and its state must
// keep going there, not to the storage it was not moved to.
TEST_F(ServerTest, FailingReconfigureLeavesTheStateWhereTheExportKeepsServing) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.AddDisk("mem:shared", 64 * kSector);
  testkit::MemorySharedMetadata& metadata = h_.ShareMetadata("mem:shared");
  ASSERT_TRUE(h_.Start());

  ServerOptions next = h_.options();
  next.exports.front().backend.path = "mem:shared";
  ExportOptions missing;
  missing.address = {1, 9};
  missing.backend.path = "mem:missing";
  next.exports.push_back(missing);
  EXPECT_FALSE(h_.server().Reconfigure(next));
  ASSERT_EQ(h_.server().exports().front()->options().backend.path, Harness::DiskPath(1, 1));

  auto r = h_.Exchange(BuildConfig(Harness::To(1, 1), /*force set*/ 4, "kept-here"));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(metadata.Holds("kept-here")) << "the state went to storage not served";
  std::ifstream file(h_.state_dir() + "/e1.1.json");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("kept-here"), std::string::npos) << text;
}

// The state of an export on shared storage is read again every second. A read that began
// before a reload, and is reported after it, must not put the state from before the reload over
// the export opened again: its report is dropped, and the next read reads anew.
TEST_F(ServerTest, AStateReadInFlightDuringAReloadDoesNotUndoIt) {
  h_.AddDisk("mem:shared", 64 * kSector);
  h_.AddExport(1, 1, 64 * kSector);
  h_.options().exports.front().backend.path = "mem:shared";
  testkit::MemorySharedMetadata& metadata = h_.ShareMetadata("mem:shared");
  ASSERT_TRUE(h_.Start());

  metadata.HoldReads();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!metadata.read_held() && std::chrono::steady_clock::now() < give_up) {
    h_.server().Poll(std::chrono::milliseconds(10));  // housekeeping starts the read
  }
  ASSERT_TRUE(metadata.read_held()) << "no state read within 3 s";
  ServerOptions next = h_.options();
  next.exports.front().mask = {kHostB};
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    metadata.ReleaseReads();
  });
  ASSERT_TRUE(h_.server().Reconfigure(next));
  release.join();
  for (int i = 0; i < 20; ++i) h_.server().Poll(std::chrono::milliseconds(10));
  ASSERT_EQ(h_.server().exports().size(), 1u);
  EXPECT_EQ(h_.server().exports().front()->state().mask, std::vector<MacAddress>{kHostB})
      << "the read from before the reload undid its mask list";
}

TEST_F(ServerTest, BurstOfReadsIsAllAnsweredWithCorrectData) {
  constexpr size_t kCount = 64;
  h_.AddExport(1, 1, 256 * kSector);
  MemoryBackend& disk = h_.disk(1, 1);
  Frame content = Pattern(256 * kSector, 3);
  std::memcpy(disk.bytes().data(), content.data(), content.size());
  ASSERT_TRUE(h_.Start());

  for (size_t i = 0; i < kCount; ++i) {
    h_.Send(ReadRequest(1, 1, i * 2, 2, static_cast<uint32_t>(0x1000 + i)), h_.host_a());
  }
  h_.Settle();
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), kCount);
  std::vector<bool> seen(kCount);
  for (const Reply& r : replies) {
    size_t i = r.tag() - 0x1000;
    ASSERT_LT(i, kCount);
    EXPECT_FALSE(seen[i]) << "duplicate reply for tag " << r.tag();
    seen[i] = true;
    EXPECT_EQ(r.status(), 0x40);
    EXPECT_EQ(r.ata_data(2 * kSector), DiskBytes(disk, i * 2 * kSector, 2 * kSector));
  }
  EXPECT_EQ(h_.stats().bytes_read, kCount * 2 * kSector);
}

TEST_F(ServerTest, BurstLargerThanCommandPoolIsServedEventually) {
  constexpr size_t kCount = 600;  // more than the pool's 256 commands
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  for (size_t i = 0; i < kCount; ++i) {
    h_.Send(ReadRequest(1, 1, i % 60, 1, static_cast<uint32_t>(i)), h_.host_a());
  }
  h_.Settle();
  EXPECT_EQ(h_.Collect(h_.host_a()).size(), kCount);
}

Frame ReadFile(const std::string& path, uint64_t offset, size_t size) {
  Frame out(size);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr);
  if (f == nullptr) return out;
  std::fseek(f, static_cast<long>(offset), SEEK_SET);
  EXPECT_EQ(std::fread(out.data(), 1, size, f), size);
  std::fclose(f);
  return out;
}

void WriteFile(const std::string& path, uint64_t offset, const Frame& data) {
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, static_cast<long>(offset), SEEK_SET);
  EXPECT_EQ(std::fwrite(data.data(), 1, data.size(), f), data.size());
  std::fclose(f);
}

TEST_F(ServerTest, FileBackedBurstOfReadsAndWritesIsServedThroughIoUring) {
  constexpr size_t kCount = 64;
  std::string image = h_.AddFileExport(1, 1, 256 * kSector);
  WriteFile(image, 0, Pattern(128 * kSector, 6));
  ASSERT_TRUE(h_.Start());
  for (size_t i = 0; i < kCount; ++i) {
    h_.Send(ReadRequest(1, 1, i * 2, 2, static_cast<uint32_t>(i)), h_.host_a());
  }
  for (size_t i = 0; i < kCount; ++i) {
    h_.Send(BuildAta(Harness::To(1, 1, kHostB, static_cast<uint32_t>(i)),
                     AtaOp(kWrite48).Flags(0x41).Count(1).Lba(128 + i).Data(
                         Pattern(kSector, static_cast<uint8_t>(i)))),
            h_.host_b());
  }
  auto reads = h_.Await(h_.host_a(), kCount);
  auto writes = h_.Await(h_.host_b(), kCount);
  ASSERT_EQ(reads.size(), kCount);
  ASSERT_EQ(writes.size(), kCount);
  Frame content = Pattern(128 * kSector, 6);
  for (const Reply& r : reads) {
    ASSERT_LT(r.tag(), kCount);
    EXPECT_EQ(r.status(), 0x40);
    EXPECT_EQ(r.ata_data(2 * kSector),
              Frame(content.begin() + static_cast<ptrdiff_t>(r.tag() * 2 * kSector),
                    content.begin() + static_cast<ptrdiff_t>((r.tag() + 1) * 2 * kSector)));
  }
  for (const Reply& r : writes) EXPECT_EQ(r.status(), 0x40);
  for (size_t i = 0; i < kCount; ++i) {
    EXPECT_EQ(ReadFile(image, (128 + i) * kSector, kSector),
              Pattern(kSector, static_cast<uint8_t>(i)));
  }
}

// An image on tmpfs is the page cache itself: read replies carry their data from there (the
// file mapped; BlockBackend::View) instead of a read into the command's buffer first. They must
// still show every write that came before them, in the same batch of frames too.
TEST_F(ServerTest, ReadsOfAnImageOnTmpfsAreSentFromThePageCache) {
  std::string image = h_.AddFileExport(1, 1, 64 * kSector, Harness::ImageOn::kTmpfs);
  std::string on_disk = h_.AddFileExport(1, 2, 64 * kSector);
  WriteFile(image, 0, Pattern(64 * kSector, 3));
  WriteFile(on_disk, 0, Pattern(64 * kSector, 4));
  ASSERT_TRUE(h_.Start());

  auto read = h_.Exchange(ReadRequest(1, 1, 10, 2, 1));
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->status(), 0x40);
  Frame content = Pattern(64 * kSector, 3);
  EXPECT_EQ(read->ata_data(2 * kSector),
            Frame(content.begin() + 10 * kSector, content.begin() + 12 * kSector));
  EXPECT_EQ(h_.stats().reads_from_memory, 1u);
  EXPECT_EQ(h_.stats().bytes_read, 2 * kSector);

  // A write and a read of the same sectors in one batch: the read sees the write.
  h_.Send(BuildAta(Harness::To(1, 1, kHostA, 2),
                   AtaOp(kWrite48).Flags(0x41).Count(1).Lba(11).Data(Pattern(kSector, 9))),
          h_.host_a());
  h_.Send(ReadRequest(1, 1, 10, 2, 3), h_.host_a());
  auto replies = h_.Await(h_.host_a(), 2);
  ASSERT_EQ(replies.size(), 2u);
  const Reply& reread = replies[0].tag() == 3 ? replies[0] : replies[1];
  Frame expected(content.begin() + 10 * kSector, content.begin() + 12 * kSector);
  Frame written = Pattern(kSector, 9);
  std::copy(written.begin(), written.end(), expected.begin() + kSector);
  EXPECT_EQ(reread.ata_data(2 * kSector), expected);
  EXPECT_EQ(h_.stats().reads_from_memory, 2u);

  // An image on a disk filesystem is read as before.
  auto disk_read = h_.Exchange(ReadRequest(1, 2, 0, 2, 4));
  ASSERT_TRUE(disk_read.has_value());
  EXPECT_EQ(disk_read->ata_data(2 * kSector), Pattern(2 * kSector, 4));
  EXPECT_EQ(h_.stats().reads_from_memory, 2u);
}

TEST_F(ServerTest, ReadInFlightCompletesAfterItsExportIsRemoved) {
  std::string image = h_.AddFileExport(1, 1, 64 * kSector);
  h_.AddExport(1, 2, 64 * kSector);
  WriteFile(image, 0, Pattern(2 * kSector, 7));
  ASSERT_TRUE(h_.Start());
  // Received and queued on io_uring, not yet reaped.
  h_.Send(ReadRequest(1, 1, 0, 2, 0x77), h_.host_a());
  while (h_.target_port().queued_frames() > 0) h_.server().Poll(std::chrono::milliseconds(0));

  ServerOptions next = h_.options();
  next.exports.erase(next.exports.begin());
  ASSERT_TRUE(h_.server().Reconfigure(next));

  auto replies = h_.Await(h_.host_a(), 1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].tag(), 0x77u);
  EXPECT_EQ(replies[0].status(), 0x40);
  EXPECT_EQ(replies[0].ata_data(2 * kSector), Pattern(2 * kSector, 7));
  EXPECT_FALSE(h_.Exchange(IdentifyRequest(1, 1)).has_value());
  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 2)).has_value());
}

TEST_F(ServerTest, FileBackedReadOnlyExportRefusesWrites) {
  std::string image = h_.AddFileExport(1, 1, 64 * kSector);
  h_.options().exports[0].read_only = true;
  ASSERT_TRUE(h_.Start());
  h_.Send(BuildAta(Harness::To(1, 1),
                   AtaOp(kWrite48).Flags(0x41).Count(1).Lba(0).Data(Pattern(kSector, 8))),
          h_.host_a());
  auto replies = h_.Await(h_.host_a(), 1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].status(), 0x41);
  EXPECT_EQ(replies[0].ata_error(), 0x04);
  EXPECT_EQ(ReadFile(image, 0, kSector), Frame(kSector));
}

TEST_F(ServerTest, StatsCountDroppedClasses) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  h_.target_port().set_role(PortRole::kAny);
  auto to = Harness::To(1, 1);

  Frame identify = IdentifyRequest(1, 1);
  h_.Exchange(Frame(identify.begin(), identify.begin() + 30));  // runt
  h_.Exchange(IdentifyRequest(1, 5));                           // not for us
  auto response = to;
  response.ver_flags = 0x18;
  h_.Exchange(BuildConfig(response, 0, ""));  // response flag
  auto old_version = to;
  old_version.ver_flags = 0x20;
  h_.Exchange(BuildConfig(old_version, 0, ""));          // error 5
  h_.Exchange(BuildHeader(to, 9, 60));                   // error 1
  h_.Exchange(BuildConfig(to, 9, ""));                   // error 2
  h_.Exchange(BuildConfig(to, 4, "x", uint16_t{2000}));  // bad config string
  h_.Exchange(BuildReserve(to, 1, {kHostA}));
  h_.Exchange(ReadRequest(1, 1, 0, 1, 1, kHostB), h_.host_b());  // reserved: error 6
  h_.Exchange(BuildMask(to, 1, {{1, kHostA}}));
  h_.Exchange(BuildConfig(Harness::To(1, 1, kHostB), 0, ""), h_.host_b());  // masked
  h_.Exchange(ReadRequest(1, 1, 1000, 1));                                  // IDNF

  Stats s = h_.stats();
  EXPECT_EQ(s.dropped_runt, 1u);
  EXPECT_EQ(s.dropped_not_for_us, 1u);
  EXPECT_EQ(s.dropped_response, 1u);
  EXPECT_EQ(s.refused_bad_version, 1u);
  EXPECT_EQ(s.refused_unknown_command, 1u);
  EXPECT_EQ(s.refused_bad_argument, 1u);
  EXPECT_EQ(s.dropped_bad_config, 1u);
  EXPECT_EQ(s.refused_reserved, 1u);
  EXPECT_EQ(s.dropped_masked, 1u);
  EXPECT_EQ(s.ata_errors, 1u);
  EXPECT_EQ(s.reserve_commands, 1u);
  EXPECT_EQ(s.mask_commands, 1u);
}

TEST_F(ServerTest, OversizeFramesAreDroppedByThePort) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  // 1600 bytes is over the 1500-byte MTU of the target's port: it never reaches the target.
  auto r = h_.Exchange(BuildAta(Harness::To(1, 1), AtaOp(kIdentify).Count(1).PadTo(1600)));
  EXPECT_FALSE(r.has_value());
  EXPECT_TRUE(h_.Exchange(IdentifyRequest(1, 1)).has_value());
}

TEST_F(ServerTest, JumboMtuAllowsSeventeenSectorReads) {
  h_.AddExport(1, 1, 64 * kSector);
  Frame content = Pattern(17 * kSector, 4);
  std::memcpy(h_.disk(1, 1).bytes().data(), content.data(), content.size());
  ASSERT_TRUE(h_.Start());
  auto r = h_.Exchange(ReadRequest(1, 1, 0, 17));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->error_flag()) << "17 sectors do not fit a 1500-byte MTU";

  h_.target_port().set_mtu(9000);
  r = h_.Exchange(ReadRequest(1, 1, 0, 17));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->status(), 0x40);
  EXPECT_EQ(r->ata_data(17 * kSector), content);
  r = h_.Exchange(ReadRequest(1, 1, 0, 18));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->error_flag());
  EXPECT_EQ(r->error(), 2);
}

TEST_F(ServerTest, EachInterfaceAnswersWithItsOwnMac) {
  h_.AddInterface("mem1", kSecondTargetMac);
  h_.options().interfaces = {"mem0", "mem1"};
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  auto a = Harness::To(0xFFFF, 0xFF);
  a.destination = MacAddress::Broadcast();
  h_.Send(BuildConfig(a, 0, ""), h_.host_a());
  h_.Settle();
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), 2u);
  std::vector<MacAddress> sources = {replies[0].source(), replies[1].source()};
  std::sort(sources.begin(), sources.end());
  EXPECT_EQ(sources, (std::vector<MacAddress>{kTargetMac, kSecondTargetMac}));
}

TEST_F(ServerTest, ExportLimitedToOneInterfaceIgnoresTheOther) {
  h_.AddInterface("mem1", kSecondTargetMac);
  h_.options().interfaces = {"mem0", "mem1"};
  h_.AddExport(1, 1, 64 * kSector);
  h_.options().exports[0].interfaces = {"mem1"};
  ASSERT_TRUE(h_.Start());
  auto a = Harness::To(1, 1);
  a.destination = MacAddress::Broadcast();
  h_.Send(BuildConfig(a, 0, ""), h_.host_a());
  h_.Settle();
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].source(), kSecondTargetMac);
}

// A write is on storage when its reply goes out, whether the port receives frames in place (a
// receive ring, the harness's default) or copies each one out (a socket): then storage gets
// the data from the command's own buffer.
class ServerWriteTest : public ServerTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ServerWriteTest, WritesReachStorageBeforeTheReply) {
  const bool in_place = GetParam();
  h_.received_in_place().enabled = in_place;
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  Frame data = Pattern(2 * kSector, 5);
  auto r = h_.Exchange(
      BuildAta(Harness::To(1, 1), AtaOp(kWrite48).Flags(0x41).Count(2).Lba(10).Data(data)));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status(), 0x40);
  EXPECT_EQ(DiskBytes(h_.disk(1, 1), 10 * kSector, data.size()), data);
  EXPECT_EQ(h_.stats().bytes_written, data.size());
  EXPECT_EQ(h_.stats().writes_from_port, in_place ? 1u : 0u);
  EXPECT_EQ(h_.received_in_place().frames > 0, in_place);
}

INSTANTIATE_TEST_SUITE_P(ReceivedInPlaceOrCopied, ServerWriteTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? std::string("in_place") : std::string("copied");
                         });

// A write request's data goes to storage from where the port received it (a receive ring slot,
// Port::ReceiveInPlace) when storage is done with it before the frame goes back: a memory disk
// copies it during the call, a file on tmpfs in the deferred run after the batch (adjacent
// writes are held and merged until then). The harness's port overwrites its frames once they
// are given back, so a write that read them later would store Harness::kReleasedByte.
TEST_F(ServerTest, WritesGoToStorageFromWhereThePortReceivedThem) {
  h_.AddExport(1, 1, 64 * kSector);
  std::string image = h_.AddFileExport(1, 2, 64 * kSector, Harness::ImageOn::kTmpfs);
  ASSERT_TRUE(h_.Start());
  constexpr uint32_t kWrites = 16;
  for (uint8_t slot : {uint8_t{1}, uint8_t{2}}) {
    for (uint32_t i = 0; i < kWrites; ++i) {
      h_.Send(BuildAta(Harness::To(1, slot, kHostA, slot * 100 + i),
                       AtaOp(kWrite48).Flags(0x41).Count(2).Lba(2 * i).Data(
                           Pattern(2 * kSector, static_cast<uint8_t>(slot * 40 + i)))),
              h_.host_a());
    }
  }
  auto replies = h_.Await(h_.host_a(), 2 * kWrites);
  ASSERT_EQ(replies.size(), 2 * kWrites);
  for (const Reply& r : replies) EXPECT_EQ(r.status(), 0x40) << "tag " << r.tag();
  for (uint32_t i = 0; i < kWrites; ++i) {
    EXPECT_EQ(DiskBytes(h_.disk(1, 1), 2 * i * kSector, 2 * kSector),
              Pattern(2 * kSector, static_cast<uint8_t>(40 + i)))
        << "memory disk, write " << i;
    EXPECT_EQ(ReadFile(image, 2 * i * kSector, 2 * kSector),
              Pattern(2 * kSector, static_cast<uint8_t>(80 + i)))
        << "tmpfs image, write " << i;
  }
  // All but the two writes to LBA 0, which are read again once done (a partition table).
  EXPECT_EQ(h_.stats().writes_from_port, 2 * (kWrites - 1));
  EXPECT_EQ(h_.stats().bytes_written, 2 * kWrites * 2 * kSector);
  EXPECT_GE(h_.received_in_place().releases, 1u);
}

// Storage that may read a write's data later (a worker thread, the network) gets a
// copy in the command's own buffer instead.
TEST_F(ServerTest, WritesToStorageThatReadsTheirDataLaterGetACopy) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  CountingBackend& storage = h_.counter(Harness::DiskPath(1, 1));
  storage.set_keep_writes(true);
  for (uint32_t i = 0; i < 4; ++i) {
    h_.Send(
        BuildAta(Harness::To(1, 1, kHostA, i), AtaOp(kWrite48).Flags(0x41).Count(1).Lba(i).Data(
                                                   Pattern(kSector, static_cast<uint8_t>(10 + i)))),
        h_.host_a());
  }
  h_.Settle();  // the frames were taken and given back; storage holds the writes
  EXPECT_GE(h_.received_in_place().releases, 1u);
  EXPECT_EQ(storage.PassKeptWrites(), 4u);
  h_.Send(IdentifyRequest(1, 1), h_.host_a());  // a turn that sends the replies
  auto replies = h_.Await(h_.host_a(), 5);
  ASSERT_EQ(replies.size(), 5u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(DiskBytes(h_.disk(1, 1), i * kSector, kSector),
              Pattern(kSector, static_cast<uint8_t>(10 + i)))
        << "write " << i;
  }
  EXPECT_EQ(h_.stats().writes_from_port, 0u);
}

// An AoE error reply echoes the request (as vblade does). A write's echo carries its own data,
// copied in from the port's frame, never what an earlier request left in the buffer.
TEST_F(ServerTest, AWriteRefusedWithAnAoeErrorEchoesItsOwnData) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  // Three sectors asked of a 1500-byte link, which carries two: bad argument.
  Frame data = Pattern(2 * kSector, 33);
  auto r = h_.Exchange(
      BuildAta(Harness::To(1, 1), AtaOp(kWrite48).Flags(0x41).Count(3).Lba(0).Data(data)));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->error_flag());
  EXPECT_EQ(r->error(), 2);
  EXPECT_EQ(r->ata_data(data.size()), data);
  EXPECT_EQ(h_.stats().refused_bad_argument, 1u);
  EXPECT_EQ(h_.stats().bytes_written, 0u);
}

TEST_F(ServerTest, DestroyingServerFlushesExports) {
  h_.AddExport(1, 1, 64 * kSector);
  ASSERT_TRUE(h_.Start());
  uint64_t before = h_.disk(1, 1).flush_count();
  h_.server().RequestStop();
  ASSERT_TRUE(h_.server().Run());
  EXPECT_GT(h_.disk(1, 1).flush_count(), before);
}

TEST_F(ServerTest, BusyPollAfterWorkFindsTheNextFrameWithoutSleeping) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.options().busy_poll = std::chrono::milliseconds(5);
  ASSERT_TRUE(h_.Start());
  Server& server = h_.server();

  // An idle target does not poll.
  server.Poll(std::chrono::milliseconds(1));
  EXPECT_EQ(h_.stats().busy_polls, 0u);

  // After handling a frame, the next Poll() looks at the port before sleeping and finds the
  // frame that came meanwhile.
  h_.Send(ReadRequest(1, 1, 0, 1, 0x101), h_.host_a());
  server.Poll(std::chrono::milliseconds(10));
  h_.Send(ReadRequest(1, 1, 1, 1, 0x102), h_.host_a());
  server.Poll(std::chrono::milliseconds(10));
  EXPECT_EQ(h_.stats().busy_polls, 1u);
  EXPECT_EQ(h_.stats().busy_poll_hits, 1u);
  EXPECT_EQ(h_.Collect(h_.host_a()).size(), 2u);

  // Nothing more comes: one poll that finds nothing, then sleeping without polling again.
  server.Poll(std::chrono::milliseconds(1));
  server.Poll(std::chrono::milliseconds(1));
  EXPECT_EQ(h_.stats().busy_polls, 2u);
  EXPECT_EQ(h_.stats().busy_poll_hits, 1u);
}

// Commands that trickle in, each after the poll that followed the last one gave up: after three
// such polls the loop stops polling but for one chance in sixteen (BusyPollPolicy), and when
// frames come back to back again it polls again.
TEST_F(ServerTest, BusyPollStopsOnATrickleOfCommandsAndResumesWhenTheyComeBackToBack) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.options().busy_poll = std::chrono::microseconds(200);
  ASSERT_TRUE(h_.Start());
  Server& server = h_.server();
  uint32_t tag = 0;
  auto send_read = [&] {
    ++tag;
    h_.Send(ReadRequest(1, 1, tag % 32, 1, tag), h_.host_a());
  };
  constexpr uint64_t kTrickle = 64;
  for (uint64_t i = 0; i < kTrickle; ++i) {
    send_read();
    server.Poll(std::chrono::milliseconds(10));  // handles it
    server.Poll(std::chrono::milliseconds(1));   // the chance to poll: nothing comes
  }
  EXPECT_EQ(h_.Collect(h_.host_a()).size(), kTrickle);
  const Stats trickle = h_.stats();
  EXPECT_EQ(trickle.busy_polls + trickle.busy_polls_skipped, kTrickle);
  EXPECT_EQ(trickle.busy_poll_hits, 0u);
  EXPECT_LE(trickle.busy_polls, 3 + kTrickle / 16);
  EXPECT_GE(trickle.busy_polls, 3u);

  // Back to back: the next frame already waits at each chance, and polling comes back.
  for (int i = 0; i < 8; ++i) {
    send_read();
    server.Poll(std::chrono::milliseconds(10));
    send_read();
    server.Poll(std::chrono::milliseconds(10));
  }
  h_.Collect(h_.host_a());
  const Stats before_pause = h_.stats();
  server.Poll(std::chrono::milliseconds(1));  // nothing comes: this chance is polled again
  EXPECT_EQ(h_.stats().busy_polls, before_pause.busy_polls + 1);
  EXPECT_EQ(h_.stats().busy_polls_skipped, before_pause.busy_polls_skipped);
}

TEST_F(ServerTest, BusyPollZeroNeverPolls) {
  h_.AddExport(1, 1, 64 * kSector);
  h_.options().busy_poll = std::chrono::microseconds(0);
  ASSERT_TRUE(h_.Start());
  for (uint32_t tag = 1; tag <= 3; ++tag) {
    h_.Send(ReadRequest(1, 1, tag, 1, tag), h_.host_a());
    h_.server().Poll(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(h_.Collect(h_.host_a()).size(), 3u);
  EXPECT_EQ(h_.stats().busy_polls, 0u);
}

}  // namespace
}  // namespace aoe::target
