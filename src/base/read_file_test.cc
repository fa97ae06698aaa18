#include "base/read_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace aoe {
namespace {

class ReadSmallFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/read_file_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  std::string dir_;
};

TEST_F(ReadSmallFileTest, ReadsARegularFileWhole) {
  std::string text(10000, 'x');
  text += "end";
  Result<std::string> read = ReadSmallFile(Write("config.toml", text));
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(*read, text);
}

TEST_F(ReadSmallFileTest, AMissingFileIsEnoentOrNothing) {
  Result<std::string> read = ReadSmallFile(dir_ + "/missing");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), std::errc::no_such_file_or_directory);

  Result<std::optional<std::string>> present = ReadSmallFileIfPresent(dir_ + "/missing");
  ASSERT_TRUE(present);
  EXPECT_FALSE(present->has_value());
  present = ReadSmallFileIfPresent(Write("leases", "a"));
  ASSERT_TRUE(present);
  EXPECT_EQ(present->value_or(""), "a");
}

// Without O_NONBLOCK the open waits for a writer and this test hangs until ctest's timeout;
// without the poll, the FIFO reads as empty.
TEST_F(ReadSmallFileTest, AFifoNobodyWritesIsAnErrorOnceTheWaitHasPassed) {
  const std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  Result<std::string> read =
      ReadSmallFile(fifo, kSmallFileMaxBytes, std::chrono::milliseconds(200));
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), ReadFileErrc::kPipeSilent);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  EXPECT_EQ(read.error().message(),
            "a pipe or FIFO from which nothing came (no process writes to it?)");
}

// `aoe serve --config <(generate-config)`: a pipe whose writer takes a moment.
TEST_F(ReadSmallFileTest, APipeIsReadToItsEnd) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread writer([w = fds[1]] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(::write(w, "first ", 6), 6);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(::write(w, "second", 6), 6);
    ::close(w);
  });
  Result<std::string> read = ReadSmallFile("/dev/fd/" + std::to_string(fds[0]));
  writer.join();
  ::close(fds[0]);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(*read, "first second");
}

TEST_F(ReadSmallFileTest, ADeviceOrDirectoryIsRefused) {
  Result<std::string> device = ReadSmallFile("/dev/zero");
  ASSERT_FALSE(device);
  EXPECT_EQ(device.error(), ReadFileErrc::kNotARegularFile);

  Result<std::string> directory = ReadSmallFile(dir_);
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error(), std::errc::is_a_directory);
}

TEST_F(ReadSmallFileTest, AFileLargerThanTheBoundIsRefused) {
  const std::string path = Write("big", std::string(5000, 'y'));
  Result<std::string> read = ReadSmallFile(path, 4999);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), ReadFileErrc::kTooLarge);
  EXPECT_TRUE(ReadSmallFile(path, 5000));
}

}  // namespace
}  // namespace aoe
