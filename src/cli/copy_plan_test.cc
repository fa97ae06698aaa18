#include "cli/copy_plan.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace aoe::cli {
namespace {

CopyRequest Request(uint64_t src, std::optional<uint64_t> dst) {
  CopyRequest r;
  r.src_name = "e0.1";
  r.dst_name = "disk.img";
  r.src_sectors = src;
  r.dst_sectors = dst;
  return r;
}

TEST(PlanCopy, WholeSourceByDefault) {
  auto r = PlanCopy(Request(1000, std::nullopt));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->src_sector, 0u);
  EXPECT_EQ(r->dst_sector, 0u);
  EXPECT_EQ(r->sectors, 1000u);
}

TEST(PlanCopy, SkipSeekCountAreApplied) {
  CopyRequest q = Request(1000, 5000);
  q.skip = 100;
  q.seek = 4000;
  q.count = 900;
  auto r = PlanCopy(q);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->src_sector, 100u);
  EXPECT_EQ(r->dst_sector, 4000u);
  EXPECT_EQ(r->sectors, 900u);
}

TEST(PlanCopy, SkipPastTheEndIsRefused) {
  CopyRequest q = Request(1000, std::nullopt);
  q.skip = 1001;
  auto r = PlanCopy(q);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--skip-sectors 1001 is past the end of e0.1 (1000 sectors)");
}

TEST(PlanCopy, CountPastTheEndOfTheSourceIsRefused) {
  CopyRequest q = Request(1000, std::nullopt);
  q.skip = 10;
  q.count = 991;
  auto r = PlanCopy(q);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("it has 990 sectors from sector 10"), std::string::npos)
      << r.error().message;
}

TEST(PlanCopy, SourceLargerThanTheDestinationIsRefused) {
  CopyRequest q = Request(1000, 999);
  auto r = PlanCopy(q);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "1000 sectors from e0.1 do not fit on disk.img: it has 999 sectors");
}

TEST(PlanCopy, SeekThatLeavesTooLittleRoomIsRefused) {
  CopyRequest q = Request(100, 1000);
  q.seek = 901;
  auto r = PlanCopy(q);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--seek-sectors is 901"), std::string::npos)
      << r.error().message;
}

TEST(PlanCopy, ExactFitIsAccepted) {
  CopyRequest q = Request(100, 1000);
  q.seek = 900;
  EXPECT_TRUE(PlanCopy(q));
}

std::vector<std::pair<size_t, size_t>> Runs(const std::vector<std::byte>& data, size_t block) {
  std::vector<std::pair<size_t, size_t>> out;
  ForEachDataRun(data, block, [&](size_t off, size_t len) { out.emplace_back(off, len); });
  return out;
}

TEST(ForEachDataRun, AllZeroHasNoRun) {
  std::vector<std::byte> data(4096 * 4);
  EXPECT_TRUE(Runs(data, 4096).empty());
  EXPECT_TRUE(IsAllZero(data));
}

TEST(ForEachDataRun, AdjacentDataBlocksMergeIntoOneRun) {
  std::vector<std::byte> data(4096 * 5);
  data[4096 + 5] = std::byte{1};         // block 1
  data[2 * 4096 + 4095] = std::byte{1};  // block 2
  data[4 * 4096] = std::byte{1};         // block 4
  auto runs = Runs(data, 4096);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0], std::make_pair(size_t{4096}, size_t{8192}));
  EXPECT_EQ(runs[1], std::make_pair(size_t{4 * 4096}, size_t{4096}));
}

TEST(ForEachDataRun, ShortLastBlockIsIncluded) {
  std::vector<std::byte> data(4096 + 512);
  data[4096 + 511] = std::byte{9};
  auto runs = Runs(data, 4096);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], std::make_pair(size_t{4096}, size_t{512}));
  EXPECT_FALSE(IsAllZero(data));
}

}  // namespace
}  // namespace aoe::cli
