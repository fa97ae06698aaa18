// The pure parts of `aoe cp`: where a copy starts and ends on each side (dd-style
// --skip-sectors / --seek-sectors / --count-sectors checked against the sizes), and finding the
// runs of data between all-zero blocks, which a download leaves as holes.
//
// No I/O; unit-tested in copy_plan_test.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "cli/parse_result.h"

namespace aoe::cli {

inline constexpr uint64_t kSectorBytes = 512;

struct CopyRange {
  uint64_t src_sector = 0;  // first sector read from the source
  uint64_t dst_sector = 0;  // first sector written on the destination
  uint64_t sectors = 0;     // how many
};

struct CopyRequest {
  std::string src_name, dst_name;  // for messages
  uint64_t src_sectors = 0;        // size of the source
  // Size of the destination; nullopt when it grows as needed (a regular file).
  std::optional<uint64_t> dst_sectors;
  uint64_t skip = 0;              // --skip-sectors
  uint64_t seek = 0;              // --seek-sectors
  std::optional<uint64_t> count;  // --count-sectors; default: the rest of the source
};

// The range to copy, or one line saying which option does not fit which side.
ParseResult<CopyRange> PlanCopy(const CopyRequest& request);

// Calls `run(offset, length)` for each maximal run of `block`-byte blocks of `data` that are
// not all zero (the last block may be shorter). `block` must be > 0.
void ForEachDataRun(ConstByteSpan data, size_t block,
                    const std::function<void(size_t offset, size_t length)>& run);

bool IsAllZero(ConstByteSpan data);

}  // namespace aoe::cli
