// OverlayFilter: the copy-on-write layer of an overlay export (`overlay=DIR`): every initiator
// MAC gets its own ClientOverlay over one golden image, created on its first write; the image
// itself is never written. The filter routes each request by IoContext::initiator: to the
// client's overlay if it has one, else to the current base version.
//
// It also keeps the export's base versions (versions.h; the first is the image below this
// filter, later ones are files made by Commit) and the overlays' lifetimes, and offers the
// management operations of `aoe overlay` (list, show, reset, commit, rollback) and the netboot
// hook (BootSeen). The directory layout and every promise are in docs/overlays.md.
//
// Capabilities: writable and trimmable, but a trimmed range reads back the base again, not
// zeroes (trim_reads_zeroes = false). Flush makes every overlay's data and then its map durable
// (ClientOverlay::Flush); the group-commit filter above relies on that.
//
// Ownership: owns the image's chain below it, the overlays and the version files; borrows the
// engine, which must outlive it (the server drains it before destroying exports). Management
// callbacks run on the loop's thread, never before the call returns. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/mac_address.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "storage/block_backend.h"
#include "storage/io_engine.h"
#include "storage/overlay/atomic_file.h"
#include "storage/overlay/client_overlay.h"
#include "storage/overlay/overlay_commit.h"
#include "storage/overlay/overlay_error.h"
#include "storage/overlay/versions.h"

namespace aoe::overlay {

// What happens to a client's overlay when the client boots again (netboot sees its PXE request).
enum class Lifetime {
  kPersist,        // kept until reset by hand (or until the client moves to a newer version)
  kDiscardOnBoot,  // dropped at every boot: each boot starts from the base
};
std::string_view LifetimeName(Lifetime lifetime);  // "persist", "discard-on-boot"
std::optional<Lifetime> ParseLifetime(std::string_view text);

struct OverlaySettings {
  std::string dir;
  Lifetime lifetime = Lifetime::kPersist;
  std::map<MacAddress, Lifetime> client_lifetimes;  // overrides `lifetime` per client
  bool direct = false;  // O_DIRECT for the version files, as for the image
  // Overlays one export may hold (each costs a bitmap in memory): a flood of made-up MACs
  // cannot fill the disk. Writes of further clients fail.
  size_t max_clients = 1024;

  Lifetime For(const MacAddress& mac) const;
  bool operator==(const OverlaySettings&) const = default;
};

struct ClientInfo {
  MacAddress mac;
  uint64_t base_version = 0;
  uint64_t mapped_bytes = 0;          // bytes of the export the overlay holds
  uint64_t data_allocated_bytes = 0;  // on disk (st_blocks) of the data file
  uint64_t map_allocated_bytes = 0;   // on disk of the map file (the metadata)
  int64_t created_unix = 0;
  Lifetime lifetime = Lifetime::kPersist;
  bool unflushed = false;  // holds writes not yet made durable
  // Nonzero: a flush failed with this errno, and the overlay takes no writes (and cannot be
  // committed) until it is reset (ClientOverlay::failed).
  int failure_errno = 0;
};

struct VersionInfo {
  VersionRecord record;
  bool current = false;
  size_t overlays = 0;  // overlays based on it
};

enum class BootAction {
  kNone,       // no overlay, or one that is kept
  kDiscarded,  // discard-on-boot: the overlay was dropped
  kMoved,      // the overlay was based on another version: dropped, the client reads the current
};

class OverlayFilter final : public BlockBackend {
 public:
  using Done = std::function<void(Result<void>)>;

  // Opens (creating if needed) the overlay directory over `base` (version 1). Loads every
  // overlay; one that was never flushed is removed, one that is damaged is moved aside as
  // NAME.corrupt; both are reported in `warnings`. Errors: errno of the directory operations,
  // OverlayErrc::kDirectoryInUse, kBaseSizeChanged, kBadVersionsFile, kNoVersionsFile; a
  // version file that is missing (kMissingVersionFile), of another size than the base
  // (kBadVersionFileSize) or cannot be opened (its errno) is named in OpenError::about.
  static Expected<std::unique_ptr<OverlayFilter>, OpenError> Open(
      std::unique_ptr<BlockBackend> base, const OverlaySettings& settings, IoEngine& engine,
      std::vector<std::string>& warnings);
  ~OverlayFilter() override;

  uint64_t size_bytes() const override { return base_->size_bytes(); }
  BackendCapabilities capabilities() const override;
  std::string Describe() const override;
  void Read(const IoContext& context, uint64_t offset_bytes, ByteSpan into,
            IoCallback* done) override;
  // A view of what the client reads: the base image's, or its own data file's (ClientOverlay).
  ConstByteSpan View(const IoContext& context, uint64_t offset_bytes, size_t length) override;
  void Write(const IoContext& context, uint64_t offset_bytes, ConstByteSpan from,
             IoCallback* done) override;
  void Flush(const IoContext& context, IoCallback* done) override;
  void Trim(const IoContext& context, uint64_t offset_bytes, uint64_t length_bytes,
            IoCallback* done) override;

  // Management (docs/overlays.md) ---------------------------------------------------------
  const OverlaySettings& settings() const { return settings_; }
  std::vector<ClientInfo> Clients() const;
  std::optional<ClientInfo> Client(const MacAddress& mac) const;
  std::vector<VersionInfo> Versions() const;
  uint64_t current_version() const { return registry_.current(); }
  bool commit_running() const { return commit_running_; }
  // Whether any request of the filter's own or of a client is still in flight (a commit and
  // what makes its version, a versions.json write, a directory fsync, a client's I/O): the
  // callbacks of Reset, Commit and Rollback have all run once it is false.
  bool busy() const;
  uint64_t commit_bytes_copied() const;

  // Drops the client's overlay (its reads see the current version again); `done` runs once the
  // removal is durable. Errors: kNoOverlay.
  void Reset(const MacAddress& mac, Done done);
  // The netboot service saw the client's PXE request: applies its lifetime and moves it to the
  // current version. `done` as for Reset (not called for kNone).
  BootAction BootSeen(const MacAddress& mac, Done done);
  // Merges the client's overlay into a new base version, makes it current and moves the client
  // onto it (its overlay is then empty: the version holds its data). Errors: kNoOverlay,
  // kCommitRunning, kNothingToCommit, kStaleBase, kChangedDuringCommit, kClientGone,
  // kCommitAbandoned, errno.
  void Commit(const MacAddress& mac, std::function<void(Result<VersionRecord>)> done);
  // The target is stopping: a commit still copying (or syncing its copy) stops and its `done`
  // gets kCommitAbandoned (nothing changed; the copy's *.tmp file is removed). False when no
  // commit runs, or the one running is past its copy: it then goes on to make its version.
  bool AbandonCommit();
  // Makes the current version's parent current again. Errors: kNoEarlierVersion, errno.
  void Rollback(std::function<void(Result<VersionRecord>)> done);

 private:
  OverlayFilter(std::unique_ptr<BlockBackend> base, OverlaySettings settings, IoEngine& engine);

  struct FlushAll final : IoCallback {
    void IoDone(int64_t result) override;
    OverlayFilter* owner = nullptr;
    IoCallback* done = nullptr;
    uint32_t parts = 0;
    int64_t first_error = 0;
  };

  Expected<void, OpenError> Load(std::vector<std::string>& warnings);
  Expected<void, OpenError> LoadClients(std::vector<std::string>& warnings);
  // The base versions that overlays set aside as damaged (*.map.corrupt-*) were made on;
  // nullopt when the header of one of them cannot say.
  std::optional<std::set<uint64_t>> BasesOfSetAsideOverlays() const;
  // The versions an overlay needs (live, retired, being committed, or set aside); nullopt when a
  // set-aside overlay cannot say which it needs, so that none may go.
  std::optional<std::set<uint64_t>> VersionsInUse() const;
  // Whether a start (Load) removes or sets aside a directory entry of this name.
  static bool LoadWouldTouch(const std::string& name);
  ClientPaths PathsFor(const MacAddress& mac) const;
  ClientOverlay* Find(const MacAddress& mac);
  const std::shared_ptr<BlockBackend>& Version(uint64_t id) const;
  Result<ClientOverlay*> CreateClient(const MacAddress& mac);
  ClientInfo InfoOf(const ClientOverlay& client) const;
  // Moves the overlay out of the table (its requests in flight finish on it), removes its files
  // and syncs the directory.
  void Retire(const MacAddress& mac, Done done);
  void SweepRetired();
  // Drops versions nobody needs (VersionRegistry::Collect), saving versions.json first.
  void CollectVersions(Done done);
  void SaveVersions(Done done);
  void FinishCommit(const MacAddress& mac, uint64_t change_count,
                    std::function<void(Result<VersionRecord>)> done, Result<void> copied);
  void FsyncDir(int fd, Done done);
  // Marks the commit ended; its OverlayCommit (which holds the committed overlay's files and
  // the new version's) is released at the next safe point (SweepSoon).
  void CommitEnded();
  // Releases, from an engine no-op's completion (when no callback of theirs is on the stack),
  // the OverlayCommit of an ended commit and every retired overlay now idle: until then their
  // open files keep the disk space of unlinked overlays and versions. Queued once at a time.
  void SweepSoon();
  void Sweep();

  std::shared_ptr<BlockBackend> base_;
  OverlaySettings settings_;
  IoEngine& engine_;
  UniqueFd lock_fd_;
  UniqueFd dir_fd_;
  VersionRegistry registry_;
  // The bases of the overlays set aside at start (BasesOfSetAsideOverlays): kept while serving.
  std::optional<std::set<uint64_t>> set_aside_bases_ = std::set<uint64_t>{};
  std::map<uint64_t, std::shared_ptr<BlockBackend>> version_backends_;
  std::map<MacAddress, std::shared_ptr<ClientOverlay>> clients_;
  std::vector<std::shared_ptr<ClientOverlay>> retired_;
  // The last client looked up: consecutive requests mostly come from one initiator.
  MacAddress last_mac_;
  ClientOverlay* last_client_ = nullptr;
  std::unique_ptr<AtomicFileWriter> versions_writer_;
  std::unique_ptr<OverlayCommit> commit_;  // the running commit's; released by Sweep
  bool commit_running_ = false;
  // The filter's own requests on the engine (FsyncDir, SweepSoon) whose completion has not run.
  int own_requests_ = 0;
  bool sweep_queued_ = false;
  std::vector<std::unique_ptr<FlushAll>> flush_pool_;
  std::vector<FlushAll*> flush_free_;
};

}  // namespace aoe::overlay
