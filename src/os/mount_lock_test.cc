#include "os/mount_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace aoe::os {
namespace {

std::string FreshDir(const std::string& name) {
  std::string dir = ::testing::TempDir() + "/" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

size_t LockFiles(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/locks", ec)) {
    (void)entry;
    ++n;
  }
  return n;
}

// Lock files used to pile up in <run dir>/locks, one per disk and per mount point ever mounted.
TEST(MountLockTest, LettingGoRemovesTheLockFiles) {
  const std::string dir = FreshDir("aoe_lock_release");
  std::string holder;
  {
    Result<MountLocks> locks = LockMount(dir, "e1.2", "/mnt/a", holder);
    ASSERT_TRUE(locks) << locks.error().message();
    EXPECT_EQ(LockFiles(dir), 2u);
    EXPECT_EQ(DiskLockHeld(dir, "e1.2"), DiskLockState::kHeld);
  }
  EXPECT_EQ(LockFiles(dir), 0u);
  EXPECT_EQ(DiskLockHeld(dir, "e1.2"), DiskLockState::kNoFile);
  std::filesystem::remove_all(dir);
}

// A mount refused for its mount point had taken (and created) its disk's lock first.
TEST(MountLockTest, ARefusedLockMountLeavesNothingOfItsOwn) {
  const std::string dir = FreshDir("aoe_lock_refused");
  std::string holder;
  Result<MountLocks> first = LockMount(dir, "e1.2", "/mnt/a", holder);
  ASSERT_TRUE(first);
  Result<MountLocks> second = LockMount(dir, "e1.3", "/mnt/a", holder);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().value(), EWOULDBLOCK);
  EXPECT_EQ(holder, "mountpoint");
  EXPECT_FALSE(std::filesystem::exists(dir + "/locks/e1.3.lock"));
  EXPECT_EQ(LockFiles(dir), 2u) << "the first mount's files stay";
  std::filesystem::remove_all(dir);
}

// Taking a lock while its holder lets go (unlinking the file) must never give two holders: a
// taker that opened the file just before it was unlinked would otherwise lock the orphan while
// another creates and locks a new file. Threads of one process conflict like processes: each
// open() is its own open file description. A race, so probabilistic: without TakeLock's inode
// check it saw two holders hundreds to thousands of times per run, but a run may miss it.
TEST(MountLockTest, TakersRacingHoldersThatUnlinkNeverHoldTogether) {
  const std::string dir = FreshDir("aoe_lock_race");
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string mountpoint = "/mnt/" + std::to_string(t);
      for (int i = 0; i < 3000; ++i) {
        std::string holder;
        Result<MountLocks> locks = LockMount(dir, "e1.2", mountpoint, holder);
        if (!locks) continue;  // held by another thread: fine
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        taken.fetch_add(1);
        std::this_thread::yield();
        inside.fetch_sub(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0) << "two holders of one disk's lock at once";
  EXPECT_GT(taken.load(), 0);
  EXPECT_EQ(LockFiles(dir), 0u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aoe::os
