// WriteFileAtomically: a reader or a crash sees the old file or the new one, never a mix.
// Failures and crashes in the middle of the write are made real with RLIMIT_FSIZE: past the
// limit write() fails with EFBIG (SIGXFSZ ignored) or the kernel kills the writer with SIGXFSZ.
#include "base/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace aoe {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "aoe_atomic_file_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/state.json";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string Contents() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
  std::string path_;
};

// Sets RLIMIT_FSIZE for the scope and ignores SIGXFSZ, so a write past the limit fails with
// EFBIG instead of killing the test.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{bytes, saved_.rlim_max};
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  sighandler_t old_handler_;
};

TEST_F(AtomicFileTest, CreatesFileWithContentsAndExactMode) {
  mode_t saved_umask = ::umask(0077);  // the mode is set exactly, whatever the umask
  auto written = WriteFileAtomically(path_, "hello\n", 0640);
  ::umask(saved_umask);
  ASSERT_TRUE(written);
  EXPECT_EQ(Contents(), "hello\n");
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(AtomicFileTest, ReplacesExistingContents) {
  ASSERT_TRUE(WriteFileAtomically(path_, std::string(10000, 'a')));
  ASSERT_TRUE(WriteFileAtomically(path_, "short"));
  EXPECT_EQ(Contents(), "short");
}

TEST_F(AtomicFileTest, EmptyContentsGiveAnEmptyFile) {
  ASSERT_TRUE(WriteFileAtomically(path_, "old"));
  ASSERT_TRUE(WriteFileAtomically(path_, ""));
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_EQ(Contents(), "");
}

TEST_F(AtomicFileTest, LeavesNoTemporaryFile) {
  ASSERT_TRUE(WriteFileAtomically(path_, "one"));
  ASSERT_TRUE(WriteFileAtomically(path_, "two"));
  EXPECT_EQ(Names(), std::vector<std::string>{"state.json"});
}

TEST_F(AtomicFileTest, MissingDirectoryIsAnError) {
  auto written = WriteFileAtomically(dir_ + "/absent/state.json", "x");
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error(), std::errc::no_such_file_or_directory);
}

TEST_F(AtomicFileTest, FailedWriteLeavesTheOldFileAndNoTemporary) {
  ASSERT_TRUE(WriteFileAtomically(path_, "old state"));
  Result<void> written;
  {
    FileSizeLimit limit(16);
    written = WriteFileAtomically(path_, std::string(4096, 'n'));
  }
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error(), std::errc::file_too_large);
  EXPECT_EQ(Contents(), "old state");
  EXPECT_EQ(Names(), std::vector<std::string>{"state.json"});
}

TEST_F(AtomicFileTest, WriterKilledMidWriteLeavesTheOldFile) {
  ASSERT_TRUE(WriteFileAtomically(path_, "old state"));
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The kernel kills the writer with SIGXFSZ after 64 KiB of a 1 MiB file: a crash in the
    // middle of step 2, with a partial temporary file on disk.
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::signal(SIGXFSZ, SIG_DFL);
    rlimit limit{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    (void)WriteFileAtomically(path_, std::string(1 << 20, 'n'));
    ::_exit(0);  // not reached if the limit works
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer was meant to die mid-write";
  EXPECT_EQ(WTERMSIG(status), SIGXFSZ);
  EXPECT_EQ(Contents(), "old state");
  // The partial temporary file is left behind under its own name, never read as the state.
  std::vector<std::string> names = Names();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "state.json");
  EXPECT_EQ(names[1].rfind("state.json.", 0), 0u);
  EXPECT_TRUE(names[1].ends_with(".tmp"));
}

TEST_F(AtomicFileTest, RelativePathUsesTheCurrentDirectory) {
  std::string cwd = fs::current_path().string();
  fs::current_path(dir_);
  auto written = WriteFileAtomically("relative.json", "x");
  fs::current_path(cwd);
  ASSERT_TRUE(written);
  EXPECT_TRUE(fs::exists(dir_ + "/relative.json"));
}

}  // namespace
}  // namespace aoe
