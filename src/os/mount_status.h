// MountStatus: what one `aoe mount` daemon publishes about itself for `aoe show` and
// `aoe umount`, as a JSON file in the run directory:
//
//   <run dir>/<disk>.json, e.g. /run/aoekit/mounts/e0.1.json
//
// The daemon rewrites it with WriteFileAtomically (base/atomic_file.h: readers never see half
// a file) every second and removes it when it exits. A file whose pid is gone was left by a daemon
// that was killed (or, when it says it holds its disk's lock, one whose lock is free); readers
// skip it and may delete it.
//
// The run directory is $AOE_RUN_DIR if set (tests use this to stay apart from real mounts),
// else /run/aoekit/mounts for root and $XDG_RUNTIME_DIR/aoekit/mounts (or /tmp/aoekit-<uid>/
// mounts) for other users.
//
// Value types and free functions; no shared state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"

namespace aoe::os {

struct MountPathStatus {
  std::string interface;
  std::string local_mac;
  std::string target_mac;
  bool up = true;
  uint32_t in_flight = 0;
  uint32_t window = 0;
  uint64_t sent = 0;
  uint64_t retransmits = 0;
  uint64_t timeouts = 0;
  uint64_t rtt_us = 0;  // smoothed round-trip time; 0 before the first reply
  uint64_t rto_us = 0;
};

struct MountStatus {
  int pid = 0;
  // The daemon holds its disk's lock (LockMount, mount_lock.h) for its life: a free lock, or no
  // lock file, then means it is gone. False in a status written before the locks, which only the
  // pid can vouch for.
  bool holds_lock = false;
  std::string disk;        // "e0.1"
  std::string mountpoint;  // absolute
  std::string file;        // mountpoint + "/" + disk
  std::string log;         // log file, empty when logging to stderr
  uint64_t size_bytes = 0;
  bool read_only = false;  // the target refuses writes: the file has no write bits
  std::string model;
  std::string serial;
  std::string state;  // "serving" or "stopping"
  int64_t started_unix = 0;
  int64_t updated_unix = 0;
  int64_t dead_timeout_ms = 0;  // the initiator's dead-target timeout; 0: retries for ever
  uint64_t in_flight = 0;       // FUSE requests being served (each may be many AoE frames)
  uint64_t reads = 0, writes = 0, flushes = 0, errors = 0;
  uint64_t bytes_read = 0, bytes_written = 0;
  std::vector<MountPathStatus> paths;
  // Target MACs that answer the disk's shelf.slot with another disk (TargetInfo::conflicting):
  // never used. One line each, e.g. "02:00:00:00:00:02 on veth0: 81920 sectors, model 'X'".
  std::vector<std::string> conflicting;
};

std::string RunDirectory();
std::string StatusPath(const std::string& run_dir, const std::string& disk);

nlohmann::json StatusToJson(const MountStatus& status);
std::string ToJson(const MountStatus& status, int indent = 2);
// Parses one status document; an error for anything that is not one.
Result<MountStatus> StatusFromJson(const std::string& text);

// Creates the run directory (and parents) if needed and atomically replaces the disk's file.
Result<void> WriteStatus(const std::string& run_dir, const MountStatus& status);
Result<void> RemoveStatus(const std::string& run_dir, const std::string& disk);

// The statuses of live daemons, sorted by disk. Files of dead daemons are skipped (and removed
// when `remove_stale`): a pid that is gone or a zombie, or (for a daemon that holds_lock) a
// disk whose lock nobody holds or whose lock file is gone, even if the pid now names another
// process; unreadable or foreign files are skipped.
std::vector<MountStatus> ReadStatuses(const std::string& run_dir, bool remove_stale);

// Whether the daemon that wrote `status` still runs: its pid names a running (not zombie)
// process and, when it holds_lock, its disk's lock is held (a lock file that cannot be read
// leaves the pid to tell). A status from before the locks has only its pid to go by.
bool DaemonAlive(const std::string& run_dir, const MountStatus& status);

// True if `pid` names a running (not zombie) process.
bool ProcessAlive(int pid);

}  // namespace aoe::os
