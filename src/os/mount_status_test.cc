#include "os/mount_status.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "os/mount_lock.h"

namespace aoe::os {
namespace {

MountStatus Sample(int pid) {
  MountStatus s;
  s.pid = pid;
  s.disk = "e1.2";
  s.mountpoint = "/mnt/a b";
  s.file = "/mnt/a b/e1.2";
  s.size_bytes = 1 << 20;
  s.state = "serving";
  s.dead_timeout_ms = 12500;
  MountPathStatus p;
  p.interface = "veth0";
  p.target_mac = "02:00:00:00:00:01";
  p.up = false;
  p.retransmits = 7;
  p.rtt_us = 250;
  s.paths.push_back(p);
  return s;
}

TEST(MountStatusTest, JsonRoundTripKeepsEveryField) {
  Result<MountStatus> back = StatusFromJson(ToJson(Sample(42)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->pid, 42);
  EXPECT_EQ(back->mountpoint, "/mnt/a b");
  EXPECT_EQ(back->dead_timeout_ms, 12500);
  ASSERT_EQ(back->paths.size(), 1u);
  EXPECT_FALSE(back->paths[0].up);
  EXPECT_EQ(back->paths[0].retransmits, 7u);
  EXPECT_EQ(back->paths[0].rtt_us, 250u);
}

TEST(MountStatusTest, ForeignJsonIsRejected) {
  EXPECT_FALSE(StatusFromJson("{\"hello\": 1}"));
  EXPECT_FALSE(StatusFromJson("not json"));
}

TEST(MountStatusTest, StatusOfDeadDaemonIsSkippedAndRemoved) {
  std::string dir = ::testing::TempDir() + "/aoe_status_test_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WriteStatus(dir, Sample(::getpid())));
  MountStatus dead = Sample(0x3fffffff);  // beyond pid_max
  dead.disk = "e9.9";
  ASSERT_TRUE(WriteStatus(dir, dead));
  std::vector<MountStatus> live = ReadStatuses(dir, /*remove_stale=*/true);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].disk, "e1.2");
  EXPECT_FALSE(std::filesystem::exists(StatusPath(dir, "e9.9")));
  std::filesystem::remove_all(dir);
}

// A daemon killed outright leaves its status file; its pid may be reused by any process before
// anyone looks (`aoe umount` would signal that process). The disk's lock, held by the daemon
// for its life, tells: free means gone, whatever the pid names now.
TEST(MountStatusTest, AStatusWhoseDiskLockIsFreeIsStaleWhateverItsPidNames) {
  std::string dir = ::testing::TempDir() + "/aoe_status_lock_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::string holder;
  {
    Result<MountLocks> locks = LockMount(dir, "e1.2", "/mnt/a", holder);
    ASSERT_TRUE(locks) << locks.error().message();
    MountStatus held = Sample(::getpid());  // a live pid: this process's
    held.holds_lock = true;
    ASSERT_TRUE(WriteStatus(dir, held));
    EXPECT_EQ(ReadStatuses(dir, /*remove_stale=*/true).size(), 1u) << "held: live";
    std::string second;
    Result<MountLocks> again = LockMount(dir, "e1.2", "/mnt/b", second);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().value(), EWOULDBLOCK);
    EXPECT_EQ(second, "disk");
    Result<MountLocks> same_dir = LockMount(dir, "e1.3", "/mnt/a", second);
    ASSERT_FALSE(same_dir);
    EXPECT_EQ(second, "mountpoint");
  }  // the daemon is gone: its locks went with it
  EXPECT_TRUE(ReadStatuses(dir, /*remove_stale=*/true).empty());
  EXPECT_FALSE(std::filesystem::exists(StatusPath(dir, "e1.2")));
  // A daemon from before the locks (its status says nothing of one) is judged by its pid, even
  // though a refused mount of its disk left a free lock file behind.
  ASSERT_TRUE(WriteStatus(dir, Sample(::getpid())));
  EXPECT_EQ(ReadStatuses(dir, /*remove_stale=*/true).size(), 1u);
  std::filesystem::remove_all(dir);
}

// A status that says its daemon holds the disk's lock, with no lock file at all (removed by a
// later mount, or the run directory's locks cleaned): nobody holds the lock, so the daemon is
// gone, even though the pid names a live process (here: this one). Before, a missing lock file
// left the pid to vouch alone, and `aoe show` listed an unrelated process as a mount.
TEST(MountStatusTest, AStatusWhoseLockFileIsGoneIsStaleWhateverItsPidNames) {
  std::string dir = ::testing::TempDir() + "/aoe_status_nolock_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  MountStatus s = Sample(::getpid());
  s.holds_lock = true;
  s.updated_unix = std::time(nullptr) - 60;  // its daemon was killed a minute ago
  ASSERT_TRUE(WriteStatus(dir, s));
  EXPECT_TRUE(ReadStatuses(dir, /*remove_stale=*/true).empty());
  EXPECT_FALSE(std::filesystem::exists(StatusPath(dir, "e1.2")));
  std::filesystem::remove_all(dir);
}

// A reviewer's finding: a live daemon whose lock file was removed under it (a cleaner aging
// /tmp, where non-root mounts keep their run directory) was taken for dead, and aoe show removed
// its status. Its status is fresh: a daemon rewrites it every second.
TEST(MountStatusTest, AFreshStatusWhoseLockFileIsGoneIsAlive) {
  std::string dir = ::testing::TempDir() + "/aoe_status_aged_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  MountStatus s = Sample(::getpid());
  s.holds_lock = true;
  s.updated_unix = std::time(nullptr);
  ASSERT_TRUE(WriteStatus(dir, s));
  EXPECT_EQ(ReadStatuses(dir, /*remove_stale=*/true).size(), 1u);
  EXPECT_TRUE(std::filesystem::exists(StatusPath(dir, "e1.2")));
  std::filesystem::remove_all(dir);
}

// The state letter of `pid` in /proc/PID/stat ('?' if unreadable).
char StateOf(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const size_t close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

// A daemon that exited but was not reaped yet (its parent, a subreaper, is slow) still answers
// kill(pid, 0); it serves nothing and holds no lock.
TEST(MountStatusTest, AZombieIsNotAlive) {
  // With SIGCHLD ignored the kernel reaps the child at once, and no zombie is ever seen.
  const sighandler_t old_sigchld = ::signal(SIGCHLD, SIG_DFL);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  for (int i = 0; i < 500 && StateOf(child) != 'Z'; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(StateOf(child), 'Z');
  EXPECT_FALSE(ProcessAlive(child));
  std::string dir = ::testing::TempDir() + "/aoe_status_zombie_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WriteStatus(dir, Sample(child)));  // a status from before the locks: pid alone
  EXPECT_TRUE(ReadStatuses(dir, /*remove_stale=*/true).empty());
  std::filesystem::remove_all(dir);
  ::waitpid(child, nullptr, 0);
  ::signal(SIGCHLD, old_sigchld);
}

}  // namespace
}  // namespace aoe::os
