#define FUSE_USE_VERSION 314
#include "os/fuse_disk.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fuse_lowlevel.h>
#include <linux/falloc.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <system_error>
#include <vector>

namespace aoe::os {

namespace {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;
constexpr fuse_ino_t kFileIno = 2;
// The file's size never changes while mounted, so the kernel may cache names and attributes.
constexpr double kAttrTimeoutSeconds = 60.0;

// libfuse reports problems through a process-wide log hook with no user pointer, so these two
// globals are its context: while mounting, messages are captured for the one-line error; after
// that they go to the daemon's log. There is one FuseDisk per process.
std::string* g_fuse_message = nullptr;
Logger* g_fuse_log = nullptr;

void FuseLog(enum fuse_log_level level, const char* format, va_list args) {
  char line[512];
  std::vsnprintf(line, sizeof line, format, args);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty()) return;
  if (g_fuse_message != nullptr) *g_fuse_message = text;  // the last message is the most specific
  if (g_fuse_log != nullptr) {
    g_fuse_log->Log(level <= FUSE_LOG_ERR ? LogLevel::kError : LogLevel::kDebug, "libfuse", "{}",
                    text);
  }
}

FuseDisk* Self(fuse_req_t req) { return static_cast<FuseDisk*>(fuse_req_userdata(req)); }

int ErrnoFor(const Error& error) {
  if (error.code == std::errc::no_space_on_device) return ENOSPC;
  if (error.code == std::errc::read_only_file_system) return EROFS;
  return EIO;  // ATA errors, timeouts, a dead target: all are I/O errors to the application
}

}  // namespace

struct FuseDisk::Buffer {
  fuse_buf buf{};
  ~Buffer() { std::free(buf.mem); }
};

// The libfuse low-level callbacks. Each answers its request exactly once, possibly later from a
// ByteIo completion.
struct FuseDisk::Ops {
  static struct stat Attr(const FuseDisk& self, fuse_ino_t ino) {
    struct stat st {};
    st.st_ino = ino;
    st.st_uid = getuid();
    st.st_gid = getgid();
    st.st_mtim = st.st_ctim = st.st_atim = timespec{self.mount_time_, 0};
    if (ino == kRootIno) {
      st.st_mode = S_IFDIR | 0755;
      st.st_nlink = 2;
    } else {
      // No write bits on a read-only disk: what `ls -l` and access(W_OK) show an admin. Root
      // is not held back by them (default_permissions), hence the EROFS in Open and Write.
      st.st_mode = S_IFREG | (self.io_.read_only() ? 0400 : 0600);
      st.st_nlink = 1;
      st.st_size = static_cast<off_t>(self.io_.size_bytes());
      st.st_blocks = static_cast<blkcnt_t>(self.io_.size_bytes() / 512);
      // Tools size their buffers by this (cmp, cat): each read is a round trip, so ask for big
      // ones.
      st.st_blksize = 128 * 1024;
    }
    return st;
  }

  static void Init(void* userdata, fuse_conn_info* conn) {
    auto& self = *static_cast<FuseDisk*>(userdata);
    conn->max_write = self.options_.max_io_bytes;
    conn->max_read = self.options_.max_io_bytes;  // must match the max_read mount option
    // Let the kernel keep several direct I/O requests of one file in flight at once.
    if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
    // O_TRUNC arrives as an open flag (ignored, as block devices ignore it) rather than as a
    // truncate, so `dd of=MOUNT/e0.1` works without conv=notrunc.
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                    FUSE_CAP_WRITEBACK_CACHE);
    conn->max_background = 64;
    conn->congestion_threshold = 48;
  }

  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    FuseDisk& self = *Self(req);
    if (parent != kRootIno || self.options_.file_name != name) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    fuse_entry_param entry{};
    entry.ino = kFileIno;
    entry.attr = Attr(self, kFileIno);
    entry.attr_timeout = kAttrTimeoutSeconds;
    entry.entry_timeout = kAttrTimeoutSeconds;
    fuse_reply_entry(req, &entry);
  }

  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    if (ino != kRootIno && ino != kFileIno) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    struct stat st = Attr(*Self(req), ino);
    fuse_reply_attr(req, &st, kAttrTimeoutSeconds);
  }

  // The disk has a fixed size and no owner or mode of its own: changing the size fails as on a
  // block device; times are accepted and forgotten so that `touch` and `cp -p` do not fail.
  static void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                      fuse_file_info*) {
    FuseDisk& self = *Self(req);
    if (ino != kFileIno && ino != kRootIno) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    if ((to_set & FUSE_SET_ATTR_SIZE) != 0 &&
        static_cast<uint64_t>(attr->st_size) != self.io_.size_bytes()) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    if ((to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) != 0) {
      fuse_reply_err(req, EPERM);
      return;
    }
    struct stat st = Attr(self, ino);
    fuse_reply_attr(req, &st, kAttrTimeoutSeconds);
  }

  static void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
    FuseDisk& self = *Self(req);
    if (ino != kRootIno) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
    struct Entry {
      const char* name;
      fuse_ino_t ino;
      mode_t mode;
    };
    const Entry entries[] = {{".", kRootIno, S_IFDIR},
                             {"..", kRootIno, S_IFDIR},
                             {self.options_.file_name.c_str(), kFileIno, S_IFREG}};
    std::vector<char> out(size);
    size_t used = 0;
    for (off_t i = offset; i < static_cast<off_t>(std::size(entries)); ++i) {
      struct stat st {};
      st.st_ino = entries[i].ino;
      st.st_mode = entries[i].mode;
      size_t need =
          fuse_add_direntry(req, out.data() + used, size - used, entries[i].name, &st, i + 1);
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, out.data(), used);
  }

  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (ino != kFileIno) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    // The mount is read-only too (the kernel answers first), but a request that gets here
    // anyway gets the same answer. losetup takes EROFS as its cue to attach read-only.
    if (Self(req)->io_.read_only() && (fi->flags & O_ACCMODE) != O_RDONLY) {
      fuse_reply_err(req, EROFS);
      return;
    }
    fi->direct_io = 1;  // no page cache: see the header
    fi->keep_cache = 0;
    // Counted once the kernel has it: a failed reply (the opener was interrupted) gets no
    // RELEASE. (The reply frees req: Self before it.)
    FuseDisk& self = *Self(req);
    if (fuse_reply_open(req, fi) == 0) ++self.open_files_;
  }

  static void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info*) {
    FuseDisk& self = *Self(req);
    self.io_.Read(static_cast<uint64_t>(offset), size,
                  [&self, req, offset](Outcome<void> status, ConstByteSpan data) {
                    if (!status) {
                      self.log_.Error(self.options_.file_name, "read at byte {} failed: {}", offset,
                                      status.error().message);
                      fuse_reply_err(req, ErrnoFor(status.error()));
                      return;
                    }
                    fuse_reply_buf(req, reinterpret_cast<const char*>(data.data()), data.size());
                  });
  }

  static void Write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t offset,
                    fuse_file_info*) {
    FuseDisk& self = *Self(req);
    if (self.io_.read_only()) {
      fuse_reply_err(req, EROFS);  // not an error of the disk's: not logged
      return;
    }
    // ByteIo copies the bytes: libfuse reuses `buf` for the next request.
    self.io_.Write(static_cast<uint64_t>(offset),
                   ConstByteSpan(reinterpret_cast<const std::byte*>(buf), size),
                   [&self, req, offset](Outcome<size_t> written) {
                     if (!written) {
                       self.log_.Error(self.options_.file_name, "write at byte {} failed: {}",
                                       offset, written.error().message);
                       fuse_reply_err(req, ErrnoFor(written.error()));
                       return;
                     }
                     fuse_reply_write(req, *written);
                   });
  }

  static void FlushDisk(FuseDisk& self, fuse_req_t req, const char* why) {
    self.io_.Flush([&self, req, why](Outcome<void> status) {
      if (!status) {
        // The message says what failed: the FLUSH ("flushing e0.1: ..."), or the check after
        // it ("the flush was answered, but the target may have lost ...").
        self.log_.Error(self.options_.file_name, "{}: {}", why, status.error().message);
        fuse_reply_err(req, EIO);
        return;
      }
      self.log_.Debug(self.options_.file_name, "{}: flushed the target's write cache", why);
      fuse_reply_err(req, 0);
    });
  }

  static void FSync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
    FlushDisk(*Self(req), req, "fsync");
  }

  // close(): flush only if something was written since the last flush, so that readers do not
  // pay a round trip per close.
  static void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    FuseDisk& self = *Self(req);
    if (!self.io_.dirty()) {
      fuse_reply_err(req, 0);
      return;
    }
    FlushDisk(self, req, "close");
  }

  // fallocate(2): PUNCH_HOLE (with KEEP_SIZE, as the call requires) and ZERO_RANGE become a TRIM
  // of the sectors inside and zeroes at the edges, where the disk reads trimmed sectors as
  // zeroes; EOPNOTSUPP elsewhere (the loop driver then stops discarding). Preallocation
  // (mode 0) inside the disk has nothing to do: every sector exists. A read-only disk refuses
  // every mode with EROFS, as a read-only file system does.
  static void Fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                        fuse_file_info*) {
    FuseDisk& self = *Self(req);
    if (self.io_.read_only()) {
      fuse_reply_err(req, EROFS);
      return;
    }
    const uint64_t end = static_cast<uint64_t>(offset) + static_cast<uint64_t>(length);
    const int discard = mode & ~FALLOC_FL_KEEP_SIZE;
    if (mode == 0) {
      fuse_reply_err(req, end <= self.io_.size_bytes() ? 0 : ENOSPC);
      return;
    }
    if (discard != FALLOC_FL_PUNCH_HOLE && discard != FALLOC_FL_ZERO_RANGE) {
      fuse_reply_err(req, EOPNOTSUPP);
      return;
    }
    self.io_.Discard(static_cast<uint64_t>(offset), static_cast<uint64_t>(length),
                     [&self, req, offset](Outcome<void> status) {
                       if (!status) {
                         if (status.error().code == std::errc::operation_not_supported) {
                           fuse_reply_err(req, EOPNOTSUPP);
                           return;
                         }
                         self.log_.Error(self.options_.file_name, "discard at byte {} failed: {}",
                                         offset, status.error().message);
                         fuse_reply_err(req, ErrnoFor(status.error()));
                         return;
                       }
                       fuse_reply_err(req, 0);
                     });
  }

  static void Release(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    FuseDisk& self = *Self(req);
    if (self.open_files_ > 0) --self.open_files_;
    fuse_reply_err(req, 0);
  }

  static void StatFs(fuse_req_t req, fuse_ino_t) {
    FuseDisk& self = *Self(req);
    struct statvfs st {};
    st.f_bsize = 512;
    st.f_frsize = 512;
    st.f_blocks = self.io_.size_bytes() / 512;
    st.f_files = 2;
    st.f_namemax = 255;
    fuse_reply_statfs(req, &st);
  }
};

FuseDisk::FuseDisk(FuseDiskOptions options, ByteIo& io, Logger& log)
    : options_(std::move(options)),
      io_(io),
      log_(log),
      mount_time_(std::time(nullptr)),
      buffer_(std::make_unique<Buffer>()) {}

FuseDisk::~FuseDisk() {
  if (session_ != nullptr) {
    // Also after an unmount from outside (umount, `aoe umount`): libfuse frees its copy of
    // the mount point only here, and skips the umount when /dev/fuse reports the connection
    // gone, so nothing else mounted there since can be touched.
    if (mounted_) fuse_session_unmount(session_);
    fuse_session_destroy(session_);
  }
  if (g_fuse_log == &log_) g_fuse_log = nullptr;
}

Outcome<std::unique_ptr<FuseDisk>> FuseDisk::Mount(const FuseDiskOptions& options, ByteIo& io,
                                                   Logger& log) {
  std::unique_ptr<FuseDisk> disk(new FuseDisk(options, io, log));

  static const fuse_lowlevel_ops kOps = [] {
    fuse_lowlevel_ops ops{};
    ops.init = Ops::Init;
    ops.lookup = Ops::Lookup;
    ops.getattr = Ops::GetAttr;
    ops.setattr = Ops::SetAttr;
    ops.readdir = Ops::ReadDir;
    ops.open = Ops::Open;
    ops.read = Ops::Read;
    ops.write = Ops::Write;
    ops.flush = Ops::Flush;
    ops.fsync = Ops::FSync;
    ops.release = Ops::Release;
    ops.fallocate = Ops::Fallocate;
    ops.statfs = Ops::StatFs;
    return ops;
  }();

  // allow_other + default_permissions: any local user may use the file as its mode (0600,
  // owned by whoever mounted) allows, as with a block device node. subtype makes the mount
  // type "fuse.aoe", which is how `aoe umount` recognises our mounts.
  std::string mount_options = fmt::format("fsname={},subtype=aoe,default_permissions,max_read={}",
                                          options.source, options.max_io_bytes);
  if (geteuid() == 0) mount_options += ",allow_other";
  // A read-only disk is a read-only mount: findmnt shows it, and the kernel refuses opens for
  // writing, also root's, before they reach us.
  if (io.read_only()) mount_options += ",ro";
  std::vector<std::string> argv_storage = {"aoe", "-o", mount_options};
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  std::string fuse_message;
  g_fuse_message = &fuse_message;
  g_fuse_log = &log;
  fuse_set_log_func(FuseLog);
  auto finish_capture = [&] { g_fuse_message = nullptr; };
  disk->session_ = fuse_session_new(&args, &kOps, sizeof kOps, disk.get());
  fuse_opt_free_args(&args);  // parsing replaced our argv with one libfuse allocated
  if (disk->session_ == nullptr) {
    finish_capture();
    return Error(std::make_error_code(std::errc::invalid_argument),
                 fmt::format("cannot create the FUSE session: {}",
                             fuse_message.empty() ? "libfuse refused the options" : fuse_message));
  }
  if (fuse_session_mount(disk->session_, options.mountpoint.c_str()) != 0) {
    finish_capture();
    return Error(std::make_error_code(std::errc::io_error),
                 fmt::format("cannot mount FUSE on {}: {}", options.mountpoint,
                             fuse_message.empty() ? "unknown error" : fuse_message));
  }
  finish_capture();
  disk->mounted_ = true;
  // Non-blocking, so that OnReadable can drain everything queued and stop at EAGAIN.
  int fd = fuse_session_fd(disk->session_);
  if (int flags = fcntl(fd, F_GETFL); flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    std::error_code ec(errno, std::system_category());
    disk->DetachLazily();
    return Error(ec, "cannot make /dev/fuse non-blocking: " + ec.message());
  }
  return disk;
}

int FuseDisk::fd() const { return fuse_session_fd(session_); }

bool FuseDisk::exited() const { return exited_ || fuse_session_exited(session_) != 0; }

void FuseDisk::OnReadable() {
  // Bounded, so that a busy kernel queue cannot starve the network ports in the same loop.
  for (int i = 0; i < 64 && !exited(); ++i) {
    int n = fuse_session_receive_buf(session_, &buffer_->buf);
    if (n == -EAGAIN || n == -EINTR) return;
    if (n <= 0) {
      // 0: the session ended (ENODEV: unmounted); < 0: /dev/fuse failed.
      if (n < 0) log_.Error(options_.file_name, "reading /dev/fuse failed: {}", std::strerror(-n));
      exited_ = true;
      return;
    }
    ++requests_;
    fuse_session_process_buf(session_, &buffer_->buf);
  }
}

void FuseDisk::Disconnect() {
  if (session_ == nullptr || exited_) return;
  // Putting /dev/null in place of our /dev/fuse descriptor closes the device, and the kernel
  // aborts the connection once its last descriptor is gone (the daemon holds the only one).
  // The number stays valid for libfuse, which closes it in fuse_session_destroy. Not
  // fuse_session_unmount: it would detach whatever is mounted at the mount point by now.
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    (void)::dup3(null_fd, fd(), O_CLOEXEC);
    ::close(null_fd);
  }
  mounted_ = false;
  exited_ = true;
}

void FuseDisk::DetachLazily() {
  if (!mounted_) return;
  mounted_ = false;
  // Closes /dev/fuse and detaches (umount2 MNT_DETACH as root, fusermount3 -u -z otherwise).
  fuse_session_unmount(session_);
  exited_ = true;
}

}  // namespace aoe::os
