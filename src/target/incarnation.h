// The incarnation an export puts in its IDENTIFY page (proto::IdentifyInfo::incarnation): a
// number that changes whenever writes it acknowledged and had not flushed can have been lost.
//
// Why: an export acknowledges a flushing initiator's writes from a volatile cache and makes
// them durable at its FLUSH. If that cache is lost before the FLUSH, the next FLUSH is answered
// without error all the same. An initiator that reads the incarnation before its writes and
// again after its FLUSH knows whether one cache held them all along (Disk::CheckForRestarts;
// docs/initiator.md, "Across a target restart").
//
// Where the cache lives (BackendCapabilities::UnflushedWrites) decides what changes it:
//   - kHostCache (a file or block device export: the host's page cache): a start of aoe serve
//     after the host booted, unless aoe serve had stopped cleanly before. A crash or SIGKILL of
//     aoe serve loses nothing there, so a mount's fsync rides through that restart.
//   - kProcess (an overlay's block map, made durable at FLUSH): a start of aoe serve, unless
//     the one before stopped cleanly.
//   - kNotKept (a memory export): every opening; nothing outlives it, flushed or not.
//   - kNone, a read-only export, or one under durability=sync (no volatile cache in its page):
//     no incarnation at all (0), and initiators do not check.
// A clean stop of an export is one whose final flush succeeded: nothing acknowledged is left to
// lose, so a restart, or a clean reboot of the host, is not taken for a power cut (which would
// make cp write a segment again and fail a mount's next fsync with EIO). A final flush that
// failed (Lost) is the opposite: the page cache may have dropped the writes while the host
// lives on (Linux reports a writeback error once), so the next opening takes a new one even in
// the same boot.
//
// IncarnationBook keeps, per export, the file <state directory>/<export>.incarnation (JSON:
// the incarnation in hex, what held its unflushed writes, the boot id it was last served under,
// and whether that serving ended in a clean stop). It is rewritten, durably, when an export is
// first opened ("not stopped cleanly", before any write is acknowledged under it), at a clean
// stop, and when a flush is lost. While an export is open its process holds a lock on
// <export>.incarnation.lock, so that a second aoe serve with the same state directory and an
// export of the same name cannot take or record the same incarnation. Where the record cannot
// be kept (the lock is held, the directory is not writable), the export falls back to an
// incarnation kept by nothing (the boot id's hash for kHostCache, a random number per process
// for kProcess), with one warning: safe, but every restart then looks like a power cut for
// kProcess and every reboot for kHostCache.
//
// Not thread-safe: the server's main loop uses it (exports are opened and stopped there).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "base/log.h"
#include "base/unique_fd.h"
#include "storage/block_backend.h"

namespace aoe::target {

class IncarnationBook {
 public:
  // `boot_id`: this boot of the host (BootId()); a parameter so that tests can boot again.
  IncarnationBook(std::string directory, std::string boot_id, Logger& log);

  // The incarnation of export `name`, opened over storage that keeps unflushed writes `where`
  // (never 0, except 0 for kNone). The first call for a name in this process decides it (see
  // above) and records it before returning; later calls (the export re-opened by a reload,
  // whose closing flushed it) return the same, except for kNotKept and after Lost().
  uint64_t Pick(const std::string& name, BackendCapabilities::UnflushedWrites where);

  // The export's writes are durable and it serves no more (its final flush succeeded at a
  // stop): the next start keeps its incarnation. Nothing for an export with no record.
  void StoppedCleanly(const std::string& name);
  // The export was closed without its final flush succeeding (or with commands still in
  // flight): its next opening, in this process or another, takes a new incarnation.
  void Lost(const std::string& name);

  // For an export re-opened (not serving yet) while the instance it replaces lost writes under
  // `lost` (Lost was called for it): Pick's, or where that is still `lost` (the record could
  // not be changed, or none is kept), a random one kept by nothing.
  uint64_t PickAfterLoss(const std::string& name, BackendCapabilities::UnflushedWrites where,
                         uint64_t lost);

  // The export opened under Pick now serves. Until then, NeverServed can undo its Pick.
  void Serving(const std::string& name);
  // The export was opened and then dropped before it served anything (a start or reload that
  // failed on a later export): its record goes back to what it was before this process's first
  // Pick, so that a clean stop before a start that failed still counts as clean. Nothing for an
  // export that already serves, or was re-opened while another instance of it served.
  void NeverServed(const std::string& name);

  // Where the record of export `name` is kept.
  std::string RecordPath(const std::string& name) const;

 private:
  using Where = BackendCapabilities::UnflushedWrites;
  struct Record {
    uint64_t incarnation = 0;
    Where held_by = Where::kHostCache;  // kHostCache or kProcess
    std::string boot_id;
    bool stopped_cleanly = false;
  };
  // Takes the export's lock (kept until this book goes); false if another process holds it.
  bool Lock(const std::string& name);
  // The record on disk; nullopt if there is none or it cannot be read (said in the log).
  std::optional<Record> Load(const std::string& name);
  bool Save(const std::string& name, const Record& record);
  void WarnOnce(const std::string& name, const std::string& why);

  std::string directory_;
  std::string boot_id_;
  Logger& log_;
  std::map<std::string, Record> recorded_;  // picked and recorded in this process
  // For an export picked and not serving yet, what NeverServed puts back: the record before
  // (nullopt: none), and whether that Pick was this process's first for the name (else another
  // instance of the export serves, and keeps its lock).
  struct BeforeServing {
    std::optional<Record> record;
    bool first_pick = true;
  };
  std::map<std::string, BeforeServing> before_serving_;
  // What PickAfterLoss gave where no record could say it, for later Picks in this process.
  std::map<std::string, uint64_t> unrecorded_after_loss_;
  std::map<std::string, UniqueFd> locks_;
  std::set<std::string> warned_;
};

// The kernel's id of this boot of the host (/proc/sys/kernel/random/boot_id), read once; empty
// if it cannot be read. Test seam: AOE_BOOT_ID_FILE names another file to read it from, so that
// a test that cuts the power of simulated storage (tests/powercut) can also make the "host"
// boot again.
const std::string& BootId();

}  // namespace aoe::target
