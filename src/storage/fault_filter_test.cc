#include "storage/fault_filter.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "storage/memory_backend.h"
#include "storage/storage_test_util.h"

namespace aoe {
namespace {

using testing_util::Completion;

class FaultFilterTest : public ::testing::Test {
 protected:
  FaultFilterTest() {
    auto memory = std::make_unique<MemoryBackend>(64 * 512);
    memory_ = memory.get();
    filter_ = std::make_unique<FaultFilter>(std::move(memory));
  }

  // MemoryBackend and FaultFilter complete inline, so no engine is needed.
  int64_t Read(uint64_t sector, size_t sectors) {
    std::vector<std::byte> buf(sectors * 512);
    Completion c;
    filter_->Read(IoContext{}, sector * 512, buf, &c);
    EXPECT_EQ(c.calls(), 1);
    return c.result();
  }
  int64_t Write(uint64_t sector, size_t sectors, std::byte fill = std::byte{0xee}) {
    std::vector<std::byte> buf(sectors * 512, fill);
    Completion c;
    filter_->Write(IoContext{}, sector * 512, buf, &c);
    EXPECT_EQ(c.calls(), 1);
    return c.result();
  }

  MemoryBackend* memory_;
  std::unique_ptr<FaultFilter> filter_;
};

TEST_F(FaultFilterTest, PassesEverythingThroughWithoutRules) {
  EXPECT_EQ(Read(0, 64), 64 * 512);
  EXPECT_EQ(Write(10, 2), 1024);
  EXPECT_EQ(filter_->faults_injected(), 0u);
  EXPECT_EQ(filter_->Describe(), "fault(rules=0) <- memory(size=32768)");
}

TEST_F(FaultFilterTest, FailsReadsThatOverlapTheRange) {
  filter_->AddRule({.first_sector = 10, .sector_count = 2, .on_read = true, .on_write = false});
  EXPECT_EQ(Read(9, 1), 512);
  EXPECT_EQ(Read(12, 1), 512);
  EXPECT_EQ(Read(10, 1), -EIO);
  EXPECT_EQ(Read(11, 1), -EIO);
  EXPECT_EQ(Read(8, 3), -EIO);   // straddles the start
  EXPECT_EQ(Read(11, 4), -EIO);  // straddles the end
  EXPECT_EQ(Read(0, 64), -EIO);  // covers it
  EXPECT_EQ(Write(10, 1), 512) << "a read-only rule lets writes through";
  EXPECT_EQ(filter_->faults_injected(), 5u);
}

TEST_F(FaultFilterTest, UnalignedRequestsHitTheSectorsTheyTouch) {
  filter_->AddRule({.first_sector = 4, .sector_count = 1});
  std::vector<std::byte> buf(2);
  Completion last_byte_before;
  filter_->Read(IoContext{}, 4 * 512 - 1, std::span(buf).first(1), &last_byte_before);
  EXPECT_EQ(last_byte_before.result(), 1);
  Completion straddling;
  filter_->Read(IoContext{}, 4 * 512 - 1, buf, &straddling);
  EXPECT_EQ(straddling.result(), -EIO);
}

TEST_F(FaultFilterTest, FailedWritesNeverReachTheBackend) {
  filter_->AddRule({.first_sector = 20, .sector_count = 4, .on_read = false, .error = ENOSPC});
  EXPECT_EQ(Write(22, 4), -ENOSPC);
  for (std::byte b : memory_->bytes()) ASSERT_EQ(b, std::byte{0});
  EXPECT_EQ(Read(22, 1), 512) << "a write-only rule lets reads through";
}

TEST_F(FaultFilterTest, RuleReachingTheEndOfTheAddressSpace) {
  filter_->AddRule({.first_sector = 60, .sector_count = UINT64_MAX});
  EXPECT_EQ(Read(59, 1), 512);
  EXPECT_EQ(Read(63, 1), -EIO);
}

TEST_F(FaultFilterTest, FlushErrorAndClearing) {
  filter_->set_flush_error(EIO);
  Completion failed;
  filter_->Flush(IoContext{}, &failed);
  EXPECT_EQ(failed.result(), -EIO);
  EXPECT_EQ(memory_->flush_count(), 0u);

  filter_->set_flush_error(0);
  filter_->AddRule({.first_sector = 0, .sector_count = 64});
  filter_->ClearRules();
  Completion flushed;
  filter_->Flush(IoContext{}, &flushed);
  EXPECT_EQ(flushed.result(), 0);
  EXPECT_EQ(memory_->flush_count(), 1u);
  EXPECT_EQ(Read(0, 64), 64 * 512);
}

}  // namespace
}  // namespace aoe
