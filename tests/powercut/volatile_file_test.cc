// VolatileFile: what the backing file holds before and after Sync() (the durable state a power
// cut leaves), and what readers see meanwhile.
#include "powercut/volatile_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace aoe::powercut {
namespace {

class VolatileFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "volatile_file_test.XXXXXX";
    int fd = ::mkstemp(path_.data());
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  void TearDown() override { ::unlink(path_.c_str()); }

  void SetBacking(const std::string& text) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
  }
  std::string Backing() const {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  VolatileFile OpenFile() {
    auto file = VolatileFile::Open(UniqueFd(::open(path_.c_str(), O_RDWR)));
    EXPECT_TRUE(file);
    return std::move(*file);
  }
  static std::string ReadAll(const VolatileFile& file) {
    std::vector<std::byte> out(file.size());
    auto n = file.Read(0, out);
    EXPECT_TRUE(n);
    return std::string(reinterpret_cast<const char*>(out.data()), n.value_or(0));
  }
  static Result<void> Put(VolatileFile& file, uint64_t offset, const std::string& text) {
    return file.Write(offset, std::as_bytes(std::span(text)));
  }

  std::string path_;
};

TEST_F(VolatileFileTest, UnsyncedWriteIsVisibleButNotDurable) {
  SetBacking("aaaaaaaa");
  VolatileFile file = OpenFile();
  ASSERT_TRUE(Put(file, 2, "BB"));
  EXPECT_EQ(ReadAll(file), "aaBBaaaa");
  EXPECT_EQ(Backing(), "aaaaaaaa");
}

TEST_F(VolatileFileTest, SyncMakesWritesDurable) {
  SetBacking("aaaaaaaa");
  VolatileFile file = OpenFile();
  ASSERT_TRUE(Put(file, 2, "BB"));
  EXPECT_TRUE(file.unsynced());
  ASSERT_TRUE(file.Sync());
  EXPECT_EQ(Backing(), "aaBBaaaa");
  EXPECT_EQ(file.dirty_bytes(), 0u);
  EXPECT_FALSE(file.unsynced());
}

TEST_F(VolatileFileTest, GrowthIsDurableOnlyAfterSync) {
  SetBacking("ab");
  VolatileFile file = OpenFile();
  ASSERT_TRUE(Put(file, 6000, "Z"));
  EXPECT_EQ(file.size(), 6001u);
  EXPECT_EQ(Backing(), "ab");
  ASSERT_TRUE(file.Sync());
  std::string want = "ab" + std::string(5998, '\0') + "Z";
  EXPECT_EQ(Backing(), want);
  EXPECT_EQ(ReadAll(file), want);
}

TEST_F(VolatileFileTest, ShrinkThenGrowReadsZerosNotOldBytes) {
  SetBacking(std::string(10000, 'x'));
  VolatileFile file = OpenFile();
  ASSERT_TRUE(file.Resize(100));
  ASSERT_TRUE(file.Resize(10000));
  EXPECT_TRUE(file.unsynced());
  std::string want = std::string(100, 'x') + std::string(9900, '\0');
  EXPECT_EQ(ReadAll(file), want);
  EXPECT_EQ(Backing(), std::string(10000, 'x'));  // nothing durable yet
  ASSERT_TRUE(file.Sync());
  EXPECT_EQ(Backing(), want);
}

TEST_F(VolatileFileTest, WritesSpanningPagesKeepTheBytesAround) {
  SetBacking(std::string(3 * VolatileFile::kPageBytes, 'o'));
  VolatileFile file = OpenFile();
  std::string data(VolatileFile::kPageBytes + 10, 'N');
  ASSERT_TRUE(Put(file, VolatileFile::kPageBytes - 5, data));
  ASSERT_TRUE(file.Sync());
  std::string want(3 * VolatileFile::kPageBytes, 'o');
  want.replace(VolatileFile::kPageBytes - 5, data.size(), data);
  EXPECT_EQ(Backing(), want);
}

TEST_F(VolatileFileTest, ReadPastTheEndIsShort) {
  SetBacking("abc");
  VolatileFile file = OpenFile();
  std::vector<std::byte> out(10);
  auto n = file.Read(1, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  n = file.Read(5, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

}  // namespace
}  // namespace aoe::powercut
