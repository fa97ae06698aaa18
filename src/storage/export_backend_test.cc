#include "storage/export_backend.h"

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

class ExportBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = IoEngine::Create();
    ASSERT_TRUE(engine) << engine.error().message();
    engine_ = std::move(*engine);
  }
  Result<OpenedBackend> Build(const ExportStorageOptions& options) {
    return BuildExportBackend(*engine_, options);
  }

  std::unique_ptr<IoEngine> engine_;
  TempFile file_{Pattern(kImageBytes)};
  const std::string path_ = file_.path();
};

TEST_F(ExportBackendTest, WholeImageHasNoWindow) {
  auto opened = Build({.path = path_});
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(opened->backend->Describe(), "file(" + file_.path() + ")");
  EXPECT_EQ(opened->backend->size_bytes(), kImageBytes);
}

TEST_F(ExportBackendTest, OffsetAndLengthMakeAWindow) {
  auto opened = Build({.path = path_, .offset_sectors = 3, .length_sectors = 5});
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(opened->backend->Describe(),
            "window(offset=1536,length=2560) <- file(" + file_.path() + ")");
  EXPECT_EQ(opened->backend->size_bytes(), 2560u);

  AlignedBuffer buf(512);
  Completion c;
  opened->backend->Read(0, buf.span(), &c);
  ASSERT_EQ(Await(*engine_, c), 512);
  const std::vector<std::byte> pattern = Pattern(kImageBytes);
  EXPECT_TRUE(buf.vector() ==
              std::vector<std::byte>(pattern.begin() + 1536, pattern.begin() + 2048));
}

TEST_F(ExportBackendTest, ZeroLengthMeansToTheEnd) {
  auto opened = Build({.path = path_, .offset_sectors = 40});
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(opened->backend->size_bytes(), kImageBytes - 40 * 512);
}

TEST_F(ExportBackendTest, ReadOnlyExportRefusesWrites) {
  auto opened =
      Build({.path = path_, .read_only = true, .offset_sectors = 1, .sync = true, .direct = true});
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_TRUE(opened->backend->read_only());
  AlignedBuffer buf(512);
  Completion c;
  opened->backend->Write(0, buf.span(), &c);
  EXPECT_EQ(Await(*engine_, c), -EROFS);
  EXPECT_TRUE(file_.Contents() == Pattern(kImageBytes));
}

TEST_F(ExportBackendTest, WindowsThatDoNotFitAreRefused) {
  auto too_long = Build({.path = path_, .offset_sectors = 90, .length_sectors = 11});
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error(), make_error_code(StorageErrc::kWindowOutsideImage));
  EXPECT_EQ(too_long.error().message(), "offset/length window does not fit inside the image");

  auto past_end = Build({.path = path_, .offset_sectors = 101});
  ASSERT_FALSE(past_end);
  EXPECT_EQ(past_end.error(), make_error_code(StorageErrc::kWindowOutsideImage));

  auto empty = Build({.path = path_, .offset_sectors = 100});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error(), make_error_code(StorageErrc::kWindowEmpty));

  auto huge = Build({.path = path_, .offset_sectors = UINT64_MAX / 2});
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error(), make_error_code(StorageErrc::kSizeOverflow));
}

TEST_F(ExportBackendTest, MissingImageGivesEnoent) {
  auto opened = BuildExportBackend(*engine_, {.path = "/nonexistent/image.img"});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace aoe
