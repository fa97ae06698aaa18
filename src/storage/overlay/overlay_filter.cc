#include "storage/overlay/overlay_filter.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <utility>

#include "storage/file_backend.h"
#include "storage/overlay/overlay_error.h"

namespace aoe::overlay {
namespace {

constexpr std::string_view kVersionsFile = "versions.json";

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Opens the overlay directory, made with its missing parents first (as `mkdir -p` would; the
// documented /var/lib/aoekit/overlays/e0.1 has two levels a fresh install lacks). The directory
// itself is 0700 (it holds the clients' data); parents are 0755, so that a daemon which drops to
// another user (serve's `user`, which gets only the overlay directory) can still reach it.
Result<UniqueFd> OpenDirectory(const std::string& given) {
  std::string path = given;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  // chmod after mkdir: the modes must not depend on the umask (UMask=0077 would make the
  // parents 0700 again).
  auto make = [](const std::string& dir, mode_t mode) -> bool {
    if (::mkdir(dir.c_str(), mode) == 0) return ::chmod(dir.c_str(), mode) == 0;
    return errno == EEXIST;
  };
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (!make(path.substr(0, slash), 0755)) return Errno();
  }
  if (!make(path, 0700)) return Errno();
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Errno();
  return fd;
}

uint64_t AllocatedBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Writes `text` to `path` durably, blocking: only while opening an export, never while serving.
Result<void> WriteFileNow(const std::string& dir, int dir_fd, std::string_view name,
                          const std::string& text) {
  const std::string tmp = fmt::format("{}/{}.tmp", dir, name);
  const std::string path = fmt::format("{}/{}", dir, name);
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return Errno();
    size_t written = 0;
    while (written < text.size()) {
      ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno();
      written += static_cast<size_t>(n);
    }
    if (::fdatasync(fd.get()) != 0) return Errno();
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno();
  if (::fsync(dir_fd) != 0) return Errno();
  return {};
}

// A one-shot completion that runs a function (management paths only: it allocates).
class FunctionCallback final : public IoCallback {
 public:
  explicit FunctionCallback(std::function<void(int64_t)> f) : f_(std::move(f)) {}
  void IoDone(int64_t result) override {
    auto f = std::move(f_);
    delete this;
    f(result);
  }

 private:
  std::function<void(int64_t)> f_;
};

Result<void> ResultOf(int64_t result) {
  if (result < 0) return Errno(static_cast<int>(-result));
  return {};
}

}  // namespace

std::string_view LifetimeName(Lifetime lifetime) {
  switch (lifetime) {
    case Lifetime::kPersist:
      return "persist";
    case Lifetime::kDiscardOnBoot:
      return "discard-on-boot";
  }
  return "?";
}

std::optional<Lifetime> ParseLifetime(std::string_view text) {
  for (Lifetime l : {Lifetime::kPersist, Lifetime::kDiscardOnBoot}) {
    if (text == LifetimeName(l)) return l;
  }
  return std::nullopt;
}

Lifetime OverlaySettings::For(const MacAddress& mac) const {
  auto it = client_lifetimes.find(mac);
  return it != client_lifetimes.end() ? it->second : lifetime;
}

// ---------------------------------------------------------------------------------------------
// Opening

OverlayFilter::OverlayFilter(std::unique_ptr<BlockBackend> base, OverlaySettings settings,
                             IoEngine& engine)
    : base_(std::move(base)),
      settings_(std::move(settings)),
      engine_(engine),
      registry_(base_->size_bytes()) {}

OverlayFilter::~OverlayFilter() {
  // The server's requests are all done before it destroys an export, but the filter's own may
  // not be: holes punched after the last flush, a commit, a versions.json write, the directory
  // fsync of a reset (whose completion goes on to collect versions: an export removed right
  // after `overlay.reset`). Let them end while every member is still alive (a commit cut short
  // leaves only a *.tmp file behind, which the next start removes).
  if (busy()) engine_.Drain();
}

bool OverlayFilter::busy() const {
  bool busy =
      commit_running_ || own_requests_ > 0 || (versions_writer_ && versions_writer_->busy());
  for (const auto& [mac, client] : clients_) busy = busy || !client->idle();
  for (const auto& client : retired_) busy = busy || !client->idle();
  return busy;
}

bool OverlayFilter::AbandonCommit() { return commit_running_ && commit_ && commit_->Cancel(); }

Expected<std::unique_ptr<OverlayFilter>, OpenError> OverlayFilter::Open(
    std::unique_ptr<BlockBackend> base, const OverlaySettings& settings, IoEngine& engine,
    std::vector<std::string>& warnings) {
  std::unique_ptr<OverlayFilter> filter(new OverlayFilter(std::move(base), settings, engine));
  if (auto loaded = filter->Load(warnings); !loaded) return loaded.error();
  return filter;
}

namespace {

Result<std::string> ReadAll(int fd) {
  std::string text;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n == 0) return text;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno();
    text.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

bool OverlayFilter::LoadWouldTouch(const std::string& name) {
  if (VersionRegistry::IsVersionFileName(name)) return true;  // vN.img and vN.img.tmp
  for (std::string_view suffix : {".map", ".data"}) {
    if (name.ends_with(suffix) && ParseClientName(name.substr(0, name.size() - suffix.size()))) {
      return true;
    }
  }
  return false;
}

Expected<void, OpenError> OverlayFilter::Load(std::vector<std::string>& warnings) {
  const std::string& dir = settings_.dir;
  auto dir_fd = OpenDirectory(dir);
  if (!dir_fd) return Unexpected{dir_fd.error()};
  dir_fd_ = std::move(*dir_fd);
  // One owner per directory: two targets writing the same overlays would corrupt them. The
  // directory itself is locked, since a lock file can be removed by hand (or by a cleanup
  // script) while its owner runs, and a second target would then make and lock a new one. The
  // lock file (below) stays for aoe serve versions that lock only it, and for file systems
  // that cannot lock a directory (NFS emulates flock with POSIX locks, which need a writable
  // file): there only the lock file guards, and the start says so.
  if (::flock(dir_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return OverlayError(OverlayErrc::kDirectoryInUse);
    warnings.push_back(
        fmt::format("{}: cannot lock the directory itself ({}); only {}/lock keeps "
                    "a second aoe serve out",
                    dir, std::strerror(errno), dir));
  }

  // Without versions.json the directory must hold nothing this start would remove or set aside:
  // no version file and no client overlay. One that does has lost its versions.json (or holds
  // another program's files by those names); starting afresh there would throw away committed
  // versions and every overlay. Checked before the lock file is made, to touch nothing; an
  // unreadable versions.json or directory is an error, never a new directory.
  const std::string versions_path = fmt::format("{}/{}", dir, kVersionsFile);
  UniqueFd versions_fd(
      ::openat(dir_fd_.get(), std::string(kVersionsFile).c_str(), O_RDONLY | O_CLOEXEC));
  if (!versions_fd) {
    if (errno != ENOENT) return OpenError(Errno().error, versions_path);
    auto entries = ReadDirectoryEntries(dir);
    if (!entries) return Unexpected{entries.error()};
    for (const std::string& name : *entries) {
      if (LoadWouldTouch(name)) return OverlayError(OverlayErrc::kNoVersionsFile);
    }
  }

  lock_fd_ = UniqueFd(::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_fd_) return OpenError(Errno().error, dir + "/lock");
  if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return OverlayError(OverlayErrc::kDirectoryInUse);
    return Errno();
  }

  if (versions_fd) {
    auto text = ReadAll(versions_fd.get());
    if (!text) return OpenError(text.error(), versions_path);
    auto parsed = VersionRegistry::Parse(*text);
    if (!parsed) return Unexpected{parsed.error()};
    registry_ = std::move(*parsed);
    if (registry_.size_bytes() != base_->size_bytes()) {
      return OverlayError(OverlayErrc::kBaseSizeChanged);
    }
  } else {
    AOE_TRY(WriteFileNow(dir, dir_fd_.get(), kVersionsFile, registry_.Serialize()));
  }

  // Version files: the listed ones are opened; any other vN.img(.tmp) is a leftover of an
  // interrupted commit or collection. A listed one that is missing or of another size refuses
  // the start before anything is removed, naming the file: that one file is what to restore.
  version_backends_[1] = base_;
  std::set<std::string> listed;
  for (const VersionRecord& v : registry_.versions()) {
    if (v.id == 1) continue;
    listed.insert(v.file);
    const std::string path = dir + "/" + v.file;
    auto opened =
        OpenFileBackend(engine_, path, FileOptions{.read_only = true, .direct = settings_.direct});
    if (!opened) {
      return OpenError(opened.error() == std::errc::no_such_file_or_directory
                           ? make_error_code(OverlayErrc::kMissingVersionFile)
                           : opened.error(),
                       path);
    }
    if (const uint64_t size = opened->backend->size_bytes(); size != base_->size_bytes()) {
      return OpenError(
          make_error_code(OverlayErrc::kBadVersionFileSize),
          fmt::format("{} is {} bytes, the image is {}", path, size, base_->size_bytes()));
    }
    version_backends_[v.id] = std::move(opened->backend);
  }
  // Leftovers go only now that the versions are known good: a refused start removes nothing.
  ::unlink(fmt::format("{}/{}.tmp", dir, kVersionsFile).c_str());
  for (const std::string& name : SortedDirectoryEntries(dir)) {
    if (!VersionRegistry::IsVersionFileName(name) || listed.contains(name)) continue;
    ::unlinkat(dir_fd_.get(), name.c_str(), 0);
    warnings.push_back(fmt::format("{}/{}: removed, no version uses it", dir, name));
  }
  if (auto clients = LoadClients(warnings); !clients) return clients.error();

  // Versions only overlays that are gone needed (removed while stopped). An overlay set aside
  // (*.corrupt-*) keeps its base: without it, what it holds could never be read again. One
  // whose header does not say which base it had keeps them all, until its files are removed.
  set_aside_bases_ = BasesOfSetAsideOverlays();
  const std::optional<std::set<uint64_t>> in_use = VersionsInUse();
  std::vector<VersionRecord> gone =
      in_use ? registry_.Collect(*in_use) : std::vector<VersionRecord>{};
  if (!gone.empty()) {
    AOE_TRY(WriteFileNow(dir, dir_fd_.get(), kVersionsFile, registry_.Serialize()));
    for (const VersionRecord& v : gone) {
      version_backends_.erase(v.id);
      ::unlink((dir + "/" + v.file).c_str());
      warnings.push_back(
          fmt::format("{}/{}: version {} removed, no overlay uses it", dir, v.file, v.id));
    }
  }
  versions_writer_ =
      std::make_unique<AtomicFileWriter>(engine_, dir_fd_.get(), dir, std::string(kVersionsFile));
  return {};
}

Expected<void, OpenError> OverlayFilter::LoadClients(std::vector<std::string>& warnings) {
  const std::string& clients_dir = settings_.dir;
  std::set<std::string> with_map;
  auto set_aside = [&](const std::string& name, std::string_view why) {
    for (std::string_view suffix : {".map", ".data"}) {
      const std::string from = fmt::format("{}/{}{}", clients_dir, name, suffix);
      const std::string to = fmt::format("{}.corrupt-{}", from, NowUnix());
      ::rename(from.c_str(), to.c_str());
    }
    warnings.push_back(
        fmt::format("{}/{}: overlay set aside as *.corrupt-*: {}", clients_dir, name, why));
  };
  for (const std::string& file : SortedDirectoryEntries(clients_dir)) {
    if (!file.ends_with(".map")) continue;
    const std::string name = file.substr(0, file.size() - 4);
    std::optional<MacAddress> mac = ParseClientName(name);
    if (!mac) continue;
    with_map.insert(name);
    const ClientPaths paths = PathsFor(*mac);
    auto map = ReadMapFile(paths.map);
    if (!map) return OpenError(map.error(), paths.map);
    const HeaderProblem problem = map->header.problem;
    if (problem == HeaderProblem::kNeverWritten) {
      // Created, but no flush ever completed: it holds nothing anyone was promised.
      ::unlink(paths.map.c_str());
      ::unlink(paths.data.c_str());
      warnings.push_back(fmt::format("{}: removed an overlay that was never flushed", paths.map));
      continue;
    }
    if (problem != HeaderProblem::kNone) {
      set_aside(name, HeaderProblemText(problem));
      continue;
    }
    const MapHeader& header = map->header.header;
    if (header.size_bytes != base_->size_bytes() || header.initiator != *mac) {
      set_aside(name, "made for another export (size or MAC differ)");
      continue;
    }
    auto base = version_backends_.find(header.base_version);
    if (base == version_backends_.end()) {
      set_aside(name, fmt::format("its base version {} is gone", header.base_version));
      continue;
    }
    auto client = ClientOverlay::Open(engine_, dir_fd_.get(), paths, *map, base->second);
    if (!client) {
      // EINVAL is ClientOverlay::Open's word for a file of the wrong size.
      set_aside(name,
                client.error() == std::errc::invalid_argument
                    ? std::string("its data or map file is not the size its header says ('aoe "
                                  "overlay check' says which)")
                    : fmt::format("cannot open its files: {}", client.error().message()));
      continue;
    }
    clients_[*mac] = std::move(*client);
  }
  // Data files without a map: an overlay being created when the target stopped.
  for (const std::string& file : SortedDirectoryEntries(clients_dir)) {
    if (!file.ends_with(".data")) continue;
    const std::string name = file.substr(0, file.size() - 5);
    if (ParseClientName(name) && !with_map.contains(name)) {
      ::unlinkat(dir_fd_.get(), file.c_str(), 0);
    }
  }
  return {};
}

std::optional<std::set<uint64_t>> OverlayFilter::BasesOfSetAsideOverlays() const {
  std::set<uint64_t> bases;
  for (const std::string& file : SortedDirectoryEntries(settings_.dir)) {
    const size_t mark = file.find(".map.corrupt-");
    if (mark == std::string::npos || !ParseClientName(file.substr(0, mark))) continue;
    auto map = ReadMapFile(fmt::format("{}/{}", settings_.dir, file));
    if (!map || map->header.problem != HeaderProblem::kNone) return std::nullopt;
    bases.insert(map->header.header.base_version);
  }
  return bases;
}

ClientPaths OverlayFilter::PathsFor(const MacAddress& mac) const {
  const std::string stem = fmt::format("{}/{}", settings_.dir, ClientName(mac));
  return ClientPaths{.data = stem + ".data", .map = stem + ".map"};
}

// ---------------------------------------------------------------------------------------------
// The data path

BackendCapabilities OverlayFilter::capabilities() const {
  // A client's block map is made durable at its flush: until then a crash of the process
  // forgets where the blocks written since are.
  return {.read_only = false,
          .can_trim = true,
          .trim_reads_zeroes = false,
          .unflushed_writes = BackendCapabilities::UnflushedWrites::kProcess};
}

std::string OverlayFilter::Describe() const {
  return fmt::format("overlay({}) <- {}", settings_.dir, base_->Describe());
}

ClientOverlay* OverlayFilter::Find(const MacAddress& mac) {
  if (last_client_ != nullptr && last_mac_ == mac) return last_client_;
  auto it = clients_.find(mac);
  if (it == clients_.end()) return nullptr;
  last_mac_ = mac;
  last_client_ = it->second.get();
  return last_client_;
}

const std::shared_ptr<BlockBackend>& OverlayFilter::Version(uint64_t id) const {
  auto it = version_backends_.find(id);
  assert(it != version_backends_.end());
  return it->second;
}

Result<ClientOverlay*> OverlayFilter::CreateClient(const MacAddress& mac) {
  if (clients_.size() >= settings_.max_clients) return OverlayError(OverlayErrc::kTooManyClients);
  MapHeader header{.size_bytes = base_->size_bytes(),
                   .base_version = registry_.current(),
                   .created_unix = NowUnix(),
                   .initiator = mac};
  auto client = ClientOverlay::Create(engine_, dir_fd_.get(), PathsFor(mac), header,
                                      Version(registry_.current()));
  if (!client) return Unexpected{client.error()};
  ClientOverlay* raw = client->get();
  clients_[mac] = std::move(*client);
  return raw;
}

void OverlayFilter::Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
                         IoCallback* done) {
  if (ClientOverlay* client = Find(context.initiator)) {
    return client->Read(context, offset_bytes, into, done);
  }
  Version(registry_.current())->Read(context, offset_bytes, into, done);
}

// A view of a base version is sent before the loop's turn ends (the server's FlushTx), and no
// version is dropped during a turn (CollectVersions keeps the current one, its parent and every
// one a client reads), so the view outlives its use.
ConstByteSpan OverlayFilter::View(const IoContext& context, uint64_t offset_bytes, size_t length) {
  if (ClientOverlay* client = Find(context.initiator)) {
    return client->View(context, offset_bytes, length);
  }
  return Version(registry_.current())->View(context, offset_bytes, length);
}

void OverlayFilter::Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
                          IoCallback* done) {
  ClientOverlay* client = Find(context.initiator);
  if (client == nullptr) {
    // The target's own requests carry no initiator; it never writes, and nobody else may.
    if (context.initiator.is_zero()) return done->IoDone(-EROFS);
    auto created = CreateClient(context.initiator);
    if (!created) {
      // kTooManyClients, the export's overlay count limit, is a quota rather than a full disk:
      // EDQUOT makes the target's log say so ("Disk quota exceeded").
      const std::error_code& e = created.error();
      return done->IoDone(e.category() == std::system_category() ? -e.value() : -EDQUOT);
    }
    client = *created;
  }
  client->Write(context, offset_bytes, from, done);
}

void OverlayFilter::Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
                         IoCallback* done) {
  if (ClientOverlay* client = Find(context.initiator)) {
    return client->Trim(context, offset_bytes, length_bytes, done);
  }
  // Nothing of this client's to drop: it reads the base already.
  if (length_bytes > size_bytes() || offset_bytes > size_bytes() - length_bytes) {
    return done->IoDone(-EIO);
  }
  done->IoDone(0);
}

// Every overlay with something to make durable is flushed: the group-commit filter flushes on
// behalf of several initiators at once and names none of them.
void OverlayFilter::Flush(const IoContext&, IoCallback* done) {
  if (flush_free_.empty()) {
    flush_pool_.push_back(std::make_unique<FlushAll>());
    flush_pool_.back()->owner = this;
    flush_free_.push_back(flush_pool_.back().get());
  }
  FlushAll& all = *flush_free_.back();
  flush_free_.pop_back();
  all.done = done;
  all.first_error = 0;
  all.parts = 1;  // held until every flush is started
  for (auto& [mac, client] : clients_) {
    // A failed overlay fails its own client's writes from now on, and its error was reported
    // by the flush that met it: the other clients' flushes go on without it.
    if (!client->dirty() || client->failed()) continue;
    ++all.parts;
    client->Flush(&all);
  }
  all.IoDone(0);
}

void OverlayFilter::FlushAll::IoDone(int64_t result) {
  if (result < 0 && first_error == 0) first_error = result;
  if (--parts > 0) return;
  IoCallback* d = done;
  const int64_t r = first_error;
  owner->flush_free_.push_back(this);
  d->IoDone(r);
}

// ---------------------------------------------------------------------------------------------
// Management

ClientInfo OverlayFilter::InfoOf(const ClientOverlay& client) const {
  const MacAddress& mac = client.header().initiator;
  return ClientInfo{.mac = mac,
                    .base_version = client.base_version(),
                    .mapped_bytes = client.mapped_bytes(),
                    .data_allocated_bytes = AllocatedBytes(client.paths().data),
                    .map_allocated_bytes = AllocatedBytes(client.paths().map),
                    .created_unix = client.header().created_unix,
                    .lifetime = settings_.For(mac),
                    .unflushed = client.dirty(),
                    .failure_errno = client.failure_errno()};
}

std::vector<ClientInfo> OverlayFilter::Clients() const {
  std::vector<ClientInfo> out;
  for (const auto& [mac, client] : clients_) out.push_back(InfoOf(*client));
  return out;
}

std::optional<ClientInfo> OverlayFilter::Client(const MacAddress& mac) const {
  auto it = clients_.find(mac);
  if (it == clients_.end()) return std::nullopt;
  return InfoOf(*it->second);
}

std::vector<VersionInfo> OverlayFilter::Versions() const {
  std::vector<VersionInfo> out;
  for (const VersionRecord& v : registry_.versions()) {
    VersionInfo info{.record = v, .current = v.id == registry_.current()};
    for (const auto& [mac, client] : clients_) info.overlays += client->base_version() == v.id;
    out.push_back(std::move(info));
  }
  return out;
}

uint64_t OverlayFilter::commit_bytes_copied() const {
  return commit_running_ && commit_ ? commit_->bytes_copied() : 0;
}

void OverlayFilter::FsyncDir(int fd, Done done) {
  ++own_requests_;
  engine_.QueueFsync(fd, new FunctionCallback([this, done = std::move(done)](int64_t result) {
                       --own_requests_;
                       done(ResultOf(result));
                     }));
  engine_.Submit();
}

void OverlayFilter::SweepRetired() {
  std::erase_if(retired_, [](const std::shared_ptr<ClientOverlay>& c) {
    return c.use_count() == 1 && c->idle();
  });
}

void OverlayFilter::CommitEnded() {
  commit_running_ = false;
  SweepSoon();
}

void OverlayFilter::SweepSoon() {
  if (sweep_queued_) return;
  sweep_queued_ = true;
  ++own_requests_;
  engine_.QueueNop(new FunctionCallback([this](int64_t result) {
    --own_requests_;
    sweep_queued_ = false;
    // A no-op the engine could not queue (its submission queue full even after a submit)
    // completes at once, on the caller's stack: no sweep then. What it would have released
    // waits for the next SweepSoon (a later commit's end or reset).
    if (result >= 0) Sweep();
  }));
}

void OverlayFilter::Sweep() {
  if (!commit_running_) commit_.reset();
  SweepRetired();
}

void OverlayFilter::Retire(const MacAddress& mac, Done done) {
  SweepRetired();
  auto it = clients_.find(mac);
  assert(it != clients_.end());
  std::shared_ptr<ClientOverlay> client = std::move(it->second);
  clients_.erase(it);
  last_client_ = nullptr;
  // The map first: a data file without a map is removed at start-up, while a map without its
  // data would be a damaged overlay.
  ::unlink(client->paths().map.c_str());
  ::unlink(client->paths().data.c_str());
  retired_.push_back(std::move(client));
  retired_.back()->WhenIdle([this] { SweepSoon(); });
  FsyncDir(dir_fd_.get(), [this, done = std::move(done)](Result<void> synced) {
    if (!synced) return done(synced);
    CollectVersions(done);
  });
}

void OverlayFilter::Reset(const MacAddress& mac, Done done) {
  if (!clients_.contains(mac)) {
    // Not before the call returns: callers may rely on that.
    return FsyncDir(dir_fd_.get(), [done = std::move(done)](Result<void>) {
      done(OverlayError(OverlayErrc::kNoOverlay));
    });
  }
  Retire(mac, std::move(done));
}

BootAction OverlayFilter::BootSeen(const MacAddress& mac, Done done) {
  auto it = clients_.find(mac);
  if (it == clients_.end()) return BootAction::kNone;
  BootAction action = BootAction::kNone;
  if (settings_.For(mac) == Lifetime::kDiscardOnBoot) {
    action = BootAction::kDiscarded;
  } else if (it->second->base_version() != registry_.current()) {
    action = BootAction::kMoved;
  }
  if (action != BootAction::kNone) Retire(mac, std::move(done));
  return action;
}

void OverlayFilter::SaveVersions(Done done) {
  versions_writer_->Write([this] { return registry_.Serialize(); }, std::move(done));
  engine_.Submit();
}

std::optional<std::set<uint64_t>> OverlayFilter::VersionsInUse() const {
  // Overlays set aside at start keep their bases while serving too (Load).
  if (!set_aside_bases_) return std::nullopt;
  std::set<uint64_t> in_use = *set_aside_bases_;
  for (const auto& [mac, client] : clients_) in_use.insert(client->base_version());
  for (const auto& client : retired_) in_use.insert(client->base_version());
  if (commit_running_ && commit_) {
    in_use.insert(commit_->source().client->base_version());
  }
  return in_use;
}

void OverlayFilter::CollectVersions(Done done) {
  const std::optional<std::set<uint64_t>> in_use = VersionsInUse();
  if (!in_use) return done({});
  std::vector<VersionRecord> gone = registry_.Collect(*in_use);
  if (gone.empty()) return done({});
  SaveVersions([this, gone = std::move(gone), done = std::move(done)](Result<void> saved) {
    if (saved) {
      for (const VersionRecord& v : gone) {
        version_backends_.erase(v.id);
        ::unlink((settings_.dir + "/" + v.file).c_str());
      }
    }
    done(saved);
  });
}

void OverlayFilter::Commit(const MacAddress& mac, std::function<void(Result<VersionRecord>)> done) {
  auto refuse = [&](OverlayErrc e) {
    FsyncDir(dir_fd_.get(), [done, e](Result<void>) { done(OverlayError(e)); });
  };
  if (commit_running_) return refuse(OverlayErrc::kCommitRunning);
  auto it = clients_.find(mac);
  if (it == clients_.end()) return refuse(OverlayErrc::kNoOverlay);
  std::shared_ptr<ClientOverlay> client = it->second;
  if (client->map().mapped_blocks() == 0) return refuse(OverlayErrc::kNothingToCommit);
  // After a failed flush nothing says which of its writes were lost: made every client's base,
  // the loss would spread to all of them.
  if (client->failed()) return refuse(OverlayErrc::kOverlayFailed);
  // A write still in flight is in neither the map copied below nor the change count compared
  // at the end (it was counted when it started), yet it is acknowledged once it completes.
  // Reads and flushes in flight do not matter: the copy is of mapped blocks, which they leave.
  if (client->writing()) return refuse(OverlayErrc::kClientBusy);
  // Its changes were made on top of an older version: merged onto the current one they would
  // undo what came in between.
  if (client->base_version() != registry_.current()) return refuse(OverlayErrc::kStaleBase);

  commit_.reset();
  const uint64_t id = registry_.next_id();
  const std::string tmp = fmt::format("{}/{}.tmp", settings_.dir, VersionRegistry::FileFor(id));
  auto commit = OverlayCommit::Create(
      engine_,
      OverlayCommit::Source{.base = client->base(), .client = client, .blocks = client->map()},
      tmp);
  if (!commit) {
    return FsyncDir(dir_fd_.get(),
                    [done, e = commit.error()](Result<void>) { done(Unexpected{e}); });
  }
  commit_ = std::move(*commit);
  commit_running_ = true;
  const uint64_t change_count = client->change_count();
  commit_->Start([this, mac, change_count, done = std::move(done)](Result<void> copied) {
    FinishCommit(mac, change_count, done, copied);
  });
  engine_.Submit();
}

void OverlayFilter::FinishCommit(const MacAddress& mac, uint64_t change_count,
                                 std::function<void(Result<VersionRecord>)> done,
                                 Result<void> copied) {
  const uint64_t id = registry_.next_id();
  const std::string tmp = fmt::format("{}/{}.tmp", settings_.dir, VersionRegistry::FileFor(id));
  auto fail = [&](std::error_code e) {
    ::unlink(tmp.c_str());
    CommitEnded();
    done(Unexpected{e});
  };
  if (!copied) {
    return fail(commit_->cancelled() ? make_error_code(OverlayErrc::kCommitAbandoned)
                                     : copied.error());
  }
  const std::shared_ptr<ClientOverlay>& source = commit_->source().client;
  auto it = clients_.find(mac);
  if (it == clients_.end() || it->second != source) {
    return fail(make_error_code(OverlayErrc::kClientGone));
  }
  // A flush of the overlay that failed while it was copied: its data may be lost (after an
  // fsync error the page cache may have dropped it), so the copy may be too.
  if (source->failed()) return fail(make_error_code(OverlayErrc::kOverlayFailed));
  // The copy is the overlay as it was when the commit started only if nothing changed since.
  if (source->change_count() != change_count) {
    return fail(make_error_code(OverlayErrc::kChangedDuringCommit));
  }
  const std::string path = fmt::format("{}/{}", settings_.dir, VersionRegistry::FileFor(id));
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(std::error_code(errno, std::system_category()));
  auto opened =
      OpenFileBackend(engine_, path, FileOptions{.read_only = true, .direct = settings_.direct});
  if (!opened) {
    ::unlink(path.c_str());
    CommitEnded();
    return done(Unexpected{opened.error()});
  }
  FsyncDir(dir_fd_.get(), [this, mac, id, path, source, change_count,
                           backend = std::shared_ptr<BlockBackend>(std::move(opened->backend)),
                           done](Result<void> synced) mutable {
    if (!synced) {
      ::unlink(path.c_str());
      CommitEnded();
      return done(Unexpected{synced.error()});
    }
    const uint64_t parent = registry_.current();
    const VersionRecord record = registry_.Add(parent, NowUnix(), mac.ToString());
    assert(record.id == id);
    version_backends_[id] = std::move(backend);
    SaveVersions([this, mac, record, parent, source, change_count, done](Result<void> saved) {
      CommitEnded();
      if (!saved) {
        // Not durable: the old version stays current (the file is collected at start-up).
        registry_.set_current(parent);
        return done(Unexpected{saved.error()});
      }
      // The new version holds the client's data: its overlay is redundant now. Unless the
      // client wrote since the copy was checked (the version is made from what was copied):
      // its overlay then holds acknowledged data the version lacks, and stays, over the
      // version before; the client reads what it read before. Nor is an overlay made anew
      // after a reset meanwhile retired.
      auto client = clients_.find(mac);
      if (client != clients_.end() && client->second == source &&
          source->change_count() == change_count) {
        Retire(mac, [record, done](Result<void> reset) {
          if (!reset) return done(Unexpected{reset.error()});
          done(record);
        });
        return;
      }
      CollectVersions([record, done](Result<void>) { done(record); });
    });
  });
}

void OverlayFilter::Rollback(std::function<void(Result<VersionRecord>)> done) {
  const VersionRecord* current = registry_.Find(registry_.current());
  const VersionRecord* parent = current ? registry_.Find(current->parent) : nullptr;
  if (parent == nullptr || commit_running_) {
    const OverlayErrc e =
        commit_running_ ? OverlayErrc::kCommitRunning : OverlayErrc::kNoEarlierVersion;
    return FsyncDir(dir_fd_.get(), [done, e](Result<void>) { done(OverlayError(e)); });
  }
  const uint64_t previous = registry_.current();
  const VersionRecord target = *parent;
  registry_.set_current(target.id);
  SaveVersions([this, previous, target, done](Result<void> saved) {
    if (!saved) {
      registry_.set_current(previous);
      return done(Unexpected{saved.error()});
    }
    CollectVersions([target, done](Result<void>) { done(target); });
  });
}

}  // namespace aoe::overlay
