// CheckOverlayDirectory: the consistency checker behind `aoe overlay check DIR`. It reads an
// overlay directory as a power cut or SIGKILL left it (or while `aoe serve` runs: the on-disk
// invariants hold at every moment) and reports every place where an overlay could return data
// that was never written:
//
// - versions.json parses, its versions' files exist and have the base's size;
// - each map's header is intact and belongs to its file name, the export's size and an existing
//   base version; no bit is set past the last block;
// - each data file has the export's size, and every block the map says is mapped holds
//   allocated data (SEEK_DATA): a mapped block over a hole would read as zeroes nobody wrote,
//   which the write ordering (data durable before its bit) must make impossible.
//
// Leftovers the next start cleans up (an overlay never flushed, a data file without a map, an
// unlisted version file) are notes, not problems. Read-only: nothing is changed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/mac_address.h"
#include "base/result.h"

namespace aoe::overlay {

struct ClientCheck {
  MacAddress mac;
  uint64_t base_version = 0;
  uint64_t mapped_blocks = 0;
  uint64_t mapped_over_holes = 0;  // must be 0
  uint64_t data_allocated_bytes = 0;
  uint64_t map_allocated_bytes = 0;
};

struct CheckReport {
  bool in_use = false;  // a running aoe serve holds the directory
  uint64_t size_bytes = 0;
  uint64_t current_version = 0;
  std::vector<ClientCheck> clients;
  std::vector<std::string> problems;  // inconsistencies: each one line
  std::vector<std::string> notes;     // leftovers the next start removes
  bool consistent() const { return problems.empty(); }
};

// Errors only when the directory cannot be read at all (ENOENT, EACCES, ENOTDIR).
Result<CheckReport> CheckOverlayDirectory(const std::string& dir);

}  // namespace aoe::overlay
