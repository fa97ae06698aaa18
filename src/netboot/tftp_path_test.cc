#include "netboot/tftp_path.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace aoe::netboot {
namespace {

TEST(NormalizeTftpPath, AcceptsPlainNames) {
  EXPECT_EQ(NormalizeTftpPath("undionly.kpxe"), "undionly.kpxe");
  EXPECT_EQ(NormalizeTftpPath("/undionly.kpxe"), "undionly.kpxe");
  EXPECT_EQ(NormalizeTftpPath("a//b/./c"), "a/b/c");
  EXPECT_EQ(NormalizeTftpPath("dir\\file"), "dir/file");
  EXPECT_EQ(NormalizeTftpPath("..foo/bar.."), "..foo/bar..");  // not a ".." component
}

TEST(NormalizeTftpPath, RejectsEscapesAndJunk) {
  for (const char* bad : {"", "/", ".", "..", "../etc/passwd", "/../etc/passwd", "a/../../b",
                          "a/..", "..\\windows", "a\\..\\..\\b", "a\nb", "a\x7f"}) {
    EXPECT_FALSE(NormalizeTftpPath(bad)) << bad;
  }
  EXPECT_FALSE(NormalizeTftpPath(std::string("a\0b", 3)));
}

class OpenBeneathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/aoe-tftp-root.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    base_ = pattern;
    root_ = base_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/sub").c_str(), 0755), 0);
    std::ofstream(root_ + "/file") << "inside";
    std::ofstream(base_ + "/secret") << "outside";
    ASSERT_EQ(symlink("file", (root_ + "/link-in").c_str()), 0);
    ASSERT_EQ(symlink("../secret", (root_ + "/link-out").c_str()), 0);
    ASSERT_EQ(symlink("/etc/hostname", (root_ + "/link-abs").c_str()), 0);
    ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0644), 0);
    root_fd_ = UniqueFd(open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_);
  }
  void TearDown() override {
    root_fd_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(base_, ignored);
  }
  std::string base_;
  std::string root_;
  UniqueFd root_fd_;
};

TEST_F(OpenBeneathTest, OpensFilesAndInsideSymlinks) {
  EXPECT_TRUE(OpenBeneath(root_fd_.get(), "file"));
  EXPECT_TRUE(OpenBeneath(root_fd_.get(), "link-in"));
}

TEST_F(OpenBeneathTest, RefusesSymlinksOutOfTheRoot) {
  Result<UniqueFd> out = OpenBeneath(root_fd_.get(), "link-out");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().value(), EXDEV);
  EXPECT_FALSE(OpenBeneath(root_fd_.get(), "link-abs"));
}

TEST_F(OpenBeneathTest, RefusesDirectoriesFifosAndMissingFiles) {
  EXPECT_EQ(OpenBeneath(root_fd_.get(), "sub").error().value(), EISDIR);
  EXPECT_EQ(OpenBeneath(root_fd_.get(), "fifo").error().value(), EINVAL);
  EXPECT_EQ(OpenBeneath(root_fd_.get(), "missing").error().value(), ENOENT);
}

TEST_F(OpenBeneathTest, RefusesDotDotEvenIfNormalizationWereSkipped) {
  EXPECT_FALSE(OpenBeneath(root_fd_.get(), "../secret"));
  EXPECT_FALSE(OpenBeneath(root_fd_.get(), "/etc/hostname"));
}

}  // namespace
}  // namespace aoe::netboot
