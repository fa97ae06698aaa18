#include "cli/cp_local_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace aoe::cli {
namespace {

// The new file of a download in progress, for the signal handler to remove: a SIGINT (^C) must
// not leave a hidden partial copy beside the destination. One at a time (cp has one).
char g_new_path[PATH_MAX];
volatile sig_atomic_t g_new_path_set = 0;
constexpr std::array kRemovalSignals{SIGINT, SIGTERM, SIGHUP};
// What each of kRemovalSignals did before: put back when the new file is gone or in place.
std::array<struct sigaction, kRemovalSignals.size()> g_previous{};

void RemoveNewFileAndDie(int signal_number) {
  if (g_new_path_set != 0) ::unlink(g_new_path);  // async-signal-safe
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

void ArmRemovalOnSignal(const std::string& path) {
  if (path.size() >= sizeof g_new_path) return;  // mkostemp's name fit PATH_MAX already
  std::memcpy(g_new_path, path.c_str(), path.size() + 1);
  g_new_path_set = 1;
  struct sigaction removal {};
  removal.sa_handler = RemoveNewFileAndDie;
  sigemptyset(&removal.sa_mask);
  for (size_t i = 0; i < kRemovalSignals.size(); ++i) {
    ::sigaction(kRemovalSignals[i], nullptr, &g_previous[i]);
    // An ignored signal stays ignored (nohup, a shell's background job): it ends nothing.
    if (g_previous[i].sa_handler != SIG_IGN) ::sigaction(kRemovalSignals[i], &removal, nullptr);
  }
}

void DisarmRemovalOnSignal() {
  g_new_path_set = 0;
  for (size_t i = 0; i < kRemovalSignals.size(); ++i) {
    ::sigaction(kRemovalSignals[i], &g_previous[i], nullptr);
  }
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseNameOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The start of the name of a download's new file beside `base`: .BASE.aoe-cp- and mkostemp's
// six letters and digits.
std::string NewFilePrefix(const std::string& base) { return fmt::format(".{}.aoe-cp-", base); }

// The partial copies in `directory` that earlier downloads to `base` left behind when they were
// killed outright: .BASE.aoe-cp-XXXXXX files that no cp holds locked. Each is removed while
// locked, so a cp starting meanwhile cannot be writing it (its own name is new). Returns their
// paths. Errors are not reported: a leftover that stays is what there was before.
std::vector<std::string> RemoveLeftovers(const std::string& directory, const std::string& base) {
  std::vector<std::string> removed;
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return removed;
  const std::string prefix = NewFilePrefix(base);
  while (const struct dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    // mkostemp's six characters are letters and digits.
    if (!name.starts_with(prefix) || name.size() != prefix.size() + 6 ||
        !std::all_of(name.begin() + static_cast<ptrdiff_t>(prefix.size()), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; })) {
      continue;
    }
    const std::string path = fmt::format("{}/{}", directory, name);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // a cp is writing it
    if (::unlink(path.c_str()) == 0) removed.push_back(path);
  }
  ::closedir(dir);
  return removed;
}

}  // namespace

std::string Errno(std::string_view what, const std::string& path) {
  return fmt::format("{} {}: {}", what, path, std::strerror(errno));
}

LocalFile::LocalFile(LocalFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::move(other.fd_)),
      regular_(other.regular_),
      block_device_(other.block_device_),
      size_bytes_(other.size_bytes_),
      created_(other.created_),
      replaces_(other.replaces_),
      new_path_(std::exchange(other.new_path_, {})),
      final_path_(std::move(other.final_path_)),
      removed_leftovers_(std::move(other.removed_leftovers_)) {}

LocalFile::~LocalFile() {
  if (!new_path_.empty()) Discard(/*wrote_nothing=*/false);
}

namespace {

// A pipe or socket: cp reads and writes at offsets, which neither takes ('-' is refused alike).
std::optional<std::string> PipeProblem(const std::string& path, const struct stat& st,
                                       std::string_view instead) {
  if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) return std::nullopt;
  return fmt::format("{} is a {}, which cannot take cp's {} at offsets; give a file name", path,
                     S_ISFIFO(st.st_mode) ? "FIFO (a named pipe)" : "socket", instead);
}

}  // namespace

std::optional<std::string> LocalFile::SourceProblem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;  // OpenSource says why
  return PipeProblem(path, st, "reads");
}

ParseResult<LocalFile> LocalFile::OpenSource(const std::string& path) {
  LocalFile l;
  l.path_ = path;
  // O_NONBLOCK: a FIFO put in place of the file since SourceProblem must not make the open wait
  // for a writer; fstat below refuses it. Cleared again for the reads.
  l.fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!l.fd_) return ParseError{Errno("cannot open", path)};
  if (::fcntl(l.fd_.get(), F_SETFL, 0) != 0) return ParseError{Errno("cannot open", path)};
  struct stat st {};
  if (fstat(l.fd_.get(), &st) != 0) return ParseError{Errno("cannot stat", path)};
  if (S_ISREG(st.st_mode)) {
    l.regular_ = true;
    l.size_bytes_ = static_cast<uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    l.block_device_ = true;
    if (ioctl(l.fd_.get(), BLKGETSIZE64, &l.size_bytes_) != 0) {
      return ParseError{Errno("cannot read the size of", path)};
    }
  } else {
    return ParseError{
        fmt::format("{} is not a regular file or block device; cp needs to know "
                    "its size, so copy it to a file first",
                    path)};
  }
  return l;
}

std::optional<std::string> LocalFile::DestinationProblem(const std::string& path) {
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) {
    return fmt::format("{} is a directory; give the file name to write", path);
  }
  if (exists) {
    if (std::optional<std::string> pipe = PipeProblem(path, st, "writes")) return pipe;
  }
  struct stat link {};
  if (!exists && ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    return fmt::format(
        "{} is a symbolic link to a file that does not exist; give the file name to write", path);
  }
  struct stat dir {};
  if (const std::string directory = DirectoryOf(path);
      !exists && (::stat(directory.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode))) {
    return fmt::format("the directory of {} does not exist; create it first (mkdir -p {})", path,
                       directory);
  }
  return std::nullopt;
}

ParseResult<LocalFile> LocalFile::OpenDestination(const std::string& path, bool whole_new_file,
                                                  bool read_back) {
  if (std::optional<std::string> problem = DestinationProblem(path)) return ParseError{*problem};
  LocalFile l;
  l.path_ = path;
  l.final_path_ = path;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  l.regular_ = !exists || S_ISREG(st.st_mode);
  if (l.regular_ && whole_new_file && exists) {
    // The copy replaces the file: only one this user may write (as writing into it would need),
    // and only its only name (other hard links would keep the old bytes).
    if (::access(path.c_str(), W_OK) != 0) return ParseError{Errno("cannot write", path)};
    if (st.st_nlink > 1) {
      return ParseError{
          fmt::format("{} has {} names (hard links), and cp would replace only this one; give "
                      "--seek-sectors 0 to write into the file in place",
                      path, st.st_nlink)};
    }
  }
  if (l.regular_ && whole_new_file) {
    // The new file goes where the old one is: beside the file a symbolic link points to.
    if (exists) {
      char resolved[PATH_MAX];
      if (::realpath(path.c_str(), resolved) == nullptr) {
        return ParseError{Errno("cannot resolve", path)};
      }
      l.final_path_ = resolved;
    }
    const std::string directory = DirectoryOf(l.final_path_);
    const std::string base = BaseNameOf(l.final_path_);
    l.removed_leftovers_ = RemoveLeftovers(directory, base);
    std::string name;
    for (int attempt = 0; attempt < 3; ++attempt) {
      name = fmt::format("{}/{}XXXXXX", directory, NewFilePrefix(base));
      l.fd_ = UniqueFd(::mkostemp(name.data(), O_CLOEXEC));
      if (!l.fd_) break;
      // The lock is held until cp exits, however it exits: the mark of a new file still being
      // written. Another cp's RemoveLeftovers may have taken the file between its creation and
      // the lock (and removed it): then make another. A file system without flock (ENOLCK,
      // EOPNOTSUPP) keeps its leftovers, as RemoveLeftovers cannot lock them either.
      const bool taken = ::flock(l.fd_.get(), LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
      struct stat created {};
      if (!taken && fstat(l.fd_.get(), &created) == 0 && created.st_nlink > 0) break;
      l.fd_ = UniqueFd();
      errno = EEXIST;
    }
    if (!l.fd_) {
      const int err = errno;
      // Writing in place needs the file, and a file system that takes writes.
      const bool in_place_helps = exists && err != EROFS;
      return ParseError{fmt::format(
          "cannot create a new file beside {} ({}); cp writes the copy there and renames it "
          "over {} once complete{}",
          l.final_path_, std::strerror(err), path,
          err == EROFS ? ""
          : in_place_helps
              ? ". Make the directory writable, or give --seek-sectors 0 to write into the "
                "file in place"
              : ". Make the directory writable")};
    }
    l.replaces_ = exists;
    l.new_path_ = name;
    ArmRemovalOnSignal(l.new_path_);
    // The copy takes the old file's place: its permissions and (where we may) owner, or those a
    // file created here would get.
    // No set-user or set-group ID: a disk image has no use for them, and the new file may
    // belong to whoever runs cp.
    mode_t mode = 0;
    if (exists) {
      mode = st.st_mode & 0777;
      if (::fchown(l.fd_.get(), st.st_uid, st.st_gid) != 0 &&
          ::fchown(l.fd_.get(), static_cast<uid_t>(-1), st.st_gid) != 0) {
        // Not root, nor in its group: the copy is ours, as a file made by a plain cp would be.
      }
    } else {
      const mode_t mask = ::umask(0);
      ::umask(mask);
      mode = 0666 & ~mask;
    }
    if (::fchmod(l.fd_.get(), mode) != 0) return ParseError{Errno("cannot set the mode of", name)};
    return l;
  }
  // In place: a block device, or --seek-sectors. O_EXCL first: `created` must mean that this
  // call made the file (one made meanwhile by someone else is not ours to remove).
  const int access = read_back ? O_RDWR : O_WRONLY;
  l.fd_ = UniqueFd(::open(path.c_str(), access | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  l.created_ = l.fd_.valid();
  if (!l.fd_ && errno == EEXIST) {
    l.fd_ = UniqueFd(::open(path.c_str(), access | O_CREAT | O_CLOEXEC, 0666));
  }
  if (!l.fd_) return ParseError{Errno("cannot open", path)};
  if (!l.regular_ && fstat(l.fd_.get(), &st) == 0 && S_ISBLK(st.st_mode)) {
    l.block_device_ = true;
    if (ioctl(l.fd_.get(), BLKGETSIZE64, &l.size_bytes_) != 0) {
      return ParseError{Errno("cannot read the size of", path)};
    }
  }
  return l;
}

std::optional<std::string> LocalFile::Finish(uint64_t end_bytes) {
  std::optional<std::string> error;
  struct stat st {};
  if (regular_ && fstat(fd_.get(), &st) == 0 && static_cast<uint64_t>(st.st_size) < end_bytes &&
      ::ftruncate(fd_.get(), static_cast<off_t>(end_bytes)) != 0) {
    error = Errno("cannot set the size of", path_);
  } else if (::fsync(fd_.get()) != 0 && errno != EINVAL) {
    error = Errno("cannot fsync", path_);
  }
  if (error) Discard(/*wrote_nothing=*/false);
  return error;
}

std::string LocalFile::WriteFailure(int err) const {
  std::string message = fmt::format("cannot write {}: {}", path_, std::strerror(err));
  if ((err == ENOSPC || err == EDQUOT) && replaces_) {
    message += fmt::format(
        "; the copy is written beside {} and takes its place once complete, so both need room "
        "until then: free some, or give --seek-sectors 0 to write into the file in place",
        final_path_);
  }
  return message;
}

std::optional<std::string> LocalFile::Commit() {
  if (new_path_.empty()) return std::nullopt;  // written in place
  if (::rename(new_path_.c_str(), final_path_.c_str()) != 0) {
    std::string error = fmt::format(
        "cannot put the copy in place of {}: {}; the old file is unchanged (give "
        "--seek-sectors 0 to write into it in place)",
        path_, std::strerror(errno));
    Discard(/*wrote_nothing=*/false);
    return error;
  }
  DisarmRemovalOnSignal();
  new_path_.clear();
  // The rename is durable once the directory is.
  const std::string directory = DirectoryOf(final_path_);
  UniqueFd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir || (::fsync(dir.get()) != 0 && errno != EINVAL)) {
    return fmt::format("the copy is in place as {}, but its directory {} cannot be synced: {}",
                       path_, directory, std::strerror(errno));
  }
  return std::nullopt;
}

void LocalFile::Discard(bool wrote_nothing) {
  if (!new_path_.empty()) {
    ::unlink(new_path_.c_str());
    DisarmRemovalOnSignal();
    new_path_.clear();
  } else if (created_ && wrote_nothing) {
    ::unlink(path_.c_str());
    created_ = false;
  }
}

std::optional<uint64_t> LocalFile::ShrunkTo() const {
  struct stat st {};
  if (!regular_ || fstat(fd_.get(), &st) != 0) return std::nullopt;
  const auto now = static_cast<uint64_t>(st.st_size);
  if (now >= size_bytes_) return std::nullopt;
  return now;
}

bool PwriteAll(int fd, const std::byte* data, size_t length, uint64_t offset) {
  while (length > 0) {
    ssize_t n = ::pwrite(fd, data, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

bool PreadPadded(int fd, std::byte* data, size_t length, uint64_t offset) {
  size_t got = 0;
  while (got < length) {
    ssize_t n = ::pread(fd, data + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  std::memset(data + got, 0, length - got);
  return true;
}

}  // namespace aoe::cli
