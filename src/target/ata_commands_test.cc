// The target's answers to ATA commands (aoe-protocol.md §2): IDENTIFY, reads and writes with
// 28- and 48-bit LBAs, the disk's edges, FLUSH, other opcodes, storage errors, exports that are
// a window of their image, the geometry IDENTIFY derives from the partition table, and
// DATA SET MANAGEMENT / TRIM.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "target/testing/target_fixture.h"

namespace aoe::target::testkit {
namespace {

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
  EXPECT_TRUE(h_.LogContains("read of sectors 9-10 by "));
  EXPECT_TRUE(h_.LogContains(" failed: Input/output error"));
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

// The counts of "e1.2: N more ... suppressed" lines, added up.
uint64_t SuppressedIn(const std::vector<std::string>& summaries) {
  uint64_t total = 0;
  for (const std::string& line : summaries) {
    const size_t more = line.find(" more \"");
    const size_t count_at = line.rfind(' ', more - 1) + 1;
    total += std::stoull(line.substr(count_at, more - count_at));
  }
  return total;
}

// A host that keeps writing to storage that fails (a full overlay, a disk that errs for a
// while) used to get one log line per command: one ENOSPC burst logged over a hundred.
// Per export and kind, the first ten lines of a 5 s interval are logged in full, the rest
// counted and reported in one line; another export's failure is still logged at once.
TEST_F(Ata, AFloodOfFailingWritesLogsTheFirstLinesInFullAndACountOfTheRest) {
  h_.AddExport(kShelf, kSlot + 1, kDiskSectors * kSector);
  StartServer();
  h_.faults(path()).AddRule(FaultRule{.first_sector = 20, .sector_count = 1, .error = ENOSPC});
  h_.faults(Harness::DiskPath(kShelf, kSlot + 1)).AddRule(FaultRule{.first_sector = 30});
  constexpr uint64_t kFailed = 200;
  const auto started = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < kFailed; ++i) ExpectAtaError(Write(20, Pattern(kSector, 14)), kErrAbrt);
  const auto took = std::chrono::steady_clock::now() - started;
  const std::string line =
      "e1.2: write of sectors 20-20 by 02:00:00:00:00:0a failed: No space "
      "left on device";
  const size_t logged = h_.LogLinesWith(line).size();
  // Ten, or at most ten per 5 s interval begun if the machine is very slow (the commands take
  // milliseconds).
  EXPECT_GE(logged, 10u);
  EXPECT_LE(logged, 10u * (1 + static_cast<size_t>(took / std::chrono::seconds(5))));

  // The other export's failure is its own: logged in full at once, not counted with e1.2's.
  ExpectAtaError(h_.Exchange(BuildAta(
                     Harness::To(kShelf, kSlot + 1),
                     AtaOp(kWrite48).Flags(0x41).Count(1).Lba(30).Data(Pattern(kSector, 15)))),
                 kErrAbrt);
  EXPECT_TRUE(
      h_.LogContains("e1.3: write of sectors 30-30 by 02:00:00:00:00:0a failed: "
                     "Input/output error"));

  // The count is never lost: the server's once-a-second work reports an interval that has
  // ended, and stopping reports the one still running.
  h_.Stop();
  const std::vector<std::string> summaries =
      h_.LogLinesWith("more \"write failed\" lines suppressed in the last");
  ASSERT_FALSE(summaries.empty());
  EXPECT_EQ(logged + SuppressedIn(summaries), kFailed);
  for (const std::string& summary : summaries)
    EXPECT_NE(summary.find(" e1.2: "), std::string::npos);
  EXPECT_FALSE(h_.LogContains("e1.3: 1 more")) << "e1.3's one line was logged, not counted";
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

}  // namespace
}  // namespace aoe::target::testkit
