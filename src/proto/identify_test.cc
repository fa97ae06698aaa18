#include "proto/identify.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <string>

namespace aoe::proto {
namespace {

using Page = std::array<std::byte, kIdentifyPageSize>;

uint16_t Word(const Page& page, size_t word) { return LoadLe16(page, 2 * word); }
uint32_t Words32(const Page& page, size_t first_word) { return LoadLe32(page, 2 * first_word); }
uint64_t Words64(const Page& page, size_t first_word) {
  return Words32(page, first_word) | (uint64_t{Words32(page, first_word + 2)} << 32);
}

IdentifyInfo Disk(uint64_t sector_count) {
  IdentifyInfo info;
  info.sector_count = sector_count;
  return info;
}

IdentifyInfo Named(std::string_view model, std::string_view serial = {}) {
  IdentifyInfo info;
  info.model = model;
  info.serial = serial;
  return info;
}

Page Build(const IdentifyInfo& info) {
  Page page;
  page.fill(std::byte{0xFF});  // stale bytes that BuildIdentifyPage must clear
  BuildIdentifyPage(info, page);
  return page;
}

constexpr uint64_t kOneGibSectors = 2 * 1024 * 1024;

TEST(IdentifyPage, OneGibDiskHasEveryWordSet) {
  IdentifyInfo info = Disk(kOneGibSectors);
  info.model = "aoekit e1.2";
  info.serial = "1.2:host";
  info.firmware = "1.0";
  const Page page = Build(info);

  // 255 * 63 = 16065 sectors per cylinder; 2097152 / 16065 = 130 whole cylinders.
  const std::map<size_t, uint16_t> expected = {
      {0, 0x0000},  {1, 130},     {3, 255},     {6, 63},      {47, 0x8000},
      {49, 0x0200}, {50, 0x4000}, {53, 0x0001}, {54, 130},    {55, 255},
      {56, 63},     {80, 0x0070}, {82, 0x0020}, {83, 0x7400}, {84, 0x4000},
      {85, 0x0020}, {86, 0x3400}, {87, 0x4000}, {93, 0x400B},
  };
  for (const auto& [word, value] : expected) {
    EXPECT_EQ(Word(page, word), value) << "word " << word;
  }
  EXPECT_EQ(Words32(page, 57), 130u * 16065u);
  EXPECT_EQ(Words32(page, 60), kOneGibSectors);
  EXPECT_EQ(Words64(page, 100), kOneGibSectors);
  EXPECT_EQ(ReadIdentifyString(page, 10, 10), "1.2:host");
  EXPECT_EQ(ReadIdentifyString(page, 23, 4), "1.0");
  EXPECT_EQ(ReadIdentifyString(page, 27, 20), "aoekit e1.2");

  // Everything else, including the stale 0xFF bytes, is zero (word 255 is the checksum).
  for (size_t word = 0; word < 255; ++word) {
    const bool is_string = (word >= 10 && word <= 19) || (word >= 23 && word <= 46);
    const bool is_set = expected.contains(word) || word == 57 || word == 58 || word == 60 ||
                        word == 61 || (word >= 100 && word <= 103);
    if (!is_string && !is_set) {
      EXPECT_EQ(Word(page, word), 0) << "word " << word;
    }
  }
}

TEST(IdentifyPage, DiskBeyondLba28CapsWords60To61AndCylinders) {
  const uint64_t sectors = (uint64_t{1} << 32) + 5;  // 2 TiB + 5 sectors, > 2^28
  const Page page = Build(Disk(sectors));

  EXPECT_EQ(Words32(page, 60), 0x0FFFFFFFu);
  EXPECT_EQ(Words64(page, 100), sectors);
  EXPECT_EQ(Word(page, 1), 16383);
  EXPECT_EQ(Word(page, 54), 16383);
  EXPECT_EQ(Words32(page, 57), 16383u * 255u * 63u);
}

TEST(IdentifyPage, Lba48CapacityIsClampedTo48Bits) {
  const Page page = Build(Disk(~uint64_t{0}));

  EXPECT_EQ(Words64(page, 100), 0xFFFF'FFFF'FFFFu);
  EXPECT_EQ(Word(page, 103), 0);
}

TEST(IdentifyPage, DiskSmallerThanOneCylinderHasZeroCylinders) {
  const Page page = Build(Disk(100));

  EXPECT_EQ(Word(page, 1), 0);
  EXPECT_EQ(Words32(page, 57), 0u);
  EXPECT_EQ(Words32(page, 60), 100u);
  EXPECT_EQ(Words64(page, 100), 100u);
}

TEST(IdentifyPage, ReportsTheGivenGeometry) {
  // 16 * 63 = 1008 sectors per cylinder.
  IdentifyInfo info = Disk(1008 * 500 + 7);  // 16 * 63 = 1008 sectors per cylinder
  info.geometry = {.heads = 16, .sectors_per_track = 63};
  const Page page = Build(info);

  EXPECT_EQ(Word(page, 1), 500);
  EXPECT_EQ(Word(page, 3), 16);
  EXPECT_EQ(Word(page, 6), 63);
  EXPECT_EQ(Word(page, 54), 500);
  EXPECT_EQ(Word(page, 55), 16);
  EXPECT_EQ(Word(page, 56), 63);
  EXPECT_EQ(Words32(page, 57), 1008u * 500u);
}

TEST(IdentifyPage, UnencodableGeometryFallsBackTo255By63) {
  for (ChsGeometry bad :
       {ChsGeometry{0, 63}, ChsGeometry{16, 0}, ChsGeometry{256, 63}, ChsGeometry{16, 64}}) {
    IdentifyInfo info = Disk(kOneGibSectors);
    info.geometry = bad;
    const Page page = Build(info);
    EXPECT_EQ(Word(page, 3), 255);
    EXPECT_EQ(Word(page, 6), 63);
    EXPECT_EQ(Word(page, 1), 130);
  }
}

TEST(IdentifyPage, WithoutWriteCacheFlushAdvertisesOnlyLba48) {
  IdentifyInfo info = Disk(kOneGibSectors);
  info.write_cache_flush = false;
  const Page page = Build(info);

  EXPECT_EQ(Word(page, 83), 0x4400);
  EXPECT_EQ(Word(page, 86), 0x0400);
}

TEST(IdentifyPage, WriteCacheWordsTellWhetherWritesNeedAFlush) {
  IdentifyInfo cached = Disk(kOneGibSectors);
  const Page with_cache = Build(cached);
  EXPECT_EQ(Word(with_cache, 82) & 0x20, 0x20) << "volatile write cache supported";
  EXPECT_EQ(Word(with_cache, 85) & 0x20, 0x20) << "and enabled";
  EXPECT_TRUE(ReadIdentifyFeatures(with_cache).volatile_write_cache);

  IdentifyInfo write_through = Disk(kOneGibSectors);
  write_through.volatile_write_cache = false;
  const Page without = Build(write_through);
  EXPECT_EQ(Word(without, 82), 0);
  EXPECT_EQ(Word(without, 85), 0);
  EXPECT_FALSE(ReadIdentifyFeatures(without).volatile_write_cache);
  EXPECT_TRUE(ReadIdentifyFeatures(without).flush) << "FLUSH is still implemented";
}

TEST(IdentifyPage, TrimWordsFollowTheBackend) {
  const Page none = Build(Disk(kOneGibSectors));
  EXPECT_EQ(Word(none, 169), 0);
  EXPECT_EQ(Word(none, 105), 0);
  EXPECT_EQ(Word(none, 69), 0);
  EXPECT_FALSE(ReadIdentifyFeatures(none).trim);

  IdentifyInfo zeroing = Disk(kOneGibSectors);
  zeroing.trim = true;
  zeroing.trim_reads_zeroes = true;
  const Page hole = Build(zeroing);
  EXPECT_EQ(Word(hole, 169), 0x0001) << "DATA SET MANAGEMENT TRIM supported";
  EXPECT_EQ(Word(hole, 105), 1) << "one 512-byte block of ranges per command";
  EXPECT_EQ(Word(hole, 69), 0x4020) << "deterministic read after trim, zeroes";
  IdentifyFeatures f = ReadIdentifyFeatures(hole);
  EXPECT_TRUE(f.trim);
  EXPECT_TRUE(f.trim_reads_zeroes);
  EXPECT_EQ(f.max_dsm_blocks, 1);

  IdentifyInfo revealing = zeroing;  // an overlay: a trim reveals the base image again
  revealing.trim_reads_zeroes = false;
  const Page overlay = Build(revealing);
  EXPECT_EQ(Word(overlay, 169), 0x0001);
  EXPECT_EQ(Word(overlay, 69), 0);
  EXPECT_FALSE(ReadIdentifyFeatures(overlay).trim_reads_zeroes);
}

// A mount of a read-only export must know before the first write, to offer a file without
// write bits and answer EROFS; ATA has no write-protect bit for a fixed disk.
TEST(IdentifyPage, WriteProtectedExportSetsAoekitWord129) {
  const Page writable = Build(Disk(kOneGibSectors));
  EXPECT_EQ(Word(writable, 129), 0) << "nothing of aoekit's to say: no signature";
  EXPECT_FALSE(ReadIdentifyFeatures(writable).write_protected);

  IdentifyInfo ro = Disk(kOneGibSectors);
  ro.write_protected = true;
  const Page page = Build(ro);
  EXPECT_EQ(Word(page, 129), 0xAE01);
  EXPECT_TRUE(ReadIdentifyFeatures(page).write_protected);
}

TEST(IdentifyFeatures, AnotherVendorsWord129IsNotWriteProtection) {
  Page page = Build(Disk(kOneGibSectors));
  StoreLe16(page, 2 * 129, 0x1203);
  StoreLe16(page, 2 * 130, 0x4444);
  EXPECT_FALSE(ReadIdentifyFeatures(page).write_protected);
  EXPECT_FALSE(ReadIdentifyFeatures(page).incarnation) << "another vendor's words 130-133";
}

// An initiator that flushes tells from the incarnation whether the process that answered its
// FLUSH is the one that acknowledged its writes (a restart loses what it had not flushed).
TEST(IdentifyPage, TheIncarnationGoesInWords130To133AndIsReadBack) {
  IdentifyInfo info = Disk(kOneGibSectors);
  info.incarnation = 0x0123456789ABCDEF;
  const Page page = Build(info);
  EXPECT_EQ(Word(page, 129), 0xAE02);
  EXPECT_EQ(Word(page, 130), 0xCDEF);
  EXPECT_EQ(Word(page, 133), 0x0123);
  EXPECT_EQ(ReadIdentifyFeatures(page).incarnation, std::optional<uint64_t>(0x0123456789ABCDEF));
  EXPECT_FALSE(ReadIdentifyFeatures(page).write_protected);

  info.write_protected = true;
  EXPECT_EQ(Word(Build(info), 129), 0xAE03);
  EXPECT_TRUE(ReadIdentifyFeatures(Build(info)).write_protected);

  EXPECT_FALSE(ReadIdentifyFeatures(Build(Disk(kOneGibSectors))).incarnation)
      << "none without one (vblade's page, an old aoe serve)";
}

TEST(IdentifyPage, LeavesSmartUnadvertised) {
  // aoeping sends SMART only when word 82 bit 0 is set; the target aborts SMART.
  const Page page = Build(Disk(kOneGibSectors));

  EXPECT_EQ(Word(page, 82) & 0x0001, 0);
}

TEST(IdentifyPage, StringPutsFirstCharacterInHighByte) {
  const Page page = Build(Named("AB"));

  // Word 27 is bytes 54 (low) and 55 (high).
  EXPECT_EQ(page[55], std::byte{'A'});
  EXPECT_EQ(page[54], std::byte{'B'});
  EXPECT_EQ(Word(page, 27), 0x4142);
  EXPECT_EQ(Word(page, 28), 0x2020);
}

TEST(IdentifyPage, OddLengthStringIsPaddedWithSpaces) {
  const Page page = Build(Named({}, "abc"));

  EXPECT_EQ(Word(page, 10), 0x6162);  // "ab"
  EXPECT_EQ(Word(page, 11), 0x6320);  // "c "
  for (size_t word = 12; word <= 19; ++word) EXPECT_EQ(Word(page, word), 0x2020) << word;
}

TEST(IdentifyPage, EmptyStringsAreAllSpaces) {
  const Page page = Build({});

  for (size_t word = 10; word <= 19; ++word) EXPECT_EQ(Word(page, word), 0x2020) << word;
  for (size_t word = 23; word <= 46; ++word) EXPECT_EQ(Word(page, word), 0x2020) << word;
}

TEST(IdentifyPage, OverLongStringsAreTruncatedToTheirField) {
  const std::string model(50, 'm');
  IdentifyInfo info;
  info.model = model;
  info.serial = "0123456789abcdefghijXYZ";
  info.firmware = "123456789";
  const Page page = Build(info);

  EXPECT_EQ(ReadIdentifyString(page, 10, 10), "0123456789abcdefghij");
  EXPECT_EQ(ReadIdentifyString(page, 23, 4), "12345678");
  EXPECT_EQ(ReadIdentifyString(page, 27, 20), std::string(40, 'm'));
  // The neighbours of each field are untouched.
  EXPECT_EQ(Word(page, 20), 0);
  EXPECT_EQ(Word(page, 47), 0x8000);
  // Firmware ends at word 26, right before the model.
  EXPECT_EQ(Word(page, 27), 0x6D6D);
}

TEST(IdentifyPage, NonPrintableCharactersBecomeQuestionMarks) {
  const Page page = Build(Named(std::string_view("a\0b\n\xC3\xA9", 6)));

  EXPECT_EQ(ReadIdentifyString(page, 27, 20), "a?b???");
}

TEST(IdentifyPage, ChecksumMakesBytesSumToZero) {
  IdentifyInfo named = Disk(kOneGibSectors);
  named.model = "aoekit e0.0";
  IdentifyInfo odd = Disk((uint64_t{1} << 40) + 123);
  odd.model = "Z";
  odd.serial = "s";
  odd.firmware = "f";
  odd.geometry = {.heads = 16, .sectors_per_track = 32};
  odd.write_cache_flush = false;
  for (const IdentifyInfo& info : {IdentifyInfo{}, named, odd}) {
    const Page page = Build(info);
    EXPECT_EQ(page[510], std::byte{0xA5});
    uint8_t sum = 0;
    for (std::byte b : page) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(b));
    EXPECT_EQ(sum, 0);
  }
}

TEST(IdentifyPage, WritesOnlyTheFirst512Bytes) {
  std::array<std::byte, 600> buffer;
  buffer.fill(std::byte{0x77});

  BuildIdentifyPage(Disk(kOneGibSectors), buffer);

  for (size_t i = kIdentifyPageSize; i < buffer.size(); ++i) {
    EXPECT_EQ(buffer[i], std::byte{0x77}) << i;
  }
  EXPECT_EQ(buffer[510], std::byte{0xA5});
}

TEST(ReadIdentifyString, RoundTripsFullLengthFields) {
  const std::string model = "0123456789012345678901234567890123456789";
  IdentifyInfo info;
  info.model = model;
  info.serial = "SERIAL-NUMBER-20CHRS";
  info.firmware = "FW-1.2.3";
  const Page page = Build(info);

  EXPECT_EQ(ReadIdentifyString(page, 27, 20), model);
  EXPECT_EQ(ReadIdentifyString(page, 10, 10), "SERIAL-NUMBER-20CHRS");
  EXPECT_EQ(ReadIdentifyString(page, 23, 4), "FW-1.2.3");
}

TEST(ReadIdentifyString, KeepsInnerSpacesAndDropsTrailingPadding) {
  const Page page = Build(Named("  two  words  "));

  EXPECT_EQ(ReadIdentifyString(page, 27, 20), "  two  words");
}

TEST(ReadIdentifyString, DropsTrailingNulPadding) {
  Page page{};
  StoreLe16(page, 2 * 27, 0x4142);  // "AB", then zero words

  EXPECT_EQ(ReadIdentifyString(page, 27, 20), "AB");
}

TEST(ReadIdentifyString, ClampsToThePage) {
  const Page page = Build(Named("ABCDEFGH"));

  EXPECT_EQ(ReadIdentifyString(page, 256, 4), "");
  EXPECT_EQ(ReadIdentifyString(page, 1000, 4), "");
  // A 60-byte buffer holds words 0-29: only "ABCDEF" of the model is inside it.
  EXPECT_EQ(ReadIdentifyString(ConstByteSpan(page).first(60), 27, 20), "ABCDEF");
}

TEST(ReadIdentifyCapacity, ReadsLba48WordsWhenWord83Bit10IsSet) {
  const uint64_t sectors = (uint64_t{1} << 33) + 9;
  const Page page = Build(Disk(sectors));

  EXPECT_EQ(ReadIdentifyCapacity(page), sectors);
  EXPECT_EQ(ReadIdentifyCapacity(Build(Disk(kOneGibSectors))), kOneGibSectors);
}

TEST(ReadIdentifyCapacity, ReadsLba28WordsWhenWord83Bit10IsClear) {
  Page page = Build(Disk((uint64_t{1} << 33) + 9));
  StoreLe16(page, 2 * 83, 0x4000);

  EXPECT_EQ(ReadIdentifyCapacity(page), 0x0FFFFFFFu);
}

TEST(ReadIdentifyCapacity, ShortPageHasNoCapacity) {
  const Page page = Build(Disk(kOneGibSectors));

  EXPECT_EQ(ReadIdentifyCapacity(ConstByteSpan(page).first(511)), 0u);
  EXPECT_EQ(ReadIdentifyCapacity({}), 0u);
}

// --- GeometryFromMbr -----------------------------------------------------------------------

using Mbr = std::array<std::byte, 512>;

constexpr ChsGeometry k16By63{.heads = 16, .sectors_per_track = 63};
constexpr ChsGeometry k255By63{.heads = 255, .sectors_per_track = 63};

// Encodes `lba` as a 3-byte MBR CHS address under `g`, saturating at cylinder 1023 as
// partitioning tools do.
void StoreChs(Mbr& mbr, size_t offset, uint32_t lba, ChsGeometry g) {
  const uint32_t per_cylinder = uint32_t{g.heads} * g.sectors_per_track;
  uint32_t cylinder = lba / per_cylinder;
  uint32_t head = (lba / g.sectors_per_track) % g.heads;
  uint32_t sector = lba % g.sectors_per_track + 1;
  if (cylinder > 1023) {
    cylinder = 1023;
    head = g.heads - 1u;
    sector = g.sectors_per_track;
  }
  StoreU8(mbr, offset, static_cast<uint8_t>(head));
  StoreU8(mbr, offset + 1, static_cast<uint8_t>(sector | ((cylinder >> 2) & 0xC0)));
  StoreU8(mbr, offset + 2, static_cast<uint8_t>(cylinder));
}

// Writes partition entry `index` with CHS fields computed under `written_with`, the geometry the
// "partitioning tool" used.
void AddPartition(Mbr& mbr, size_t index, uint32_t lba_start, uint32_t sector_count,
                  ChsGeometry written_with, uint8_t type = 0x83, uint8_t status = 0x00) {
  const size_t entry = 446 + 16 * index;
  StoreU8(mbr, entry, status);
  StoreChs(mbr, entry + 1, lba_start, written_with);
  StoreU8(mbr, entry + 4, type);
  StoreChs(mbr, entry + 5, lba_start + sector_count - 1, written_with);
  StoreLe32(mbr, entry + 8, lba_start);
  StoreLe32(mbr, entry + 12, sector_count);
}

Mbr EmptyMbr() {
  Mbr mbr{};
  // Some boot code before the table, as a real MBR has.
  for (size_t i = 0; i < 446; ++i) mbr[i] = std::byte{static_cast<uint8_t>(i * 7 + 1)};
  mbr[510] = std::byte{0x55};
  mbr[511] = std::byte{0xAA};
  return mbr;
}

// A DOS-style table: the first partition starts on track 1 and every partition ends on a
// cylinder boundary of `g`.
Mbr DosMbr(ChsGeometry g) {
  const uint32_t track = g.sectors_per_track;
  const uint32_t cylinder = track * g.heads;
  Mbr mbr = EmptyMbr();
  AddPartition(mbr, 0, track, 100 * cylinder - track, g, 0x06, 0x80);
  AddPartition(mbr, 1, 100 * cylinder, 50 * cylinder, g);
  return mbr;
}

TEST(GeometryFromMbr, ReadsSixteenHeadDosTable) {
  EXPECT_EQ(GeometryFromMbr(DosMbr(k16By63)), k16By63);
}

TEST(GeometryFromMbr, Reads255HeadDosTable) {
  EXPECT_EQ(GeometryFromMbr(DosMbr(k255By63)), k255By63);
}

TEST(GeometryFromMbr, ReadsUnusualButValidGeometry) {
  const ChsGeometry g{.heads = 64, .sectors_per_track = 32};  // the classic SCSI BIOS mapping
  EXPECT_EQ(GeometryFromMbr(DosMbr(g)), g);
}

TEST(GeometryFromMbr, ReadsFirstEntryEndingOnSaturatedCylinder) {
  // 16/63 table whose first partition ends beyond cylinder 1023: stored as 1023/15/63, and the
  // partition need not end on a cylinder boundary.
  Mbr mbr = EmptyMbr();
  AddPartition(mbr, 0, 63, 5'000'000, k16By63);
  ASSERT_EQ(LoadU8(mbr, 446 + 5), 15);
  ASSERT_EQ(LoadU8(mbr, 446 + 6), 0xFF);
  ASSERT_EQ(LoadU8(mbr, 446 + 7), 0xFF);

  EXPECT_EQ(GeometryFromMbr(mbr), k16By63);
}

TEST(GeometryFromMbr, LbaOnlyTableWithFeFfFfGives255By63) {
  // What GPT's protective MBR and LBA-only tools write: start 00 02 00, end FE FF FF.
  Mbr mbr = EmptyMbr();
  const size_t entry = 446;
  StoreU8(mbr, entry + 2, 0x02);
  StoreU8(mbr, entry + 4, 0xEE);
  StoreU8(mbr, entry + 5, 0xFE);
  StoreU8(mbr, entry + 6, 0xFF);
  StoreU8(mbr, entry + 7, 0xFF);
  StoreLe32(mbr, entry + 8, 1);
  StoreLe32(mbr, entry + 12, 0xFFFFFFFF);

  EXPECT_EQ(GeometryFromMbr(mbr), k255By63);
}

TEST(GeometryFromMbr, SkipsEmptyEntries) {
  Mbr mbr = EmptyMbr();
  // Entry 0 has a type but no sectors, entry 1 sectors but no type; entry 2 is real.
  AddPartition(mbr, 0, 63, 0, k255By63, 0x83);
  StoreLe32(mbr, 446 + 16 + 12, 1000);
  AddPartition(mbr, 2, 63, 10 * 1008 - 63, k16By63);

  EXPECT_EQ(GeometryFromMbr(mbr), k16By63);
}

TEST(GeometryFromMbr, FirstUsableEntryWinsWhenEntriesDisagree) {
  Mbr mbr = EmptyMbr();
  AddPartition(mbr, 0, 63, 10 * 1008 - 63, k16By63);
  AddPartition(mbr, 1, 16065, 16065, k255By63);

  EXPECT_EQ(GeometryFromMbr(mbr), k16By63);
}

TEST(GeometryFromMbr, EntryNotEndingOnCylinderBoundaryIsNotUsed) {
  // Modern fdisk: 1 MiB aligned, ending mid-cylinder; its end CHS (under 255/63) would suggest a
  // nonsense geometry if taken at face value.
  Mbr mbr = EmptyMbr();
  AddPartition(mbr, 0, 2048, 204800, k255By63);
  ASSERT_NE(LoadU8(mbr, 446 + 5), 254);  // the end head is not the last head

  EXPECT_EQ(GeometryFromMbr(mbr), ChsGeometry{});
}

TEST(GeometryFromMbr, LaterConsistentEntryIsUsedWhenFirstIsInconsistent) {
  Mbr mbr = EmptyMbr();
  AddPartition(mbr, 0, 2048, 204800, k16By63);
  AddPartition(mbr, 1, 1008 * 300, 1008 * 10, k16By63);

  EXPECT_EQ(GeometryFromMbr(mbr), k16By63);
}

TEST(GeometryFromMbr, NoSignatureGivesDefault) {
  Mbr mbr = DosMbr(k16By63);
  mbr[511] = std::byte{0x00};
  EXPECT_EQ(GeometryFromMbr(mbr), ChsGeometry{});

  mbr = DosMbr(k16By63);
  mbr[510] = std::byte{0xAA};  // byte-swapped signature
  mbr[511] = std::byte{0x55};
  EXPECT_EQ(GeometryFromMbr(mbr), ChsGeometry{});
}

TEST(GeometryFromMbr, EmptyTableGivesDefault) {
  EXPECT_EQ(GeometryFromMbr(EmptyMbr()), ChsGeometry{});
}

TEST(GeometryFromMbr, ShortBufferGivesDefault) {
  const Mbr mbr = DosMbr(k16By63);
  EXPECT_EQ(GeometryFromMbr(ConstByteSpan(mbr).first(511)), ChsGeometry{});
  EXPECT_EQ(GeometryFromMbr({}), ChsGeometry{});
}

TEST(GeometryFromMbr, LongerBufferIsFine) {
  std::array<std::byte, 4096> disk{};
  const Mbr mbr = DosMbr(k16By63);
  std::copy(mbr.begin(), mbr.end(), disk.begin());

  EXPECT_EQ(GeometryFromMbr(disk), k16By63);
}

TEST(GeometryFromMbr, ZeroEndSectorGivesDefault) {
  Mbr mbr = DosMbr(k16By63);
  StoreU8(mbr, 446 + 6, 0x00);
  StoreU8(mbr, 446 + 16 + 6, 0xC0);  // cylinder bits only, sector 0
  EXPECT_EQ(GeometryFromMbr(mbr), ChsGeometry{});
}

TEST(GeometryFromMbr, EndHead255GivesDefault) {
  // 256 heads cannot be expressed; the cylinder is saturated so only the sanity check applies.
  Mbr mbr = EmptyMbr();
  AddPartition(mbr, 0, 63, 100'000'000, k255By63);
  StoreU8(mbr, 446 + 5, 0xFF);

  EXPECT_EQ(GeometryFromMbr(mbr), ChsGeometry{});
}

TEST(GeometryFromMbr, BadStatusByteMeansNotAPartitionTable) {
  // A volume boot record also ends in 55 AA; its code bytes land in the status fields.
  Mbr mbr = DosMbr(k16By63);
  StoreU8(mbr, 446 + 16 * 3, 0x42);

  EXPECT_EQ(GeometryFromMbr(mbr), ChsGeometry{});
}

TEST(GeometryFromMbr, GarbageWithSignatureGivesDefault) {
  // Deterministic pseudo-random fill (xorshift), then a valid signature.
  uint32_t state = 0x12345678;
  for (int round = 0; round < 100; ++round) {
    Mbr mbr;
    for (std::byte& b : mbr) {
      state ^= state << 13;
      state ^= state >> 17;
      state ^= state << 5;
      b = std::byte{static_cast<uint8_t>(state)};
    }
    // Make the status bytes plausible so the CHS checks are what reject the entries.
    for (size_t i = 0; i < 4; ++i) StoreU8(mbr, 446 + 16 * i, 0x00);
    mbr[510] = std::byte{0x55};
    mbr[511] = std::byte{0xAA};

    EXPECT_EQ(GeometryFromMbr(mbr), ChsGeometry{}) << "round " << round;
  }
}

TEST(GeometryFromMbr, FeedsTheIdentifyPage) {
  const ChsGeometry g = GeometryFromMbr(DosMbr(k16By63));
  IdentifyInfo info = Disk(150 * 1008);
  info.geometry = g;
  const Page page = Build(info);

  EXPECT_EQ(Word(page, 1), 150);
  EXPECT_EQ(Word(page, 3), 16);
  EXPECT_EQ(Word(page, 6), 63);
}

}  // namespace
}  // namespace aoe::proto
