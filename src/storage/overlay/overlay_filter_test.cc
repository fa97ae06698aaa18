#include "storage/overlay/overlay_filter.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/unique_fd.h"
#include "storage/group_commit_filter.h"
#include "storage/memory_backend.h"
#include "storage/overlay/client_overlay.h"
#include "storage/overlay/overlay_check.h"
#include "storage/overlay/overlay_error.h"
#include "storage/storage_test_util.h"

namespace aoe::overlay {
namespace {

using testing_util::AlignedBuffer;
using testing_util::Completion;
using testing_util::Pattern;
using testing_util::RunUntil;

// Not a multiple of the 4 KiB block: the last block is short.
constexpr size_t kBaseBytes = 256 * 1024 + 3 * 512;

const MacAddress kA({0x52, 0x54, 0x00, 0x00, 0x00, 0x0a});
const MacAddress kB({0x52, 0x54, 0x00, 0x00, 0x00, 0x0b});
const MacAddress kC({0x52, 0x54, 0x00, 0x00, 0x00, 0x0c});
const MacAddress kNobody({0x52, 0x54, 0x00, 0x00, 0x00, 0xff});

// Whether this process holds `path` open (it may have been unlinked since: its disk space is
// freed only once the last descriptor is closed).
bool HeldOpen(const std::string& path) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const std::string target = std::filesystem::read_symlink(entry.path(), error).string();
    if (!error && (target == path || target == path + " (deleted)")) return true;
  }
  return false;
}

std::vector<std::byte> Filled(size_t size, uint8_t value) {
  return std::vector<std::byte>(size, std::byte{value});
}

uint64_t Allocated(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

class OverlayFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = IoEngine::Create();
    ASSERT_TRUE(engine) << engine.error().message();
    engine_ = std::move(*engine);
    std::string tmpl = ::testing::TempDir() + "/aoe_overlay_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    settings_.dir = dir_ + "/e0.1";
  }
  void TearDown() override {
    filter_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Opens the overlay directory over a fresh read-only copy of the base.
  void Open(size_t base_bytes = kBaseBytes) {
    filter_.reset();
    if (base_bytes_.size() != base_bytes) base_bytes_ = Pattern(base_bytes);
    auto base = std::make_unique<MemoryBackend>(base_bytes);
    std::copy(base_bytes_.begin(), base_bytes_.end(), base->bytes().begin());
    base_ = base.get();
    warnings_.clear();
    auto opened = OverlayFilter::Open(std::move(base), settings_, *engine_, warnings_);
    ASSERT_TRUE(opened) << opened.error().code.message();
    filter_ = std::move(*opened);
  }

  int64_t Wait(Completion& c) {
    EXPECT_TRUE(RunUntil(*engine_, [&] { return c.done(); }));
    EXPECT_EQ(c.calls(), 1);
    return c.result();
  }
  int64_t Write(const MacAddress& mac, uint64_t offset, const std::vector<std::byte>& data) {
    Completion c;
    filter_->Write(IoContext{.initiator = mac}, offset, data, &c);
    return Wait(c);
  }
  std::vector<std::byte> Read(const MacAddress& mac, uint64_t offset, size_t size) {
    std::vector<std::byte> out(size);
    Completion c;
    filter_->Read(IoContext{.initiator = mac}, offset, out, &c);
    EXPECT_EQ(Wait(c), static_cast<int64_t>(size));
    return out;
  }
  int64_t Flush() {
    Completion c;
    filter_->Flush(IoContext{}, &c);
    return Wait(c);
  }
  int64_t Trim(const MacAddress& mac, uint64_t offset, uint64_t length) {
    Completion c;
    filter_->Trim(IoContext{.initiator = mac}, offset, length, &c);
    return Wait(c);
  }
  template <typename T>
  T Run(std::optional<T>& slot) {
    EXPECT_TRUE(RunUntil(*engine_, [&] { return slot.has_value(); }));
    return std::move(*slot);
  }
  Result<void> ResetClient(const MacAddress& mac) {
    std::optional<Result<void>> result;
    filter_->Reset(mac, [&](Result<void> r) { result = r; });
    return Run(result);
  }
  Result<VersionRecord> Commit(const MacAddress& mac) {
    std::optional<Result<VersionRecord>> result;
    filter_->Commit(mac, [&](Result<VersionRecord> r) { result = std::move(r); });
    return Run(result);
  }
  Result<VersionRecord> Rollback() {
    std::optional<Result<VersionRecord>> result;
    filter_->Rollback([&](Result<VersionRecord> r) { result = std::move(r); });
    return Run(result);
  }
  std::vector<std::byte> BaseAt(uint64_t offset, size_t size) const {
    return {base_bytes_.begin() + static_cast<ptrdiff_t>(offset),
            base_bytes_.begin() + static_cast<ptrdiff_t>(offset + size)};
  }
  std::string MapPath(const MacAddress& mac) const {
    return settings_.dir + "/" + ClientName(mac) + ".map";
  }
  std::string DataPath(const MacAddress& mac) const {
    return settings_.dir + "/" + ClientName(mac) + ".data";
  }

  std::unique_ptr<IoEngine> engine_;
  std::string dir_;
  OverlaySettings settings_;
  std::vector<std::byte> base_bytes_ = Pattern(kBaseBytes);
  MemoryBackend* base_ = nullptr;
  std::vector<std::string> warnings_;
  std::unique_ptr<OverlayFilter> filter_;
};

TEST_F(OverlayFilterTest, EachClientReadsItsOwnWritesAndOthersTheBase) {
  Open();
  EXPECT_EQ(
      filter_->capabilities(),
      (BackendCapabilities{.read_only = false,
                           .can_trim = true,
                           .trim_reads_zeroes = false,
                           .unflushed_writes = BackendCapabilities::UnflushedWrites::kProcess}));
  const uint64_t at = 8192 + 512;
  ASSERT_EQ(Write(kA, at, Filled(1024, 0xaa)), 1024);
  ASSERT_EQ(Write(kB, at, Filled(1024, 0xbb)), 1024);
  ASSERT_EQ(Write(kC, at, Filled(1024, 0xcc)), 1024);
  EXPECT_EQ(Read(kA, at, 1024), Filled(1024, 0xaa));
  EXPECT_EQ(Read(kB, at, 1024), Filled(1024, 0xbb));
  EXPECT_EQ(Read(kC, at, 1024), Filled(1024, 0xcc));
  EXPECT_EQ(Read(kNobody, at, 1024), BaseAt(at, 1024));
  // The rest of the block A wrote into was copied up from the base.
  std::vector<std::byte> block = Read(kA, 8192, 4096);
  std::vector<std::byte> want = BaseAt(8192, 4096);
  std::fill(want.begin() + 512, want.begin() + 1536, std::byte{0xaa});
  EXPECT_EQ(block, want);
  // A read across mapped and unmapped blocks takes each part from its source.
  std::vector<std::byte> wide = Read(kA, 0, 16384);
  std::vector<std::byte> wide_want = BaseAt(0, 16384);
  std::fill(wide_want.begin() + 8704, wide_want.begin() + 9728, std::byte{0xaa});
  EXPECT_EQ(wide, wide_want);
  EXPECT_TRUE(std::equal(base_->bytes().begin(), base_->bytes().end(), base_bytes_.begin()))
      << "the base never changes";
  EXPECT_EQ(filter_->Clients().size(), 3u);
}

// Views (BlockBackend::View) of the base pass through where a client reads the base, so a read
// reply of a golden image in memory leaves from there; never where the client wrote.
TEST_F(OverlayFilterTest, ClientsViewTheBaseWhereTheyHaveWrittenNothing) {
  Open();
  base_->set_offers_views(true);
  const IoContext a{.initiator = kA};
  ConstByteSpan before = filter_->View(a, 8192, 8192);
  ASSERT_EQ(before.size(), 8192u);
  EXPECT_TRUE(std::equal(before.begin(), before.end(), BaseAt(8192, 8192).begin()));
  ASSERT_EQ(Write(kA, 8192 + 512, Filled(512, 0xaa)), 512);
  EXPECT_TRUE(filter_->View(a, 8192, 4096).empty())
      << "a view of the base where the client wrote (its own data file is on disk here)";
  EXPECT_TRUE(filter_->View(a, 4096, 8192).empty()) << "a view across a block the client wrote";
  ConstByteSpan next = filter_->View(a, 12288, 4096);
  ASSERT_EQ(next.size(), 4096u);
  EXPECT_TRUE(std::equal(next.begin(), next.end(), BaseAt(12288, 4096).begin()));
  ConstByteSpan other = filter_->View(IoContext{.initiator = kB}, 8192, 4096);
  ASSERT_EQ(other.size(), 4096u) << "another client reads the base there";
  EXPECT_TRUE(std::equal(other.begin(), other.end(), BaseAt(8192, 4096).begin()));
  EXPECT_TRUE(filter_->View(a, kBaseBytes - 512, 1024).empty());
}

// With the overlay directory on tmpfs, the client's own blocks are viewed in its data file too
// (a sparse file: only the pages it wrote).
TEST_F(OverlayFilterTest, ClientsViewTheirOwnBlocksInADataFileOnTmpfs) {
  struct stat st {};
  if (::stat("/dev/shm", &st) != 0) GTEST_SKIP() << "no /dev/shm tmpfs on this machine";
  std::string shm = "/dev/shm/aoe_overlay_test_XXXXXX";
  ASSERT_NE(::mkdtemp(shm.data()), nullptr);
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() { std::filesystem::remove_all(dir); }
  } remove_dir{shm};
  settings_.dir = shm + "/e0.1";
  Open();
  base_->set_offers_views(true);
  const IoContext a{.initiator = kA};
  ASSERT_EQ(Write(kA, 8192, Filled(8192, 0xaa)), 8192);
  ConstByteSpan own = filter_->View(a, 8192, 8192);
  ASSERT_EQ(own.size(), 8192u) << "no view of the client's own blocks";
  EXPECT_TRUE(
      std::all_of(own.begin(), own.end(), [](std::byte b) { return b == std::byte{0xaa}; }));
  EXPECT_TRUE(filter_->View(a, 12288, 8192).empty()) << "a view across own and base blocks";
  ConstByteSpan base = filter_->View(a, 16384, 4096);
  ASSERT_EQ(base.size(), 4096u);
  EXPECT_TRUE(std::equal(base.begin(), base.end(), BaseAt(16384, 4096).begin()));
  filter_.reset();
}

TEST_F(OverlayFilterTest, ConcurrentPartialWritesToOneNewBlockAllLand) {
  Open();
  // Linux sends a 4 KiB page as four 1 KiB frames at MTU 1500, all in flight at once: each is
  // a partial write of a block the overlay does not hold yet.
  std::vector<std::vector<std::byte>> pieces;
  Completion done[4];
  for (int i = 0; i < 4; ++i) pieces.push_back(Filled(1024, static_cast<uint8_t>(0x10 + i)));
  for (int i = 0; i < 4; ++i) {
    filter_->Write(IoContext{.initiator = kA}, 40960 + 1024 * static_cast<uint64_t>(i),
                   pieces[static_cast<size_t>(i)], &done[i]);
  }
  for (Completion& c : done) EXPECT_EQ(Wait(c), 1024);
  std::vector<std::byte> block = Read(kA, 40960, 4096);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(block[static_cast<size_t>(1024 * i)], std::byte(static_cast<uint8_t>(0x10 + i)));
  }
}

TEST_F(OverlayFilterTest, TheShortLastBlockWorks) {
  Open();
  const uint64_t last_sector = kBaseBytes - 512;
  ASSERT_EQ(Write(kA, last_sector, Filled(512, 0x77)), 512);
  std::vector<std::byte> tail = Read(kA, kBaseBytes - 1536, 1536);
  std::vector<std::byte> want = BaseAt(kBaseBytes - 1536, 1536);
  std::fill(want.begin() + 1024, want.end(), std::byte{0x77});
  EXPECT_EQ(tail, want);
  Completion past;
  std::vector<std::byte> one(512);
  filter_->Write(IoContext{.initiator = kA}, kBaseBytes, one, &past);
  EXPECT_EQ(Wait(past), -EIO);
}

TEST_F(OverlayFilterTest, FlushedOverlaysSurviveAReopen) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(8192, 0x5a)), 8192);
  ASSERT_EQ(Write(kB, 4096, Filled(512, 0x5b)), 512);
  ASSERT_EQ(Flush(), 0);
  Open();
  EXPECT_TRUE(warnings_.empty()) << warnings_.front();
  EXPECT_EQ(Read(kA, 0, 8192), Filled(8192, 0x5a));
  EXPECT_EQ(Read(kB, 4096, 512), Filled(512, 0x5b));
  EXPECT_EQ(Read(kB, 0, 4096), BaseAt(0, 4096));
}

TEST_F(OverlayFilterTest, TheMapIsWrittenOnlyByAFlushAndAfterTheData) {
  Open();
  ASSERT_EQ(Write(kA, 65536, Filled(4096, 0x33)), 4096);
  // Before a flush the map file holds nothing (not even its header): after a crash now the
  // overlay is discarded and the client reads the base, never an unwritten block.
  auto before = ReadMapFile(MapPath(kA));
  ASSERT_TRUE(before);
  EXPECT_EQ(before->header.problem, HeaderProblem::kNeverWritten);
  ASSERT_EQ(Flush(), 0);
  auto after = ReadMapFile(MapPath(kA));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->header.problem, HeaderProblem::kNone);
  BlockMap map(BlockCount(kBaseBytes));
  map.Load(after->bitmap);
  EXPECT_TRUE(map.Test(16));
  EXPECT_EQ(map.mapped_blocks(), 1u);
}

TEST_F(OverlayFilterTest, AnOverlayNeverFlushedIsRemovedAtOpen) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(512, 1)), 512);
  filter_.reset();  // a crash before any flush
  Open();
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("never flushed"), std::string::npos);
  EXPECT_EQ(Read(kA, 0, 512), BaseAt(0, 512));
  EXPECT_FALSE(std::filesystem::exists(DataPath(kA)));
}

TEST_F(OverlayFilterTest, ADamagedMapIsSetAside) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(512, 1)), 512);
  ASSERT_EQ(Flush(), 0);
  filter_.reset();
  {
    std::fstream f(MapPath(kA), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x7f');
  }
  Open();
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("checksum"), std::string::npos);
  EXPECT_FALSE(filter_->Client(kA));
  EXPECT_EQ(Read(kA, 0, 512), BaseAt(0, 512));
}

TEST_F(OverlayFilterTest, TrimDropsWholeBlocksAndPunchesAfterTheFlush) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(65536, 0x44)), 65536);
  ASSERT_EQ(Flush(), 0);
  const uint64_t full = Allocated(DataPath(kA));
  EXPECT_GE(full, 65536u);
  // 1 KiB into the first block to 1 KiB into the last: only the 14 whole blocks go.
  ASSERT_EQ(Trim(kA, 1024, 65536 - 2048), 0);
  EXPECT_EQ(Read(kA, 4096, 4096), BaseAt(4096, 4096)) << "trimmed: reads fall back to the base";
  EXPECT_EQ(Read(kA, 0, 4096), Filled(4096, 0x44)) << "a partly trimmed block keeps its data";
  EXPECT_EQ(Read(kA, 61440, 4096), Filled(4096, 0x44));
  EXPECT_EQ(filter_->Client(kA)->mapped_bytes, 8192u);
  EXPECT_EQ(Allocated(DataPath(kA)), full) << "no hole before the cleared bits are durable";
  ASSERT_EQ(Flush(), 0);
  ASSERT_TRUE(RunUntil(*engine_, [&] { return Allocated(DataPath(kA)) <= full - 14 * 4096; }));
  // Written again after the trim: a fresh block.
  ASSERT_EQ(Write(kA, 8192 + 512, Filled(512, 0x45)), 512);
  std::vector<std::byte> want = BaseAt(8192, 4096);
  std::fill(want.begin() + 512, want.begin() + 1024, std::byte{0x45});
  EXPECT_EQ(Read(kA, 8192, 4096), want);
}

TEST_F(OverlayFilterTest, ResetDropsTheOverlay) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(4096, 9)), 4096);
  ASSERT_EQ(Flush(), 0);
  Result<void> reset = ResetClient(kA);
  ASSERT_TRUE(reset) << reset.error().message();
  EXPECT_EQ(Read(kA, 0, 4096), BaseAt(0, 4096));
  EXPECT_FALSE(std::filesystem::exists(MapPath(kA)));
  Result<void> again = ResetClient(kA);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), make_error_code(OverlayErrc::kNoOverlay));
  Open();
  EXPECT_FALSE(filter_->Client(kA));
}

// `overlay.reset` and then `export.remove` in one turn of the server: the filter is destroyed
// while the reset's directory fsync is queued. Its completion, which goes on to collect
// versions, must run before the filter is gone (it used to run on freed memory later).
TEST_F(OverlayFilterTest, AResetStillQueuedEndsBeforeTheFilterIsDestroyed) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(4096, 9)), 4096);
  ASSERT_EQ(Flush(), 0);
  std::optional<Result<void>> reset;
  filter_->Reset(kA, [&](Result<void> r) { reset = r; });
  filter_.reset();
  ASSERT_TRUE(reset.has_value()) << "the reset's completion was left for a destroyed filter";
  EXPECT_TRUE(*reset) << reset->error().message();
}

// A file whose next fdatasync fails once, as Linux reports a writeback error: to one fdatasync
// only, after which the lost pages count as clean and the next fdatasync succeeds.
class FlushFailsOnce final : public BlockBackend {
 public:
  FlushFailsOnce(std::unique_ptr<BlockBackend> inner, bool* armed)
      : inner_(std::move(inner)), armed_(armed) {}
  uint64_t size_bytes() const override { return inner_->size_bytes(); }
  BackendCapabilities capabilities() const override { return inner_->capabilities(); }
  std::string Describe() const override { return "flush-fails-once <- " + inner_->Describe(); }
  void Read(const IoContext& c, uint64_t offset, ByteSpan into, IoCallback* done) override {
    inner_->Read(c, offset, into, done);
  }
  void Write(const IoContext& c, uint64_t offset, ConstByteSpan from, IoCallback* done) override {
    inner_->Write(c, offset, from, done);
  }
  void Flush(const IoContext& c, IoCallback* done) override {
    if (*armed_) {
      *armed_ = false;
      return done->IoDone(-EIO);
    }
    inner_->Flush(c, done);
  }
  void Trim(const IoContext& c, uint64_t offset, uint64_t length, IoCallback* done) override {
    inner_->Trim(c, offset, length, done);
  }

 private:
  std::unique_ptr<BlockBackend> inner_;
  bool* armed_;
};

// After a failed flush nothing tells what was lost: a later flush must fail too, and the map on
// disk must never claim the block whose data the failed fdatasync may have dropped.
TEST_F(OverlayFilterTest, AfterAFailedFlushEveryFlushFailsAndTheMapClaimsNothing) {
  std::filesystem::create_directories(settings_.dir);
  UniqueFd dir(::open(settings_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir);
  const ClientPaths paths{settings_.dir + "/a.data", settings_.dir + "/a.map"};
  bool data_flush_fails = false;
  bool map_flush_fails = false;
  int files = 0;
  auto client = ClientOverlay::Create(
      *engine_, dir.get(), paths,
      MapHeader{.size_bytes = kBaseBytes, .base_version = 1, .initiator = kA},
      std::make_shared<MemoryBackend>(kBaseBytes), [&](std::unique_ptr<BlockBackend> file) {
        // The data file first, then the map file.
        bool* armed = files++ == 0 ? &data_flush_fails : &map_flush_fails;
        return std::make_unique<FlushFailsOnce>(std::move(file), armed);
      });
  ASSERT_TRUE(client) << client.error().message();
  auto run = [&](auto start) {
    Completion c;
    start(&c);
    return Wait(c);
  };
  auto flush = [&] { return run([&](Completion* c) { (*client)->Flush(c); }); };
  ASSERT_EQ(run([&](Completion* c) { (*client)->Write({.initiator = kA}, 0, Filled(4096, 1), c); }),
            4096);
  ASSERT_EQ(flush(), 0);  // block 0 is mapped on disk
  std::vector<std::byte> data = Filled(4096, 2);
  ASSERT_EQ(run([&](Completion* c) { (*client)->Write({.initiator = kA}, 8192, data, c); }), 4096);
  data_flush_fails = true;
  EXPECT_EQ(flush(), -EIO);
  EXPECT_EQ(flush(), -EIO) << "a flush after a failed one claimed durability";
  EXPECT_EQ(flush(), -EIO);
  EXPECT_TRUE((*client)->failed());
  EXPECT_EQ(run([&](Completion* c) { (*client)->Write({.initiator = kA}, 0, Filled(512, 3), c); }),
            -EIO)
      << "a write after the failure: nothing would ever make it durable";
  EXPECT_TRUE(RunUntil(*engine_, [&] { return (*client)->idle(); }));
  client->reset();
  Result<MapFile> on_disk = ReadMapFile(paths.map);
  ASSERT_TRUE(on_disk) << on_disk.error().message();
  BlockMap map((kBaseBytes + kBlockBytes - 1) / kBlockBytes);
  (void)map.Load(on_disk->bitmap);
  EXPECT_TRUE(map.Test(0));
  EXPECT_FALSE(map.Test(2)) << "the map claims a block whose data may be lost";
}

// An admin's finding: an overlay whose flush had failed (its writes may be lost) was committed,
// making it every client's base, and nothing showed it had failed. A map page write past
// RLIMIT_FSIZE (EFBIG) stands in for a full file system.
TEST_F(OverlayFilterTest, AnOverlayAFlushFailedOnIsShownAndNotCommitted) {
  Open();
  ASSERT_EQ(Write(kA, 8 * 4096, Filled(4096, 1)), 4096);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  sighandler_t old_handler = ::signal(SIGXFSZ, SIG_IGN);
  const rlimit small{.rlim_cur = 4096, .rlim_max = old.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const int64_t flushed = Flush();  // the map's pages lie past the first 4 KiB
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_LT(flushed, 0);
  std::optional<ClientInfo> info = filter_->Client(kA);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->failure_errno, EFBIG);
  auto committed = Commit(kA);
  ASSERT_FALSE(committed);
  EXPECT_EQ(committed.error(), make_error_code(OverlayErrc::kOverlayFailed));
  EXPECT_EQ(filter_->current_version(), 1u);
  ASSERT_TRUE(ResetClient(kA));
  ASSERT_EQ(Write(kA, 8 * 4096, Filled(4096, 2)), 4096) << "a reset overlay takes writes again";
  ASSERT_EQ(Flush(), 0);
  EXPECT_EQ(filter_->Client(kA)->failure_errno, 0);
}

// A client alone on its export (no FLUSH from anyone) that writes and trims one block again
// and again must not grow the list of holes to punch by one entry each time.
TEST_F(OverlayFilterTest, WritingAndTrimmingBlocksAgainAndAgainKeepsTheRangesToPunchFew) {
  std::filesystem::create_directories(settings_.dir);
  UniqueFd dir(::open(settings_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir);
  auto base = std::make_shared<MemoryBackend>(kBaseBytes);
  auto client = ClientOverlay::Create(
      *engine_, dir.get(), {settings_.dir + "/a.data", settings_.dir + "/a.map"},
      MapHeader{.size_bytes = kBaseBytes, .base_version = 1, .initiator = kA}, base);
  ASSERT_TRUE(client) << client.error().message();
  auto run = [&](auto start) {
    Completion c;
    start(&c);
    return Wait(c);
  };
  std::vector<std::byte> block = Filled(4096, 7);
  for (int i = 0; i < 3000; ++i) {
    // One block, and three taking turns (the list's last entry is another block each time).
    for (uint64_t b : {1, 1, 2, 3, 5}) {
      ASSERT_EQ(
          run([&](Completion* c) { (*client)->Write({.initiator = kA}, b * 4096, block, c); }),
          4096);
      ASSERT_EQ(run([&](Completion* c) { (*client)->Trim({.initiator = kA}, b * 4096, 4096, c); }),
                0);
    }
  }
  EXPECT_LE((*client)->trimmed_ranges(), 1024u) << "listed once per trim";
  ASSERT_EQ(run([&](Completion* c) { (*client)->Flush(c); }), 0);
  EXPECT_TRUE(RunUntil(*engine_, [&] { return (*client)->idle(); }));
}

TEST_F(OverlayFilterTest, BootDiscardsOnlyClientsWithThatLifetime) {
  settings_.lifetime = Lifetime::kDiscardOnBoot;
  settings_.client_lifetimes[kB] = Lifetime::kPersist;
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(512, 1)), 512);
  ASSERT_EQ(Write(kB, 0, Filled(512, 2)), 512);
  std::optional<Result<void>> done;
  EXPECT_EQ(filter_->BootSeen(kA, [&](Result<void> r) { done = r; }), BootAction::kDiscarded);
  ASSERT_TRUE(Run(done));
  EXPECT_EQ(filter_->BootSeen(kB, [](Result<void>) { FAIL(); }), BootAction::kNone);
  EXPECT_EQ(filter_->BootSeen(kC, [](Result<void>) { FAIL(); }), BootAction::kNone);
  EXPECT_EQ(Read(kA, 0, 512), BaseAt(0, 512));
  EXPECT_EQ(Read(kB, 0, 512), Filled(512, 2));
}

TEST_F(OverlayFilterTest, CommitMakesANewVersionAndRollbackUndoesIt) {
  Open();
  ASSERT_EQ(Write(kA, 4096, Filled(4096, 0xc1)), 4096);
  ASSERT_EQ(Write(kA, kBaseBytes - 512, Filled(512, 0xc2)), 512);
  ASSERT_EQ(Write(kB, 0, Filled(512, 0xb0)), 512);
  auto committed = Commit(kA);
  ASSERT_TRUE(committed) << committed.error().message();
  EXPECT_EQ(committed->id, 2u);
  EXPECT_EQ(committed->parent, 1u);
  EXPECT_EQ(filter_->current_version(), 2u);
  // A client without an overlay reads the new version at once; the committer's overlay is gone,
  // its data now in the version; B stays on version 1 until it boots again.
  EXPECT_EQ(Read(kC, 4096, 4096), Filled(4096, 0xc1));
  EXPECT_EQ(Read(kC, kBaseBytes - 512, 512), Filled(512, 0xc2));
  EXPECT_EQ(Read(kC, 0, 4096), BaseAt(0, 4096));
  EXPECT_FALSE(filter_->Client(kA));
  EXPECT_EQ(Read(kA, 4096, 4096), Filled(4096, 0xc1));
  EXPECT_EQ(Read(kB, 4096, 4096), BaseAt(4096, 4096));
  EXPECT_EQ(filter_->Client(kB)->base_version, 1u);
  EXPECT_TRUE(std::equal(base_->bytes().begin(), base_->bytes().end(), base_bytes_.begin()));

  // B boots: it moves to version 2 and loses its overlay.
  std::optional<Result<void>> moved;
  EXPECT_EQ(filter_->BootSeen(kB, [&](Result<void> r) { moved = r; }), BootAction::kMoved);
  ASSERT_TRUE(Run(moved));
  EXPECT_EQ(Read(kB, 4096, 4096), Filled(4096, 0xc1));

  // The version survives a restart.
  ASSERT_EQ(Flush(), 0);
  Open();
  EXPECT_EQ(filter_->current_version(), 2u);
  EXPECT_EQ(Read(kC, 4096, 4096), Filled(4096, 0xc1));

  auto rolled = Rollback();
  ASSERT_TRUE(rolled) << rolled.error().message();
  EXPECT_EQ(rolled->id, 1u);
  EXPECT_EQ(Read(kC, 4096, 4096), BaseAt(4096, 4096));
  auto first = Rollback();
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error(), make_error_code(OverlayErrc::kNoEarlierVersion));
  // Version 2 is no one's base and not the current's parent: its file is gone.
  EXPECT_EQ(filter_->Versions().size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(settings_.dir + "/v2.img"));
}

TEST_F(OverlayFilterTest, CommitRefusesWhatItCannotDoRight) {
  Open();
  auto none = Commit(kA);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), make_error_code(OverlayErrc::kNoOverlay));
  ASSERT_EQ(Write(kA, 0, Filled(4096, 1)), 4096);
  ASSERT_EQ(Write(kB, 0, Filled(4096, 2)), 4096);
  ASSERT_EQ(Trim(kB, 0, 4096), 0);
  auto empty = Commit(kB);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error(), make_error_code(OverlayErrc::kNothingToCommit));
  ASSERT_EQ(Write(kB, 0, Filled(4096, 2)), 4096);
  ASSERT_TRUE(Commit(kA));
  auto stale = Commit(kB);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error(), make_error_code(OverlayErrc::kStaleBase));
}

TEST_F(OverlayFilterTest, AWriteDuringTheCommitAbortsIt) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(4096, 1)), 4096);
  std::optional<Result<VersionRecord>> result;
  filter_->Commit(kA, [&](Result<VersionRecord> r) { result = std::move(r); });
  EXPECT_TRUE(filter_->commit_running());
  // The commit cannot be done yet: it needs the ring.
  Completion w;
  std::vector<std::byte> data = Filled(512, 2);
  filter_->Write(IoContext{.initiator = kA}, 8192, data, &w);
  EXPECT_EQ(Wait(w), 512);
  Result<VersionRecord> r = Run(result);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(OverlayErrc::kChangedDuringCommit));
  EXPECT_EQ(filter_->current_version(), 1u);
  EXPECT_FALSE(std::filesystem::exists(settings_.dir + "/v2.img"));
  EXPECT_FALSE(std::filesystem::exists(settings_.dir + "/v2.img.tmp"));
}

// A stop while the commit syncs its copy (which may write back much) abandons it too: once the
// sync ends, the commit fails with kCommitAbandoned and nothing changed.
TEST_F(OverlayFilterTest, ACommitAbandonedWhileItsCopySyncsChangesNothing) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(4096, 1)), 4096);
  std::optional<Result<VersionRecord>> result;
  filter_->Commit(kA, [&](Result<VersionRecord> r) { result = std::move(r); });
  // The base, then the client's block: once both are copied, the sync is asked for, and it
  // cannot end before the engine is turned again.
  ASSERT_TRUE(RunUntil(*engine_, [&] {
    return result.has_value() || filter_->commit_bytes_copied() >= kBaseBytes + 4096;
  }));
  ASSERT_FALSE(result.has_value()) << "the commit ended before its sync could be abandoned";
  EXPECT_TRUE(filter_->AbandonCommit());
  Result<VersionRecord> r = Run(result);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(OverlayErrc::kCommitAbandoned));
  EXPECT_EQ(filter_->current_version(), 1u);
  EXPECT_FALSE(std::filesystem::exists(settings_.dir + "/v2.img"));
  EXPECT_FALSE(std::filesystem::exists(settings_.dir + "/v2.img.tmp"));
  EXPECT_EQ(Read(kA, 0, 4096), Filled(4096, 1)) << "the client keeps its overlay";
}

// A write still in flight when the commit starts is in neither the copied map nor the change
// count, yet it is acknowledged: the commit is refused instead of dropping it with the overlay.
TEST_F(OverlayFilterTest, AWriteInFlightWhenTheCommitStartsRefusesIt) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(4096, 1)), 4096);
  Completion w;
  std::vector<std::byte> data = Filled(512, 2);
  filter_->Write(IoContext{.initiator = kA}, 8192, data, &w);
  Result<VersionRecord> r = Commit(kA);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(OverlayErrc::kClientBusy));
  EXPECT_EQ(Wait(w), 512);
  EXPECT_EQ(filter_->current_version(), 1u);
  EXPECT_EQ(Read(kA, 8192, 512), data);
  EXPECT_EQ(Read(kA, 0, 4096), Filled(4096, 1));
}

// The same for an overwrite of blocks the overlay holds already (passed straight to its data
// file, not split).
TEST_F(OverlayFilterTest, AnOverwriteInFlightWhenTheCommitStartsRefusesIt) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(4096, 1)), 4096);
  Completion w;
  std::vector<std::byte> data = Filled(512, 2);
  filter_->Write(IoContext{.initiator = kA}, 0, data, &w);
  ASSERT_FALSE(w.done()) << "the overwrite must still be in flight for this test";
  Result<VersionRecord> r = Commit(kA);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(OverlayErrc::kClientBusy));
  EXPECT_EQ(Wait(w), 512);
  EXPECT_EQ(Read(kA, 0, 512), data);
}

// Reads and flushes change nothing a commit copies: in flight as it starts, they do not refuse
// it (a running machine reads all the time), and they complete on the overlay the commit
// retires.
TEST_F(OverlayFilterTest, ReadsAndFlushesInFlightDoNotRefuseACommit) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(4096, 1)), 4096);
  std::vector<std::byte> out(4096);
  Completion read;
  Completion flush;
  filter_->Read(IoContext{.initiator = kA}, 0, out, &read);
  filter_->Flush(IoContext{.initiator = kA}, &flush);
  ASSERT_FALSE(read.done() || flush.done()) << "both must still be in flight for this test";
  Result<VersionRecord> r = Commit(kA);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(Wait(read), 4096);
  EXPECT_EQ(out, Filled(4096, 1));
  EXPECT_EQ(Wait(flush), 0);
  EXPECT_EQ(filter_->current_version(), 2u);
  EXPECT_EQ(Read(kB, 0, 4096), Filled(4096, 1));
  EXPECT_EQ(Read(kA, 0, 4096), Filled(4096, 1));
}

// A write after the copy was checked, while the new version is made durable: the version is
// made from what was copied, and the client's overlay, which holds the acknowledged write, is
// kept rather than retired.
TEST_F(OverlayFilterTest, AWriteWhileTheNewVersionIsSavedKeepsTheOverlay) {
  // The window is a few completions long; the scenario runs until a write lands in it.
  bool reached = false;
  for (int attempt = 0; attempt < 20 && !reached; ++attempt) {
    SCOPED_TRACE(attempt);
    filter_.reset();
    std::filesystem::remove_all(settings_.dir);
    Open();
    ASSERT_EQ(Write(kA, 0, Filled(4096, 1)), 4096);
    std::optional<Result<VersionRecord>> result;
    filter_->Commit(kA, [&](Result<VersionRecord> r) { result = std::move(r); });
    const std::string version_file = settings_.dir + "/v2.img";
    ASSERT_TRUE(RunUntil(
        *engine_, [&] { return result.has_value() || std::filesystem::exists(version_file); }));
    if (result.has_value()) continue;  // done before the test could write: try again
    reached = true;
    std::vector<std::byte> data = Filled(512, 2);
    ASSERT_EQ(Write(kA, 8192, data), 512);
    Result<VersionRecord> r = Run(result);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(filter_->current_version(), 2u);
    EXPECT_EQ(Read(kA, 8192, 512), data) << "an acknowledged write was dropped with the overlay";
    EXPECT_EQ(Read(kA, 0, 4096), Filled(4096, 1));
    EXPECT_EQ(Read(kB, 0, 4096), Filled(4096, 1)) << "the new version holds what was copied";
    EXPECT_EQ(Read(kB, 8192, 512), BaseAt(8192, 512));
  }
  EXPECT_TRUE(reached) << "no attempt reached the window between the copy and the retirement";
}

// The committed overlay's files are unlinked by the commit; they must be closed too, or their
// disk space stays taken (it used to, until the next commit).
TEST_F(OverlayFilterTest, ACommittedOverlaysFilesAreClosedOnceTheCommitEnds) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(64 * 1024, 1)), 64 * 1024);
  const std::string data = std::filesystem::canonical(DataPath(kA)).string();
  ASSERT_TRUE(HeldOpen(data));
  Result<VersionRecord> r = Commit(kA);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(std::filesystem::exists(data));
  EXPECT_TRUE(RunUntil(
      *engine_, [&] { return !HeldOpen(data); }, std::chrono::seconds(2)))
      << "the committed overlay's data file is still open";
  EXPECT_EQ(Read(kB, 0, 4096), Filled(4096, 1));
}

// A reset overlay with a read in flight lives on until the read ends, and no longer.
TEST_F(OverlayFilterTest, AResetOverlayIsClosedWhenItsLastRequestEnds) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(4096, 1)), 4096);
  const std::string data = std::filesystem::canonical(DataPath(kA)).string();
  std::vector<std::byte> out(4096);
  Completion read;
  filter_->Read(IoContext{.initiator = kA}, 0, out, &read);
  ASSERT_FALSE(read.done()) << "the read must still be in flight for this test";
  ASSERT_TRUE(ResetClient(kA));
  EXPECT_EQ(Wait(read), 4096);
  EXPECT_EQ(out, Filled(4096, 1));
  EXPECT_TRUE(RunUntil(
      *engine_, [&] { return !HeldOpen(data); }, std::chrono::seconds(2)))
      << "the reset overlay's data file is still open";
}

// The same when the last thing the reset overlay waits for is a trim held back by a hole
// being punched: the trim ends inline when the punch does, with no request of the overlay's own
// ending after it.
TEST_F(OverlayFilterTest, AResetOverlayIsClosedWhenAWaitingTrimEndsLast) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(4096, 1)), 4096);
  ASSERT_EQ(Flush(), 0);
  ASSERT_EQ(Trim(kA, 0, 4096), 0);
  ASSERT_EQ(Flush(), 0);  // the hole of block 0 is punched now, after the flush
  const std::string data = std::filesystem::canonical(DataPath(kA)).string();
  Completion trim;
  filter_->Trim(IoContext{.initiator = kA}, 0, 4096, &trim);
  ASSERT_FALSE(trim.done()) << "the trim must wait for the punch for this test";
  ASSERT_TRUE(ResetClient(kA));
  EXPECT_EQ(Wait(trim), 0);
  EXPECT_TRUE(RunUntil(
      *engine_, [&] { return !HeldOpen(data); }, std::chrono::seconds(2)))
      << "the reset overlay's data file is still open";
}

TEST_F(OverlayFilterTest, OneTargetPerDirectory) {
  Open();
  std::vector<std::string> warnings;
  auto second = OverlayFilter::Open(std::make_unique<MemoryBackend>(kBaseBytes), settings_,
                                    *engine_, warnings);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, make_error_code(OverlayErrc::kDirectoryInUse));
  // An admin's finding: with the lock file removed by hand, a second target took the directory.
  std::filesystem::remove(settings_.dir + "/lock");
  auto third = OverlayFilter::Open(std::make_unique<MemoryBackend>(kBaseBytes), settings_, *engine_,
                                   warnings);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, make_error_code(OverlayErrc::kDirectoryInUse));
}

// An admin's finding: a directory without versions.json was taken for a new one, and its
// files removed as leftovers: the golden image itself, when it lay there as v2.img, and other
// files with names like a version's or a client's.
TEST_F(OverlayFilterTest, ADirectoryWithFilesButNoVersionsFileIsRefusedAndLeftAlone) {
  namespace fs = std::filesystem;
  fs::create_directories(settings_.dir);
  std::ofstream(settings_.dir + "/v2.img") << "the golden image";
  std::ofstream(settings_.dir + "/notes.txt") << "mine";
  std::vector<std::string> warnings;
  auto opened = OverlayFilter::Open(std::make_unique<MemoryBackend>(kBaseBytes), settings_,
                                    *engine_, warnings);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, make_error_code(OverlayErrc::kNoVersionsFile));
  EXPECT_TRUE(fs::exists(settings_.dir + "/v2.img"));
  EXPECT_TRUE(fs::exists(settings_.dir + "/notes.txt"));
  EXPECT_FALSE(fs::exists(settings_.dir + "/lock")) << "nothing is made in such a directory";
  EXPECT_FALSE(fs::exists(settings_.dir + "/versions.json"));

  fs::remove(settings_.dir + "/v2.img");
  std::ofstream(settings_.dir + "/02-00-00-00-00-09.map") << "a client's overlay";
  opened = OverlayFilter::Open(std::make_unique<MemoryBackend>(kBaseBytes), settings_, *engine_,
                               warnings);
  ASSERT_FALSE(opened) << "a client's overlay without versions.json";
  EXPECT_TRUE(fs::exists(settings_.dir + "/02-00-00-00-00-09.map"));

  // Names a start never touches do not stop it (a dedicated file system's lost+found, quota
  // files, someone's notes), and stay as they are.
  fs::remove(settings_.dir + "/02-00-00-00-00-09.map");
  fs::create_directory(settings_.dir + "/lost+found");
  std::ofstream(settings_.dir + "/lock").flush();
  Open();
  EXPECT_TRUE(fs::exists(settings_.dir + "/versions.json"));
  EXPECT_TRUE(fs::exists(settings_.dir + "/notes.txt"));
}

// An admin's finding: with versions.json lost, a start removed every committed version as a
// leftover and set aside the overlays made on them: committed data gone.
TEST_F(OverlayFilterTest, ALostVersionsFileRefusesTheStartAndKeepsEveryVersion) {
  namespace fs = std::filesystem;
  Open();
  ASSERT_EQ(Write(kA, 4096, Filled(4096, 0xc1)), 4096);
  ASSERT_TRUE(Commit(kA));
  ASSERT_EQ(Write(kB, 0, Filled(512, 0xb2)), 512);  // on version 2
  ASSERT_EQ(Flush(), 0);
  filter_.reset();
  fs::rename(settings_.dir + "/versions.json", dir_ + "/versions.json.saved");

  std::vector<std::string> warnings;
  auto opened = OverlayFilter::Open(std::make_unique<MemoryBackend>(kBaseBytes), settings_,
                                    *engine_, warnings);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, make_error_code(OverlayErrc::kNoVersionsFile));
  EXPECT_TRUE(fs::exists(settings_.dir + "/v2.img"));
  EXPECT_TRUE(fs::exists(MapPath(kB)));

  // Restored, everything is there.
  fs::rename(dir_ + "/versions.json.saved", settings_.dir + "/versions.json");
  Open();
  EXPECT_EQ(filter_->current_version(), 2u);
  EXPECT_EQ(Read(kC, 4096, 4096), Filled(4096, 0xc1));
  EXPECT_EQ(Read(kB, 0, 512), Filled(512, 0xb2));
}

// An admin's finding: an overlay set aside as damaged lost its base version in the same start
// (no overlay used it any more), so what it held could never be read again. The version must
// stay while its set-aside files are there: at start, while serving, and at every later start.
TEST_F(OverlayFilterTest, AnOverlaySetAsideKeepsItsBaseVersionWhileItsFilesAreThere) {
  namespace fs = std::filesystem;
  const MacAddress kD({0x52, 0x54, 0x00, 0x00, 0x00, 0x0d});
  const MacAddress kE({0x52, 0x54, 0x00, 0x00, 0x00, 0x0e});
  Open();
  ASSERT_EQ(Write(kA, 4096, Filled(4096, 0xc1)), 4096);
  ASSERT_TRUE(Commit(kA));  // version 2
  ASSERT_EQ(Write(kC, 0, Filled(4096, 0xc3)), 4096);
  ASSERT_TRUE(Commit(kC));                            // version 3
  ASSERT_EQ(Write(kD, 0, Filled(4096, 0xd4)), 4096);  // D and E on version 3
  ASSERT_EQ(Write(kE, 0, Filled(4096, 0xe5)), 4096);
  ASSERT_EQ(Flush(), 0);
  ASSERT_TRUE(Rollback());  // version 2 current; version 3 stays for D and E
  filter_.reset();
  fs::resize_file(DataPath(kD), 100);  // D is damaged: its data file is too short

  Open();
  ASSERT_FALSE(filter_->Client(kD));
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("its data or map file is not the size its header says"),
            std::string::npos)
      << warnings_[0];
  // While serving: E's reset leaves version 3 to D's set-aside overlay alone.
  ASSERT_TRUE(ResetClient(kE));
  EXPECT_TRUE(fs::exists(settings_.dir + "/v3.img"));
  Open();  // and at every start
  EXPECT_TRUE(fs::exists(settings_.dir + "/v3.img"));

  // A set-aside header that does not name its base keeps every version: version 3 is now no
  // one's but D's, which cannot say so.
  std::string set_aside_map;
  for (const auto& entry : fs::directory_iterator(settings_.dir)) {
    if (entry.path().filename().string().find(".map.corrupt-") != std::string::npos) {
      set_aside_map = entry.path();
    }
  }
  ASSERT_FALSE(set_aside_map.empty());
  {
    std::fstream f(set_aside_map, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x7f');
  }
  Open();
  EXPECT_TRUE(fs::exists(settings_.dir + "/v3.img"));

  // Once the admin removes the set-aside files, the version goes, and the log says so.
  for (const auto& entry : fs::directory_iterator(settings_.dir)) {
    if (entry.path().filename().string().find(".corrupt-") != std::string::npos) {
      fs::remove(entry.path());
    }
  }
  Open();
  EXPECT_FALSE(fs::exists(settings_.dir + "/v3.img"));
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("v3.img: version 3 removed, no overlay uses it"), std::string::npos)
      << warnings_[0];
}

// An admin's finding: the overlay count limit was logged as "No space left on device" while the
// file system had room.
TEST_F(OverlayFilterTest, WritesBeyondTheOverlayLimitFailAsAQuota) {
  settings_.max_clients = 2;
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(512, 1)), 512);
  ASSERT_EQ(Write(kB, 0, Filled(512, 2)), 512);
  EXPECT_EQ(Write(kC, 0, Filled(512, 3)), -EDQUOT);
  EXPECT_EQ(Write(kA, 512, Filled(512, 4)), 512) << "clients with an overlay write on";
  EXPECT_EQ(Read(kC, 0, 512), BaseAt(0, 512));
}

TEST_F(OverlayFilterTest, ABaseOfAnotherSizeIsRefused) {
  Open();
  filter_.reset();
  std::vector<std::string> warnings;
  auto other = OverlayFilter::Open(std::make_unique<MemoryBackend>(kBaseBytes + 512), settings_,
                                   *engine_, warnings);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, make_error_code(OverlayErrc::kBaseSizeChanged));
}

TEST_F(OverlayFilterTest, WritesWithoutAnInitiatorAreRefused) {
  Open();
  Completion c;
  std::vector<std::byte> data(512);
  filter_->Write(IoContext{}, 0, data, &c);
  EXPECT_EQ(Wait(c), -EROFS);
}

TEST_F(OverlayFilterTest, MetadataIsASmallFractionOfTheWrittenBytes) {
  Open(8 << 20);
  // 4 MiB written in 64 KiB pieces, twice over: the map costs its header and one bitmap page.
  uint64_t written = 0;
  for (int round = 0; round < 2; ++round) {
    for (uint64_t at = 0; at < (4u << 20); at += 65536) {
      ASSERT_EQ(Write(kA, at, Filled(65536, static_cast<uint8_t>(round))), 65536);
      written += 65536;
    }
  }
  ASSERT_EQ(Flush(), 0);
  const uint64_t metadata = Allocated(MapPath(kA));
  EXPECT_GT(metadata, 0u);
  EXPECT_LE(metadata * 100, written) << metadata << " bytes of map for " << written;
}

TEST_F(OverlayFilterTest, ADurableTrimUnderGroupCommitCompletesAfterTheMapIsWritten) {
  Open();
  ASSERT_EQ(Write(kA, 65536, Filled(4096, 0x33)), 4096);
  ASSERT_EQ(Flush(), 0);
  GroupCommitFilter chain(std::move(filter_));
  Completion c;
  chain.Trim(IoContext{.initiator = kA, .flags = IoContext::kDurable}, 65536, 4096, &c);
  EXPECT_EQ(Wait(c), 0);
  auto map = ReadMapFile(MapPath(kA));
  ASSERT_TRUE(map);
  BlockMap blocks(BlockCount(kBaseBytes));
  blocks.Load(map->bitmap);
  EXPECT_FALSE(blocks.Test(16)) << "the cleared bit is durable when the trim is acknowledged";
}

TEST_F(OverlayFilterTest, TheCheckerPassesAConsistentDirectoryAndCatchesAMappedHole) {
  Open();
  ASSERT_EQ(Write(kA, 0, Filled(65536, 1)), 65536);
  ASSERT_EQ(Write(kB, 8192, Filled(512, 2)), 512);
  ASSERT_EQ(Flush(), 0);
  ASSERT_EQ(Write(kC, 0, Filled(512, 3)), 512);  // never flushed: a note, not a problem
  auto report = CheckOverlayDirectory(settings_.dir);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_TRUE(report->in_use);
  EXPECT_TRUE(report->consistent()) << report->problems.front();
  EXPECT_EQ(report->clients.size(), 2u);
  EXPECT_EQ(report->notes.size(), 1u);
  // What a map written before its data would leave after a power cut: a mapped block over a
  // hole. The checker must see it.
  filter_.reset();
  {
    UniqueFd fd(::open(DataPath(kA).c_str(), O_RDWR));
    ASSERT_EQ(::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192, 4096), 0);
  }
  auto broken = CheckOverlayDirectory(settings_.dir);
  ASSERT_TRUE(broken);
  EXPECT_FALSE(broken->in_use);
  ASSERT_EQ(broken->problems.size(), 1u);
  EXPECT_NE(broken->problems[0].find("1 mapped block(s) have no data (first: block 2"),
            std::string::npos)
      << broken->problems[0];
}

// The checker names a version file of the wrong size or a missing one by its path, in the words
// a refused start uses (OverlayExport.AVersionFileOfTheWrongSizeOrMissingIsNamed...).
TEST_F(OverlayFilterTest, TheCheckerNamesAVersionFileOfTheWrongSizeAndAMissingOne) {
  namespace fs = std::filesystem;
  Open();
  ASSERT_EQ(Write(kA, 4096, Filled(4096, 0xc1)), 4096);
  ASSERT_TRUE(Commit(kA));  // version 2
  ASSERT_EQ(Write(kC, 0, Filled(4096, 0xc3)), 4096);
  ASSERT_TRUE(Commit(kC));  // version 3; version 2 stays as its parent
  filter_.reset();
  fs::resize_file(settings_.dir + "/v2.img", 4096);
  fs::remove(settings_.dir + "/v3.img");

  auto report = CheckOverlayDirectory(settings_.dir);
  ASSERT_TRUE(report) << report.error().message();
  ASSERT_EQ(report->problems.size(), 2u);
  EXPECT_EQ(report->problems[0],
            fmt::format("{}/v2.img is 4096 bytes, the image is {}: truncated, or not a version of "
                        "this image",
                        settings_.dir, kBaseBytes));
  EXPECT_EQ(report->problems[1],
            fmt::format("{}/v3.img: a version file versions.json lists is missing", settings_.dir));
}

}  // namespace
}  // namespace aoe::overlay
