// Read replies built in frames the port lends (Port::LendTxFrame, the TX ring's slots): the
// target reads straight into them when storage can answer at once, falls back to its own
// buffer when it cannot, and never leaves a lent frame behind (port.h's rule, checked by the
// harness's ports). The real ring is tested in src/net/packet_port_netns_test.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "target/testing/frames.h"
#include "target/testing/harness.h"

namespace aoe::target {
namespace {

using testkit::AtaOp;
using testkit::BuildAta;
using testkit::Frame;
using testkit::Harness;
using testkit::kHostA;
using testkit::Pattern;
using testkit::Reply;

constexpr uint16_t kShelf = 1;
constexpr uint8_t kSlot = 2;
constexpr uint64_t kSectors = 2048;
constexpr size_t kSector = 512;
constexpr uint8_t kRead48 = 0x24;
constexpr uint8_t kWrite48 = 0x34;
constexpr uint8_t kStatusOk = 0x40;
constexpr uint8_t kErrUnc = 0x40;

class LentFrames : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.AddExport(kShelf, kSlot, kSectors * kSector);
    auto& disk = h_.disk(kShelf, kSlot);
    for (uint64_t lba = 0; lba < kSectors; ++lba) {
      Frame data = Pattern(kSector, static_cast<uint8_t>(lba));
      std::memcpy(disk.bytes().data() + lba * kSector, data.data(), kSector);
    }
    h_.lent_frames().enabled = true;
    ASSERT_TRUE(h_.Start());
  }

  static Frame ReadFrame(uint64_t lba, uint8_t count, uint32_t tag = 0x80000001) {
    return BuildAta(Harness::To(kShelf, kSlot, kHostA, tag),
                    AtaOp(kRead48).Flags(0x40).Count(count).Lba(lba));
  }
  static Frame Expected(uint64_t lba, uint8_t count) {
    Frame out;
    for (uint8_t i = 0; i < count; ++i) {
      Frame s = Pattern(kSector, static_cast<uint8_t>(lba + i));
      out.insert(out.end(), s.begin(), s.end());
    }
    return out;
  }
  testkit::CountingBackend& counter() { return h_.counter(Harness::DiskPath(kShelf, kSlot)); }

  Harness h_;
};

TEST_F(LentFrames, ReadRepliesAreBuiltInLentFramesAndArriveIntact) {
  const uint64_t reads_before = counter().reads();  // the server read sector 0 at start-up
  for (uint64_t lba : {0u, 7u, 1000u, 2046u}) {
    auto r = h_.Exchange(ReadFrame(lba, 2));
    ASSERT_TRUE(r.has_value()) << lba;
    EXPECT_EQ(r->status(), kStatusOk);
    EXPECT_EQ(r->ata_data(2 * kSector), Expected(lba, 2)) << lba;
    EXPECT_EQ(r->tag(), 0x80000001u);
  }
  const auto& lent = h_.lent_frames();
  EXPECT_EQ(lent.lent, 4u);
  EXPECT_EQ(lent.sent_in_place, 4u);
  EXPECT_EQ(lent.returned, 0u);
  EXPECT_EQ(lent.broken_rule, 0u);
  EXPECT_EQ(counter().no_wait_reads(), 4u);
  EXPECT_EQ(counter().reads() - reads_before, 4u) << "one read each, into the lent frame";
}

TEST_F(LentFrames, ManyReadsInOneBatchEachGoOutOnce) {
  // More requests than the port has frames to lend (64), answered in one turn: the first
  // ones in lent frames, the rest from the commands' own buffers, all in one Send per turn.
  constexpr uint32_t kCount = 100;
  for (uint32_t i = 0; i < kCount; ++i) h_.Send(ReadFrame(i * 2, 2, 0x100 + i), h_.host_a());
  h_.Settle();
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), kCount);
  for (const Reply& r : replies) {
    uint32_t i = r.tag() - 0x100;
    ASSERT_LT(i, kCount);
    EXPECT_EQ(r.status(), kStatusOk);
    EXPECT_EQ(r.ata_data(2 * kSector), Expected(i * 2, 2)) << i;
  }
  const auto& lent = h_.lent_frames();
  EXPECT_GT(lent.sent_in_place, 0u);
  EXPECT_EQ(lent.sent_in_place + lent.returned, lent.lent);
  EXPECT_EQ(lent.broken_rule, 0u);
}

TEST_F(LentFrames, ReadStorageCannotAnswerAtOnceGoesThroughTheCommandBuffer) {
  counter().set_refuse_no_wait(true);
  const uint64_t reads_before = counter().reads();
  auto r = h_.Exchange(ReadFrame(33, 2));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status(), kStatusOk);
  EXPECT_EQ(r->ata_data(2 * kSector), Expected(33, 2));
  const auto& lent = h_.lent_frames();
  EXPECT_EQ(lent.lent, 1u);
  EXPECT_EQ(lent.returned, 1u) << "the frame goes back unused, before anything else is sent";
  EXPECT_EQ(lent.sent_in_place, 0u);
  EXPECT_EQ(lent.broken_rule, 0u);
  EXPECT_EQ(counter().reads() - reads_before, 2u) << "the refused attempt, then the read";
}

TEST_F(LentFrames, ReadErrorIsReportedFromTheLentFrame) {
  FaultRule rule;
  rule.first_sector = 10;
  rule.sector_count = 1;
  h_.faults(Harness::DiskPath(kShelf, kSlot)).AddRule(rule);
  auto r = h_.Exchange(ReadFrame(9, 2));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status(), kStatusOk | 0x01);
  EXPECT_EQ(r->ata_error(), kErrUnc);
  EXPECT_EQ(h_.lent_frames().sent_in_place, 1u);
  EXPECT_EQ(h_.lent_frames().broken_rule, 0u);
}

TEST_F(LentFrames, MalformedAndRefusedReadsLendNothing) {
  // Truncated inside the ATA header: dropped. Past the end, and more sectors than the MTU
  // allows: answered with errors built in the request's own buffer. A write: no lent frame.
  Frame truncated = ReadFrame(0, 2);
  truncated.resize(30);
  h_.Send(truncated, h_.host_a());
  h_.Settle();
  EXPECT_TRUE(h_.Collect(h_.host_a()).empty());
  auto past_end = h_.Exchange(ReadFrame(kSectors - 1, 2));
  ASSERT_TRUE(past_end.has_value());
  EXPECT_NE(past_end->status(), kStatusOk);
  auto too_many = h_.Exchange(ReadFrame(0, 200));
  ASSERT_TRUE(too_many.has_value());
  EXPECT_TRUE(too_many->error_flag());
  auto write =
      h_.Exchange(BuildAta(Harness::To(kShelf, kSlot),
                           AtaOp(kWrite48).Flags(0x41).Count(1).Lba(5).Data(Pattern(kSector, 99))));
  ASSERT_TRUE(write.has_value());
  EXPECT_EQ(write->status(), kStatusOk);
  EXPECT_EQ(h_.lent_frames().lent, 0u);
  EXPECT_EQ(h_.lent_frames().broken_rule, 0u);
  // The export is intact around the write.
  auto r = h_.Exchange(ReadFrame(4, 2));
  ASSERT_TRUE(r.has_value());
  Frame expected = Expected(4, 1);
  Frame written = Pattern(kSector, 99);
  expected.insert(expected.end(), written.begin(), written.end());
  EXPECT_EQ(r->ata_data(2 * kSector), expected);
  EXPECT_EQ(Expected(6, 1), testkit::Frame(h_.disk(kShelf, kSlot).bytes().begin() + 6 * kSector,
                                           h_.disk(kShelf, kSlot).bytes().begin() + 7 * kSector));
}

}  // namespace
}  // namespace aoe::target
