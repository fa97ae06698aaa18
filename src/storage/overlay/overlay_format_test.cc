#include "storage/overlay/overlay_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "storage/overlay/block_map.h"
#include "storage/overlay/overlay_error.h"
#include "storage/overlay/versions.h"

namespace aoe::overlay {
namespace {

const MacAddress kMac({0x52, 0x54, 0x00, 0xa0, 0xe0, 0x01});

TEST(OverlayFormat, HeaderRoundTrips) {
  MapHeader header{
      .size_bytes = 123456789, .base_version = 7, .created_unix = 1700000000, .initiator = kMac};
  std::vector<std::byte> page(kMapPageBytes);
  EncodeMapHeader(header, page);
  DecodedHeader decoded = DecodeMapHeader(page);
  EXPECT_EQ(decoded.problem, HeaderProblem::kNone);
  EXPECT_EQ(decoded.header, header);
  // The layout is the documented one: magic, then little-endian fields.
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(page.data()), 8), "AOEOVLY1");
  EXPECT_EQ(LoadLe32(page, 12), kBlockBytes);
  EXPECT_EQ(LoadLe32(page, 24), 7u);
}

TEST(OverlayFormat, AllZeroHeaderWasNeverWritten) {
  std::vector<std::byte> page(kMapPageBytes);
  EXPECT_EQ(DecodeMapHeader(page).problem, HeaderProblem::kNeverWritten);
}

TEST(OverlayFormat, CorruptedHeaderFailsItsChecksum) {
  std::vector<std::byte> page(kMapPageBytes);
  EncodeMapHeader(MapHeader{.size_bytes = 4096, .base_version = 1, .initiator = kMac}, page);
  page[20] ^= std::byte{1};
  EXPECT_EQ(DecodeMapHeader(page).problem, HeaderProblem::kBadChecksum);
  page[0] = std::byte{'X'};
  EXPECT_EQ(DecodeMapHeader(page).problem, HeaderProblem::kBadMagic);
}

TEST(OverlayFormat, SizesOfTheMapFile) {
  EXPECT_EQ(BlockCount(4096), 1u);
  EXPECT_EQ(BlockCount(4097), 2u);
  EXPECT_EQ(BitmapBytes(1), kMapPageBytes);
  EXPECT_EQ(BitmapBytes(kBlocksPerMapPage + 1), 2 * kMapPageBytes);
  // 1 GiB: 262144 blocks, 32 KiB of bits.
  EXPECT_EQ(MapFileBytes(uint64_t{1} << 30), kMapHeaderBytes + 32768);
}

TEST(OverlayFormat, ClientNamesHaveOneSpelling) {
  EXPECT_EQ(ClientName(kMac), "52-54-00-a0-e0-01");
  EXPECT_EQ(ParseClientName("52-54-00-a0-e0-01"), kMac);
  EXPECT_FALSE(ParseClientName("52:54:00:a0:e0:01"));
  EXPECT_FALSE(ParseClientName("52-54-00-A0-E0-01"));
  EXPECT_FALSE(ParseClientName("lock"));
}

TEST(BlockMap, SetAndClearMarkTheirPageDirtyOnce) {
  BlockMap map(3 * kBlocksPerMapPage);
  map.Set(5);
  map.Set(6);
  map.Set(2 * kBlocksPerMapPage);
  EXPECT_EQ(map.mapped_blocks(), 3u);
  std::vector<uint64_t> pages = map.TakeDirtyPages();
  std::sort(pages.begin(), pages.end());
  EXPECT_EQ(pages, (std::vector<uint64_t>{0, 2}));
  EXPECT_FALSE(map.has_dirty_pages());
  map.Set(5);  // no change, nothing dirty
  EXPECT_FALSE(map.has_dirty_pages());
  map.Clear(5);
  EXPECT_EQ(map.TakeDirtyPages(), (std::vector<uint64_t>{0}));
  EXPECT_FALSE(map.Test(5));
  EXPECT_TRUE(map.Test(6));
  // The page image is the file's layout: bit 6 of byte 0.
  EXPECT_EQ(map.Page(0)[0], std::byte{0x40});
}

TEST(BlockMap, NextMappedSkipsEmptyWords) {
  BlockMap map(10000);
  EXPECT_EQ(map.NextMapped(0, 10000), 10000u);
  map.Set(9000);
  map.Set(3);
  EXPECT_EQ(map.NextMapped(0, 10000), 3u);
  EXPECT_EQ(map.NextMapped(4, 10000), 9000u);
  EXPECT_EQ(map.NextMapped(4, 8999), 8999u);
}

TEST(BlockMap, MemoryFollowsTheRegionsWritten) {
  // 1 TiB of export: 8192 pages of bits, none held until a block is mapped.
  BlockMap map(BlockCount(uint64_t{1} << 40));
  EXPECT_EQ(map.allocated_pages(), 0u);
  EXPECT_EQ(map.NextMapped(0, map.block_count()), map.block_count());
  map.Set(5 * kBlocksPerMapPage + 7);
  map.Set(5 * kBlocksPerMapPage + 8);
  EXPECT_EQ(map.allocated_pages(), 1u);
  EXPECT_EQ(map.NextMapped(0, map.block_count()), 5 * kBlocksPerMapPage + 7);
  EXPECT_TRUE(std::all_of(map.Page(4).begin(), map.Page(4).end(),
                          [](std::byte b) { return b == std::byte{0}; }));
  BlockMap copy = map;
  EXPECT_TRUE(copy.Test(5 * kBlocksPerMapPage + 8));
  EXPECT_EQ(copy.allocated_pages(), 1u);
}

TEST(BlockMap, LoadDropsBitsPastTheLastBlock) {
  BlockMap map(10);
  std::vector<std::byte> bits(kMapPageBytes);
  bits[0] = std::byte{0x03};
  bits[1] = std::byte{0xff};  // blocks 8-15: 8 and 9 exist, 10-15 do not
  EXPECT_EQ(map.Load(bits), 6u);
  EXPECT_EQ(map.mapped_blocks(), 4u);
  EXPECT_TRUE(map.Test(9));
  EXPECT_FALSE(map.has_dirty_pages());
}

TEST(Versions, RoundTripAndAdd) {
  VersionRegistry r(1 << 20);
  const VersionRecord& v2 = r.Add(1, 1700000000, "52:54:00:a0:e0:01");
  EXPECT_EQ(v2.id, 2u);
  EXPECT_EQ(v2.file, "v2.img");
  EXPECT_TRUE(VersionRegistry::IsVersionFileName("v2.img"));
  EXPECT_TRUE(VersionRegistry::IsVersionFileName("v12.img.tmp"));
  EXPECT_FALSE(VersionRegistry::IsVersionFileName("v.img"));
  EXPECT_FALSE(VersionRegistry::IsVersionFileName("golden.img"));
  EXPECT_FALSE(VersionRegistry::IsVersionFileName("versions.json"));
  EXPECT_EQ(r.current(), 2u);
  auto parsed = VersionRegistry::Parse(r.Serialize());
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->versions(), r.versions());
  EXPECT_EQ(parsed->current(), 2u);
  EXPECT_EQ(parsed->next_id(), 3u);
  EXPECT_EQ(parsed->size_bytes(), 1u << 20);
}

TEST(Versions, MalformedFilesAreRefused) {
  for (
      const char* text : {
          "",
          "[]",
          "{\"format\": 2}",
          R"({"format":1,"size_bytes":1,"current":1,"next_id":2,"versions":[]})",
          R"({"format":1,"size_bytes":1,"current":3,"next_id":4,"versions":[{"id":1,"parent":0,"file":"","from_client":""}]})",
          R"({"format":1,"size_bytes":1,"current":1,"next_id":3,"versions":[{"id":1,"parent":0,"file":"","from_client":""},{"id":2,"parent":1,"file":"../../etc/passwd","from_client":""}]})",
      }) {
    auto parsed = VersionRegistry::Parse(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error(), make_error_code(OverlayErrc::kBadVersionsFile));
  }
}

TEST(Versions, CollectKeepsFirstCurrentItsParentAndVersionsInUse) {
  VersionRegistry r(4096);
  r.Add(1, 0, "a");  // 2
  r.Add(2, 0, "a");  // 3
  r.Add(3, 0, "a");  // 4
  r.Add(4, 0, "a");  // 5, current; 4 is its parent
  std::vector<VersionRecord> gone = r.Collect({3});
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, 2u);
  std::vector<uint64_t> left;
  for (const auto& v : r.versions()) left.push_back(v.id);
  EXPECT_EQ(left, (std::vector<uint64_t>{1, 3, 4, 5}));
}

}  // namespace
}  // namespace aoe::overlay
