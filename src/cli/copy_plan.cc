#include "cli/copy_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace aoe::cli {

ParseResult<CopyRange> PlanCopy(const CopyRequest& r) {
  if (r.skip > r.src_sectors) {
    return ParseError{fmt::format("--skip-sectors {} is past the end of {} ({} sectors)", r.skip,
                                  r.src_name, r.src_sectors)};
  }
  const uint64_t available = r.src_sectors - r.skip;
  const uint64_t sectors = r.count.value_or(available);
  if (sectors > available) {
    return ParseError{
        fmt::format("--count-sectors {} goes past the end of {}: it has {} sectors from sector {}",
                    sectors, r.src_name, available, r.skip)};
  }
  if (r.dst_sectors) {
    if (r.seek > *r.dst_sectors || sectors > *r.dst_sectors - r.seek) {
      return ParseError{fmt::format(
          "{} sectors from {} do not fit on {}: it has {} sectors{}", sectors, r.src_name,
          r.dst_name, *r.dst_sectors,
          r.seek > 0 ? fmt::format(" and --seek-sectors is {}", r.seek) : std::string())};
    }
  }
  return CopyRange{r.skip, r.seek, sectors};
}

bool IsAllZero(ConstByteSpan data) {
  // Compare word by word: this runs over every byte a download receives.
  const std::byte* p = data.data();
  size_t n = data.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    if (word != 0) return false;
  }
  for (; n > 0; ++p, --n) {
    if (*p != std::byte{0}) return false;
  }
  return true;
}

void ForEachDataRun(ConstByteSpan data, size_t block,
                    const std::function<void(size_t offset, size_t length)>& run) {
  size_t start = 0;
  bool in_run = false;
  for (size_t off = 0; off < data.size(); off += block) {
    const size_t len = std::min(block, data.size() - off);
    const bool zero = IsAllZero(data.subspan(off, len));
    if (!zero && !in_run) {
      start = off;
      in_run = true;
    } else if (zero && in_run) {
      run(start, off - start);
      in_run = false;
    }
  }
  if (in_run) run(start, data.size() - start);
}

}  // namespace aoe::cli
