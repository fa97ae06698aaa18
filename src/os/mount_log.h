// MountLogFile: the log file of one `aoe mount` and of the daemon it becomes. Each line goes out
// with one write(2): no stdio buffer that fork() could duplicate, and lines of concurrent
// writers (two mounts given one --log FILE) do not interleave.
//
// A mount that fails before its daemon serves has said why on stderr already; it removes the
// log file only if the file is its own (RemoveIfOurs), so that it leaves nothing behind without
// ever taking a log from a mount that runs.
//
// Write and Open (SIGHUP reopens) may run on different threads; the rest is for the thread that
// set the mount up.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace aoe::os {

class MountLogFile {
 public:
  // `given`: the user named the file (--log FILE). Its directory must exist (a typo must not
  // leave directories behind) and the file is never removed. Otherwise it is the default log,
  // named after the disk, whose directory is created when missing.
  MountLogFile(std::string path, bool given) : path_(std::move(path)), given_(given) {}

  // Opens (creating if needed) for appending; again on SIGHUP, for logrotate.
  Result<void> Open();
  void Write(std::string_view line);

  // For a mount that failed before its daemon served: removes the file if it is this run's
  // own, and says whether it did. Its own means: the default log, created by this run's first
  // Open, and still the file at the path. A --log FILE is kept however it came to be: another
  // mount given the same FILE may have opened it since and write to it, which nothing here can
  // rule out. The default log's name is the disk's, whose lock (mount_lock.h) this run holds,
  // so no other mount of the disk writes to it. When false, the caller logs the failure into
  // the file, for whoever reads it later.
  bool RemoveIfOurs();

 private:
  const std::string path_;
  const bool given_;
  std::mutex mutex_;
  UniqueFd fd_;
  bool created_ = false;
};

}  // namespace aoe::os
