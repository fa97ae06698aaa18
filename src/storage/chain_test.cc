#include "storage/chain.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "storage/storage_error.h"
#include "storage/storage_test_util.h"

namespace aoe {
namespace {

using testing_util::AlignedBuffer;
using testing_util::Await;
using testing_util::Completion;
using testing_util::Pattern;
using testing_util::TempFile;

constexpr size_t kImageBytes = 100 * 512;

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = IoEngine::Create();
    ASSERT_TRUE(engine) << engine.error().message();
    engine_ = std::move(*engine);
    auto completions = CompletionQueue::Create();
    ASSERT_TRUE(completions) << completions.error().message();
    completions_ = std::move(*completions);
  }
  Expected<StorageChain, OpenFailure> Build(ChainOptions options) {
    if (options.backend.path.empty()) options.backend.path = path_;
    StorageServices services{*engine_, *completions_};
    return BuildStorageChain(
        options,
        [&](const BackendSpec& spec, const BaseOptions& base) {
          return OpenBase(services, spec, base);
        },
        engine_.get());
  }

  std::unique_ptr<IoEngine> engine_;
  std::unique_ptr<CompletionQueue> completions_;
  TempFile file_{Pattern(kImageBytes)};
  const std::string path_ = file_.path();
};

TEST_F(ChainTest, WholeImageIsTheFileUnderGroupCommit) {
  auto opened = Build({});
  ASSERT_TRUE(opened) << opened.error().code.message();
  EXPECT_EQ(opened->backend->Describe(), "group-commit <- file(" + path_ + ")");
  EXPECT_EQ(opened->backend->size_bytes(), kImageBytes);
  // Group commit passes reads through, so the file's no-wait reads stay available.
  EXPECT_EQ(opened->backend->capabilities(),
            (BackendCapabilities{.read_only = false,
                                 .can_trim = true,
                                 .trim_reads_zeroes = true,
                                 .no_wait_reads = true,
                                 .failed_flush_loses_data = true}));
}

TEST_F(ChainTest, OffsetAndLengthMakeAWindow) {
  auto opened = Build({.offset_sectors = 3, .length_sectors = 5});
  ASSERT_TRUE(opened) << opened.error().code.message();
  EXPECT_EQ(opened->backend->Describe(),
            "group-commit <- window(offset=1536,length=2560) <- file(" + path_ + ")");
  EXPECT_EQ(opened->backend->size_bytes(), 2560u);

  AlignedBuffer buf(512);
  Completion c;
  opened->backend->Read(IoContext{}, 0, buf.span(), &c);
  ASSERT_EQ(Await(*engine_, c), 512);
  const std::vector<std::byte> pattern = Pattern(kImageBytes);
  EXPECT_TRUE(buf.vector() ==
              std::vector<std::byte>(pattern.begin() + 1536, pattern.begin() + 2048));
}

TEST_F(ChainTest, ZeroLengthMeansToTheEnd) {
  auto opened = Build({.offset_sectors = 40});
  ASSERT_TRUE(opened) << opened.error().code.message();
  EXPECT_EQ(opened->backend->size_bytes(), kImageBytes - 40 * 512);
}

TEST_F(ChainTest, ReadOnlyExportRefusesWritesAndTrimsAtEveryLayer) {
  auto opened = Build({.base = {.read_only = true, .direct = true}, .offset_sectors = 1});
  ASSERT_TRUE(opened) << opened.error().code.message();
  EXPECT_EQ(opened->backend->Describe(),
            "group-commit <- readonly <- window(offset=512,length=50688) <- file(" + path_ +
                ",ro,direct)");
  EXPECT_TRUE(opened->backend->read_only());
  EXPECT_FALSE(opened->backend->capabilities().can_trim);
  AlignedBuffer buf(512);
  Completion write;
  opened->backend->Write(IoContext{.flags = IoContext::kDurable}, 0, buf.span(), &write);
  EXPECT_EQ(Await(*engine_, write), -EROFS);
  Completion trim;
  opened->backend->Trim(IoContext{}, 0, 512, &trim);
  EXPECT_EQ(Await(*engine_, trim), -EROFS);
  EXPECT_TRUE(file_.Contents() == Pattern(kImageBytes));
}

TEST_F(ChainTest, FaultRulesWrapTheExportAndAreAnnounced) {
  auto opened =
      Build({.offset_sectors = 10,
             .faults = {FaultRule{.first_sector = 2, .sector_count = 3, .on_read = false}}});
  ASSERT_TRUE(opened) << opened.error().code.message();
  ASSERT_EQ(opened->warnings.size(), 1u);
  EXPECT_EQ(opened->warnings[0],
            "fail=2-4:write: I/O to these sectors fails with EIO on purpose (a testing aid)");
  AlignedBuffer buf(512);
  Completion failed;
  // Sector 4 of the export (image sector 14): the rule counts the initiator's LBAs.
  opened->backend->Write(IoContext{}, 4 * 512, buf.span(), &failed);
  EXPECT_EQ(Await(*engine_, failed), -EIO);
  Completion read;
  opened->backend->Read(IoContext{}, 4 * 512, buf.span(), &read);
  EXPECT_EQ(Await(*engine_, read), 512) << "the rule fails writes only";
  Completion other;
  opened->backend->Write(IoContext{}, 5 * 512, buf.span(), &other);
  EXPECT_EQ(Await(*engine_, other), 512);
}

TEST_F(ChainTest, WindowsThatDoNotFitAreRefused) {
  auto too_long = Build({.offset_sectors = 90, .length_sectors = 11});
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, make_error_code(StorageErrc::kWindowOutsideImage));
  EXPECT_EQ(too_long.error().code.message(), "offset/length window does not fit inside the image");
  EXPECT_EQ(too_long.error().what,
            "window offset=90 length=11 (sectors) of image " + path_ + " (100 sectors)")
      << "the message says what the window is and how large the image is";

  auto past_end = Build({.offset_sectors = 101});
  ASSERT_FALSE(past_end);
  EXPECT_EQ(past_end.error().code, make_error_code(StorageErrc::kWindowOutsideImage));

  auto empty = Build({.offset_sectors = 100});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, make_error_code(StorageErrc::kWindowEmpty));

  auto huge = Build({.offset_sectors = UINT64_MAX / 2});
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, make_error_code(StorageErrc::kSizeOverflow));
}

TEST_F(ChainTest, MissingImageGivesEnoent) {
  auto opened = Build({.backend = {.path = "/nonexistent/image.img"}});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, std::errc::no_such_file_or_directory);
  EXPECT_EQ(opened.error().what, "image /nonexistent/image.img");
}

// The image is there, the overlay directory cannot be made (its parent is a file): the error
// names the directory.
TEST_F(ChainTest, AnOverlayDirectoryThatCannotBeMadeIsNamedNotTheImage) {
  overlay::OverlaySettings settings;
  settings.dir = path_ + "/overlays";
  auto opened = Build({.overlay = settings});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, std::errc::not_a_directory);
  EXPECT_EQ(opened.error().what, "overlay directory " + settings.dir);
}

}  // namespace
}  // namespace aoe
