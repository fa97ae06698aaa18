// IncarnationBook (target/incarnation.h): when an export's incarnation changes, and that a
// clean stop of aoe serve keeps it. The book's cases run on a temporary state directory, a
// "boot" being the boot id the book is given; the server's cases run the harness's server over
// a file export.
#include "target/incarnation.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/read_file.h"
#include "target/testing/target_fixture.h"

namespace aoe::target {
namespace {

using Where = BackendCapabilities::UnflushedWrites;
namespace fs = std::filesystem;

class IncarnationBookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("aoekit-incarnation-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    dir_ = (root_ / "state").string();  // created by the book
  }
  void TearDown() override { fs::remove_all(root_); }

  // A start of aoe serve during boot `boot`.
  IncarnationBook Start(const std::string& boot) { return IncarnationBook(dir_, boot, log_); }
  std::string Record() const {
    auto text = ReadSmallFile(dir_ + "/e1.1.incarnation");
    return text ? *text : std::string("(none)");
  }

  fs::path root_;
  std::string dir_;
  std::vector<std::string> warnings_;
  Logger log_{LogLevel::kWarn,
              [this](LogLevel, std::string_view line) { warnings_.emplace_back(line); }};
};

TEST_F(IncarnationBookTest, APageCacheIncarnationOutlivesACrashOfAoeServeButNotABoot) {
  const uint64_t first = Start("boot-a").Pick("e1.1", Where::kHostCache);
  EXPECT_NE(first, 0u);
  EXPECT_EQ(Start("boot-a").Pick("e1.1", Where::kHostCache), first)
      << "the page cache still holds what the crashed process acknowledged";
  EXPECT_NE(Start("boot-b").Pick("e1.1", Where::kHostCache), first)
      << "the host booted without a clean stop: the cache may be lost";
  EXPECT_TRUE(warnings_.empty()) << warnings_.front();
}

// Each book below lives as long as one aoe serve process: the braces end it (a crash, unless
// it called StoppedCleanly).
TEST_F(IncarnationBookTest, ACleanStopKeepsItAcrossABootUntilTheNextUncleanOne) {
  uint64_t kept = 0;
  {
    IncarnationBook before = Start("boot-a");
    kept = before.Pick("e1.1", Where::kHostCache);
    before.StoppedCleanly("e1.1");
  }
  EXPECT_NE(Record().find("\"stopped_cleanly\":true"), std::string::npos) << Record();
  EXPECT_EQ(Start("boot-b").Pick("e1.1", Where::kHostCache), kept);
  // Serving again was recorded before the first write: a power cut then is not a clean stop.
  EXPECT_NE(Record().find("\"stopped_cleanly\":false"), std::string::npos) << Record();
  EXPECT_NE(Start("boot-c").Pick("e1.1", Where::kHostCache), kept);
}

// A start that opened the export and failed before serving it: the record is as before, and
// the lock is free for the next start. Once it serves, there is nothing to undo.
TEST_F(IncarnationBookTest, NeverServedUndoesThePickOfAnExportThatDidNotServe) {
  uint64_t kept = 0;
  {
    IncarnationBook before = Start("boot-a");
    kept = before.Pick("e1.1", Where::kProcess);
    before.StoppedCleanly("e1.1");
  }
  const std::string clean = Record();
  {
    IncarnationBook failed = Start("boot-a");
    EXPECT_EQ(failed.Pick("e1.1", Where::kProcess), kept);
    failed.NeverServed("e1.1");
    EXPECT_EQ(Record(), clean);
    EXPECT_EQ(Start("boot-a").Pick("e1.1", Where::kProcess), kept) << "the lock was let go";
  }
  IncarnationBook served = Start("boot-a");
  EXPECT_NE(served.Pick("e1.1", Where::kProcess), kept) << "the start above crashed";
  served.Serving("e1.1");
  const std::string serving = Record();
  served.NeverServed("e1.1");
  EXPECT_EQ(Record(), serving);
}

TEST_F(IncarnationBookTest, AnOverlayIncarnationChangesAtEveryCrashAndNotAtACleanStop) {
  const uint64_t first = Start("boot-a").Pick("e1.1", Where::kProcess);
  uint64_t second = 0;
  {
    IncarnationBook after_crash = Start("boot-a");
    second = after_crash.Pick("e1.1", Where::kProcess);
    EXPECT_NE(second, first) << "the crashed process held the block map";
    after_crash.StoppedCleanly("e1.1");
  }
  EXPECT_EQ(Start("boot-a").Pick("e1.1", Where::kProcess), second);
}

// An overlay export that crashed, served as a plain file export at the next start (the
// configuration changed): its block map was lost, whatever the page cache holds.
TEST_F(IncarnationBookTest, ThePageCacheDoesNotVouchForWhatAnOverlayHeld) {
  const uint64_t overlay = Start("boot-a").Pick("e1.1", Where::kProcess);
  EXPECT_NE(Start("boot-a").Pick("e1.1", Where::kHostCache), overlay);
  // And re-opened as an overlay in the same process: recorded as such before serving.
  uint64_t reopened = 0;
  {
    IncarnationBook book = Start("boot-a");
    const uint64_t file = book.Pick("e1.1", Where::kHostCache);
    reopened = book.Pick("e1.1", Where::kProcess);
    EXPECT_EQ(reopened, file) << "the reload flushed it";
    EXPECT_NE(Record().find("\"held_by\":\"process\""), std::string::npos) << Record();
  }
  EXPECT_NE(Start("boot-a").Pick("e1.1", Where::kHostCache), reopened);
}

// Linux reports a writeback error to one fsync and drops the pages: the host lives on, its
// page cache does not hold the writes.
TEST_F(IncarnationBookTest, AFailedFinalFlushTakesANewOneEvenInTheSameBoot) {
  uint64_t served = 0;
  {
    IncarnationBook book = Start("boot-a");
    served = book.Pick("e1.1", Where::kHostCache);
    book.Lost("e1.1");
    EXPECT_NE(book.Pick("e1.1", Where::kHostCache), served) << "re-opened in this process";
  }
  {
    IncarnationBook book = Start("boot-a");
    served = book.Pick("e1.1", Where::kHostCache);
    book.Lost("e1.1");
  }
  EXPECT_NE(Start("boot-a").Pick("e1.1", Where::kHostCache), served) << "the next start";
}

// Two aoe serve processes with one state directory, each with an export e1.1 (on other
// interfaces): only the first keeps a record; the second falls back, and its clean stop
// cannot mark the first one's serving as clean.
TEST_F(IncarnationBookTest, ASecondProcessWithTheSameStateDirectoryAndExportNameFallsBack) {
  IncarnationBook first = Start("boot-a");
  const uint64_t recorded = first.Pick("e1.1", Where::kProcess);
  {
    IncarnationBook second = Start("boot-a");
    EXPECT_NE(second.Pick("e1.1", Where::kProcess), recorded);
    second.StoppedCleanly("e1.1");
  }
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("another aoe serve with this state directory"), std::string::npos)
      << warnings_[0];
  EXPECT_NE(Record().find("\"stopped_cleanly\":false"), std::string::npos) << Record();
}

TEST_F(IncarnationBookTest, AReopenedExportKeepsItsIncarnationInOneProcess) {
  IncarnationBook book = Start("boot-a");
  const uint64_t first = book.Pick("e1.1", Where::kProcess);
  EXPECT_EQ(book.Pick("e1.1", Where::kProcess), first) << "a reload flushed it before";
  EXPECT_NE(book.Pick("e1.2", Where::kProcess), first) << "each export has its own";
}

TEST_F(IncarnationBookTest, AMemoryExportGetsANewOneAtEveryOpeningAndNoRecord) {
  IncarnationBook book = Start("boot-a");
  const uint64_t first = book.Pick("e1.1", Where::kNotKept);
  EXPECT_NE(first, 0u);
  EXPECT_NE(book.Pick("e1.1", Where::kNotKept), first);
  book.StoppedCleanly("e1.1");
  EXPECT_FALSE(fs::exists(dir_ + "/e1.1.incarnation"));
}

TEST_F(IncarnationBookTest, StorageThatLosesNothingHasNone) {
  EXPECT_EQ(Start("boot-a").Pick("e1.1", Where::kNone), 0u);
  EXPECT_FALSE(fs::exists(dir_ + "/e1.1.incarnation"));
}

TEST_F(IncarnationBookTest, AGarbledRecordIsReplacedWithANewIncarnation) {
  Start("boot-a").Pick("e1.1", Where::kHostCache);
  std::ofstream(dir_ + "/e1.1.incarnation") << "{\"incarnation\": \"7\"}";  // no other keys
  EXPECT_NE(Start("boot-a").Pick("e1.1", Where::kHostCache), 0u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("is not an incarnation record"), std::string::npos) << warnings_[0];
  EXPECT_NE(Record().find("\"stopped_cleanly\":false"), std::string::npos) << Record();
}

TEST_F(IncarnationBookTest, WithoutAWritableStateDirectoryItWarnsAndStillServes) {
  std::ofstream(root_ / "file") << "x";
  dir_ = (root_ / "file" / "state").string();  // under a regular file: cannot be created
  IncarnationBook book = Start("boot-a");
  const uint64_t picked = book.Pick("e1.1", Where::kHostCache);
  EXPECT_NE(picked, 0u);
  EXPECT_EQ(book.Pick("e1.1", Where::kHostCache), picked) << "re-opened: no second warning";
  book.StoppedCleanly("e1.1");  // nothing recorded: nothing to write
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("its incarnation is not kept across restarts"), std::string::npos)
      << warnings_[0];
  EXPECT_EQ(Start("boot-a").Pick("e1.1", Where::kHostCache), picked)
      << "the fallback for the page cache is the boot's";
}

// A reload re-opens an export whose old instance then loses writes, where nothing can be
// recorded: the new instance must still get another number than the one initiators hold.
TEST_F(IncarnationBookTest, AfterALossWithoutARecordTheReopenedExportGetsAnotherOne) {
  std::ofstream(root_ / "file") << "x";
  dir_ = (root_ / "file" / "state").string();  // cannot be created
  IncarnationBook book = Start("boot-a");
  const uint64_t served = book.Pick("e1.1", Where::kHostCache);
  book.Lost("e1.1");
  const uint64_t next = book.PickAfterLoss("e1.1", Where::kHostCache, served);
  EXPECT_NE(next, 0u);
  EXPECT_NE(next, served);
  EXPECT_EQ(book.Pick("e1.1", Where::kHostCache), next) << "a later reload keeps the new one";
}

// A reload re-opens a file export as an overlay, and fails on another export: the file export
// serves on, and its record says the page cache holds its writes, as before the reload (else
// a crash in this boot would look like a loss).
TEST_F(IncarnationBookTest, NeverServedPutsBackWhatAReopeningChanged) {
  uint64_t served = 0;
  {
    IncarnationBook book = Start("boot-a");
    served = book.Pick("e1.1", Where::kHostCache);
    book.Serving("e1.1");
    const std::string before = Record();
    EXPECT_EQ(book.Pick("e1.1", Where::kProcess), served);
    EXPECT_NE(Record().find("\"held_by\":\"process\""), std::string::npos) << Record();
    book.NeverServed("e1.1");
    EXPECT_EQ(Record(), before);
  }
  EXPECT_EQ(Start("boot-a").Pick("e1.1", Where::kHostCache), served) << "a crash in one boot";
}

// The server: an export's incarnation, in its IDENTIFY page, across stops of aoe serve: Stop()
// is a crash, StopCleanly() a SIGTERM. Over a file export unless the test says otherwise.
class ServerIncarnationTest : public testkit::TargetFixture {
 protected:
  void SetUp() override {
    image_ =
        h_.AddFileExport(testkit::kShelf, testkit::kSlot, testkit::kDiskSectors * testkit::kSector);
  }
  uint64_t IdentifiedIncarnation() {
    auto r = Identify();
    if (!r) return 0;
    EXPECT_EQ(testkit::IdentifyWord(*r, 129), 0xAE02) << "aoekit's signature, incarnation present";
    return testkit::IdentifyIncarnation(*r);
  }
  // A memory disk instead of the file.
  void UseAMemoryDisk() {
    h_.options().exports.clear();
    h_.AddExport(testkit::kShelf, testkit::kSlot, testkit::kDiskSectors * testkit::kSector);
  }
  std::string Record() {
    auto text = ReadSmallFile(h_.state_dir() + "/" + export_options().name() + ".incarnation");
    return text ? *text : std::string("(none)");
  }
  std::string image_;
};

TEST_F(ServerIncarnationTest, ACleanStopRecordsItAndTheNextStartKeepsIt) {
  StartServer();
  const uint64_t first = IdentifiedIncarnation();
  ASSERT_NE(first, 0u);
  EXPECT_NE(Record().find("\"stopped_cleanly\":false"), std::string::npos) << Record();
  ASSERT_TRUE(h_.StopCleanly());
  EXPECT_NE(Record().find("\"stopped_cleanly\":true"), std::string::npos) << Record();
  StartServer();
  EXPECT_EQ(IdentifiedIncarnation(), first);
}

// The final flush at the stop fails: the page cache may have dropped the writes, and the next
// start, in the same boot, must not vouch for them.
TEST_F(ServerIncarnationTest, AStopWhoseFlushFailedIsNotClean) {
  h_.FaultFileExports();
  StartServer();
  const uint64_t first = IdentifiedIncarnation();
  h_.faults(image_).set_flush_error(EIO);
  ASSERT_TRUE(h_.StopCleanly());
  EXPECT_NE(Record().find("\"stopped_cleanly\":false"), std::string::npos) << Record();
  StartServer();
  EXPECT_NE(IdentifiedIncarnation(), first);
}

TEST_F(ServerIncarnationTest, AnOverlayExportKeepsItAcrossACleanStopOnly) {
  UseAMemoryDisk();  // under the overlays
  export_options().overlay_dir = h_.state_dir() + "-overlay";
  StartServer();
  const uint64_t first = IdentifiedIncarnation();
  ASSERT_NE(first, 0u);
  ASSERT_TRUE(h_.StopCleanly());
  StartServer();
  EXPECT_EQ(IdentifiedIncarnation(), first);
  h_.Stop();  // a crash: the block map since the last FLUSH is gone
  StartServer();
  EXPECT_NE(IdentifiedIncarnation(), first);
}

// A start that fails on a later export opened the first one without serving it: its clean stop
// before still counts (else the next start takes a new incarnation, and a mounted initiator's
// next fsync fails with EIO for nothing).
TEST_F(ServerIncarnationTest, AStartThatFailsOnALaterExportLeavesACleanStopClean) {
  UseAMemoryDisk();  // under the overlays: only a clean stop keeps theirs
  export_options().overlay_dir = h_.state_dir() + "-overlay";
  StartServer();
  const uint64_t first = IdentifiedIncarnation();
  ASSERT_TRUE(h_.StopCleanly());
  ExportOptions missing;
  missing.address = {testkit::kShelf, static_cast<uint8_t>(testkit::kSlot + 1)};
  missing.backend.path = h_.state_dir() + "-no-such-image";
  h_.options().exports.push_back(missing);
  ASSERT_FALSE(h_.Start());
  EXPECT_NE(Record().find("\"stopped_cleanly\":true"), std::string::npos) << Record();
  h_.options().exports.pop_back();
  StartServer();
  EXPECT_EQ(IdentifiedIncarnation(), first);
}

// A reload re-opens an export (new options) before it closes the old one; the old one's final
// flush fails. The new one was opened under the incarnation initiators hold for the lost
// writes: it must serve under another.
TEST_F(ServerIncarnationTest, AReloadWhoseCloseLostWritesServesUnderAnotherIncarnation) {
  h_.FaultFileExports();
  StartServer();
  const uint64_t first = IdentifiedIncarnation();
  h_.faults(image_).set_flush_error(EIO);
  ServerOptions next = h_.options();
  next.exports[0].fail.push_back(InjectedFault{.first_sector = 100, .last_sector = 100});
  ASSERT_TRUE(h_.server().Reconfigure(next));
  const uint64_t after = IdentifiedIncarnation();
  EXPECT_NE(after, 0u);
  EXPECT_NE(after, first);
}

// A memory disk loses everything whenever it is opened again, flushed or not.
TEST_F(ServerIncarnationTest, AMemoryExportTakesANewOneAtEveryStart) {
  UseAMemoryDisk();
  StartServer();
  const uint64_t first = IdentifiedIncarnation();
  EXPECT_NE(first, 0u);
  ASSERT_TRUE(h_.StopCleanly());
  StartServer();
  EXPECT_NE(IdentifiedIncarnation(), first);
  EXPECT_EQ(Record(), "(none)");
}

TEST_F(ServerIncarnationTest, UnderDurabilitySyncThereIsNone) {
  export_options().durability = Durability::kSync;
  StartServer();
  auto r = Identify();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(testkit::IdentifyWord(*r, 129), 0) << "no aoekit word: no incarnation";
  EXPECT_EQ(Record(), "(none)");
}

}  // namespace
}  // namespace aoe::target
