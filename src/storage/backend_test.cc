// The same behaviour over every base backend: memory, and files through io_uring (buffered,
// O_DIRECT, and buffered under group commit with every request durable).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "storage/io_engine.h"
#include "storage/storage_test_util.h"

namespace aoe {
namespace {

using testing_util::AlignedBuffer;
using testing_util::Await;
using testing_util::BackendKind;
using testing_util::Completion;
using testing_util::Pattern;
using testing_util::RunUntil;
using testing_util::TestImage;

constexpr size_t kImageBytes = 1 << 20;

class BackendTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    auto engine = IoEngine::Create();
    ASSERT_TRUE(engine) << engine.error().message();
    engine_ = std::move(*engine);
    image_.emplace(*engine_, GetParam(), Pattern(kImageBytes));
    ASSERT_TRUE(image_->ok());
    // /tmp must do real direct I/O for the FileDirect runs to mean anything.
    EXPECT_TRUE(image_->warnings().empty()) << image_->warnings().front();
  }
  void TearDown() override {
    image_.reset();
    engine_.reset();
  }

  BlockBackend& backend() { return image_->backend(); }

  int64_t Read(uint64_t offset, ByteSpan into) {
    Completion c;
    backend().Read(image_->context(), offset, into, &c);
    return Await(*engine_, c);
  }
  int64_t Write(uint64_t offset, ConstByteSpan from) {
    Completion c;
    backend().Write(image_->context(), offset, from, &c);
    return Await(*engine_, c);
  }
  int64_t Flush() {
    Completion c;
    backend().Flush(image_->context(), &c);
    return Await(*engine_, c);
  }

  std::unique_ptr<IoEngine> engine_;
  std::optional<TestImage> image_;
};

TEST_P(BackendTest, ReportsSizeAndWritable) {
  EXPECT_EQ(backend().size_bytes(), kImageBytes);
  EXPECT_FALSE(backend().read_only());
}

TEST_P(BackendTest, ReadsWhatTheImageHolds) {
  AlignedBuffer buf(8192);
  ASSERT_EQ(Read(4096, buf.span()), 8192);
  std::vector<std::byte> expected = Pattern(kImageBytes);
  EXPECT_EQ(buf.vector(),
            std::vector<std::byte>(expected.begin() + 4096, expected.begin() + 4096 + 8192));
}

TEST_P(BackendTest, WriteThenReadRoundTripsAtVariousOffsetsAndSizes) {
  struct Case {
    uint64_t offset;
    size_t size;
  };
  std::vector<Case> cases = {
      {0, 512},
      {512, 512},
      {4096, 4096},
      {1536, 8704},  // 17 sectors, frame-sized
      {kImageBytes - 512, 512},
      {kImageBytes - 65536, 65536},
      {0, kImageBytes},
  };
  if (!image_->needs_alignment()) {
    cases.push_back({1, 1});
    cases.push_back({777, 3000});
    cases.push_back({kImageBytes - 1, 1});
  }
  std::vector<std::byte> model = Pattern(kImageBytes);
  uint8_t fill = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "offset " << c.offset << " size " << c.size);
    AlignedBuffer data(c.size, std::byte{fill++});
    ASSERT_EQ(Write(c.offset, data.span()), static_cast<int64_t>(c.size));
    std::copy(data.span().begin(), data.span().end(), model.begin() + c.offset);
    AlignedBuffer back(c.size);
    ASSERT_EQ(Read(c.offset, back.span()), static_cast<int64_t>(c.size));
    EXPECT_EQ(back.vector(), data.vector());
  }
  ASSERT_EQ(Flush(), 0);
  EXPECT_TRUE(image_->Stored() == model);
}

TEST_P(BackendTest, ManyRequestsInFlightAllComplete) {
  constexpr size_t kRequests = 128;
  constexpr size_t kChunk = 4096;
  std::vector<AlignedBuffer> out;
  std::vector<AlignedBuffer> in;
  for (size_t i = 0; i < kRequests; ++i) {
    out.emplace_back(kChunk, static_cast<std::byte>(i + 1));
    in.emplace_back(kChunk);
  }
  // Interleaved offsets, so neighbouring requests are not neighbours on disk.
  auto offset_of = [](size_t i) { return ((i * 37) % kRequests) * kChunk; };

  std::vector<Completion> writes(kRequests);
  for (size_t i = 0; i < kRequests; ++i)
    backend().Write(image_->context(), offset_of(i), out[i].span(), &writes[i]);
  if (image_->is_file()) {
    // Writes held back to be merged (none are adjacent here) go out with the submit.
    engine_->Submit();
    EXPECT_EQ(engine_->in_flight(), kRequests);
  }
  ASSERT_TRUE(RunUntil(*engine_, [&] {
    for (const Completion& c : writes) {
      if (!c.done()) return false;
    }
    return true;
  }));
  for (const Completion& c : writes) EXPECT_EQ(c.result(), static_cast<int64_t>(kChunk));

  std::vector<Completion> reads(kRequests);
  for (size_t i = 0; i < kRequests; ++i)
    backend().Read(image_->context(), offset_of(i), in[i].span(), &reads[i]);
  ASSERT_TRUE(RunUntil(*engine_, [&] {
    for (const Completion& c : reads) {
      if (!c.done()) return false;
    }
    return true;
  }));
  for (size_t i = 0; i < kRequests; ++i) {
    EXPECT_EQ(reads[i].calls(), 1);
    EXPECT_EQ(reads[i].result(), static_cast<int64_t>(kChunk));
    EXPECT_EQ(in[i].vector(), out[i].vector()) << "request " << i;
  }
  EXPECT_EQ(engine_->in_flight(), 0u);
}

TEST_P(BackendTest, FlushCompletes) {
  AlignedBuffer data(4096, std::byte{0x5a});
  ASSERT_EQ(Write(8192, data.span()), 4096);
  EXPECT_EQ(Flush(), 0);
}

TEST_P(BackendTest, RefusesAccessPastTheEndAndTouchesNothing) {
  AlignedBuffer buf(1024, std::byte{0x77});
  EXPECT_EQ(Read(kImageBytes - 512, buf.span()), -EIO);
  EXPECT_EQ(Read(kImageBytes, buf.span()), -EIO);
  EXPECT_EQ(Read(UINT64_MAX - 511, buf.span()), -EIO);  // offset + length overflows
  EXPECT_EQ(buf.vector(), std::vector<std::byte>(1024, std::byte{0x77}));
  EXPECT_EQ(Write(kImageBytes - 512, buf.span()), -EIO);
  EXPECT_EQ(Write(UINT64_MAX - 511, buf.span()), -EIO);
  EXPECT_TRUE(image_->Stored() == Pattern(kImageBytes));
}

TEST_P(BackendTest, TrimmedRangesReadBackAsZeroesAndFreeTheirSpace) {
  EXPECT_TRUE(backend().capabilities().can_trim);
  EXPECT_TRUE(backend().capabilities().trim_reads_zeroes);
  const uint64_t allocated_before = image_->AllocatedBytes();
  Completion trim;
  backend().Trim(image_->context(), 64 * 1024, 256 * 1024, &trim);
  ASSERT_EQ(Await(*engine_, trim), 0);
  AlignedBuffer back(256 * 1024, std::byte{0x77});
  ASSERT_EQ(Read(64 * 1024, back.span()), 256 * 1024);
  EXPECT_EQ(back.vector(), std::vector<std::byte>(256 * 1024, std::byte{0}));
  // Only the trimmed range changed.
  std::vector<std::byte> expected = Pattern(kImageBytes);
  std::fill(expected.begin() + 64 * 1024, expected.begin() + 320 * 1024, std::byte{0});
  EXPECT_TRUE(image_->Stored() == expected);
  if (image_->is_file()) {
    EXPECT_LE(image_->AllocatedBytes() + 256 * 1024, allocated_before)
        << "the hole was not punched (st_blocks did not drop)";
  }
}

TEST_P(BackendTest, TrimPastTheEndIsRefusedAndTouchesNothing) {
  Completion trim;
  backend().Trim(image_->context(), kImageBytes - 512, 1024, &trim);
  EXPECT_EQ(Await(*engine_, trim), -EIO);
  Completion overflow;
  backend().Trim(image_->context(), UINT64_MAX - 511, 1024, &overflow);
  EXPECT_EQ(Await(*engine_, overflow), -EIO);
  EXPECT_TRUE(image_->Stored() == Pattern(kImageBytes));
}

TEST_P(BackendTest, ZeroLengthRequestsSucceed) {
  EXPECT_EQ(Read(kImageBytes, ByteSpan()), 0);
  EXPECT_EQ(Write(0, ConstByteSpan()), 0);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, BackendTest,
                         ::testing::Values(BackendKind::kMemory, BackendKind::kFile,
                                           BackendKind::kFileDirect, BackendKind::kFileGroupCommit),
                         testing_util::BackendKindName);

}  // namespace
}  // namespace aoe
