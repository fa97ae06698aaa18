// powercut_fs: the power-cut harness, a FUSE file system whose files lose every write that was
// not synced when the process is SIGKILLed (tests/powercut/README.md).
//
//   powercut_fs BACKING_DIR MOUNTPOINT [--log FILE]
//
// MOUNTPOINT shows the regular files of BACKING_DIR (one flat directory). Writes stay in this
// process's memory (VolatileFile) until the file is synced: fsync(), fdatasync(), or a write
// through an O_DSYNC/O_SYNC file description (the kernel passes those flags with each FUSE
// write). Then the file's data and size go to BACKING_DIR and are fdatasynced there.
//
// SIGKILL is the power cut: the kernel aborts the FUSE connection, every open descriptor of the
// mount fails from then on (the target cannot write anywhere after the cut), and BACKING_DIR
// holds exactly the synced state. Mounting BACKING_DIR again shows that state. SIGTERM, SIGINT
// and SIGHUP are a clean unmount, which syncs every file first, as a real file system does.
//
// Nothing can hide in the kernel's page cache: every open is direct_io (each read and write is
// a request to this process), the writeback cache is off and attributes are never cached.
// File names are not volatile: create and unlink reach BACKING_DIR at once.
//
// Single-threaded: one libfuse session loop answers every request in order.
#define FUSE_USE_VERSION 314
#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "powercut/volatile_file.h"

namespace aoe::powercut {
namespace {

struct Node {
  std::string name;
  VolatileFile file;
};

class PowercutFs {
 public:
  PowercutFs(std::string backing_dir, std::FILE* log)
      : backing_dir_(std::move(backing_dir)), log_(log) {}

  // The node for `name`, opened from the backing directory on first use; nullptr (and *err set)
  // if there is no such regular file.
  Node* Find(const std::string& name, int* err) {
    if (auto it = inodes_.find(name); it != inodes_.end()) return &nodes_.at(it->second);
    return Load(name, 0, err);
  }

  Node* Create(const std::string& name, mode_t mode, int* err) {
    if (auto it = inodes_.find(name); it != inodes_.end()) return &nodes_.at(it->second);
    return Load(name, O_CREAT | (mode & 07777), err);
  }

  Node* ByInode(fuse_ino_t ino) {
    auto it = nodes_.find(ino);
    return it == nodes_.end() ? nullptr : &it->second;
  }

  fuse_ino_t InodeOf(const Node& node) const { return inodes_.at(node.name); }

  int Unlink(const std::string& name) {
    if (::unlinkat(BackingDirFd(), name.c_str(), 0) != 0) return errno;
    // Descriptors still open keep the node (and its backing fd) by inode number.
    inodes_.erase(name);
    return 0;
  }

  // The regular files of the backing directory.
  std::vector<std::string> Names() {
    std::vector<std::string> names;
    DIR* dir = ::opendir(backing_dir_.c_str());
    if (dir == nullptr) return names;
    while (dirent* e = ::readdir(dir)) {
      struct stat st {};
      if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        names.emplace_back(e->d_name);
    }
    ::closedir(dir);
    return names;
  }

  struct stat Attr(fuse_ino_t ino) {
    struct stat st {};
    if (ino == FUSE_ROOT_ID) {
      ::stat(backing_dir_.c_str(), &st);
      st.st_ino = FUSE_ROOT_ID;
      return st;
    }
    Node& node = nodes_.at(ino);
    ::fstat(backing_fds_.at(ino), &st);
    st.st_ino = ino;
    st.st_size = static_cast<off_t>(node.file.size());
    st.st_blocks = static_cast<blkcnt_t>((node.file.size() + 511) / 512);
    return st;
  }

  int BackingFd(fuse_ino_t ino) const { return backing_fds_.at(ino); }

  // Syncs one file and logs why; returns 0 or an errno.
  int Sync(Node& node, const char* why) {
    const uint64_t dirty = node.file.dirty_bytes();
    auto synced = node.file.Sync();
    if (!synced) {
      Log("sync %s (%s) FAILED: %s", node.name.c_str(), why, synced.error().message().c_str());
      return synced.error().value();
    }
    Log("sync %s (%s): %llu dirty bytes made durable", node.name.c_str(), why,
        static_cast<unsigned long long>(dirty));
    return 0;
  }

  void SyncAll(const char* why) {
    for (auto& [ino, node] : nodes_) {
      if (node.file.unsynced()) Sync(node, why);
    }
  }

  void Log(const char* format, ...) __attribute__((format(printf, 2, 3))) {
    if (log_ == nullptr) return;
    va_list args;
    va_start(args, format);
    std::vfprintf(log_, format, args);
    va_end(args);
    std::fputc('\n', log_);
    std::fflush(log_);  // the log must hold everything up to a SIGKILL
  }

 private:
  int BackingDirFd() {
    if (dir_fd_ < 0) dir_fd_ = ::open(backing_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return dir_fd_;
  }

  Node* Load(const std::string& name, int create_flags, int* err) {
    if (name.empty() || name.find('/') != std::string::npos) {
      *err = ENOENT;
      return nullptr;
    }
    const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create_flags & O_CREAT);
    int fd = ::openat(BackingDirFd(), name.c_str(), flags, create_flags & 07777);
    if (fd < 0) {
      *err = errno == ELOOP ? ENOENT : errno;
      return nullptr;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      *err = ENOENT;
      return nullptr;
    }
    // VolatileFile owns one descriptor; attributes are read through a second one, so that the
    // durable data path stays inside VolatileFile.
    int attr_fd = ::dup(fd);
    auto file = VolatileFile::Open(UniqueFd(fd));
    if (!file || attr_fd < 0) {
      if (attr_fd >= 0) ::close(attr_fd);
      *err = file ? errno : file.error().value();
      return nullptr;
    }
    const fuse_ino_t ino = next_ino_++;
    inodes_[name] = ino;
    backing_fds_[ino] = attr_fd;
    return &nodes_.emplace(ino, Node{name, std::move(*file)}).first->second;
  }

  std::string backing_dir_;
  std::FILE* log_;
  int dir_fd_ = -1;
  fuse_ino_t next_ino_ = FUSE_ROOT_ID + 1;
  std::map<std::string, fuse_ino_t> inodes_;
  std::map<fuse_ino_t, Node> nodes_;
  std::map<fuse_ino_t, int> backing_fds_;  // for attributes; closed at exit
};

PowercutFs& Self(fuse_req_t req) { return *static_cast<PowercutFs*>(fuse_req_userdata(req)); }

// Attributes and names are never cached: sizes change behind the kernel's back after a cut.
constexpr double kNoCache = 0.0;

fuse_entry_param Entry(PowercutFs& fs, fuse_ino_t ino) {
  fuse_entry_param entry{};
  entry.ino = ino;
  entry.attr = fs.Attr(ino);
  entry.attr_timeout = kNoCache;
  entry.entry_timeout = kNoCache;
  return entry;
}

void Init(void*, fuse_conn_info* conn) {
  // Written data must reach this process at once, and never sit in the kernel.
  conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
                  FUSE_CAP_SPLICE_MOVE);
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  PowercutFs& fs = Self(req);
  int err = ENOENT;
  Node* node = parent == FUSE_ROOT_ID ? fs.Find(name, &err) : nullptr;
  if (node == nullptr) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_entry_param entry = Entry(fs, fs.InodeOf(*node));
  fuse_reply_entry(req, &entry);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  PowercutFs& fs = Self(req);
  if (ino != FUSE_ROOT_ID && fs.ByInode(ino) == nullptr) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct stat st = fs.Attr(ino);
  fuse_reply_attr(req, &st, kNoCache);
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  PowercutFs& fs = Self(req);
  Node* node = fs.ByInode(ino);
  if (node == nullptr) {
    fuse_reply_err(req, ino == FUSE_ROOT_ID ? EPERM : ENOENT);
    return;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (auto r = node->file.Resize(static_cast<uint64_t>(attr->st_size)); !r) {
      fuse_reply_err(req, r.error().value());
      return;
    }
  }
  // Metadata other than the size is not modelled as volatile: it goes to the backing file.
  if ((to_set & FUSE_SET_ATTR_MODE) && ::fchmod(fs.BackingFd(ino), attr->st_mode & 07777) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : static_cast<uid_t>(-1);
    gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : static_cast<gid_t>(-1);
    if (::fchown(fs.BackingFd(ino), uid, gid) != 0) {
      fuse_reply_err(req, errno);
      return;
    }
  }
  struct stat st = fs.Attr(ino);
  fuse_reply_attr(req, &st, kNoCache);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
  PowercutFs& fs = Self(req);
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  std::vector<std::pair<std::string, fuse_ino_t>> entries = {{".", FUSE_ROOT_ID},
                                                             {"..", FUSE_ROOT_ID}};
  for (const std::string& name : fs.Names()) {
    int err = 0;
    if (Node* node = fs.Find(name, &err)) entries.emplace_back(name, fs.InodeOf(*node));
  }
  std::vector<char> buffer(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(offset); i < entries.size(); ++i) {
    struct stat st {};
    st.st_ino = entries[i].second;
    st.st_mode = entries[i].second == FUSE_ROOT_ID ? S_IFDIR : S_IFREG;
    size_t n = fuse_add_direntry(req, buffer.data() + used, size - used, entries[i].first.c_str(),
                                 &st, static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buffer.data(), used);
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (Self(req).ByInode(ino) == nullptr) {
    fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
    return;
  }
  fi->direct_io = 1;  // no page cache: every read and write comes here
  fi->keep_cache = 0;
  fuse_reply_open(req, fi);
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  PowercutFs& fs = Self(req);
  int err = EACCES;
  Node* node = parent == FUSE_ROOT_ID ? fs.Create(name, mode, &err) : nullptr;
  if (node == nullptr) {
    fuse_reply_err(req, err);
    return;
  }
  if (fi->flags & O_TRUNC) (void)node->file.Resize(0);
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fuse_entry_param entry = Entry(fs, fs.InodeOf(*node));
  fuse_reply_create(req, &entry, fi);
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
  Node* node = Self(req).ByInode(ino);
  if (node == nullptr) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  std::vector<std::byte> buffer(size);
  auto n = node->file.Read(static_cast<uint64_t>(offset), buffer);
  if (!n) {
    fuse_reply_err(req, n.error().value());
    return;
  }
  fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.data()), *n);
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t offset,
           fuse_file_info* fi) {
  PowercutFs& fs = Self(req);
  Node* node = fs.ByInode(ino);
  if (node == nullptr) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  auto written =
      node->file.Write(static_cast<uint64_t>(offset),
                       std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
  if (!written) {
    fuse_reply_err(req, written.error().value());
    return;
  }
  // The kernel sends an O_DSYNC (or O_SYNC, which includes it) write of a direct_io file as a
  // plain WRITE carrying the flag, not as a WRITE followed by FSYNC: the write returns only
  // once it is durable, so it is synced here, before the reply.
  if ((fi->flags & O_DSYNC) != 0) {
    if (int err = fs.Sync(*node, "O_DSYNC write"); err != 0) {
      fuse_reply_err(req, err);
      return;
    }
  }
  fuse_reply_write(req, size);
}

void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fuse_reply_err(req, 0);  // close() is not a sync point
}

void Release(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void FSync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
  PowercutFs& fs = Self(req);
  Node* node = fs.ByInode(ino);
  if (node == nullptr) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  fuse_reply_err(req, fs.Sync(*node, datasync ? "fdatasync" : "fsync"));
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, parent == FUSE_ROOT_ID ? Self(req).Unlink(name) : ENOENT);
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st {};
  if (::statvfs(".", &st) != 0) {  // the backing directory (main changed into it)
    fuse_reply_err(req, errno);
    return;
  }
  fuse_reply_statfs(req, &st);
}

void Forget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }

int Usage() {
  std::fprintf(stderr, "usage: powercut_fs BACKING_DIR MOUNTPOINT [--log FILE]\n");
  return 2;
}

int Main(int argc, char** argv) {
  if (argc != 3 && argc != 5) return Usage();
  const std::string backing_dir = argv[1];
  const std::string mountpoint = argv[2];
  std::FILE* log = stderr;
  if (argc == 5) {
    if (std::strcmp(argv[3], "--log") != 0) return Usage();
    log = std::fopen(argv[4], "a");
    if (log == nullptr) {
      std::fprintf(stderr, "powercut_fs: cannot open %s: %s\n", argv[4], std::strerror(errno));
      return 1;
    }
  }
  struct stat st {};
  if (::stat(backing_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "powercut_fs: %s is not a directory\n", backing_dir.c_str());
    return 2;
  }
  // statfs answers for the backing directory's file system.
  if (::chdir(backing_dir.c_str()) != 0) return 1;

  static const fuse_lowlevel_ops kOps = [] {
    fuse_lowlevel_ops ops{};
    ops.init = Init;
    ops.lookup = Lookup;
    ops.forget = Forget;
    ops.getattr = GetAttr;
    ops.setattr = SetAttr;
    ops.readdir = ReadDir;
    ops.open = Open;
    ops.create = Create;
    ops.read = Read;
    ops.write = Write;
    ops.flush = Flush;
    ops.release = Release;
    ops.fsync = FSync;
    ops.unlink = Unlink;
    ops.statfs = StatFs;
    return ops;
  }();

  PowercutFs fs(backing_dir, log);
  // allow_other: the target may run as another user (aoe serve --user). default_permissions:
  // the kernel checks modes, as on any disk file system.
  std::string options = "fsname=powercut,subtype=powercut,default_permissions";
  if (::geteuid() == 0) options += ",allow_other";
  std::vector<std::string> argv_storage = {"powercut_fs", "-o", options};
  std::vector<char*> fuse_argv;
  for (std::string& a : argv_storage) fuse_argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), fuse_argv.data());
  fuse_session* session = fuse_session_new(&args, &kOps, sizeof kOps, &fs);
  fuse_opt_free_args(&args);
  if (session == nullptr) return 1;
  if (fuse_set_signal_handlers(session) != 0 ||
      fuse_session_mount(session, mountpoint.c_str()) != 0) {
    fuse_session_destroy(session);
    return 1;
  }
  fs.Log("mounted %s on %s (pid %d)", backing_dir.c_str(), mountpoint.c_str(), ::getpid());
  int rc = fuse_session_loop(session);
  // A clean stop (signal or umount): write everything back, as a real file system does.
  fs.SyncAll("clean unmount");
  fuse_remove_signal_handlers(session);
  fuse_session_unmount(session);
  fuse_session_destroy(session);
  fs.Log("unmounted %s", mountpoint.c_str());
  return rc < 0 ? 1 : 0;
}

}  // namespace
}  // namespace aoe::powercut

int main(int argc, char** argv) { return aoe::powercut::Main(argc, argv); }
