// What only the file backend does: open errors, read-only opens, O_DIRECT fallback, block
// devices, short transfers.
#include "storage/file_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "storage/inline_io.h"
#include "storage/storage_error.h"
#include "storage/storage_test_util.h"

namespace aoe {
namespace {

using testing_util::AlignedBuffer;
using testing_util::Await;
using testing_util::Completion;
using testing_util::Pattern;
using testing_util::RunUntil;
using testing_util::TempFile;

constexpr size_t kImageBytes = 1 << 20;

class FileBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = IoEngine::Create();
    ASSERT_TRUE(engine) << engine.error().message();
    engine_ = std::move(*engine);
  }

  std::unique_ptr<BlockBackend> Open(const std::string& path, FileOptions options = {}) {
    auto opened = OpenFileBackend(*engine_, path, options);
    EXPECT_TRUE(opened) << path << ": " << opened.error().message();
    if (!opened) return nullptr;
    EXPECT_TRUE(opened->warnings.empty()) << opened->warnings.front();
    return std::move(opened->backend);
  }
  // Tests of the tmpfs path (InlineIo kMemory: reads and writes on the caller's thread).
  static bool HaveTmpfs() {
    struct stat st {};
    return ::stat("/dev/shm", &st) == 0;
  }
  // A backend over a copy of Pattern(kImageBytes) on tmpfs; the file lives as long as the test.
  std::unique_ptr<BlockBackend> OpenOnTmpfs() {
    tmpfs_file_.emplace(Pattern(kImageBytes), "/dev/shm");
    return Open(tmpfs_file_->path());
  }
  int64_t Read(BlockBackend& b, uint64_t offset, ByteSpan into) {
    Completion c;
    b.Read(IoContext{}, offset, into, &c);
    return Await(*engine_, c);
  }
  int64_t Write(BlockBackend& b, uint64_t offset, ConstByteSpan from) {
    Completion c;
    b.Write(IoContext{}, offset, from, &c);
    return Await(*engine_, c);
  }
  int64_t Flush(BlockBackend& b) {
    Completion c;
    b.Flush(IoContext{}, &c);
    return Await(*engine_, c);
  }

  std::unique_ptr<IoEngine> engine_;
  std::optional<TempFile> tmpfs_file_;
};

TEST_F(FileBackendTest, MissingFileGivesEnoent) {
  auto opened = OpenFileBackend(*engine_, "/nonexistent/aoe/image.img", {});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), std::errc::no_such_file_or_directory);
  EXPECT_EQ(opened.error().message(), "No such file or directory");
}

TEST_F(FileBackendTest, MissingFileGivesEnoentEvenWithDirect) {
  auto opened = OpenFileBackend(*engine_, "/nonexistent/aoe/image.img", {.direct = true});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), std::errc::no_such_file_or_directory);
}

TEST_F(FileBackendTest, DirectoryGivesEisdir) {
  auto ro = OpenFileBackend(*engine_, ::testing::TempDir(), {.read_only = true});
  ASSERT_FALSE(ro);
  EXPECT_EQ(ro.error(), std::errc::is_a_directory);
  auto rw = OpenFileBackend(*engine_, ::testing::TempDir(), {});
  ASSERT_FALSE(rw);
  EXPECT_EQ(rw.error(), std::errc::is_a_directory);
}

TEST_F(FileBackendTest, CharacterDeviceIsRefused) {
  auto opened = OpenFileBackend(*engine_, "/dev/null", {});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), make_error_code(StorageErrc::kNotFileOrBlockDevice));
  EXPECT_EQ(opened.error().message(), "not a regular file or block device");
}

TEST_F(FileBackendTest, FifoIsRefusedWithoutBlocking) {
  std::string path = ::testing::TempDir() + "aoe_storage_test_fifo_" + std::to_string(getpid());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto opened = OpenFileBackend(*engine_, path, {.read_only = true});
  ::unlink(path.c_str());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), make_error_code(StorageErrc::kNotFileOrBlockDevice));
}

TEST_F(FileBackendTest, UnreadableFileGivesEacces) {
  if (::geteuid() == 0) GTEST_SKIP() << "root bypasses file permissions";
  TempFile file(Pattern(4096));
  ASSERT_EQ(::chmod(file.path().c_str(), 0), 0);
  auto opened = OpenFileBackend(*engine_, file.path(), {});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), std::errc::permission_denied);
}

// Returns the open flags of this process's fd for `path`, from /proc/self/fdinfo.
int OpenFlagsOf(const std::string& path) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int flags = -1;
  while (dirent* entry = ::readdir(dir)) {
    std::string link = std::string("/proc/self/fd/") + entry->d_name;
    char target[4096];
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0 || std::string(target, static_cast<size_t>(n)) != path) continue;
    std::ifstream info(std::string("/proc/self/fdinfo/") + entry->d_name);
    std::string key;
    while (info >> key) {
      if (key == "flags:") {
        info >> std::oct >> flags;
        break;
      }
    }
  }
  ::closedir(dir);
  return flags;
}

TEST_F(FileBackendTest, ReadOnlyRefusesWritesAndLeavesTheImageByteIdentical) {
  TempFile file(Pattern(kImageBytes));
  const std::vector<std::byte> before = file.Contents();
  auto backend = Open(file.path(), {.read_only = true});
  ASSERT_TRUE(backend);
  EXPECT_TRUE(backend->read_only());
  const int flags = OpenFlagsOf(file.path());
  ASSERT_GE(flags, 0);
  EXPECT_EQ(flags & O_ACCMODE, O_RDONLY) << "the image must be opened O_RDONLY";

  AlignedBuffer data(4096, std::byte{0xff});
  EXPECT_EQ(Write(*backend, 0, data.span()), -EROFS);
  EXPECT_EQ(Write(*backend, kImageBytes - 4096, data.span()), -EROFS);
  EXPECT_EQ(Flush(*backend), 0);
  AlignedBuffer back(4096);
  EXPECT_EQ(Read(*backend, 4096, back.span()), 4096);
  backend.reset();
  EXPECT_TRUE(file.Contents() == before);
}

TEST_F(FileBackendTest, DescribesPathAndMode) {
  TempFile file(Pattern(4096));
  auto backend = Open(file.path(), {.read_only = true});
  ASSERT_TRUE(backend);
  EXPECT_EQ(backend->Describe(), "file(" + file.path() + ",ro)");
}

TEST_F(FileBackendTest, DirectOnTmpfsFallsBackToBufferedWithAWarning) {
  struct stat st {};
  if (::stat("/dev/shm", &st) != 0) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  TempFile file(Pattern(kImageBytes), "/dev/shm");
  auto opened = OpenFileBackend(*engine_, file.path(), {.direct = true});
  ASSERT_TRUE(opened) << opened.error().message();
  ASSERT_EQ(opened->warnings.size(), 1u);
  EXPECT_NE(opened->warnings[0].find("O_DIRECT"), std::string::npos) << opened->warnings[0];
  EXPECT_NE(opened->warnings[0].find(file.path()), std::string::npos) << opened->warnings[0];
  BlockBackend& backend = *opened->backend;
  EXPECT_EQ(backend.Describe(), "file(" + file.path() + ")");
  const int flags = OpenFlagsOf(file.path());
  EXPECT_EQ(flags & O_DIRECT, 0);

  // Buffered I/O accepts what O_DIRECT would refuse: unaligned offsets and buffers.
  std::vector<std::byte> data(100, std::byte{0x42});
  EXPECT_EQ(Write(backend, 3, data), 100);
  std::vector<std::byte> back(100);
  EXPECT_EQ(Read(backend, 3, back), 100);
  EXPECT_EQ(back, data);
}

TEST_F(FileBackendTest, DirectOnADiskFilesystemStaysDirect) {
  TempFile file(Pattern(kImageBytes));
  auto opened = OpenFileBackend(*engine_, file.path(), {.direct = true});
  ASSERT_TRUE(opened) << opened.error().message();
  if (!opened->warnings.empty())
    GTEST_SKIP() << "TempDir has no direct I/O: " << opened->warnings[0];
  EXPECT_EQ(opened->backend->Describe(), "file(" + file.path() + ",direct)");
  EXPECT_NE(OpenFlagsOf(file.path()) & O_DIRECT, 0);
  EXPECT_EQ(OpenFlagsOf(file.path()) & O_NONBLOCK, 0) << "io_uring would return -EAGAIN";
}

TEST_F(FileBackendTest, ReadPastAShrunkenFileFailsWithEio) {
  TempFile file(Pattern(kImageBytes));
  auto backend = Open(file.path());
  ASSERT_TRUE(backend);
  // The size is fixed at open; someone truncating the image underneath must not produce
  // garbage or a short success.
  ASSERT_EQ(::truncate(file.path().c_str(), kImageBytes / 2), 0);
  AlignedBuffer buf(8192);
  EXPECT_EQ(Read(*backend, kImageBytes / 2 - 4096, buf.span()), -EIO);  // short, then empty
  EXPECT_EQ(Read(*backend, kImageBytes - 8192, buf.span()), -EIO);      // empty twice
  EXPECT_EQ(Read(*backend, 0, buf.span()), 8192);
}

// ---- Page-cache hits complete on the calling thread (inline_io.h) ----

TEST_F(FileBackendTest, TmpfsReadsAndWritesCompleteOnTheCallersThread) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  auto backend = OpenOnTmpfs();
  ASSERT_TRUE(backend);
  const std::vector<std::byte> data(8704, std::byte{0x5a});
  Completion wrote;
  backend->Write(IoContext{}, 4096, data, &wrote);
  EXPECT_FALSE(wrote.done()) << "held back until the submit, to be merged";
  engine_->Submit();
  EXPECT_EQ(wrote.result(), 8704) << "handed to io_uring instead of written inline";
  AlignedBuffer buf(8704);
  Completion read;
  backend->Read(IoContext{}, 4096, buf.span(), &read);
  EXPECT_FALSE(read.done()) << "held back until the submit, to be merged";
  engine_->Submit();
  EXPECT_EQ(read.result(), 8704) << "handed to io_uring instead of read inline";
  EXPECT_EQ(engine_->in_flight(), 0u);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.span().begin()));
  // tmpfs has nothing to write back, so its flush is done at once.
  Completion flushed;
  backend->Flush(IoContext{}, &flushed);
  EXPECT_EQ(flushed.result(), 0) << "tmpfs flush handed to io_uring";
}

// Views (BlockBackend::View): a file on tmpfs is offered where it lies, mapped, so the target can
// send a read reply's data from the page cache without reading it into a buffer first.
TEST_F(FileBackendTest, AFileOnTmpfsIsViewedWhereItLies) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  auto backend = OpenOnTmpfs();
  ASSERT_TRUE(backend);
  const std::vector<std::byte> pattern = Pattern(kImageBytes);
  ConstByteSpan view = backend->View(IoContext{}, 4096, 8192);
  ASSERT_EQ(view.size(), 8192u);
  EXPECT_TRUE(std::equal(view.begin(), view.end(), pattern.begin() + 4096));

  // A write held back for merging is done before the view is given: it came first.
  const std::vector<std::byte> data(1024, std::byte{0x77});
  Completion wrote;
  backend->Write(IoContext{}, 6144, data, &wrote);
  EXPECT_FALSE(wrote.done());
  ConstByteSpan after = backend->View(IoContext{}, 4096, 8192);
  EXPECT_EQ(wrote.result(), 1024) << "the held write was not done before the view";
  EXPECT_TRUE(std::equal(after.begin() + 2048, after.begin() + 3072, data.begin()));
  // The view is the file: later writes show in it too.
  Completion again;
  backend->Write(IoContext{}, 4096, data, &again);
  engine_->Submit();
  ASSERT_EQ(again.result(), 1024);
  EXPECT_TRUE(std::equal(view.begin(), view.begin() + 1024, data.begin()));

  // Nothing outside the image.
  EXPECT_TRUE(backend->View(IoContext{}, kImageBytes - 512, 1024).empty());
  EXPECT_TRUE(backend->View(IoContext{}, ~uint64_t{0} - 511, 512).empty());
}

// Reading a hole through a mapping of tmpfs allocates a page for it (pread does not): a file
// with holes is viewed only where its pages are, and so is one after the backend punched a hole.
TEST_F(FileBackendTest, ViewsOfATmpfsFileWithHolesCoverOnlyItsData) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  std::vector<std::byte> half = Pattern(kImageBytes / 2);
  TempFile sparse(half, "/dev/shm");
  ASSERT_EQ(::truncate(sparse.path().c_str(), kImageBytes), 0);
  auto sparse_backend = Open(sparse.path());
  ASSERT_TRUE(sparse_backend);
  ConstByteSpan data = sparse_backend->View(IoContext{}, 4096, 8192);
  ASSERT_EQ(data.size(), 8192u) << "no view of a sparse file's data";
  EXPECT_TRUE(std::equal(data.begin(), data.end(), half.begin() + 4096));
  EXPECT_TRUE(sparse_backend->View(IoContext{}, kImageBytes / 2, 4096).empty())
      << "a view of a hole";
  EXPECT_TRUE(sparse_backend->View(IoContext{}, kImageBytes / 2 - 512, 1024).empty())
      << "a view reaching into a hole";
  struct stat st {};
  ASSERT_EQ(::stat(sparse.path().c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_blocks) * 512, kImageBytes / 2)
      << "looking for views allocated pages";

  auto backend = OpenOnTmpfs();
  ASSERT_TRUE(backend);
  ASSERT_EQ(backend->View(IoContext{}, 8192, 4096).size(), 4096u);
  Completion trimmed;
  backend->Trim(IoContext{}, 8192, 4096, &trimmed);
  ASSERT_EQ(Await(*engine_, trimmed), 0);
  EXPECT_TRUE(backend->View(IoContext{}, 8192, 4096).empty()) << "a view of a punched hole";
  EXPECT_EQ(backend->View(IoContext{}, 0, 4096).size(), 4096u);
  AlignedBuffer zeroes(4096);
  ASSERT_EQ(Read(*backend, 8192, zeroes.span()), 4096);
  EXPECT_TRUE(zeroes.vector() == std::vector<std::byte>(4096));
}

// Another program truncates the image, or punches a hole in it: within the check interval
// (100 ms) the backend stops offering views, and reads say what is gone instead of a send
// failing on a mapping past the file's end.
TEST_F(FileBackendTest, ViewsStopWhenAnotherProgramShrinksTheFileOrPunchesAHole) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  auto views_stop = [&](BlockBackend& backend) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < give_up) {
      if (backend.View(IoContext{}, 0, 4096).empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  auto shrunk = OpenOnTmpfs();
  ASSERT_TRUE(shrunk);
  ASSERT_EQ(shrunk->View(IoContext{}, 0, 4096).size(), 4096u);
  ASSERT_EQ(::truncate(tmpfs_file_->path().c_str(), kImageBytes / 2), 0);
  EXPECT_TRUE(views_stop(*shrunk)) << "views of a file that shrank";
  AlignedBuffer lost(4096);
  EXPECT_EQ(Read(*shrunk, kImageBytes - 4096, lost.span()), -EIO);

  auto punched = OpenOnTmpfs();
  ASSERT_TRUE(punched);
  ASSERT_EQ(punched->View(IoContext{}, 8192, 4096).size(), 4096u);
  UniqueFd other(::open(tmpfs_file_->path().c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(other);
  ASSERT_EQ(::fallocate(other.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192, 4096), 0);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!punched->View(IoContext{}, 8192, 4096).empty() &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(punched->View(IoContext{}, 8192, 4096).empty()) << "a view of the new hole";
  EXPECT_EQ(punched->View(IoContext{}, 0, 4096).size(), 4096u) << "no view of the data left";
}

// mincore tells a process that neither owns a file nor may write it that every page is there,
// so such a process (`aoe serve --user` after giving up root) must not view a file with holes.
TEST_F(FileBackendTest, AFileWithHolesIsNotViewedWhereMincoreCannotTell) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  TempFile sparse(Pattern(4096), "/dev/shm");
  ASSERT_EQ(::truncate(sparse.path().c_str(), kImageBytes), 0);
  ASSERT_EQ(::chmod(sparse.path().c_str(), 0644), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Not gtest assertions in the child: its exit code says what failed.
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(2);
    auto engine = IoEngine::Create();
    if (!engine) _exit(3);
    auto opened = OpenFileBackend(**engine, sparse.path(), {.read_only = true});
    if (!opened) _exit(4);
    if (!opened->backend->View(IoContext{}, 8192, 4096).empty()) _exit(5);  // a hole
    struct stat st {};
    if (::stat(sparse.path().c_str(), &st) != 0 || st.st_blocks * 512 != 4096) _exit(6);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "5: a view of a hole; 6: the hole was filled";
}

// Mapping costs address space, which a fleet of overlays could use up: past a budget (16 TiB
// for the process), files are read as before.
TEST_F(FileBackendTest, MappingsStopAtTheAddressSpaceBudget) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  TempFile sparse(Pattern(4096), "/dev/shm");
  constexpr uint64_t kFourTiB = uint64_t{4} << 40;
  ASSERT_EQ(::truncate(sparse.path().c_str(), static_cast<off_t>(kFourTiB)), 0);
  std::vector<std::unique_ptr<BlockBackend>> backends;
  size_t viewed = 0;
  for (int i = 0; i < 5; ++i) {
    backends.push_back(Open(sparse.path()));
    ASSERT_TRUE(backends.back());
    if (!backends.back()->View(IoContext{}, 0, 4096).empty()) ++viewed;
  }
  EXPECT_EQ(viewed, 4u) << "4 TiB files mapped past a 16 TiB budget";
  backends.pop_back();
  backends.erase(backends.begin());
  backends.push_back(Open(sparse.path()));
  EXPECT_FALSE(backends.back()->View(IoContext{}, 0, 4096).empty())
      << "the budget is not given back when a mapping goes";
}

TEST_F(FileBackendTest, AFileOnADiskFilesystemHasNoViews) {
  TempFile file(Pattern(kImageBytes));
  struct statfs fs {};
  ASSERT_EQ(::statfs(file.path().c_str(), &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "TempDir is on tmpfs";
  auto backend = Open(file.path());
  ASSERT_TRUE(backend);
  EXPECT_TRUE(backend->View(IoContext{}, 0, 4096).empty())
      << "a mapping of a disk file could make the loop wait for the disk";
}

// The target may hand a write its data where the port received it, to be given back once the
// engine's deferred work has run (BackendCapabilities::copies_write_data_in_turn). A file in
// memory promises that, even for a write the filesystem cuts short: that one is finished in the
// deferred run, not handed to io_uring, which would read the data later. A file on disk does
// not promise it.
TEST_F(FileBackendTest, WritesToAFileInMemoryAreDoneWithTheirDataInTheTurn) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  TempFile on_disk(Pattern(kImageBytes));
  struct statfs fs {};
  ASSERT_EQ(::statfs(on_disk.path().c_str(), &fs), 0);
  if (fs.f_type != TMPFS_MAGIC) {
    auto disk = Open(on_disk.path());
    ASSERT_TRUE(disk);
    EXPECT_FALSE(disk->capabilities().copies_write_data_in_turn);
  }
  auto memory = OpenOnTmpfs();
  ASSERT_TRUE(memory);
  EXPECT_TRUE(memory->capabilities().copies_write_data_in_turn);
  memory.reset();

  // A file size limit cuts the write short: its first 4 KiB fit, the rest fails with EFBIG.
  // In a child, since the limit is the process's.
  constexpr off_t kLimit = 512 << 10;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Not gtest assertions in the child: its exit code says what failed.
    const rlimit limit{static_cast<rlim_t>(kLimit), static_cast<rlim_t>(kLimit)};
    if (::signal(SIGXFSZ, SIG_IGN) == SIG_ERR || ::setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(2);
    auto engine = IoEngine::Create();
    if (!engine) _exit(3);
    auto opened = OpenFileBackend(**engine, tmpfs_file_->path(), {});
    if (!opened) _exit(4);
    const std::vector<std::byte> data(8192, std::byte{0x6b});
    Completion wrote;
    opened->backend->Write(IoContext{}, kLimit - 4096, data, &wrote);
    (*engine)->RunDeferred();
    if (!wrote.done()) _exit(5);
    if (wrote.result() != -EFBIG) _exit(6);
    if ((*engine)->in_flight() != 0) _exit(7);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "5: not done in the deferred run; 6: another result";
}

// Write merging: the writes of one turn of the loop (between two submits) that follow each
// other on disk are written with one pwritev, and each caller is told, in order, at the submit.
// Anything that must see them (an overlapping read, a flush, a trim) writes them first.

// Sanitizer runtimes check whether memory is readable by writing it to a pipe, which
// /proc/self/io counts too (16-byte writes seen under strace in the ASan+UBSan build), so the
// system-call counts below are checked only in builds without them; the release build's pass
// runs these tests too.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kCountsAreExact = false;
#else
constexpr bool kCountsAreExact = true;
#endif

// A counter of this process's I/O, e.g. "syscw:", the write system calls (/proc/self/io).
uint64_t IoCounter(const std::string& name) {
  std::ifstream io("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value) {
    if (key == name) return value;
  }
  ADD_FAILURE() << "no " << name << " in /proc/self/io";
  return 0;
}

// Records the order in which callbacks run.
struct OrderedCompletion final : IoCallback {
  OrderedCompletion(std::vector<int>* order_log, int callback_id)
      : order(order_log), id(callback_id) {}
  void IoDone(int64_t r) override {
    result = r;
    order->push_back(id);
  }
  std::vector<int>* order;
  int id;
  int64_t result = testing_util::kPending;
};

TEST_F(FileBackendTest, AdjacentWritesOfOneTurnAreWrittenWithOneSystemCall) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  auto backend = OpenOnTmpfs();
  ASSERT_TRUE(backend);
  constexpr int kWrites = 16;
  constexpr size_t kChunk = 1024;  // two sectors: a write at MTU 1500
  std::vector<std::byte> data(kWrites * kChunk);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7 + 3);
  std::vector<int> order;
  std::vector<OrderedCompletion> done;
  for (int i = 0; i < kWrites; ++i) done.emplace_back(&order, i);
  const uint64_t before = IoCounter("syscw:");
  for (int i = 0; i < kWrites; ++i) {
    backend->Write(IoContext{}, 8192 + i * kChunk, ConstByteSpan(data).subspan(i * kChunk, kChunk),
                   &done[i]);
  }
  EXPECT_TRUE(order.empty()) << "a write was done before the turn ended";
  engine_->Submit();
  if (kCountsAreExact) {
    EXPECT_EQ(IoCounter("syscw:") - before, 1u) << "adjacent writes were not merged";
  }
  EXPECT_EQ(engine_->in_flight(), 0u);
  std::vector<int> expected_order(kWrites);
  for (int i = 0; i < kWrites; ++i) expected_order[i] = i;
  EXPECT_EQ(order, expected_order);
  for (const OrderedCompletion& c : done) EXPECT_EQ(c.result, static_cast<int64_t>(kChunk));
  AlignedBuffer back(data.size());
  ASSERT_EQ(Read(*backend, 8192, back.span()), static_cast<int64_t>(data.size()));
  EXPECT_EQ(back.vector(), data);
}

TEST_F(FileBackendTest, WritesThatAreNotAdjacentAreWrittenInOrderAsSeparateRuns) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  auto backend = OpenOnTmpfs();
  ASSERT_TRUE(backend);
  // Two runs (0-2 at 0, 3-4 at 64 KiB) and a write over the first run's middle, which must
  // land after it.
  const std::vector<std::pair<uint64_t, std::byte>> writes = {
      {0, std::byte{1}},     {4096, std::byte{2}},  {8192, std::byte{3}},
      {65536, std::byte{4}}, {69632, std::byte{5}}, {4096, std::byte{6}}};
  std::vector<AlignedBuffer> bufs;
  for (const auto& [offset, fill] : writes) bufs.emplace_back(4096, fill);
  std::vector<int> order;
  std::vector<OrderedCompletion> done;
  for (size_t i = 0; i < writes.size(); ++i) done.emplace_back(&order, static_cast<int>(i));
  for (size_t i = 0; i < writes.size(); ++i) {
    backend->Write(IoContext{}, writes[i].first, bufs[i].span(), &done[i]);
  }
  ASSERT_TRUE(RunUntil(*engine_, [&] { return order.size() == writes.size(); }));
  for (const OrderedCompletion& c : done) EXPECT_EQ(c.result, 4096);
  std::vector<std::byte> expected = Pattern(kImageBytes);
  for (size_t i = 0; i < writes.size(); ++i) {
    std::fill_n(expected.begin() + static_cast<ptrdiff_t>(writes[i].first), 4096, writes[i].second);
  }
  AlignedBuffer back(kImageBytes);
  ASSERT_EQ(Read(*backend, 0, back.span()), static_cast<int64_t>(kImageBytes));
  EXPECT_EQ(back.vector(), expected);
}

TEST_F(FileBackendTest, AdjacentReadsOfOneTurnAreReadWithOneSystemCall) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  const std::vector<std::byte> image = Pattern(kImageBytes);
  auto backend = OpenOnTmpfs();
  ASSERT_TRUE(backend);
  constexpr int kReads = 16;
  constexpr size_t kChunk = 1024;
  std::vector<AlignedBuffer> bufs;
  for (int i = 0; i < kReads; ++i) bufs.emplace_back(kChunk);
  std::vector<int> order;
  std::vector<OrderedCompletion> done;
  for (int i = 0; i < kReads; ++i) done.emplace_back(&order, i);
  // Reading /proc/self/io takes read calls of its own: count them with nothing in between.
  const uint64_t calibrate = IoCounter("syscr:");
  const uint64_t own_reads = IoCounter("syscr:") - calibrate;
  const uint64_t before = IoCounter("syscr:");
  for (int i = 0; i < kReads; ++i) {
    backend->Read(IoContext{}, 4096 + i * kChunk, bufs[i].span(), &done[i]);
  }
  EXPECT_TRUE(order.empty()) << "a read was done before the turn ended";
  engine_->Submit();
  if (kCountsAreExact) {
    EXPECT_EQ(IoCounter("syscr:") - before - own_reads, 1u) << "adjacent reads were not merged";
  }
  EXPECT_EQ(engine_->in_flight(), 0u);
  for (int i = 0; i < kReads; ++i) {
    EXPECT_EQ(order[i], i);
    EXPECT_EQ(done[i].result, static_cast<int64_t>(kChunk));
    EXPECT_TRUE(std::equal(bufs[i].span().begin(), bufs[i].span().end(),
                           image.begin() + 4096 + i * static_cast<ptrdiff_t>(kChunk)))
        << "read " << i;
  }
}

// A caller told of a held write may write again at once (a filter above the file, an overlay
// writing its next piece); that write starts a run of its own, and the write whose arrival had
// the old run done must not be appended to it.
TEST_F(FileBackendTest, AWriteFromACallbackStartsItsOwnRun) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  const std::vector<std::byte> image = Pattern(kImageBytes);
  auto backend = OpenOnTmpfs();
  ASSERT_TRUE(backend);
  AlignedBuffer first(4096, std::byte{0x11});
  AlignedBuffer from_callback(4096, std::byte{0x22});
  AlignedBuffer second(4096, std::byte{0x33});
  Completion wrote_from_callback;
  struct WriteAgain final : IoCallback {
    void IoDone(int64_t r) override {
      result = r;
      target->Write(IoContext{}, 65536, data, next);
    }
    BlockBackend* target = nullptr;
    ConstByteSpan data;
    IoCallback* next = nullptr;
    int64_t result = testing_util::kPending;
  } wrote_first;
  wrote_first.target = backend.get();
  wrote_first.data = from_callback.span();
  wrote_first.next = &wrote_from_callback;
  Completion wrote_second;
  backend->Write(IoContext{}, 0, first.span(), &wrote_first);
  // Not adjacent: the first run is done now, and its callback holds a write at 64 KiB.
  backend->Write(IoContext{}, 8192, second.span(), &wrote_second);
  ASSERT_TRUE(
      RunUntil(*engine_, [&] { return wrote_second.done() && wrote_from_callback.done(); }));
  EXPECT_EQ(wrote_first.result, 4096);
  EXPECT_EQ(wrote_second.result(), 4096);
  EXPECT_EQ(wrote_from_callback.result(), 4096);
  std::vector<std::byte> expected = image;
  std::fill_n(expected.begin(), 4096, std::byte{0x11});
  std::fill_n(expected.begin() + 8192, 4096, std::byte{0x33});
  std::fill_n(expected.begin() + 65536, 4096, std::byte{0x22});
  AlignedBuffer back(kImageBytes);
  ASSERT_EQ(Read(*backend, 0, back.span()), static_cast<int64_t>(kImageBytes));
  EXPECT_EQ(back.vector(), expected) << "a write landed where another run ended";
}

// Held-back requests are done in the order the disk must see them: a read after a write it
// overlaps sees the write, a write after a read it overlaps does not change what the read
// gets, a flush follows the writes before it; what does not overlap waits for the submit.
TEST_F(FileBackendTest, HeldBackRequestsAreDoneBeforeWhatMustSeeThem) {
  if (!HaveTmpfs()) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  auto backend = OpenOnTmpfs();
  ASSERT_TRUE(backend);
  std::vector<int> order;
  AlignedBuffer first(4096, std::byte{0xa1});
  AlignedBuffer second(4096, std::byte{0xb2});
  OrderedCompletion wrote_first(&order, 1);
  OrderedCompletion wrote_second(&order, 2);
  backend->Write(IoContext{}, 4096, first.span(), &wrote_first);
  backend->Write(IoContext{}, 8192, second.span(), &wrote_second);
  // Overlaps the second write's last sector only.
  AlignedBuffer back(1024);
  OrderedCompletion read(&order, 3);
  backend->Read(IoContext{}, 11264, back.span(), &read);
  EXPECT_EQ(order, (std::vector<int>{1, 2})) << "the read did not wait for the writes";
  // Over what the held read will read: the read is done first.
  AlignedBuffer over(1024, std::byte{0xd4});
  OrderedCompletion wrote_over(&order, 4);
  backend->Write(IoContext{}, 11264, over.span(), &wrote_over);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3})) << "the write did not wait for the read";
  EXPECT_EQ(back.vector(), std::vector<std::byte>(1024, std::byte{0xb2}));
  // Neither overlaps anything held: the read waits for the submit, the write joins the last.
  AlignedBuffer elsewhere_data(1024);
  OrderedCompletion elsewhere(&order, 5);
  backend->Read(IoContext{}, 65536, elsewhere_data.span(), &elsewhere);
  AlignedBuffer third(4096, std::byte{0xc3});
  OrderedCompletion wrote_third(&order, 6);
  backend->Write(IoContext{}, 12288, third.span(), &wrote_third);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  OrderedCompletion flushed(&order, 7);
  backend->Flush(IoContext{}, &flushed);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 6, 7})) << "a flush overtook a write before it";
  EXPECT_EQ(flushed.result, 0);
  engine_->Submit();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 6, 7, 5}));
  // 8192-11263 the second write, 11264-12287 the one over the read, 12288-16383 the third.
  AlignedBuffer all(8192);
  ASSERT_EQ(Read(*backend, 8192, all.span()), 8192);
  std::vector<std::byte> expected(3072, std::byte{0xb2});
  expected.resize(4096, std::byte{0xd4});
  expected.resize(8192, std::byte{0xc3});
  EXPECT_EQ(all.vector(), expected);
}

TEST_F(FileBackendTest, CachedReadOnADiskFilesystemCompletesOnTheCallersThread) {
  TempFile file(Pattern(kImageBytes));  // just written, so in the page cache
  auto backend = Open(file.path());
  ASSERT_TRUE(backend);
  AlignedBuffer buf(8192);
  Completion read;
  backend->Read(IoContext{}, 65536, buf.span(), &read);
  engine_->Submit();  // held back until then, to be merged
  EXPECT_EQ(read.result(), 8192) << "a page-cache hit was handed to io_uring";
  const std::vector<std::byte> expected = Pattern(kImageBytes);
  EXPECT_TRUE(std::equal(buf.span().begin(), buf.span().end(), expected.begin() + 65536));
  // fdatasync may wait for the disk: never on the caller's thread (unless TempDir is tmpfs).
  UniqueFd probe(::open(file.path().c_str(), O_RDONLY | O_CLOEXEC));
  if (InlineIo::ModeFor(probe.get(), /*direct=*/false) == InlineIo::Mode::kMemory) return;
  Completion flushed;
  backend->Flush(IoContext{}, &flushed);
  EXPECT_FALSE(flushed.done()) << "fdatasync ran on the caller's thread";
  EXPECT_TRUE(RunUntil(*engine_, [&] { return flushed.done(); }));
  EXPECT_EQ(flushed.result(), 0);
}

TEST_F(FileBackendTest, DirectReadsGoThroughTheEngine) {
  TempFile file(Pattern(kImageBytes));
  auto opened = OpenFileBackend(*engine_, file.path(), {.direct = true});
  ASSERT_TRUE(opened) << opened.error().message();
  if (!opened->warnings.empty())
    GTEST_SKIP() << "TempDir has no direct I/O: " << opened->warnings[0];
  AlignedBuffer buf(4096);
  Completion read;
  opened->backend->Read(IoContext{}, 0, buf.span(), &read);
  EXPECT_FALSE(read.done()) << "O_DIRECT must not wait for the device on the caller's thread";
  EXPECT_TRUE(RunUntil(*engine_, [&] { return read.done(); }));
  EXPECT_EQ(read.result(), 4096);
}

// IoContext::kNoWait: a read that can only be done by waiting (here: every O_DIRECT read) is
// refused with -EAGAIN during the call and leaves nothing in flight that could still write
// into the caller's buffer; one that can be served at once is, as usual.
TEST_F(FileBackendTest, NoWaitReadsCompleteDuringTheCallOrAreRefused) {
  const IoContext no_wait{.flags = IoContext::kNoWait};
  TempFile cached(Pattern(kImageBytes));
  auto buffered = Open(cached.path());
  ASSERT_TRUE(buffered);
  EXPECT_TRUE(buffered->capabilities().no_wait_reads);
  AlignedBuffer buf(8192);
  Completion read;
  buffered->Read(no_wait, 65536, buf.span(), &read);
  ASSERT_TRUE(read.done()) << "a no-wait read returned without completing";
  EXPECT_EQ(read.result(), 8192);
  const std::vector<std::byte> expected = Pattern(kImageBytes);
  EXPECT_TRUE(std::equal(buf.span().begin(), buf.span().end(), expected.begin() + 65536));

  auto opened = OpenFileBackend(*engine_, cached.path(), {.direct = true});
  ASSERT_TRUE(opened) << opened.error().message();
  if (!opened->warnings.empty())
    GTEST_SKIP() << "TempDir has no direct I/O: " << opened->warnings[0];
  Completion direct;
  opened->backend->Read(no_wait, 0, buf.span(), &direct);
  ASSERT_TRUE(direct.done()) << "an O_DIRECT no-wait read was queued on io_uring";
  EXPECT_EQ(direct.result(), -EAGAIN);
  EXPECT_EQ(engine_->in_flight(), 0u);
}

TEST_F(FileBackendTest, DestroyingWithRequestsInFlightCompletesThemFirst) {
  TempFile file(Pattern(kImageBytes));
  auto backend = Open(file.path());
  ASSERT_TRUE(backend);
  std::vector<AlignedBuffer> bufs;
  for (int i = 0; i < 16; ++i) bufs.emplace_back(4096);
  std::vector<Completion> done(16);
  for (size_t i = 0; i < 16; ++i) backend->Read(IoContext{}, i * 4096, bufs[i].span(), &done[i]);
  engine_->Submit();
  backend.reset();
  for (const Completion& c : done) EXPECT_EQ(c.result(), 4096);
  EXPECT_EQ(engine_->in_flight(), 0u);
}

// ---- Block devices, through a loop device ----

// Runs a shell command; returns its trimmed stdout, or nullopt if it failed.
std::optional<std::string> Run(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char chunk[256];
  while (size_t n = std::fread(chunk, 1, sizeof chunk, pipe)) out.append(chunk, n);
  if (::pclose(pipe) != 0) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// A loop device over a file, detached when the object dies.
class LoopDevice {
 public:
  // Sets skip_reason() when this machine cannot attach one.
  LoopDevice(const std::string& backing_file, unsigned sector_size) {
    if (::geteuid() != 0) {
      skip_reason_ = "needs root to attach a loop device";
      return;
    }
    if (!Run("command -v losetup")) {
      skip_reason_ = "losetup is not installed";
      return;
    }
    auto dev = Run("losetup --find --show --sector-size " + std::to_string(sector_size) + " " +
                   backing_file);
    if (!dev || dev->empty()) {
      skip_reason_ = "losetup could not attach a loop device (no /dev/loop-control access?)";
      return;
    }
    device_ = *dev;
  }
  ~LoopDevice() {
    if (!device_.empty()) Run("losetup -d " + device_);
  }
  const std::string& device() const { return device_; }
  const std::string& skip_reason() const { return skip_reason_; }

 private:
  std::string device_;
  std::string skip_reason_;
};

TEST_F(FileBackendTest, ServesABlockDevice) {
  TempFile file(Pattern(kImageBytes));
  std::vector<std::byte> expected = Pattern(kImageBytes);
  {
    LoopDevice loop(file.path(), 512);
    if (!loop.skip_reason().empty()) GTEST_SKIP() << loop.skip_reason();
    auto backend = Open(loop.device(), {.direct = true});
    ASSERT_TRUE(backend);
    EXPECT_EQ(backend->size_bytes(), kImageBytes) << "size from BLKGETSIZE64";
    EXPECT_EQ(backend->Describe(), "blockdev(" + loop.device() + ",direct)");

    AlignedBuffer back(8192);
    ASSERT_EQ(Read(*backend, 8192, back.span()), 8192);
    EXPECT_TRUE(back.vector() ==
                std::vector<std::byte>(expected.begin() + 8192, expected.begin() + 16384));
    AlignedBuffer data(4096, std::byte{0xab});
    ASSERT_EQ(Write(*backend, 4096, data.span()), 4096);
    ASSERT_EQ(Flush(*backend), 0);
    std::fill(expected.begin() + 4096, expected.begin() + 8192, std::byte{0xab});
  }
  // Detached: the write reached the backing file.
  EXPECT_TRUE(file.Contents() == expected);
}

// A device node lives on devtmpfs, which fstatfs reports as tmpfs; its data does not. Taken for
// memory, every page-cache miss of a disk export would be read on the target's loop, stopping
// every other export while the disk seeks.
TEST_F(FileBackendTest, ABlockDeviceIsNotTakenForMemory) {
  TempFile file(Pattern(kImageBytes));
  LoopDevice loop(file.path(), 512);
  if (!loop.skip_reason().empty()) GTEST_SKIP() << loop.skip_reason();
  UniqueFd fd(::open(loop.device().c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd) << loop.device();
  EXPECT_EQ(InlineIo::ModeFor(fd.get(), /*direct=*/false), InlineIo::Mode::kNoWait);
  if (HaveTmpfs()) {
    TempFile on_tmpfs(Pattern(4096), "/dev/shm");
    UniqueFd tmpfs_fd(::open(on_tmpfs.path().c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(tmpfs_fd);
    EXPECT_EQ(InlineIo::ModeFor(tmpfs_fd.get(), /*direct=*/false), InlineIo::Mode::kMemory);
  }
}

TEST_F(FileBackendTest, DirectOnA4KnDeviceFallsBackWithAWarning) {
  TempFile file(Pattern(kImageBytes));
  LoopDevice loop(file.path(), 4096);
  if (!loop.skip_reason().empty()) GTEST_SKIP() << loop.skip_reason();
  auto opened = OpenFileBackend(*engine_, loop.device(), {.direct = true});
  ASSERT_TRUE(opened) << opened.error().message();
  ASSERT_EQ(opened->warnings.size(), 1u);
  EXPECT_NE(opened->warnings[0].find("logical block size is 4096"), std::string::npos)
      << opened->warnings[0];
  // A 512-byte sector at an odd offset works through the page cache.
  AlignedBuffer data(512, std::byte{0xcd});
  EXPECT_EQ(Write(*opened->backend, 512, data.span()), 512);
  AlignedBuffer back(512);
  EXPECT_EQ(Read(*opened->backend, 512, back.span()), 512);
  EXPECT_EQ(back.vector(), data.vector());
  EXPECT_EQ(Flush(*opened->backend), 0);
  // The kernel discards only whole 4096-byte blocks there: no TRIM of 512-byte sectors.
  EXPECT_FALSE(opened->backend->capabilities().can_trim);
}

}  // namespace
}  // namespace aoe
