// FileStateStore: states saved as files, blocking at start-up and through the writer thread
// while serving, with completions signalled on an eventfd. A failing write leaves the old state.
#include "target/file_state_store.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace aoe::target {
namespace {

namespace fs = std::filesystem;

constexpr MacAddress kMacA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0A}};

ExportState WithString(std::string_view text) {
  ExportState s;
  s.config_string.assign(text.begin(), text.end());
  s.reservation = {kMacA};
  return s;
}

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

class FileStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "aoe_state_store_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    StopWriter();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  FileStateStore& Open(const std::string& directory) {
    auto store = FileStateStore::Create(directory);
    EXPECT_TRUE(store);
    store_ = std::move(*store);
    return *store_;
  }
  void StartWriter() {
    writer_ = std::thread([store = store_.get()] { store->RunWriter(); });
  }
  void StopWriter() {
    if (!writer_.joinable()) return;
    store_->StopWriter();
    writer_.join();
  }

  // Waits for the writer and returns every report.
  std::vector<StateStore::Saved> Finished() {
    store_->WaitIdle();
    std::vector<StateStore::Saved> saved;
    store_->TakeCompleted(saved);
    return saved;
  }

  std::string dir_;
  std::unique_ptr<FileStateStore> store_;
  std::thread writer_;
};

TEST_F(FileStateStoreTest, StateLivesInAFileNamedAfterTheExport) {
  FileStateStore& store = Open(dir_);
  EXPECT_EQ(store.Location("e1.2"), dir_ + "/e1.2.json");
  ASSERT_TRUE(store.SaveNow("e1.2", WithString("x")));
  EXPECT_TRUE(fs::exists(dir_ + "/e1.2.json"));
}

TEST_F(FileStateStoreTest, SaveNowThenLoadGivesTheState) {
  FileStateStore& store = Open(dir_);
  ASSERT_TRUE(store.SaveNow("e1.2", WithString("owner")));
  auto loaded = store.Load("e1.2");
  ASSERT_TRUE(loaded);
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, WithString("owner"));
}

TEST_F(FileStateStoreTest, NeverSavedIsNotFound) {
  auto loaded = Open(dir_).Load("e3.4");
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->has_value());
  auto in_missing_directory = Open(dir_ + "/absent").Load("e3.4");
  ASSERT_TRUE(in_missing_directory);
  EXPECT_FALSE(in_missing_directory->has_value());
}

TEST_F(FileStateStoreTest, CorruptFileIsAnError) {
  { std::ofstream(dir_ + "/e1.2.json") << "{not json"; }
  EXPECT_FALSE(Open(dir_).Load("e1.2"));
}

TEST_F(FileStateStoreTest, FirstSaveCreatesTheDirectoryForTheServerOnly) {
  FileStateStore& store = Open(dir_ + "/sub");
  ASSERT_TRUE(store.SaveNow("e3.4", WithString("x")));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_EQ(::stat((dir_ + "/sub/e3.4.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(FileStateStoreTest, SaveIntoAnUnwritablePlaceIsAnError) {
  { std::ofstream(dir_ + "/file") << "x"; }  // a regular file where the directory should be
  FileStateStore& store = Open(dir_ + "/file");
  EXPECT_FALSE(store.SaveNow("e1.2", WithString("x")));
  StartWriter();
  store.Save("e1.2", WithString("x"), 7);
  auto saved = Finished();
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved[0].version, 7u);
  EXPECT_TRUE(saved[0].error);
}

TEST_F(FileStateStoreTest, AsyncSavesAreWrittenInOrderAndSignalled) {
  FileStateStore& store = Open(dir_);
  StartWriter();
  EXPECT_FALSE(Readable(store.completion_fd()));
  store.Save("e1.1", WithString("one"), 1);
  store.Save("e1.2", WithString("two"), 5);
  store.Save("e1.1", WithString("three"), 2);
  store.WaitIdle();
  EXPECT_TRUE(Readable(store.completion_fd()));
  std::vector<StateStore::Saved> saved;
  store.TakeCompleted(saved);
  EXPECT_FALSE(Readable(store.completion_fd()));
  ASSERT_EQ(saved.size(), 3u);
  EXPECT_EQ(saved[0].export_name, "e1.1");
  EXPECT_EQ(saved[0].version, 1u);
  EXPECT_EQ(saved[1].export_name, "e1.2");
  EXPECT_EQ(saved[1].version, 5u);
  EXPECT_EQ(saved[2].version, 2u);
  for (const auto& s : saved) EXPECT_FALSE(s.error) << s.error.message();
  EXPECT_EQ(**store.Load("e1.1"), WithString("three"));
  EXPECT_EQ(**store.Load("e1.2"), WithString("two"));
}

// The loop queues saves and takes reports while the writer runs (the TSan build checks the
// two threads share nothing outside the mutex): every save is reported exactly once.
TEST_F(FileStateStoreTest, SavesAndReportsWhileTheWriterRuns) {
  FileStateStore& store = Open(dir_);
  StartWriter();
  constexpr uint64_t kSaves = 200;
  std::vector<int> reported(kSaves + 1, 0);
  uint64_t taken = 0;
  auto take = [&] {
    std::vector<StateStore::Saved> saved;
    store.TakeCompleted(saved);
    for (const auto& s : saved) {
      ASSERT_LE(s.version, kSaves);
      ++reported[s.version];
      EXPECT_FALSE(s.error) << s.error.message();
    }
    taken += saved.size();
  };
  for (uint64_t version = 1; version <= kSaves; ++version) {
    store.Save("e1." + std::to_string(version % 4), WithString(std::to_string(version)), version);
    if (Readable(store.completion_fd())) take();
  }
  while (taken < kSaves) {
    pollfd p{store.completion_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1) << "a save was never reported";
    take();
  }
  for (uint64_t version = 1; version <= kSaves; ++version) EXPECT_EQ(reported[version], 1);
  EXPECT_EQ(**store.Load("e1.0"), WithString(std::to_string(kSaves)));
}

TEST_F(FileStateStoreTest, SaveCopiesTheStateItIsGiven) {
  FileStateStore& store = Open(dir_);
  ExportState state = WithString("before");
  store.Save("e1.1", state, 1);
  state.config_string = {'a', 'f', 't', 'e', 'r'};  // the caller goes on changing its state
  StartWriter();
  ASSERT_EQ(Finished().size(), 1u);
  EXPECT_EQ(**store.Load("e1.1"), WithString("before"));
}

TEST_F(FileStateStoreTest, StoppedWriterStillWritesWhatWasQueued) {
  FileStateStore& store = Open(dir_);
  store.Save("e1.1", WithString("queued"), 1);
  store.StopWriter();
  store.RunWriter();  // returns once the queue is empty
  std::vector<StateStore::Saved> saved;
  store.TakeCompleted(saved);
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(**store.Load("e1.1"), WithString("queued"));
}

TEST_F(FileStateStoreTest, FailingWriteLeavesTheOldState) {
  FileStateStore& store = Open(dir_);
  ASSERT_TRUE(store.SaveNow("e1.1", WithString("old")));
  StartWriter();
  // Writes past 16 bytes fail with EFBIG (SIGXFSZ ignored): the new document is cut short.
  rlimit saved_limit{};
  ::getrlimit(RLIMIT_FSIZE, &saved_limit);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit limit{16, saved_limit.rlim_max};
  ::setrlimit(RLIMIT_FSIZE, &limit);
  store.Save("e1.1", WithString(std::string(200, 'n')), 2);
  auto saved = Finished();
  ::setrlimit(RLIMIT_FSIZE, &saved_limit);
  ::signal(SIGXFSZ, old_handler);

  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved[0].error, std::errc::file_too_large);
  auto loaded = store.Load("e1.1");
  ASSERT_TRUE(loaded) << "the file must still be a whole document";
  EXPECT_EQ(**loaded, WithString("old"));
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"e1.1.json"});
}

}  // namespace
}  // namespace aoe::target
