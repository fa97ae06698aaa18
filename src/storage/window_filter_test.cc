#include "storage/window_filter.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "storage/memory_backend.h"
#include "storage/storage_error.h"
#include "storage/storage_test_util.h"

namespace aoe {
namespace {

using testing_util::AlignedBuffer;
using testing_util::Await;
using testing_util::BackendKind;
using testing_util::Completion;
using testing_util::Pattern;
using testing_util::TestImage;

constexpr size_t kImageBytes = 64 * 512;
constexpr uint64_t kWindowOffset = 3 * 512;
constexpr uint64_t kWindowLength = 5 * 512;

TEST(WindowFilterCreate, RefusesWindowsThatDoNotFit) {
  auto make = [](uint64_t offset, uint64_t length) {
    return WindowFilter::Create(std::make_unique<MemoryBackend>(kImageBytes), offset, length);
  };
  EXPECT_TRUE(make(0, kImageBytes));
  EXPECT_TRUE(make(kImageBytes - 512, 512));
  EXPECT_EQ(make(0, kImageBytes + 1).error(), make_error_code(StorageErrc::kWindowOutsideImage));
  EXPECT_EQ(make(512, kImageBytes).error(), make_error_code(StorageErrc::kWindowOutsideImage));
  EXPECT_EQ(make(kImageBytes + 512, 512).error(),
            make_error_code(StorageErrc::kWindowOutsideImage));
  EXPECT_EQ(make(1024, UINT64_MAX - 511).error(),  // offset + length overflows
            make_error_code(StorageErrc::kWindowOutsideImage));
  EXPECT_EQ(make(512, 0).error(), make_error_code(StorageErrc::kWindowEmpty));
  EXPECT_EQ(make(100, 512).error(), make_error_code(StorageErrc::kWindowUnaligned));
}

TEST(WindowFilterCreate, DescribesTheChain) {
  auto window = WindowFilter::Create(std::make_unique<MemoryBackend>(kImageBytes), 1024, 4096);
  ASSERT_TRUE(window);
  EXPECT_EQ((*window)->Describe(), "window(offset=1024,length=4096) <- memory(size=32768)");
  EXPECT_EQ((*window)->size_bytes(), 4096u);
  EXPECT_FALSE((*window)->read_only());
}

TEST(WindowFilterCreate, ViewsAreTheWindowsBytesAndNothingOutside) {
  auto memory = std::make_unique<MemoryBackend>(kImageBytes);
  memory->set_offers_views(true);
  const std::byte* image = memory->bytes().data();
  auto window = WindowFilter::Create(std::move(memory), kWindowOffset, kWindowLength);
  ASSERT_TRUE(window);
  ConstByteSpan view = (*window)->View(IoContext{}, 512, 1024);
  EXPECT_EQ(view.data(), image + kWindowOffset + 512);
  EXPECT_EQ(view.size(), 1024u);
  EXPECT_TRUE((*window)->View(IoContext{}, kWindowLength - 512, 1024).empty());
  EXPECT_TRUE((*window)->View(IoContext{}, UINT64_MAX - 511, 1024).empty());
}

class WindowFilterTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    auto engine = IoEngine::Create();
    ASSERT_TRUE(engine) << engine.error().message();
    engine_ = std::move(*engine);
    image_.emplace(*engine_, GetParam(), Pattern(kImageBytes));
    ASSERT_TRUE(image_->ok());
    auto window = WindowFilter::Create(image_->Take(), kWindowOffset, kWindowLength);
    ASSERT_TRUE(window) << window.error().message();
    window_ = std::move(*window);
  }
  void TearDown() override {
    window_.reset();
    image_.reset();
  }

  int64_t Write(uint64_t offset, size_t length, std::byte fill) {
    AlignedBuffer data(length, fill);
    Completion c;
    window_->Write(IoContext{}, offset, data.span(), &c);
    return Await(*engine_, c);
  }

  std::unique_ptr<IoEngine> engine_;
  std::optional<TestImage> image_;
  std::unique_ptr<BlockBackend> window_;
};

TEST_P(WindowFilterTest, NeverTouchesBytesOutsideTheWindow) {
  struct Case {
    uint64_t offset;
    size_t length;
    bool inside;
  };
  const Case cases[] = {
      {0, 512, true},                                // first sector
      {kWindowLength - 512, 512, true},              // last sector
      {0, kWindowLength, true},                      // the whole window
      {kWindowLength, 512, false},                   // just past the end
      {kWindowLength - 512, 1024, false},            // straddles the end
      {kWindowLength + 4096, 512, false},            // far past the end
      {0, kWindowLength + 512, false},               // longer than the window
      {UINT64_MAX - 511, 512, false},                // wraps around to "before" the window
      {UINT64_MAX - kWindowOffset + 1, 512, false},  // offset + window offset wraps to 0
  };
  std::vector<std::byte> expected = Pattern(kImageBytes);
  uint8_t fill = 0x10;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "offset " << c.offset << " length " << c.length);
    const std::byte b{fill++};
    EXPECT_EQ(Write(c.offset, c.length, b), c.inside ? static_cast<int64_t>(c.length) : -EIO);
    if (c.inside) {
      std::fill_n(expected.begin() + static_cast<ptrdiff_t>(kWindowOffset + c.offset), c.length, b);
    }
  }
  Completion flushed;
  window_->Flush(IoContext{}, &flushed);
  ASSERT_EQ(Await(*engine_, flushed), 0);
  const std::vector<std::byte> stored = image_->Stored();
  ASSERT_EQ(stored.size(), kImageBytes);
  // Before and after the window: the original pattern, byte for byte.
  for (size_t i = 0; i < kImageBytes; ++i) {
    if (i >= kWindowOffset && i < kWindowOffset + kWindowLength) continue;
    ASSERT_EQ(stored[i], testing_util::PatternByte(i)) << "byte " << i << " outside the window";
  }
  EXPECT_TRUE(stored == expected);
}

TEST_P(WindowFilterTest, ReadsAreShiftedAndBounded) {
  AlignedBuffer buf(1024, std::byte{0x99});
  Completion inside;
  window_->Read(IoContext{}, 512, buf.span(), &inside);
  ASSERT_EQ(Await(*engine_, inside), 1024);
  const std::vector<std::byte> pattern = Pattern(kImageBytes);
  EXPECT_TRUE(buf.vector() == std::vector<std::byte>(pattern.begin() + kWindowOffset + 512,
                                                     pattern.begin() + kWindowOffset + 1536));

  AlignedBuffer untouched(1024, std::byte{0x99});
  Completion outside;
  window_->Read(IoContext{}, kWindowLength - 512, untouched.span(), &outside);
  EXPECT_EQ(Await(*engine_, outside), -EIO);
  EXPECT_EQ(untouched.vector(), std::vector<std::byte>(1024, std::byte{0x99}));
}

INSTANTIATE_TEST_SUITE_P(OverMemoryAndFile, WindowFilterTest,
                         ::testing::Values(BackendKind::kMemory, BackendKind::kFileDirect),
                         testing_util::BackendKindName);

}  // namespace
}  // namespace aoe
