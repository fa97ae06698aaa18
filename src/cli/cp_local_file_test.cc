// LocalFile (cp_local_file.h): a download into a regular file replaces it only once complete;
// a failure, an early exit or a signal leaves the old file and no partial copy.
#include "cli/cp_local_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace aoe::cli {
namespace {

namespace fs = std::filesystem;

class LocalFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "cp_local_file_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string PathOf(const std::string& name) const { return (dir_ / name).string(); }
  static void WriteText(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  static std::string ReadText(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  // The names in a directory (a partial copy would be a .NAME.aoe-cp-XXXXXX among them).
  static std::vector<std::string> Names(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  static void Write(LocalFile& file, const std::string& text, uint64_t offset) {
    ASSERT_TRUE(
        PwriteAll(file.fd(), reinterpret_cast<const std::byte*>(text.data()), text.size(), offset));
  }

  fs::path dir_;
};

// A source truncated during an upload says how short it is now; one that grew does not count.
TEST_F(LocalFileTest, ASourceCutShortSaysItsNewSizeAndOneThatGrewDoesNot) {
  const std::string path = PathOf("source.img");
  WriteText(path, std::string(4096, 'a'));
  ParseResult<LocalFile> source = LocalFile::OpenSource(path);
  ASSERT_TRUE(source) << source.error().message;
  EXPECT_EQ(source->ShrunkTo(), std::nullopt);
  fs::resize_file(path, 8192);  // grew: cp copies the size it started with, as dd would
  EXPECT_EQ(source->ShrunkTo(), std::nullopt);
  fs::resize_file(path, 1000);
  EXPECT_EQ(source->ShrunkTo(), std::optional<uint64_t>(1000));
}

// A full disk under a copy that replaces a file: both take room until the rename, which is what
// the message must say (the fix: room, or writing in place). A new file's message says no more.
TEST_F(LocalFileTest, AFullDiskUnderAReplacementSaysBothNeedRoom) {
  const std::string path = PathOf("disk.img");
  WriteText(path, "precious");
  auto replacing = LocalFile::OpenDestination(path, /*whole_new_file=*/true, /*read_back=*/false);
  ASSERT_TRUE(replacing) << replacing.error().message;
  const std::string full = replacing->WriteFailure(ENOSPC);
  EXPECT_NE(full.find("cannot write " + path + ": No space left on device"), std::string::npos);
  EXPECT_NE(full.find("both need room until then: free some, or give --seek-sectors 0"),
            std::string::npos)
      << full;

  auto fresh = LocalFile::OpenDestination(PathOf("new.img"), true, false);
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(fresh->WriteFailure(ENOSPC),
            "cannot write " + PathOf("new.img") + ": No space left on device");
  EXPECT_EQ(replacing->WriteFailure(EIO), "cannot write " + path + ": Input/output error");
}

TEST_F(LocalFileTest, ADestinationInADirectoryThatDoesNotExistIsABadArgument) {
  const std::string path = PathOf("missing/disk.img");
  std::optional<std::string> problem = LocalFile::DestinationProblem(path);
  ASSERT_TRUE(problem);
  EXPECT_EQ(*problem, "the directory of " + path + " does not exist; create it first (mkdir -p " +
                          PathOf("missing") + ")");
  WriteText(PathOf("file"), "x");
  EXPECT_TRUE(LocalFile::DestinationProblem(PathOf("file/disk.img")));
  EXPECT_FALSE(LocalFile::DestinationProblem(PathOf("disk.img")));
  EXPECT_FALSE(LocalFile::DestinationProblem("relative-name-in-the-current-directory.img"));
}

TEST_F(LocalFileTest, AFailedDownloadLeavesTheOldFileAsItWas) {
  const std::string path = PathOf("disk.img");
  WriteText(path, "precious");
  auto file = LocalFile::OpenDestination(path, /*whole_new_file=*/true, /*read_back=*/false);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_TRUE(file->starts_empty());
  Write(*file, "half a copy", 0);
  EXPECT_EQ(ReadText(path), "precious");  // written beside it, not into it
  file->Discard(/*wrote_nothing=*/false);
  EXPECT_EQ(ReadText(path), "precious");
  EXPECT_EQ(Names(dir_), std::vector<std::string>{"disk.img"});
}

TEST_F(LocalFileTest, ACompleteDownloadReplacesTheFileKeepingItsModeAndSize) {
  const std::string path = PathOf("disk.img");
  WriteText(path, "old contents, longer than the new");
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  auto file = LocalFile::OpenDestination(path, true, false);
  ASSERT_TRUE(file) << file.error().message;
  Write(*file, "new", 0);
  ASSERT_EQ(file->Finish(/*end_bytes=*/4096), std::nullopt);
  EXPECT_EQ(ReadText(path), "old contents, longer than the new");  // until Commit (--verify)
  ASSERT_EQ(file->Commit(), std::nullopt);
  EXPECT_EQ(fs::file_size(path), 4096u);  // the rest a hole, read as zeros
  EXPECT_EQ(ReadText(path), "new" + std::string(4093, '\0'));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(Names(dir_), std::vector<std::string>{"disk.img"});
}

TEST_F(LocalFileTest, ANewFileAppearsOnlyWhenComplete) {
  const std::string path = PathOf("new.img");
  {
    auto file = LocalFile::OpenDestination(path, true, false);
    ASSERT_TRUE(file) << file.error().message;
    Write(*file, "data", 0);
    EXPECT_FALSE(fs::exists(path));
  }  // dropped without Commit (an early return): the partial copy goes
  EXPECT_TRUE(Names(dir_).empty());
  auto file = LocalFile::OpenDestination(path, true, false);
  ASSERT_TRUE(file);
  Write(*file, "data", 0);
  ASSERT_EQ(file->Finish(4), std::nullopt);
  ASSERT_EQ(file->Commit(), std::nullopt);
  EXPECT_EQ(ReadText(path), "data");
  const mode_t mask = ::umask(0);
  ::umask(mask);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u & ~mask);
}

TEST_F(LocalFileTest, ASymbolicLinkStaysALinkToTheReplacedFile) {
  fs::create_directory(dir_ / "images");
  const std::string target = PathOf("images/disk.img");
  WriteText(target, "old");
  const std::string link = PathOf("current.img");
  fs::create_symlink(target, link);
  auto file = LocalFile::OpenDestination(link, true, false);
  ASSERT_TRUE(file) << file.error().message;
  Write(*file, "new", 0);
  ASSERT_EQ(file->Finish(3), std::nullopt);
  ASSERT_EQ(file->Commit(), std::nullopt);
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(ReadText(target), "new");
  EXPECT_EQ(Names(dir_ / "images"), std::vector<std::string>{"disk.img"});
}

TEST_F(LocalFileTest, ALinkToNothingIsRefused) {
  const std::string link = PathOf("dangling.img");
  fs::create_symlink(PathOf("nowhere/disk.img"), link);
  auto file = LocalFile::OpenDestination(link, true, false);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().message,
            link +
                " is a symbolic link to a file that does not exist; give the file name to "
                "write");
}

TEST_F(LocalFileTest, WritingInPlaceKeepsWhatCameAndRemovesOnlyAFileItMadeEmpty) {
  const std::string existing = PathOf("existing.img");
  WriteText(existing, "0123456789");
  auto file = LocalFile::OpenDestination(existing, /*whole_new_file=*/false, false);
  ASSERT_TRUE(file);
  EXPECT_FALSE(file->starts_empty());
  Write(*file, "ab", 2);
  file->Discard(/*wrote_nothing=*/false);
  EXPECT_EQ(ReadText(existing), "01ab456789");  // as dd conv=notrunc would leave it

  const std::string made = PathOf("made.img");
  auto fresh = LocalFile::OpenDestination(made, false, false);
  ASSERT_TRUE(fresh);
  fresh->Discard(/*wrote_nothing=*/true);
  EXPECT_FALSE(fs::exists(made));
}

// A directory this user may not write, with a file in it: as root the check runs in a child
// that becomes nobody (root writes into any directory).
TEST_F(LocalFileTest, ADirectoryThatCannotTakeTheNewFileSaysHowToWriteInPlace) {
  fs::create_directory(dir_ / "ro");
  const std::string path = PathOf("ro/disk.img");
  WriteText(path, "old");
  ASSERT_EQ(::chmod(path.c_str(), 0666), 0);  // the file writable, its directory not
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(dir_ / "ro", fs::perms::owner_read | fs::perms::owner_exec |
                                   fs::perms::others_read | fs::perms::others_exec);
  EXPECT_EXIT(
      {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) std::_Exit(10);
        auto file = LocalFile::OpenDestination(path, true, false);
        if (file) std::_Exit(11);
        const bool says_how =
            file.error().message.find("give --seek-sectors 0 to write into the file in place") !=
            std::string::npos;
        std::_Exit(says_how ? 0 : 12);
      },
      ::testing::ExitedWithCode(0), "");
  fs::permissions(dir_ / "ro", fs::perms::owner_all);
  EXPECT_EQ(ReadText(path), "old");
}

TEST_F(LocalFileTest, AFileWithOtherHardLinksIsRefused) {
  const std::string path = PathOf("disk.img");
  WriteText(path, "old");
  fs::create_hard_link(path, PathOf("other-name.img"));
  auto file = LocalFile::OpenDestination(path, true, false);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().message,
            path +
                " has 2 names (hard links), and cp would replace only this one; give "
                "--seek-sectors 0 to write into the file in place");
  auto in_place = LocalFile::OpenDestination(path, /*whole_new_file=*/false, false);
  EXPECT_TRUE(in_place);
}

TEST_F(LocalFileTest, TheCopyKeepsNoSetUserIdBit) {
  const std::string path = PathOf("disk.img");
  WriteText(path, "old");
  ASSERT_EQ(::chmod(path.c_str(), 04755), 0);
  auto file = LocalFile::OpenDestination(path, true, false);
  ASSERT_TRUE(file);
  ASSERT_EQ(file->Finish(0), std::nullopt);
  ASSERT_EQ(file->Commit(), std::nullopt);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

// A file its user may not write is not replaced either (as root the check runs as nobody).
TEST_F(LocalFileTest, AFileThisUserMayNotWriteIsRefused) {
  const std::string path = PathOf("disk.img");
  WriteText(path, "old");
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  fs::permissions(dir_, fs::perms::all);  // the directory writable by anyone, the file not
  EXPECT_EXIT(
      {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) std::_Exit(10);
        auto file = LocalFile::OpenDestination(path, true, false);
        if (file) std::_Exit(11);
        std::_Exit(file.error().message == "cannot write " + path + ": Permission denied" ? 0 : 12);
      },
      ::testing::ExitedWithCode(0), "");
  fs::permissions(dir_, fs::perms::owner_all);
  EXPECT_EQ(ReadText(path), "old");
}

// Under nohup SIGHUP is ignored: a download must not turn it back into a fatal signal.
TEST_F(LocalFileTest, AnIgnoredHangupStaysIgnored) {
  const std::string path = PathOf("disk.img");
  EXPECT_EXIT(
      {
        ::signal(SIGHUP, SIG_IGN);
        auto file = LocalFile::OpenDestination(path, true, false);
        if (!file) std::_Exit(10);
        ::raise(SIGHUP);  // ignored: the process goes on
        if (file->Finish(0) || file->Commit()) std::_Exit(11);
        struct sigaction now {};
        ::sigaction(SIGHUP, nullptr, &now);
        std::_Exit(now.sa_handler == SIG_IGN ? 0 : 12);  // put back as it was
      },
      ::testing::ExitedWithCode(0), "");
}

// A download killed outright (SIGKILL) leaves its partial copy; the next download to the same
// file removes it, but not the one a running download holds, nor other files.
TEST_F(LocalFileTest, TheNextDownloadRemovesThePartialCopyOfOneThatWasKilled) {
  const std::string path = PathOf("disk.img");
  WriteText(path, "precious");
  WriteText(PathOf(".disk.img.aoe-cp-Ab12Cd"), "left by a cp killed with SIGKILL");
  WriteText(PathOf(".disk.img.aoe-cp-Ab12C"), "not a name cp makes");
  WriteText(PathOf(".other.img.aoe-cp-Ab12Cd"), "another destination's");
  auto running = LocalFile::OpenDestination(path, true, false);  // holds its new file's lock
  ASSERT_TRUE(running) << running.error().message;
  ASSERT_EQ(running->removed_leftovers(),
            std::vector<std::string>{PathOf(".disk.img.aoe-cp-Ab12Cd")});

  auto next = LocalFile::OpenDestination(path, true, false);
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_TRUE(next->removed_leftovers().empty()) << "the running download's file was removed";
  EXPECT_EQ(Names(dir_).size(), 5u);  // the two new files, disk.img and the two others
  EXPECT_EQ(ReadText(path), "precious");
}

// ^C in the middle of a download: the partial copy goes with the process.
TEST_F(LocalFileTest, AnInterruptRemovesThePartialCopy) {
  const std::string path = PathOf("disk.img");
  WriteText(path, "precious");
  EXPECT_EXIT(
      {
        auto file = LocalFile::OpenDestination(path, true, false);
        if (!file) std::_Exit(10);
        if (Names(dir_).size() != 2) std::_Exit(11);  // the old file and the new one
        ::raise(SIGINT);
        std::_Exit(12);
      },
      ::testing::KilledBySignal(SIGINT), "");
  EXPECT_EQ(Names(dir_), std::vector<std::string>{"disk.img"});
  EXPECT_EQ(ReadText(path), "precious");
}

}  // namespace
}  // namespace aoe::cli
