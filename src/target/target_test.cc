// Protocol tests for `aoe serve`: each test plays an initiator on an in-memory Ethernet segment,
// sends request frames built byte by byte, lets the Server poll, and decodes the reply bytes
// (aoe-protocol.md §1-4, 7, 8). Storage is memory behind the same filters the real chain uses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "proto/ata.h"
#include "target/export.h"
#include "target/testing/frames.h"
#include "target/testing/harness.h"

namespace aoe::target {
namespace {

using testkit::AtaOp;
using testkit::AtaRequest;
using testkit::BuildAta;
using testkit::BuildConfig;
using testkit::BuildHeader;
using testkit::BuildMask;
using testkit::BuildReserve;
using testkit::Checksum;
using testkit::Directive;
using testkit::Frame;
using testkit::Harness;
using testkit::kHostA;
using testkit::kHostB;
using testkit::kHostC;
using testkit::kTargetMac;
using testkit::Pattern;
using testkit::Reply;
using testkit::RequestHeader;

constexpr uint16_t kShelf = 1;
constexpr uint8_t kSlot = 2;
constexpr uint64_t kDiskSectors = 2048;  // 1 MiB
constexpr size_t kSector = 512;

// ATA opcodes, status and error bits, spelled out as the spec gives them.
constexpr uint8_t kRead28 = 0x20;
constexpr uint8_t kRead48 = 0x24;
constexpr uint8_t kWrite28 = 0x30;
constexpr uint8_t kWrite48 = 0x34;
constexpr uint8_t kIdentify = 0xEC;
constexpr uint8_t kFlushCache = 0xE7;
constexpr uint8_t kFlushCacheExt = 0xEA;
constexpr uint8_t kCheckPowerMode = 0xE5;
constexpr uint8_t kSmart = 0xB0;
constexpr uint8_t kDataSetManagement = 0x06;
constexpr uint8_t kDsmTrim = 0x01;
constexpr uint8_t kStatusOk = 0x40;
constexpr uint8_t kStatusError = 0x41;
constexpr uint8_t kErrIdnf = 0x10;
constexpr uint8_t kErrAbrt = 0x04;
constexpr uint8_t kErrUnc = 0x40;

constexpr uint8_t kDirNone = 0;
constexpr uint8_t kDirAdd = 1;
constexpr uint8_t kDirDelete = 2;

uint16_t IdentifyWord(const Reply& r, size_t word) {
  return static_cast<uint16_t>(r.U8(36 + 2 * word) | (r.U8(36 + 2 * word + 1) << 8));
}

uint64_t IdentifyLba48Capacity(const Reply& r) {
  uint64_t sectors = 0;
  for (size_t i = 0; i < 4; ++i) sectors |= uint64_t{IdentifyWord(r, 100 + i)} << (16 * i);
  return sectors;
}

Frame Region(MemoryBackend& disk, uint64_t offset, size_t size) {
  auto bytes = disk.bytes().subspan(offset, size);
  return Frame(bytes.begin(), bytes.end());
}

void Fill(MemoryBackend& disk, uint64_t offset, const Frame& data) {
  std::memcpy(disk.bytes().data() + offset, data.data(), data.size());
}

class TargetFixture : public ::testing::Test {
 protected:
  void SetUp() override { h_.AddExport(kShelf, kSlot, kDiskSectors * kSector); }

  void StartServer() { ASSERT_TRUE(h_.Start()); }

  ExportOptions& export_options() { return h_.options().exports.front(); }
  MemoryBackend& disk() { return h_.disk(kShelf, kSlot); }
  std::string path() const { return Harness::DiskPath(kShelf, kSlot); }

  static RequestHeader To(MacAddress from = kHostA) { return Harness::To(kShelf, kSlot, from); }
  MemoryPort& HostFor(MacAddress mac) {
    if (mac == kHostB) return h_.host_b();
    if (mac == kHostC) return h_.host_c();
    return h_.host_a();
  }

  std::optional<Reply> AtaCmd(const AtaRequest& request, MacAddress from = kHostA) {
    return h_.Exchange(BuildAta(To(from), request), HostFor(from));
  }
  std::optional<Reply> Identify(MacAddress from = kHostA) {
    return AtaCmd(AtaOp(kIdentify).Count(1).Lba(0xA0000000), from);
  }
  std::optional<Reply> Read(uint64_t lba, uint8_t count, uint8_t opcode = kRead48,
                            MacAddress from = kHostA) {
    uint8_t aflags = opcode == kRead48 ? 0x40 : 0x00;
    return AtaCmd(AtaOp(opcode).Flags(aflags).Count(count).Lba(lba), from);
  }
  std::optional<Reply> Write(uint64_t lba, const Frame& data, uint8_t opcode = kWrite48,
                             MacAddress from = kHostA) {
    uint8_t aflags = static_cast<uint8_t>((opcode == kWrite48 ? 0x40 : 0x00) | 0x01);
    auto count = static_cast<uint8_t>(data.size() / kSector);
    return AtaCmd(AtaOp(opcode).Flags(aflags).Count(count).Lba(lba).Data(data), from);
  }

  std::optional<Reply> QueryConfig(uint8_t ccmd, std::string_view string = {},
                                   MacAddress from = kHostA) {
    return h_.Exchange(BuildConfig(To(from), ccmd, string), HostFor(from));
  }
  std::optional<Reply> MaskList(uint8_t mcmd, const std::vector<Directive>& directives = {},
                                MacAddress from = kHostA) {
    return h_.Exchange(BuildMask(To(from), mcmd, directives), HostFor(from));
  }
  std::optional<Reply> Reservation(uint8_t rcmd, const std::vector<MacAddress>& macs = {},
                                   MacAddress from = kHostA) {
    return h_.Exchange(BuildReserve(To(from), rcmd, macs), HostFor(from));
  }

  Harness h_;
};

// A successful ATA reply: R set, E clear, status DRDY, no ATA error.
void ExpectAtaOk(const std::optional<Reply>& r) {
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ver_flags(), 0x18);
  EXPECT_EQ(r->command(), 0);
  EXPECT_EQ(r->status(), kStatusOk);
  EXPECT_EQ(r->ata_error(), 0);
}

// An ATA-level failure: status DRDY|ERR with `error`, and the AoE error flag clear.
void ExpectAtaError(const std::optional<Reply>& r, uint8_t error) {
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->status(), kStatusError);
  EXPECT_EQ(r->ata_error(), error);
}

void ExpectAoeError(const std::optional<Reply>& r, uint8_t error) {
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->response_flag());
  EXPECT_TRUE(r->error_flag());
  EXPECT_EQ(r->error(), error);
}

// ---------------------------------------------------------------------------------------------
// Issue ATA Command

class Ata : public TargetFixture {};

TEST_F(Ata, IdentifyReturnsOnePageWithStatusReady) {
  StartServer();
  auto r = Identify();
  ExpectAtaOk(r);
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->sector_count(), 0);
  EXPECT_GE(r->size(), 36u + 512u);
}

// ATA strings keep the first character of each pair in the high byte of the word.
std::string IdentifyString(const Reply& r, size_t first_word, size_t words) {
  std::string text;
  for (size_t w = first_word; w < first_word + words; ++w) {
    text.push_back(static_cast<char>(IdentifyWord(r, w) >> 8));
    text.push_back(static_cast<char>(IdentifyWord(r, w) & 0xFF));
  }
  return text.substr(0, text.find_last_not_of(' ') + 1);
}

TEST_F(Ata, IdentifySerialNamesShelfSlotAndHost) {
  StartServer();
  auto r = Identify();
  ExpectAtaOk(r);
  EXPECT_EQ(IdentifyString(*r, 10, 10), "1.2:testhost");
  EXPECT_EQ(IdentifyString(*r, 27, 20), "aoekit e1.2");
}

TEST_F(Ata, IdentifyWithSectorCountOtherThanOneIsBadArgument) {
  StartServer();
  for (uint8_t count : std::initializer_list<uint8_t>{0, 2, 255}) {
    auto r = AtaCmd(AtaOp(kIdentify).Count(count));
    ExpectAoeError(r, 2);
  }
}

TEST_F(Ata, IdentifyToWildcardAddressIsAnsweredWithRealShelfAndSlot) {
  StartServer();
  RequestHeader a = Harness::To(0xFFFF, 0xFF);
  a.destination = MacAddress::Broadcast();
  auto r = h_.Exchange(BuildAta(a, AtaOp(kIdentify).Count(1)));
  ExpectAtaOk(r);
  EXPECT_EQ(r->shelf(), kShelf);
  EXPECT_EQ(r->slot(), kSlot);
  EXPECT_EQ(r->source(), kTargetMac);
}

TEST_F(Ata, DataCommandsToAWildcardAddressAreDropped) {
  StartServer();
  uint64_t before = Checksum(disk().bytes());
  for (auto [shelf, slot] :
       {std::pair<uint16_t, uint8_t>{0xFFFF, 0xFF}, {0xFFFF, kSlot}, {kShelf, 0xFF}}) {
    RequestHeader a = Harness::To(shelf, slot);
    a.destination = MacAddress::Broadcast();
    EXPECT_FALSE(
        h_.Exchange(BuildAta(a, AtaOp(kWrite48).Count(1).Data(Pattern(kSector, 9)))).has_value());
    EXPECT_FALSE(h_.Exchange(BuildAta(a, AtaOp(kRead48).Count(1))).has_value());
  }
  EXPECT_EQ(h_.stats().dropped_wildcard_io, 6u);
  EXPECT_EQ(Checksum(disk().bytes()), before);
}

TEST_F(Ata, IdentifyCapacityEqualsExportSize) {
  StartServer();
  auto r = Identify();
  ExpectAtaOk(r);
  EXPECT_EQ(IdentifyLba48Capacity(*r), kDiskSectors);
  uint32_t lba28 = IdentifyWord(*r, 60) | (uint32_t{IdentifyWord(*r, 61)} << 16);
  EXPECT_EQ(lba28, kDiskSectors);
  EXPECT_NE(IdentifyWord(*r, 83) & (1 << 10), 0) << "LBA48 must be advertised";
  EXPECT_NE(IdentifyWord(*r, 86) & (1 << 10), 0);
}

TEST_F(Ata, Read28BitMasksDeviceBitsInLba3) {
  Frame data = Pattern(kSector, 1);
  Fill(disk(), 5 * kSector, data);
  StartServer();
  auto r = Read(5 | (uint64_t{0xE0} << 24), 1, kRead28);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(kSector), data);
}

TEST_F(Ata, Write28BitMasksDeviceBitsInLba3) {
  StartServer();
  Frame data = Pattern(2 * kSector, 2);
  auto r = Write(7 | (uint64_t{0xE0} << 24), data, kWrite28);
  ExpectAtaOk(r);
  EXPECT_EQ(Region(disk(), 7 * kSector, data.size()), data);
}

TEST_F(Ata, Read48BitDoesNotMaskHighLbaBytes) {
  StartServer();
  // 0xE0 in lba3 is an address bit for a 48-bit opcode, so this is far beyond the disk.
  auto r = Read(5 | (uint64_t{0xE0} << 24), 1, kRead48);
  ExpectAtaError(r, kErrIdnf);
}

TEST_F(Ata, Write48BitThenRead48BitRoundTrips) {
  StartServer();
  Frame data = Pattern(2 * kSector, 3);
  ExpectAtaOk(Write(100, data, kWrite48));
  EXPECT_EQ(Region(disk(), 100 * kSector, data.size()), data);
  auto r = Read(100, 2, kRead48);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(data.size()), data);
  EXPECT_GE(r->size(), 36 + data.size());
}

TEST_F(Ata, Write28BitThenRead28BitRoundTrips) {
  StartServer();
  Frame data = Pattern(kSector, 4);
  ExpectAtaOk(Write(300, data, kWrite28));
  auto r = Read(300, 1, kRead28);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(kSector), data);
}

TEST_F(Ata, ReadEndingAtLastSectorSucceeds) {
  Frame data = Pattern(2 * kSector, 5);
  Fill(disk(), (kDiskSectors - 2) * kSector, data);
  StartServer();
  auto r = Read(kDiskSectors - 2, 2);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(data.size()), data);
}

TEST_F(Ata, WriteEndingAtLastSectorSucceeds) {
  StartServer();
  Frame data = Pattern(kSector, 6);
  ExpectAtaOk(Write(kDiskSectors - 1, data));
  EXPECT_EQ(Region(disk(), (kDiskSectors - 1) * kSector, kSector), data);
}

TEST_F(Ata, ReadOnePastLastSectorIsIdNotFoundWithoutAoeError) {
  StartServer();
  ExpectAtaError(Read(kDiskSectors - 1, 2), kErrIdnf);
  ExpectAtaError(Read(kDiskSectors, 1), kErrIdnf);
  ExpectAtaError(Read(kDiskSectors, 1, kRead28), kErrIdnf);
}

TEST_F(Ata, WriteOnePastLastSectorIsIdNotFoundAndChangesNothing) {
  StartServer();
  uint64_t before = Checksum(disk().bytes());
  ExpectAtaError(Write(kDiskSectors - 1, Pattern(2 * kSector, 7)), kErrIdnf);
  ExpectAtaError(Write(kDiskSectors, Pattern(kSector, 8), kWrite28), kErrIdnf);
  EXPECT_EQ(Checksum(disk().bytes()), before);
}

TEST_F(Ata, SectorCountAboveMtuLimitIsBadArgument) {
  StartServer();  // MTU 1500: (1500 - 36) / 512 = 2 sectors
  ExpectAoeError(Read(0, 3), 2);
  ExpectAoeError(Read(0, 255, kRead28), 2);
}

TEST_F(Ata, WriteWithShortPayloadIsBadArgument) {
  StartServer();
  uint64_t before = Checksum(disk().bytes());
  auto r = AtaCmd(AtaOp(kWrite48).Flags(0x41).Count(2).Lba(0).Data(Pattern(kSector + 100, 9)));
  ExpectAoeError(r, 2);
  EXPECT_EQ(Checksum(disk().bytes()), before);
}

TEST_F(Ata, ZeroSectorCountSucceedsWithoutData) {
  StartServer();
  auto r = Read(0, 0);
  ExpectAtaOk(r);
  EXPECT_EQ(r->size(), 60u);
  EXPECT_EQ(r->ata_data(24), Frame(24)) << "no data, only padding";
  uint64_t before = Checksum(disk().bytes());
  ExpectAtaOk(AtaCmd(AtaOp(kWrite48).Flags(0x41).Count(0).Lba(0)));
  EXPECT_EQ(Checksum(disk().bytes()), before);
}

TEST_F(Ata, WriteToReadOnlyExportIsAbortedAndChangesNothing) {
  export_options().read_only = true;
  Fill(disk(), 0, Pattern(4 * kSector, 10));
  StartServer();
  uint64_t before = Checksum(disk().bytes());
  ExpectAtaError(Write(1, Pattern(kSector, 11)), kErrAbrt);
  ExpectAtaError(Write(2, Pattern(kSector, 12), kWrite28), kErrAbrt);
  EXPECT_EQ(Checksum(disk().bytes()), before);
  // Reads still work.
  auto r = Read(0, 1);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(kSector), Region(disk(), 0, kSector));
}

TEST_F(Ata, FlushCacheFlushesBackend) {
  StartServer();
  uint64_t flushes = h_.counter(path()).flushes();
  ExpectAtaOk(AtaCmd(AtaOp(kFlushCache)));
  EXPECT_EQ(h_.counter(path()).flushes(), flushes + 1);
  EXPECT_GE(disk().flush_count(), 1u);
}

TEST_F(Ata, FlushCacheExtFlushesBackend) {
  StartServer();
  uint64_t flushes = h_.counter(path()).flushes();
  ExpectAtaOk(AtaCmd(AtaOp(kFlushCacheExt).Flags(0x40)));
  EXPECT_EQ(h_.counter(path()).flushes(), flushes + 1);
}

TEST_F(Ata, FailedFlushIsAbortedWithoutAoeError) {
  StartServer();
  h_.faults(path()).set_flush_error(EIO);
  ExpectAtaError(AtaCmd(AtaOp(kFlushCache)), kErrAbrt);
}

TEST_F(Ata, CheckPowerModeReportsActive) {
  StartServer();
  auto r = AtaCmd(AtaOp(kCheckPowerMode));
  ExpectAtaOk(r);
  EXPECT_EQ(r->sector_count(), 0xFF);
}

TEST_F(Ata, SmartIsAbortedWithoutAoeError) {
  StartServer();
  auto r = AtaCmd(AtaOp(kSmart).Feature(0xD0).Count(1).Lba(0xC24F00));
  ExpectAtaError(r, kErrAbrt);
  EXPECT_EQ(r->size(), 60u) << "header-only reply";
}

TEST_F(Ata, UnknownOpcodeIsAbortedWithoutAoeError) {
  StartServer();
  for (uint8_t opcode : std::initializer_list<uint8_t>{0xC8, 0x25, 0x00, 0xFF}) {
    SCOPED_TRACE(opcode);
    ExpectAtaError(AtaCmd(AtaOp(opcode).Count(1)), kErrAbrt);
  }
}

TEST_F(Ata, ReadStorageErrorIsUncorrectableAndServingContinues) {
  Fill(disk(), 0, Pattern(kSector, 13));
  StartServer();
  FaultRule rule;
  rule.first_sector = 10;
  rule.sector_count = 1;
  h_.faults(path()).AddRule(rule);
  ExpectAtaError(Read(9, 2), kErrUnc);
  EXPECT_TRUE(h_.LogContains("read of sectors 9-10 failed"));
  auto r = Read(0, 1);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(kSector), Pattern(kSector, 13));
}

TEST_F(Ata, WriteStorageErrorIsAbortedAndServingContinues) {
  StartServer();
  FaultRule rule;
  rule.first_sector = 20;
  rule.sector_count = 1;
  rule.error = ENOSPC;
  h_.faults(path()).AddRule(rule);
  ExpectAtaError(Write(20, Pattern(kSector, 14)), kErrAbrt);
  ExpectAtaOk(Write(21, Pattern(kSector, 15)));
  EXPECT_EQ(Region(disk(), 21 * kSector, kSector), Pattern(kSector, 15));
}

// A window export: sectors [16, 48) of a 128-sector disk.
class WindowExport : public TargetFixture {
 protected:
  static constexpr uint64_t kOffset = 16;
  static constexpr uint64_t kLength = 32;
  static constexpr uint64_t kBacking = 128;

  void SetUp() override {
    h_.options().exports.clear();
    h_.AddExport(kShelf, kSlot, kBacking * kSector);
    export_options().offset_sectors = kOffset;
    export_options().length_sectors = kLength;
    Fill(disk(), 0, Pattern(kBacking * kSector, 20));
  }

  uint64_t BeforeChecksum() { return Checksum(disk().bytes().first(kOffset * kSector)); }
  uint64_t AfterChecksum() {
    return Checksum(disk().bytes().subspan((kOffset + kLength) * kSector));
  }
};

TEST_F(WindowExport, ReadsMapIntoWindow) {
  StartServer();
  auto r = Read(0, 2);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(2 * kSector), Region(disk(), kOffset * kSector, 2 * kSector));
  r = Read(kLength - 1, 1, kRead28);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(kSector), Region(disk(), (kOffset + kLength - 1) * kSector, kSector));
}

TEST_F(WindowExport, WritesMapIntoWindow) {
  StartServer();
  Frame data = Pattern(kSector, 21);
  ExpectAtaOk(Write(kLength - 1, data));
  EXPECT_EQ(Region(disk(), (kOffset + kLength - 1) * kSector, kSector), data);
}

TEST_F(WindowExport, IdentifyReportsWindowSize) {
  StartServer();
  auto r = Identify();
  ExpectAtaOk(r);
  EXPECT_EQ(IdentifyLba48Capacity(*r), kLength);
}

TEST_F(WindowExport, NoFrameChangesBytesOutsideWindow) {
  StartServer();
  uint64_t before = BeforeChecksum();
  uint64_t after = AfterChecksum();
  struct Attempt {
    uint64_t lba;
    uint8_t count;
    uint8_t opcode;
  };
  const Attempt attempts[] = {
      {kLength, 1, kWrite48},           {kLength - 1, 2, kWrite48},
      {kLength + kOffset, 1, kWrite48}, {0xFFFFFFFFFFFF, 1, kWrite48},
      {0xFFFFFFFFFFFF, 2, kWrite48},    {0xFFFFFFFFFFF0, 2, kWrite48},
      {0x0FFFFFFF, 2, kWrite28},        {kLength | (uint64_t{0xF0} << 24), 1, kWrite28},
      {uint64_t{1} << 40, 2, kWrite48},
  };
  for (const Attempt& a : attempts) {
    SCOPED_TRACE(a.lba);
    auto r = AtaCmd(
        AtaOp(a.opcode).Flags(0x41).Count(a.count).Lba(a.lba).Data(Pattern(a.count * kSector, 22)));
    ASSERT_TRUE(r.has_value());
    EXPECT_NE(r->status(), kStatusOk);
  }
  // Over-long counts and short payloads are refused before storage.
  h_.Exchange(BuildAta(
      To(),
      AtaOp(kWrite48).Flags(0x41).Count(255).Lba(kLength - 1).Data(Pattern(2 * kSector, 23))));
  EXPECT_EQ(BeforeChecksum(), before);
  EXPECT_EQ(AfterChecksum(), after);
}

TEST_F(Ata, WritingPartitionTableToLbaZeroUpdatesIdentifyGeometry) {
  StartServer();
  auto r = Identify();
  ExpectAtaOk(r);
  EXPECT_EQ(IdentifyWord(*r, 3), 255);
  EXPECT_EQ(IdentifyWord(*r, 6), 63);

  // One partition laid out for 16 heads x 32 sectors: LBA 32..1023, CHS end (1, 15, 32).
  Frame mbr(kSector);
  const size_t entry = 446;
  mbr[entry + 0] = std::byte{0x00};
  mbr[entry + 1] = std::byte{1};  // start head
  mbr[entry + 2] = std::byte{1};  // start sector
  mbr[entry + 3] = std::byte{0};  // start cylinder
  mbr[entry + 4] = std::byte{0x83};
  mbr[entry + 5] = std::byte{15};  // end head
  mbr[entry + 6] = std::byte{32};  // end sector (cylinder bits 8-9 zero)
  mbr[entry + 7] = std::byte{1};   // end cylinder
  const uint32_t start = 32;
  const uint32_t count = 992;
  for (size_t i = 0; i < 4; ++i) {
    mbr[entry + 8 + i] = std::byte{static_cast<uint8_t>(start >> (8 * i))};
    mbr[entry + 12 + i] = std::byte{static_cast<uint8_t>(count >> (8 * i))};
  }
  mbr[510] = std::byte{0x55};
  mbr[511] = std::byte{0xAA};
  ExpectAtaOk(Write(0, mbr, kWrite28));

  r = Identify();
  ExpectAtaOk(r);
  EXPECT_EQ(IdentifyWord(*r, 3), 16);
  EXPECT_EQ(IdentifyWord(*r, 6), 32);
}

TEST_F(Ata, PartitionTableOnDiskAtStartGivesIdentifyGeometry) {
  Frame mbr(kSector);
  const size_t entry = 446;
  mbr[entry + 4] = std::byte{0x0C};
  mbr[entry + 5] = std::byte{15};
  mbr[entry + 6] = std::byte{32};
  mbr[entry + 7] = std::byte{1};
  mbr[entry + 8] = std::byte{32};
  mbr[entry + 12] = std::byte{static_cast<uint8_t>(992 & 0xFF)};
  mbr[entry + 13] = std::byte{static_cast<uint8_t>(992 >> 8)};
  mbr[510] = std::byte{0x55};
  mbr[511] = std::byte{0xAA};
  Fill(disk(), 0, mbr);
  StartServer();
  auto r = Identify();
  ExpectAtaOk(r);
  EXPECT_EQ(IdentifyWord(*r, 3), 16);
  EXPECT_EQ(IdentifyWord(*r, 6), 32);
}

TEST_F(Ata, DuplicateWritesWithSameTagAreExecutedAgain) {
  StartServer();
  Frame first = Pattern(kSector, 30);
  Frame second = Pattern(kSector, 31);
  ExpectAtaOk(Write(50, first));
  ExpectAtaOk(Write(50, second));
  EXPECT_EQ(Region(disk(), 50 * kSector, kSector), second);
}

// ---------------------------------------------------------------------------------------------
// Reply framing and dispatch

class Replies : public TargetFixture {};

TEST_F(Replies, CarryVersionOneAndResponseFlag) {
  StartServer();
  auto r = Identify();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ver_flags(), 0x18);
  EXPECT_EQ(r->ether_type(), 0x88A2);
  EXPECT_EQ(r->error(), 0);
  auto c = QueryConfig(0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->ver_flags(), 0x18);
}

TEST_F(Replies, EchoTagByteExact) {
  StartServer();
  for (uint32_t tag : {0x80000001u, 0x01000000u, 0x18AE0005u, 0xFFFFFFFFu, 0u}) {
    SCOPED_TRACE(tag);
    Frame request = BuildAta(Harness::To(kShelf, kSlot, kHostA, tag), AtaOp(kIdentify).Count(1));
    auto r = h_.Exchange(request);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->Slice(20, 4), Frame(request.begin() + 20, request.begin() + 24));
    EXPECT_EQ(r->tag(), tag);
  }
}

TEST_F(Replies, AtaReplyEchoesAflagsAndLba) {
  StartServer();
  auto r = AtaCmd(AtaOp(kRead48).Flags(0x40).Count(1).Lba(0x0102));
  ExpectAtaOk(r);
  EXPECT_EQ(r->aflags(), 0x40);
  EXPECT_EQ(r->Slice(28, 6), (Frame{std::byte{0x02}, std::byte{0x01}, std::byte{0}, std::byte{0},
                                    std::byte{0}, std::byte{0}}));
  EXPECT_EQ(r->sector_count(), 0) << "no sectors left untransferred";
}

TEST_F(Replies, SwapMacsWithTargetPortMacAsSource) {
  StartServer();
  RequestHeader a = To(kHostB);
  a.destination = MacAddress::Broadcast();
  auto r = h_.Exchange(BuildConfig(a, 0, ""), h_.host_b());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->destination(), kHostB);
  EXPECT_EQ(r->source(), kTargetMac);
}

TEST_F(Replies, ArePaddedToAtLeastSixtyBytes) {
  StartServer();
  auto config = QueryConfig(0);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->size(), 60u);
  auto write = Write(0, Pattern(kSector, 40));
  ASSERT_TRUE(write.has_value());
  EXPECT_EQ(write->size(), 60u);
  auto mask = MaskList(0);
  ASSERT_TRUE(mask.has_value());
  EXPECT_EQ(mask->size(), 60u);
  auto reserve = Reservation(0);
  ASSERT_TRUE(reserve.has_value());
  EXPECT_EQ(reserve->size(), 60u);
  auto power = AtaCmd(AtaOp(kCheckPowerMode));
  ASSERT_TRUE(power.has_value());
  EXPECT_EQ(power->size(), 60u);
  EXPECT_EQ(power->Slice(36, 24), Frame(24));
}

TEST_F(Replies, TrailingBytesAfterRequestAreIgnored) {
  StartServer();
  auto r = h_.Exchange(BuildAta(To(), AtaOp(kIdentify).Count(1).PadTo(1024)));
  ExpectAtaOk(r);
  // Linux's probe: a READ whose request carries maxbcnt bytes of zeros.
  Fill(disk(), 0, Pattern(2 * kSector, 41));
  r = h_.Exchange(BuildAta(To(), AtaOp(kRead48).Flags(0x40).Count(2).Data(Frame(2 * kSector))));
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(2 * kSector), Pattern(2 * kSector, 41));
  // A config read padded to 60 bytes.
  Frame config = BuildConfig(To(), 0, "");
  config.resize(60);
  EXPECT_TRUE(h_.Exchange(config).has_value());
}

TEST_F(Replies, RequestsWithResponseFlagAreIgnored) {
  StartServer();
  // Let the frame through the port's filter so the target's own check is exercised.
  h_.target_port().set_role(PortRole::kAny);
  RequestHeader a = To();
  a.ver_flags = 0x18;
  EXPECT_FALSE(h_.Exchange(BuildAta(a, AtaOp(kIdentify).Count(1))).has_value());
  EXPECT_FALSE(h_.Exchange(BuildConfig(a, 0, "")).has_value());
  EXPECT_EQ(h_.stats().dropped_response, 2u);
  EXPECT_TRUE(Identify().has_value());
}

TEST_F(Replies, RuntsAreDroppedAndCounted) {
  StartServer();
  Frame full = BuildAta(To(), AtaOp(kIdentify).Count(1));
  // Shorter than the common header, shorter than the ATA header.
  for (size_t size : {15u, 20u, 23u, 24u, 30u, 35u}) {
    SCOPED_TRACE(size);
    Frame runt(full.begin(), full.begin() + static_cast<ptrdiff_t>(size));
    EXPECT_FALSE(h_.Exchange(runt).has_value());
  }
  // Runts of the other commands.
  Frame config = BuildConfig(To(), 0, "");
  EXPECT_FALSE(h_.Exchange(Frame(config.begin(), config.begin() + 31)).has_value());
  Frame mask = BuildMask(To(), 0, {});
  EXPECT_FALSE(h_.Exchange(Frame(mask.begin(), mask.begin() + 27)).has_value());
  Frame reserve = BuildReserve(To(), 0, {});
  EXPECT_FALSE(h_.Exchange(Frame(reserve.begin(), reserve.begin() + 25)).has_value());
  EXPECT_EQ(h_.stats().dropped_runt, 9u);
  ExpectAtaOk(Identify());
}

TEST_F(Replies, UnsupportedVersionIsError5) {
  StartServer();
  for (uint8_t ver_flags : std::initializer_list<uint8_t>{0x20, 0x00, 0xF0}) {
    SCOPED_TRACE(ver_flags);
    RequestHeader a = To();
    a.ver_flags = ver_flags;
    auto r = h_.Exchange(BuildAta(a, AtaOp(kIdentify).Count(1)));
    ExpectAoeError(r, 5);
    EXPECT_EQ(r->shelf(), kShelf);
    EXPECT_EQ(r->slot(), kSlot);
  }
  EXPECT_EQ(h_.stats().refused_bad_version, 3u);
}

TEST_F(Replies, UnknownCommandIsError1WithBodyEchoed) {
  StartServer();
  for (uint8_t command : std::initializer_list<uint8_t>{4, 7, 0xF0, 0xFF}) {
    SCOPED_TRACE(command);
    Frame request = BuildHeader(To(), command, 24);
    Frame body = Pattern(40, command);
    request.insert(request.end(), body.begin(), body.end());
    auto r = h_.Exchange(request);
    ExpectAoeError(r, 1);
    EXPECT_EQ(r->command(), command);
    EXPECT_EQ(r->Slice(24, body.size()), body);
  }
}

TEST_F(Replies, FramesForAnotherShelfOrSlotGetNoReply) {
  StartServer();
  for (auto [shelf, slot] :
       {std::pair<uint16_t, uint8_t>{kShelf, 3}, {2, kSlot}, {0xFFFF, 3}, {0, 0xFF}}) {
    SCOPED_TRACE(testing::Message() << shelf << "." << int{slot});
    EXPECT_FALSE(
        h_.Exchange(BuildAta(Harness::To(shelf, slot), AtaOp(kIdentify).Count(1))).has_value());
  }
  EXPECT_EQ(h_.stats().dropped_not_for_us, 4u);
}

TEST_F(Replies, ShelfAndSlotWildcardsMatchEachOnTheirOwn) {
  StartServer();
  for (auto [shelf, slot] : {std::pair<uint16_t, uint8_t>{0xFFFF, kSlot}, {kShelf, 0xFF}}) {
    auto r = h_.Exchange(BuildConfig(Harness::To(shelf, slot), 0, ""));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->shelf(), kShelf);
    EXPECT_EQ(r->slot(), kSlot);
  }
}

// ---------------------------------------------------------------------------------------------
// Query Config Information

class Config : public TargetFixture {};

TEST_F(Config, ReadReturnsCurrentStringAndParameters) {
  StartServer();
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->command(), 1);
  EXPECT_EQ(r->buffer_count(), 16);
  EXPECT_EQ(r->firmware_version(), kFirmwareVersion);
  EXPECT_EQ(r->config_sector_count(), 2);
  EXPECT_EQ(r->config_version(), 1);
  EXPECT_EQ(r->ccmd(), 0);
  EXPECT_EQ(r->config_length(), 0);

  ASSERT_TRUE(QueryConfig(4, "host-a").has_value());
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "host-a");
}

TEST_F(Config, BufferCountMatchesOptions) {
  for (uint16_t count : std::initializer_list<uint16_t>{2, 64, 300}) {
    SCOPED_TRACE(count);
    h_.options().buffer_count = count;
    ASSERT_TRUE(h_.Restart());
    auto r = QueryConfig(0);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->buffer_count(), count);
    EXPECT_GE(r->buffer_count(), 2);
  }
}

TEST_F(Config, SectorCountFollowsPortMtu) {
  StartServer();
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_sector_count(), 2);  // (1500 - 36) / 512
  h_.target_port().set_mtu(9000);
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_sector_count(), 17);  // (9000 - 36) / 512
  h_.target_port().set_mtu(4200);
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_sector_count(), 8);
}

TEST_F(Config, ReplyEchoesCcmd) {
  StartServer();
  for (uint8_t ccmd : std::initializer_list<uint8_t>{0, 2, 3, 4}) {
    SCOPED_TRACE(ccmd);
    auto r = QueryConfig(ccmd, "");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->U8(29), 0x10 | ccmd);
  }
}

TEST_F(Config, ReadIgnoresFillerString) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "abc").has_value());
  Frame filler(1024, std::byte{0xED});
  auto r = h_.Exchange(BuildConfig(To(), 0, filler));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->config_string(), "abc");
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "abc");
}

TEST_F(Config, TestExactRepliesOnlyOnExactMatch) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "host1").has_value());
  auto r = QueryConfig(1, "host1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "host1");
  EXPECT_EQ(r->ccmd(), 1);
  for (std::string_view other : {"host", "host12", "", "HOST1", "hosT1"}) {
    SCOPED_TRACE(other);
    EXPECT_FALSE(QueryConfig(1, other).has_value());
  }
}

TEST_F(Config, TestExactOfEmptyStringMatchesEmptyString) {
  StartServer();
  EXPECT_TRUE(QueryConfig(1, "").has_value());
  EXPECT_FALSE(QueryConfig(1, "x").has_value());
}

TEST_F(Config, TestPrefixRepliesOnlyForPrefix) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "host1").has_value());
  for (std::string_view prefix : {"", "h", "host", "host1"}) {
    SCOPED_TRACE(prefix);
    auto r = QueryConfig(2, prefix);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->config_string(), "host1");
  }
  for (std::string_view other : {"x", "host12", "ost", "hosT"}) {
    SCOPED_TRACE(other);
    EXPECT_FALSE(QueryConfig(2, other).has_value());
  }
}

TEST_F(Config, SetIfEmptySetsWhenEmpty) {
  StartServer();
  auto r = QueryConfig(3, "claimed-by-a");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->config_string(), "claimed-by-a");
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "claimed-by-a");
}

TEST_F(Config, SetIfEmptyAcceptsIdenticalString) {
  StartServer();
  ASSERT_TRUE(QueryConfig(3, "same").has_value());
  auto r = QueryConfig(3, "same", kHostB);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->config_string(), "same");
}

TEST_F(Config, SetIfEmptyWithDifferentStringIsError4WithCurrentString) {
  StartServer();
  ASSERT_TRUE(QueryConfig(3, "first").has_value());
  auto r = QueryConfig(3, "second", kHostB);
  ExpectAoeError(r, 4);
  EXPECT_EQ(r->config_string(), "first");
  EXPECT_EQ(r->config_version(), 1);
  EXPECT_EQ(r->ccmd(), 3);
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "first");
}

TEST_F(Config, ForceSetAlwaysSets) {
  StartServer();
  ASSERT_TRUE(QueryConfig(3, "first").has_value());
  for (std::string_view s : {"second", "", "third"}) {
    auto r = QueryConfig(4, s, kHostB);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->error_flag());
    EXPECT_EQ(r->config_string(), s);
  }
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "third");
}

TEST_F(Config, ConfigStringIsOpaqueBytes) {
  StartServer();
  Frame binary = Pattern(1024, 50);
  binary[0] = std::byte{0};
  auto r = h_.Exchange(BuildConfig(To(), 4, binary));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_length(), 1024);
  EXPECT_EQ(r->Slice(32, 1024), binary);
  EXPECT_EQ(r->size(), 32u + 1024u);
}

TEST_F(Config, UnknownCcmdIsBadArgument) {
  StartServer();
  for (uint8_t ccmd = 5; ccmd < 16; ++ccmd) {
    SCOPED_TRACE(ccmd);
    ExpectAoeError(QueryConfig(ccmd, "x"), 2);
  }
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "");
}

TEST_F(Config, StringLongerThan1024IsDropped) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "keep").has_value());
  Frame big = Pattern(1025, 51);
  for (uint8_t ccmd : std::initializer_list<uint8_t>{1, 2, 3, 4}) {
    SCOPED_TRACE(ccmd);
    EXPECT_FALSE(h_.Exchange(BuildConfig(To(), ccmd, big)).has_value());
  }
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "keep");
  EXPECT_EQ(h_.stats().dropped_bad_config, 4u);
}

TEST_F(Config, StringLongerThanFrameIsDropped) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "keep").has_value());
  for (uint8_t ccmd : std::initializer_list<uint8_t>{1, 2, 3, 4}) {
    SCOPED_TRACE(ccmd);
    EXPECT_FALSE(h_.Exchange(BuildConfig(To(), ccmd, "short", uint16_t{100})).has_value());
  }
  ASSERT_TRUE(QueryConfig(4, "").has_value());
  // Even into an empty string, set-if-empty must not take a string the frame does not hold.
  EXPECT_FALSE(h_.Exchange(BuildConfig(To(), 3, "short", uint16_t{6})).has_value());
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "");
}

TEST_F(Config, BroadcastQueryGetsOneReplyPerExport) {
  h_.AddExport(kShelf, 7, 64 * kSector);
  h_.AddExport(9, 0, 64 * kSector);
  StartServer();
  RequestHeader a = Harness::To(0xFFFF, 0xFF);
  a.destination = MacAddress::Broadcast();
  a.tag = 0;
  h_.Send(BuildConfig(a, 0, ""), h_.host_a());
  h_.Settle();
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), 3u);
  std::vector<std::pair<uint16_t, uint8_t>> addresses;
  for (const auto& r : replies) {
    EXPECT_EQ(r.ver_flags(), 0x18);
    EXPECT_EQ(r.command(), 1);
    EXPECT_EQ(r.destination(), kHostA);
    addresses.emplace_back(r.shelf(), r.slot());
  }
  std::sort(addresses.begin(), addresses.end());
  std::vector<std::pair<uint16_t, uint8_t>> expected = {{kShelf, kSlot}, {kShelf, 7}, {9, 0}};
  EXPECT_EQ(addresses, expected);

  // Shelf 1, any slot: two of them.
  h_.Send(BuildConfig(Harness::To(kShelf, 0xFF), 0, ""), h_.host_a());
  h_.Settle();
  EXPECT_EQ(h_.Collect(h_.host_a()).size(), 2u);
}

TEST_F(Config, BroadcastIdentifyGetsOneReplyPerExport) {
  h_.AddExport(kShelf, 7, 64 * kSector);
  StartServer();
  RequestHeader a = Harness::To(0xFFFF, 0xFF);
  a.destination = MacAddress::Broadcast();
  h_.Send(BuildAta(a, AtaOp(kIdentify).Count(1)), h_.host_a());
  h_.Settle();
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), 2u);
  std::vector<uint64_t> capacities;
  for (const auto& r : replies) capacities.push_back(IdentifyLba48Capacity(r));
  std::sort(capacities.begin(), capacities.end());
  EXPECT_EQ(capacities, (std::vector<uint64_t>{64, kDiskSectors}));
}

TEST_F(Config, StringPersistsAcrossRestart) {
  StartServer();
  ASSERT_TRUE(QueryConfig(3, "owner=a").has_value());
  ASSERT_TRUE(h_.Restart());
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "owner=a");
}

// ---------------------------------------------------------------------------------------------
// MAC Mask List

class Mask : public TargetFixture {};

std::vector<MacAddress> MacsOf(const Reply& r) {
  std::vector<MacAddress> macs;
  for (const auto& d : r.directives()) {
    EXPECT_EQ(d.dcmd, kDirNone);
    macs.push_back(d.mac);
  }
  return macs;
}

MacAddress Numbered(size_t i) {
  return MacAddress(
      {0x02, 0x10, 0x00, 0x00, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
}

TEST_F(Mask, ReadOfEmptyListHasNoEntries) {
  StartServer();
  auto r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->command(), 2);
  EXPECT_EQ(r->mcmd(), 0);
  EXPECT_EQ(r->merror(), 0);
  EXPECT_EQ(r->directive_count(), 0);
}

TEST_F(Mask, EditAppliesDirectivesInOrderAndListsAllEntries) {
  StartServer();
  auto r = MaskList(1, {{kDirAdd, kHostA},
                        {kDirAdd, kHostB},
                        {kDirAdd, kHostC},
                        {kDirDelete, kHostB},
                        {kDirNone, kHostB},
                        {kDirDelete, Numbered(1)}});  // absent: ignored
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->mcmd(), 1);
  EXPECT_EQ(r->merror(), 0);
  EXPECT_EQ(MacsOf(*r), (std::vector<MacAddress>{kHostA, kHostC}));
  r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), (std::vector<MacAddress>{kHostA, kHostC}));
}

TEST_F(Mask, AddingExistingMacIsNoOp) {
  StartServer();
  auto r = MaskList(1, {{kDirAdd, kHostA}, {kDirAdd, kHostA}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->merror(), 0);
  EXPECT_EQ(MacsOf(*r), std::vector<MacAddress>{kHostA});
  r = MaskList(1, {{kDirAdd, kHostA}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), std::vector<MacAddress>{kHostA});
}

TEST_F(Mask, UnknownDcmdFailsAtItsIndexAndKeepsEarlierDirectives) {
  StartServer();
  auto r = MaskList(1, {{kDirAdd, kHostA}, {kDirAdd, kHostB}, {7, kHostC}, {kDirAdd, kHostC}});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag()) << "MError, not the AoE error flag";
  EXPECT_EQ(r->merror(), 2);
  EXPECT_EQ(r->directive_count(), 2);
  r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), (std::vector<MacAddress>{kHostA, kHostB}));
}

TEST_F(Mask, FullListIsMError3) {
  StartServer();
  std::vector<Directive> adds = {{kDirAdd, kHostA}};
  for (size_t i = 0; i < 170; ++i) adds.push_back({kDirAdd, Numbered(i)});
  auto r = MaskList(1, adds);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->merror(), 3);
  size_t failed_at = r->directive_count();
  EXPECT_GE(failed_at, 32u) << "at least vblade's capacity";
  r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->directive_count(), failed_at) << "every directive before the failure applied";
  // The list stays usable: deleting one makes room for another.
  r = MaskList(1, {{kDirDelete, Numbered(0)}, {kDirAdd, kHostB}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->merror(), 0);
  EXPECT_EQ(r->directive_count(), failed_at);
}

TEST_F(Mask, UnknownMcmdIsBadArgument) {
  StartServer();
  for (uint8_t mcmd : std::initializer_list<uint8_t>{2, 3, 0xFF}) ExpectAoeError(MaskList(mcmd), 2);
}

TEST_F(Mask, NonEmptyListSilencesOtherHosts) {
  StartServer();
  ASSERT_TRUE(MaskList(1, {{kDirAdd, kHostA}}).has_value());
  EXPECT_FALSE(QueryConfig(0, "", kHostB).has_value());
  EXPECT_FALSE(Identify(kHostB).has_value());
  EXPECT_FALSE(Read(0, 1, kRead48, kHostB).has_value());
  EXPECT_FALSE(MaskList(0, {}, kHostB).has_value());
  EXPECT_FALSE(MaskList(1, {{kDirAdd, kHostB}}, kHostB).has_value());
  EXPECT_FALSE(Reservation(0, {}, kHostB).has_value());
  EXPECT_GE(h_.stats().dropped_masked, 6u);
  ExpectAtaOk(Identify(kHostA));
  ExpectAtaOk(Read(0, 1));
  EXPECT_TRUE(QueryConfig(0).has_value());
  // Once the list is empty again everybody is served.
  ASSERT_TRUE(MaskList(1, {{kDirDelete, kHostA}}).has_value());
  EXPECT_TRUE(QueryConfig(0, "", kHostB).has_value());
}

TEST_F(Mask, DirectiveCountBeyondFrameIsBadArgument) {
  StartServer();
  auto r = h_.Exchange(BuildMask(To(), 1, {{kDirAdd, kHostB}}, uint8_t{3}));
  ExpectAoeError(r, 2);
  r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->directive_count(), 0) << "nothing applied";
}

TEST_F(Mask, ListPersistsAcrossRestart) {
  StartServer();
  ASSERT_TRUE(MaskList(1, {{kDirAdd, kHostA}, {kDirAdd, kHostC}}).has_value());
  ASSERT_TRUE(h_.Restart());
  EXPECT_FALSE(QueryConfig(0, "", kHostB).has_value());
  auto r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), (std::vector<MacAddress>{kHostA, kHostC}));
}

TEST_F(Mask, OptionsMaskSeedsNewExport) {
  export_options().mask = {kHostA};
  StartServer();
  EXPECT_FALSE(QueryConfig(0, "", kHostB).has_value());
  auto r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), std::vector<MacAddress>{kHostA});
}

TEST_F(Mask, WireEditSurvivesRestartWithUnchangedConfiguration) {
  export_options().mask = {kHostA};
  StartServer();
  ASSERT_TRUE(MaskList(1, {{kDirAdd, kHostB}}).has_value());
  ASSERT_TRUE(h_.Restart());
  EXPECT_TRUE(QueryConfig(0, "", kHostA).has_value());
  EXPECT_TRUE(QueryConfig(0, "", kHostB).has_value());
  EXPECT_FALSE(QueryConfig(0, "", kHostC).has_value());
}

TEST_F(Mask, ChangedConfigurationReplacesTheSavedList) {
  export_options().mask = {kHostA};
  StartServer();
  ASSERT_TRUE(MaskList(1, {{kDirAdd, kHostB}}).has_value());
  export_options().mask = {kHostC};  // the administrator edits the configuration
  ASSERT_TRUE(h_.Restart());
  EXPECT_TRUE(QueryConfig(0, "", kHostC).has_value());
  EXPECT_FALSE(QueryConfig(0, "", kHostB).has_value());
  EXPECT_FALSE(QueryConfig(0, "", kHostA).has_value());
}

// ---------------------------------------------------------------------------------------------
// Reserve/Release

class Reserve : public TargetFixture {};

TEST_F(Reserve, ReadOfEmptyReservation) {
  StartServer();
  auto r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->command(), 3);
  EXPECT_EQ(r->rcmd(), 0);
  EXPECT_EQ(r->mac_count(), 0);
}

TEST_F(Reserve, SetWhenEmptySucceedsAndReturnsList) {
  StartServer();
  auto r = Reservation(1, {kHostA, kHostC});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->rcmd(), 1);
  EXPECT_EQ(r->reserve_macs(), (std::vector<MacAddress>{kHostA, kHostC}));
  r = Reservation(0, {}, kHostB);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reserve_macs(), (std::vector<MacAddress>{kHostA, kHostC}));
}

TEST_F(Reserve, SetByOtherHostWhileHeldIsError6WithCurrentList) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  auto r = Reservation(1, {kHostB}, kHostB);
  ExpectAoeError(r, 6);
  EXPECT_EQ(r->reserve_macs(), std::vector<MacAddress>{kHostA});
  r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reserve_macs(), std::vector<MacAddress>{kHostA});
}

TEST_F(Reserve, HolderMaySetAgain) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  auto r = Reservation(1, {kHostA, kHostB});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->reserve_macs(), (std::vector<MacAddress>{kHostA, kHostB}));
}

TEST_F(Reserve, ForceSetByOtherHostReplaces) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  auto r = Reservation(2, {kHostB}, kHostB);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->rcmd(), 2);
  EXPECT_EQ(r->reserve_macs(), std::vector<MacAddress>{kHostB});
  ExpectAoeError(Read(0, 1), 6);  // A lost it
}

TEST_F(Reserve, SetWithNoMacsByHolderReleases) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  auto r = Reservation(1, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->mac_count(), 0);
  ExpectAtaOk(Read(0, 1, kRead48, kHostB));
}

TEST_F(Reserve, OtherHostIoIsRefusedAndChangesNothing) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  uint64_t before = Checksum(disk().bytes());
  ExpectAoeError(Read(0, 1, kRead48, kHostB), 6);
  ExpectAoeError(Write(0, Pattern(kSector, 60), kWrite48, kHostB), 6);
  ExpectAoeError(Write(1, Pattern(kSector, 61), kWrite28, kHostB), 6);
  EXPECT_EQ(Checksum(disk().bytes()), before);
  EXPECT_GE(h_.stats().refused_reserved, 3u);
  // IDENTIFY stays open to everyone; config queries too.
  ExpectAtaOk(Identify(kHostB));
  EXPECT_TRUE(QueryConfig(0, "", kHostB).has_value());
  // The holder's I/O works.
  Frame data = Pattern(kSector, 62);
  ExpectAtaOk(Write(3, data));
  auto r = Read(3, 1);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(kSector), data);
}

TEST_F(Reserve, UnknownRcmdIsBadArgument) {
  StartServer();
  for (uint8_t rcmd : std::initializer_list<uint8_t>{3, 0x10, 0xFF})
    ExpectAoeError(Reservation(rcmd, {kHostA}), 2);
  auto r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->mac_count(), 0);
}

TEST_F(Reserve, MacCountBeyondFrameIsBadArgument) {
  StartServer();
  auto r = h_.Exchange(BuildReserve(To(), 1, {kHostA}, uint8_t{5}));
  ExpectAoeError(r, 2);
  r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->mac_count(), 0);
}

TEST_F(Reserve, ReservationPersistsAcrossRestart) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  ASSERT_TRUE(h_.Restart());
  ExpectAoeError(Read(0, 1, kRead48, kHostB), 6);
  auto r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reserve_macs(), std::vector<MacAddress>{kHostA});
}

// ---------------------------------------------------------------------------------------------
// Announcements

class Announce : public TargetFixture {};

TEST_F(Announce, OnStartBroadcastsConfigReplyPerExport) {
  h_.AddExport(kShelf, 7, 64 * kSector);
  h_.options().announce = true;
  StartServer();
  for (MemoryPort* host : {&h_.host_a(), &h_.host_b()}) {
    auto frames = h_.Collect(*host);
    ASSERT_EQ(frames.size(), 2u);
    std::vector<uint8_t> slots;
    for (const auto& r : frames) {
      EXPECT_EQ(r.ver_flags(), 0x18);
      EXPECT_EQ(r.tag(), 0u);
      EXPECT_EQ(r.command(), 1);
      EXPECT_TRUE(r.destination().is_broadcast());
      EXPECT_EQ(r.source(), kTargetMac);
      EXPECT_EQ(r.shelf(), kShelf);
      EXPECT_EQ(r.buffer_count(), 16);
      EXPECT_EQ(r.config_sector_count(), 2);
      EXPECT_EQ(r.config_version(), 1);
      EXPECT_EQ(r.ccmd(), 0);
      EXPECT_GE(r.size(), 60u);
      slots.push_back(r.slot());
    }
    std::sort(slots.begin(), slots.end());
    EXPECT_EQ(slots, (std::vector<uint8_t>{kSlot, 7}));
  }
}

TEST_F(Announce, CarriesTheConfigString) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "owned").has_value());
  h_.options().announce = true;
  ASSERT_TRUE(h_.Restart());
  auto frames = h_.Collect(h_.host_b());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].config_string(), "owned");
}

TEST_F(Announce, WithMaskListUnicastsToEachListedMac) {
  export_options().mask = {kHostA, kHostC};
  h_.options().announce = true;
  StartServer();
  for (auto [host, mac] : {std::pair{&h_.host_a(), kHostA}, std::pair{&h_.host_c(), kHostC}}) {
    auto frames = h_.Collect(*host);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].destination(), mac);
    EXPECT_EQ(frames[0].ver_flags(), 0x18);
    EXPECT_EQ(frames[0].tag(), 0u);
  }
  EXPECT_TRUE(h_.Collect(h_.host_b()).empty());
}

TEST_F(Announce, NothingIsSentWhenDisabled) {
  StartServer();
  h_.Settle();
  EXPECT_TRUE(h_.Collect(h_.host_a()).empty());
}

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
// DATA SET MANAGEMENT / TRIM

class Trim : public TargetFixture {
 protected:
  // One 512-byte block of range entries: (lba, count) pairs, the rest unused.
  static Frame Ranges(std::initializer_list<std::pair<uint64_t, uint16_t>> ranges) {
    Frame block(kSector);
    size_t i = 0;
    for (auto [lba, count] : ranges) {
      proto::EncodeDsmRange({lba, count}, block, i++);
    }
    return block;
  }
  std::optional<Reply> TrimCmd(const Frame& ranges, uint8_t feature = kDsmTrim) {
    return AtaCmd(AtaOp(kDataSetManagement)
                      .Flags(0x41)
                      .Feature(feature)
                      .Count(static_cast<uint8_t>(ranges.size() / kSector))
                      .Data(ranges));
  }
};

TEST_F(Trim, IdentifyAdvertisesTrimThatReadsZeroes) {
  StartServer();
  auto r = Identify();
  ExpectAtaOk(r);
  EXPECT_EQ(IdentifyWord(*r, 169) & 1, 1);
  EXPECT_EQ(IdentifyWord(*r, 105), 1);
  EXPECT_EQ(IdentifyWord(*r, 69), 0x4020);
}

TEST_F(Trim, EveryRangeIsDiscardedAndNothingElse) {
  Fill(disk(), 0, Pattern(kDiskSectors * kSector, 9));
  StartServer();
  ExpectAtaOk(TrimCmd(Ranges({{10, 4}, {100, 1}, {2000, 48}})));
  EXPECT_EQ(h_.counter(path()).trims(), 3u);
  Frame expected = Pattern(kDiskSectors * kSector, 9);
  for (auto [lba, count] : {std::pair{10, 4}, std::pair{100, 1}, std::pair{2000, 48}}) {
    std::fill(expected.begin() + lba * kSector, expected.begin() + (lba + count) * kSector,
              std::byte{0});
  }
  EXPECT_EQ(Region(disk(), 0, kDiskSectors * kSector), expected);
}

TEST_F(Trim, ARangePastTheEndAbortsAndTrimsNothing) {
  Fill(disk(), 0, Pattern(kDiskSectors * kSector, 9));
  StartServer();
  ExpectAtaError(TrimCmd(Ranges({{10, 4}, {kDiskSectors - 1, 2}})), kErrAbrt);
  EXPECT_EQ(h_.counter(path()).trims(), 0u);
  EXPECT_EQ(Region(disk(), 0, kDiskSectors * kSector), Pattern(kDiskSectors * kSector, 9));
}

TEST_F(Trim, ReadOnlyExportRefusesTrimWithAbort) {
  export_options().read_only = true;
  Fill(disk(), 0, Pattern(kDiskSectors * kSector, 9));
  StartServer();
  auto r = Identify();
  EXPECT_EQ(IdentifyWord(*r, 169) & 1, 0) << "not advertised on a read-only export";
  ExpectAtaError(TrimCmd(Ranges({{10, 4}})), kErrAbrt);
  EXPECT_EQ(Region(disk(), 0, kDiskSectors * kSector), Pattern(kDiskSectors * kSector, 9));
}

TEST_F(Trim, OtherDataSetManagementFunctionsAreAborted) {
  StartServer();
  ExpectAtaError(TrimCmd(Ranges({{10, 4}}), /*feature=*/0x00), kErrAbrt);
  EXPECT_EQ(h_.counter(path()).trims(), 0u);
}

TEST_F(Trim, AShortRangeListIsABadArgument) {
  StartServer();
  Frame half(kSector / 2);
  auto r = AtaCmd(AtaOp(kDataSetManagement).Flags(0x41).Feature(kDsmTrim).Count(1).Data(half));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ver_flags(), 0x1C);
  EXPECT_EQ(r->error(), 2);
}

TEST_F(Trim, AStorageErrorIsAborted) {
  StartServer();
  h_.faults(path()).AddRule(FaultRule{.first_sector = 100, .sector_count = 1});
  ExpectAtaError(TrimCmd(Ranges({{10, 4}, {100, 1}})), kErrAbrt);
}

TEST_F(Trim, AnEmptyRangeListSucceedsWithoutTouchingStorage) {
  StartServer();
  ExpectAtaOk(TrimCmd(Ranges({})));
  EXPECT_EQ(h_.counter(path()).trims(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Overlay exports (overlay=DIR): one copy-on-write overlay per initiator over the image

class OverlayExport : public TargetFixture {
 protected:
  void SetUp() override {
    TargetFixture::SetUp();
    export_options().overlay_dir = h_.state_dir() + "-overlay";
    Fill(disk(), 0, Pattern(kDiskSectors * kSector, 3));
  }
  // Overlay files are real files on io_uring: the reply comes after a few polls, not at once.
  std::optional<Reply> Await(const AtaRequest& request, MacAddress from) {
    h_.Send(BuildAta(To(from), request), HostFor(from));
    std::vector<Reply> replies = h_.Await(HostFor(from), 1);
    if (replies.empty()) return std::nullopt;
    return std::move(replies.front());
  }
  std::optional<Reply> Write(uint64_t lba, const Frame& data, MacAddress from) {
    auto count = static_cast<uint8_t>(data.size() / kSector);
    return Await(AtaOp(kWrite48).Flags(0x41).Count(count).Lba(lba).Data(data), from);
  }
  std::optional<Reply> Read(uint64_t lba, uint8_t count, MacAddress from) {
    return Await(AtaOp(kRead48).Flags(0x40).Count(count).Lba(lba), from);
  }
};

TEST_F(OverlayExport, EachInitiatorReadsItsOwnSectorsAndTheImageNeverChanges) {
  StartServer();
  const Frame image = Region(disk(), 0, kDiskSectors * kSector);
  ExpectAtaOk(Write(5, Pattern(2 * kSector, 0xa), kHostA));
  ExpectAtaOk(Write(5, Pattern(2 * kSector, 0xb), kHostB));
  auto a = Read(5, 2, kHostA);
  auto b = Read(5, 2, kHostB);
  auto c = Read(5, 2, kHostC);
  ExpectAtaOk(a);
  ExpectAtaOk(b);
  ExpectAtaOk(c);
  EXPECT_EQ(a->ata_data(2 * kSector), Pattern(2 * kSector, 0xa));
  EXPECT_EQ(b->ata_data(2 * kSector), Pattern(2 * kSector, 0xb));
  EXPECT_EQ(c->ata_data(2 * kSector), Region(disk(), 5 * kSector, 2 * kSector));
  EXPECT_EQ(Region(disk(), 0, kDiskSectors * kSector), image);
  EXPECT_EQ(h_.counter(path()).writes(), 0u) << "the image is opened read-only and never written";
  ASSERT_EQ(h_.server().exports().size(), 1u);
  ASSERT_NE(h_.server().exports()[0]->overlay(), nullptr);
  EXPECT_EQ(h_.server().exports()[0]->overlay()->Clients().size(), 2u);
}

TEST_F(OverlayExport, OverlaysSurviveARestart) {
  StartServer();
  ExpectAtaOk(Write(9, Pattern(kSector, 0xd), kHostB));
  ASSERT_TRUE(h_.Restart());
  auto b = Read(9, 1, kHostB);
  ExpectAtaOk(b);
  EXPECT_EQ(b->ata_data(kSector), Pattern(kSector, 0xd));
}

TEST_F(OverlayExport, IdentifyAdvertisesTrimButNotZeroesAfterIt) {
  StartServer();
  auto r = Identify();
  ExpectAtaOk(r);
  EXPECT_EQ(IdentifyWord(*r, 169) & 1, 1) << "TRIM supported";
  EXPECT_EQ(IdentifyWord(*r, 69) & 0x20, 0) << "a trimmed sector reads the image again";
}

TEST_F(OverlayExport, TrimDropsTheClientsBlocksSoReadsFallBackToTheImage) {
  StartServer();
  // Block 2 (sectors 16-23), two sectors per frame at MTU 1500.
  for (uint64_t lba = 16; lba < 24; lba += 2)
    ExpectAtaOk(Write(lba, Pattern(2 * kSector, 0xe), kHostA));
  Frame ranges(kSector);
  proto::EncodeDsmRange({16, 8}, ranges, 0);
  ExpectAtaOk(
      Await(AtaOp(kDataSetManagement).Flags(0x41).Feature(kDsmTrim).Count(1).Data(ranges), kHostA));
  for (uint64_t lba = 16; lba < 24; lba += 2) {
    auto a = Read(lba, 2, kHostA);
    ExpectAtaOk(a);
    EXPECT_EQ(a->ata_data(2 * kSector), Region(disk(), lba * kSector, 2 * kSector));
  }
}

TEST_F(OverlayExport, AReadOnlyOverlayExportIsRefused) {
  export_options().read_only = true;
  EXPECT_NE(ValidateOptions(h_.options()), "");
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

}  // namespace
}  // namespace aoe::target
