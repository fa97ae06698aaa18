// StateFile: the per-export JSON file that keeps the config string, mask list and reservation
// across restarts.
#include "target/export_state.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace aoe::target {
namespace {

namespace fs = std::filesystem;

constexpr MacAddress kMacA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0A}};
constexpr MacAddress kMacB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0B}};

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "aoe_state_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }

  static ExportState SampleState() {
    ExportState s;
    // Opaque bytes, including NUL, quote, backslash and non-UTF-8.
    s.config_string = {'h', 'o', 's', 't', 0x00, '"', '\\', 0xFF, 0x80, '\n'};
    s.mask = {kMacA, kMacB};
    s.reservation = {kMacB};
    return s;
  }

  std::string dir_;
};

TEST_F(StateFileTest, PathIsNamedAfterExport) {
  StateFile file(dir_, "e1.2");
  EXPECT_TRUE(file.persistent());
  EXPECT_EQ(file.path(), dir_ + "/e1.2.json");
}

TEST_F(StateFileTest, RoundTripPreservesEveryField) {
  StateFile file(dir_, "e1.2");
  ExportState saved = SampleState();
  ASSERT_TRUE(file.Save(saved));
  auto loaded = file.Load();
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(loaded->found);
  EXPECT_EQ(loaded->state, saved);
}

TEST_F(StateFileTest, RoundTripOfLongestConfigString) {
  StateFile file(dir_, "e1.2");
  ExportState saved;
  for (size_t i = 0; i < 1024; ++i) saved.config_string.push_back(static_cast<uint8_t>(i * 7));
  ASSERT_TRUE(file.Save(saved));
  auto loaded = file.Load();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->state, saved);
}

TEST_F(StateFileTest, RoundTripOfEmptyState) {
  StateFile file(dir_, "e0.0");
  ASSERT_TRUE(file.Save(ExportState{}));
  auto loaded = file.Load();
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(loaded->found);
  EXPECT_EQ(loaded->state, ExportState{});
}

TEST_F(StateFileTest, SaveReplacesPreviousState) {
  StateFile file(dir_, "e1.2");
  ASSERT_TRUE(file.Save(SampleState()));
  ExportState next;
  next.config_string = {'x'};
  ASSERT_TRUE(file.Save(next));
  auto loaded = file.Load();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->state, next);
}

TEST_F(StateFileTest, MissingFileIsNotFound) {
  StateFile file(dir_, "e3.4");
  auto loaded = file.Load();
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->found);
  EXPECT_EQ(loaded->state, ExportState{});
}

TEST_F(StateFileTest, MissingDirectoryIsNotFound) {
  StateFile file(dir_ + "/absent", "e3.4");
  auto loaded = file.Load();
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->found);
}

TEST_F(StateFileTest, SaveCreatesMissingDirectory) {
  StateFile file(dir_ + "/sub", "e3.4");
  ASSERT_TRUE(file.Save(SampleState()));
  auto loaded = file.Load();
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(loaded->found);
}

TEST_F(StateFileTest, CorruptFileIsError) {
  StateFile file(dir_, "e1.2");
  const char* corrupt[] = {
      "{not json",
      "",
      "[1, 2, 3]",
      R"({"config_string_hex": "abc"})",  // odd number of digits
      R"({"config_string_hex": "zz"})",   // not hex
      R"({"config_string_hex": 12})",     // wrong type
      R"({"mask": ["02:00:00:00:00:0a", "nonsense"]})",
      R"({"mask": "02:00:00:00:00:0a"})",
      R"({"reservation": [7]})",
  };
  for (const char* text : corrupt) {
    SCOPED_TRACE(text);
    WriteFile(file.path(), text);
    auto loaded = file.Load();
    EXPECT_FALSE(loaded);
  }
}

TEST_F(StateFileTest, OverlongConfigStringIsError) {
  StateFile file(dir_, "e1.2");
  WriteFile(file.path(), R"({"config_string_hex": ")" + std::string(2 * 1025, 'a') + "\"}");
  EXPECT_FALSE(file.Load());
}

TEST_F(StateFileTest, AtomicSaveLeavesNoTemporaryFile) {
  StateFile file(dir_, "e1.2");
  ASSERT_TRUE(file.Save(SampleState()));
  ASSERT_TRUE(file.Save(ExportState{}));
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"e1.2.json"});
}

TEST_F(StateFileTest, SaveIntoUnwritablePlaceIsError) {
  // A regular file where the directory should be.
  WriteFile(dir_ + "/file", "x");
  StateFile file(dir_ + "/file", "e1.2");
  EXPECT_FALSE(file.Save(SampleState()));
}

TEST_F(StateFileTest, EmptyDirectoryMeansInMemoryNoOp) {
  StateFile file("", "e1.2");
  EXPECT_FALSE(file.persistent());
  EXPECT_TRUE(file.path().empty());
  EXPECT_TRUE(file.Save(SampleState()));
  auto loaded = file.Load();
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->found);
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(StateFileTest, DefaultConstructedIsInMemory) {
  StateFile file;
  EXPECT_FALSE(file.persistent());
  EXPECT_TRUE(file.Save(SampleState()));
  auto loaded = file.Load();
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->found);
}

TEST(ExportStateTest, EmptyListsAllowEveryone) {
  ExportState s;
  EXPECT_TRUE(s.MaskAllows(kMacA));
  EXPECT_TRUE(s.ReservationAllows(kMacA));
}

TEST(ExportStateTest, NonEmptyListsAllowOnlyTheirMembers) {
  ExportState s;
  s.mask = {kMacA};
  s.reservation = {kMacB};
  EXPECT_TRUE(s.MaskAllows(kMacA));
  EXPECT_FALSE(s.MaskAllows(kMacB));
  EXPECT_TRUE(s.ReservationAllows(kMacB));
  EXPECT_FALSE(s.ReservationAllows(kMacA));
}

}  // namespace
}  // namespace aoe::target
