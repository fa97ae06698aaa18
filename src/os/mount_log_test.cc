#include "os/mount_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace aoe::os {
namespace {

std::string FreshDir(const std::string& name) {
  std::string dir = ::testing::TempDir() + "/" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string Contents(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Two mounts given one --log FILE: the one that created the file failed after the other opened
// it. The failed one used to remove the file it "created", from under the mount that runs.
TEST(MountLogFileTest, AFailedMountLeavesALogFileItWasGivenToAnotherMount) {
  const std::string dir = FreshDir("aoe_log_shared");
  const std::string path = dir + "/shared.log";
  MountLogFile failed(path, /*given=*/true);
  ASSERT_TRUE(failed.Open());  // creates it
  MountLogFile running(path, /*given=*/true);
  ASSERT_TRUE(running.Open());
  EXPECT_FALSE(failed.RemoveIfOurs());
  running.Write("still here");
  EXPECT_EQ(Contents(path), "still here\n");
  std::filesystem::remove_all(dir);
}

// The default log is named after the disk, whose lock the mount holds: nobody else writes to
// the one this run created, and a refused mount leaves nothing behind.
TEST(MountLogFileTest, TheDefaultLogThisRunCreatedIsRemoved) {
  const std::string dir = FreshDir("aoe_log_default");
  const std::string path = dir + "/aoekit/mount-e1.2.log";
  MountLogFile log(path, /*given=*/false);
  ASSERT_TRUE(log.Open()) << "creates the default log's directory";
  EXPECT_TRUE(log.RemoveIfOurs());
  EXPECT_FALSE(std::filesystem::exists(path));
  std::filesystem::remove_all(dir);
}

TEST(MountLogFileTest, ADefaultLogThatWasThereIsKept) {
  const std::string dir = FreshDir("aoe_log_kept");
  const std::string path = dir + "/mount-e1.2.log";
  std::ofstream(path) << "earlier\n";
  MountLogFile log(path, /*given=*/false);
  ASSERT_TRUE(log.Open());
  EXPECT_FALSE(log.RemoveIfOurs());
  log.Write("not mounted");
  EXPECT_EQ(Contents(path), "earlier\nnot mounted\n");
  std::filesystem::remove_all(dir);
}

// Moved away (logrotate) and a new file made at the path: that one is not this run's.
TEST(MountLogFileTest, ADefaultLogReplacedSinceIsKept) {
  const std::string dir = FreshDir("aoe_log_replaced");
  const std::string path = dir + "/mount-e1.2.log";
  MountLogFile log(path, /*given=*/false);
  ASSERT_TRUE(log.Open());
  std::filesystem::rename(path, path + ".1");
  std::ofstream(path) << "someone else's\n";
  EXPECT_FALSE(log.RemoveIfOurs());
  EXPECT_EQ(Contents(path), "someone else's\n");
  std::filesystem::remove_all(dir);
}

TEST(MountLogFileTest, AGivenLogInAMissingDirectoryIsRefused) {
  const std::string dir = FreshDir("aoe_log_missing");
  MountLogFile log(dir + "/no/such/dir/e1.2.log", /*given=*/true);
  EXPECT_FALSE(log.Open());
  EXPECT_FALSE(std::filesystem::exists(dir + "/no"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aoe::os
