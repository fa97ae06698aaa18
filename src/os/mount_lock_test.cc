#include "os/mount_lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
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

// A probe (DiskLockHeld: aoe show, aoe umount, and aoe mount's own look at the status files)
// holds a shared lock on a disk's lock file for a moment. A mount taking the lock at that moment
// used to fail as "being mounted or mounted already". Here the probe holds it for 50 ms, on a
// file a killed daemon left (where aoe show looks while the disk is mounted again).
TEST(MountLockTest, AProbesSharedLockDoesNotMakeAMountFail) {
  const std::string dir = FreshDir("aoe_lock_probe");
  std::filesystem::create_directories(dir + "/locks");
  const std::string path = dir + "/locks/e1.2.lock";
  UniqueFd probe(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(probe);
  ASSERT_EQ(::flock(probe.get(), LOCK_SH | LOCK_NB), 0);
  std::thread probe_ends([&probe] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    probe.reset();
  });
  std::string holder;
  Result<MountLocks> locks = LockMount(dir, "e1.2", "/mnt/a", holder);
  probe_ends.join();
  ASSERT_TRUE(locks) << holder << ": " << locks.error().message();
  EXPECT_EQ(DiskLockHeld(dir, "e1.2"), DiskLockState::kHeld);
  std::filesystem::remove_all(dir);
}

// Waiting out probes must not delay the refusal of a mount whose disk another mount holds.
TEST(MountLockTest, AMountHeldLockIsRefusedWithoutWaiting) {
  const std::string dir = FreshDir("aoe_lock_held");
  std::string holder;
  Result<MountLocks> first = LockMount(dir, "e1.2", "/mnt/a", holder);
  ASSERT_TRUE(first);
  const auto start = std::chrono::steady_clock::now();
  Result<MountLocks> second = LockMount(dir, "e1.2", "/mnt/b", holder);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().value(), EWOULDBLOCK);
  EXPECT_EQ(holder, "disk");
  // Probes are waited out for up to a second; a refusal takes a few system calls.
  EXPECT_LT(took, std::chrono::milliseconds(500));
  std::filesystem::remove_all(dir);
}

#if defined(__NR_newfstatat) && defined(__NR_statx)
// From here on, this process's fstat() fails with ENOMEM (the fstat syscall, and newfstatat and
// statx of an fd: AT_EMPTY_PATH); stat() of a path still works. For a forked child only.
bool FailFstatFromNowOn() {
  constexpr uint32_t kEnomem = SECCOMP_RET_ERRNO | ENOMEM;
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
#ifdef __NR_fstat
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fstat, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, kEnomem),
#endif
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_newfstatat, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[3])),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, AT_EMPTY_PATH, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, kEnomem),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_statx, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[2])),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, AT_EMPTY_PATH, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, kEnomem),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) == 0;
}

// A mount that creates its lock file and then fails (here: fstat fails, as it may under memory
// pressure) must not leave the file behind. It used to: TakeLock returned the error after
// flock, leaving the file it had made.
TEST(MountLockTest, ALockFileIsNotLeftBehindWhenFstatFails) {
  const std::string dir = FreshDir("aoe_lock_fstat");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!FailFstatFromNowOn()) ::_exit(3);
    struct stat st {};
    if (::fstat(0, &st) == 0 || errno != ENOMEM) ::_exit(4);  // the filter works
    bool taken = false;
    {
      std::string holder;
      Result<MountLocks> locks = LockMount(dir, "e1.2", "/mnt/a", holder);
      taken = locks.has_value();
    }
    ::_exit(taken ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_NE(WEXITSTATUS(status), 3) << "cannot install a seccomp filter";
  ASSERT_NE(WEXITSTATUS(status), 4) << "the filter does not make fstat fail";
  EXPECT_EQ(LockFiles(dir), 0u) << (WEXITSTATUS(status) == 0 ? "took and let go of the locks"
                                                             : "failed to take the locks")
                                << ", and left a file behind";
  std::filesystem::remove_all(dir);
}
#endif

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
