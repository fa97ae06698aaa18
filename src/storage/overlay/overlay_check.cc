#include "storage/overlay/overlay_check.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "base/unique_fd.h"
#include "storage/overlay/block_map.h"
#include "storage/overlay/client_overlay.h"
#include "storage/overlay/overlay_format.h"
#include "storage/overlay/versions.h"

namespace aoe::overlay {
namespace {

std::optional<struct stat> Stat(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

// The byte ranges of `fd` that hold data, by SEEK_DATA/SEEK_HOLE. A file system without hole
// reporting says the whole file is data, which makes the check pass vacuously, never fail.
std::vector<std::pair<uint64_t, uint64_t>> DataRanges(int fd, uint64_t size) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  off_t at = 0;
  while (static_cast<uint64_t>(at) < size) {
    off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) break;  // ENXIO: no data after `at`
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(size);
    ranges.emplace_back(static_cast<uint64_t>(data), static_cast<uint64_t>(hole));
    at = hole;
  }
  return ranges;
}

void CheckClient(const std::string& dir, const std::string& name, const MacAddress& mac,
                 const VersionRegistry* registry, uint64_t size_bytes, CheckReport& report) {
  const std::string stem = dir + "/" + name;
  const std::string map_path = stem + ".map";
  const std::string data_path = stem + ".data";
  auto problem = [&](std::string text) {
    report.problems.push_back(fmt::format("{}: {}", map_path, std::move(text)));
  };
  auto map = ReadMapFile(map_path);
  if (!map) return problem(fmt::format("cannot read it: {}", map.error().message()));
  if (map->header.problem == HeaderProblem::kNeverWritten) {
    report.notes.push_back(fmt::format(
        "{}: never flushed (no block was promised); the next start removes it", map_path));
    return;
  }
  if (map->header.problem != HeaderProblem::kNone) {
    return problem(std::string(HeaderProblemText(map->header.problem)));
  }
  const MapHeader& h = map->header.header;
  ClientCheck check{.mac = mac, .base_version = h.base_version};
  if (h.initiator != mac) {
    problem(fmt::format("the header names {}, the file name {}", h.initiator.ToString(),
                        mac.ToString()));
  }
  if (size_bytes != 0 && h.size_bytes != size_bytes) {
    problem(
        fmt::format("made for an export of {} bytes, the base has {}", h.size_bytes, size_bytes));
  }
  if (registry != nullptr && registry->Find(h.base_version) == nullptr) {
    problem(fmt::format("its base version {} is not in versions.json", h.base_version));
  }
  const uint64_t map_bytes = kMapHeaderBytes + map->bitmap.size();
  if (map_bytes != MapFileBytes(h.size_bytes)) {
    problem(fmt::format("the map file has {} bytes, {} expected", map_bytes,
                        MapFileBytes(h.size_bytes)));
  }
  BlockMap blocks(BlockCount(h.size_bytes));
  if (uint64_t stray = blocks.Load(map->bitmap); stray > 0) {
    problem(fmt::format("{} bits set past the export's last block", stray));
  }
  check.mapped_blocks = blocks.mapped_blocks();
  if (auto st = Stat(map_path)) check.map_allocated_bytes = uint64_t(st->st_blocks) * 512;

  UniqueFd data(::open(data_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!data) {
    problem(fmt::format("its data file {} cannot be opened: {}", data_path, std::strerror(errno)));
    report.clients.push_back(check);
    return;
  }
  struct stat st {};
  ::fstat(data.get(), &st);
  check.data_allocated_bytes = uint64_t(st.st_blocks) * 512;
  if (uint64_t(st.st_size) != h.size_bytes) {
    problem(fmt::format("its data file has {} bytes, {} expected", st.st_size, h.size_bytes));
  }
  // Every mapped block must lie inside data ranges.
  const auto ranges = DataRanges(data.get(), h.size_bytes);
  size_t r = 0;
  uint64_t first_bad = UINT64_MAX;
  const uint64_t count = blocks.block_count();
  for (uint64_t b = blocks.NextMapped(0, count); b < count; b = blocks.NextMapped(b + 1, count)) {
    const uint64_t start = b * kBlockBytes;
    const uint64_t end = std::min(h.size_bytes, start + kBlockBytes);
    while (r < ranges.size() && ranges[r].second <= start) ++r;
    // Data ranges are block-aligned in practice, but a block straddling two adjacent ranges
    // is fine too.
    uint64_t covered = start;
    for (size_t i = r; i < ranges.size() && ranges[i].first <= covered && covered < end; ++i) {
      covered = std::max(covered, ranges[i].second);
    }
    if (covered < end) {
      ++check.mapped_over_holes;
      first_bad = std::min(first_bad, b);
    }
  }
  if (check.mapped_over_holes > 0) {
    problem(
        fmt::format("{} mapped block(s) have no data (first: block {}, byte {}): the map "
                    "claims data that never reached the disk",
                    check.mapped_over_holes, first_bad, first_bad * kBlockBytes));
  }
  report.clients.push_back(check);
}

}  // namespace

Result<CheckReport> CheckOverlayDirectory(const std::string& dir) {
  auto dir_stat = Stat(dir);
  if (!dir_stat) return Errno();
  if (!S_ISDIR(dir_stat->st_mode)) return Errno(ENOTDIR);
  CheckReport report;
  {
    // aoe serve locks the directory and its lock file (OverlayFilter::Load); either says so.
    UniqueFd lock(::open((dir + "/lock").c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    report.in_use =
        (lock && ::flock(lock.get(), LOCK_SH | LOCK_NB) != 0) ||
        (directory && ::flock(directory.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK);
  }

  std::optional<VersionRegistry> registry;
  std::ifstream in(dir + "/versions.json");
  if (!in) {
    // Missing, or (not this user's directory) unreadable: the problem is not the same.
    const int why = errno;
    report.problems.push_back(why == ENOENT ? fmt::format("{}/versions.json is missing", dir)
                                            : fmt::format("{}/versions.json cannot be read: {}",
                                                          dir, std::strerror(why)));
  } else {
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = VersionRegistry::Parse(text.str());
    if (!parsed) {
      report.problems.push_back(fmt::format("{}/versions.json: {}", dir, parsed.error().message()));
    } else {
      registry = std::move(*parsed);
      report.size_bytes = registry->size_bytes();
      report.current_version = registry->current();
    }
  }
  std::set<std::string> listed;
  if (registry) {
    // In the words of the start these would refuse (OverlayFilter::Load), naming the file.
    for (const VersionRecord& v : registry->versions()) {
      if (v.id == 1) continue;
      listed.insert(v.file);
      const std::string path = dir + "/" + v.file;
      auto st = Stat(path);
      if (!st) {
        const int why = errno;
        report.problems.push_back(
            why == ENOENT ? fmt::format("{}: a version file versions.json lists is missing", path)
                          : fmt::format("{}: a version file versions.json lists cannot be read: {}",
                                        path, std::strerror(why)));
      } else if (uint64_t(st->st_size) != registry->size_bytes()) {
        report.problems.push_back(
            fmt::format("{} is {} bytes, the image is {}: truncated, or not a version of this "
                        "image",
                        path, st->st_size, registry->size_bytes()));
      }
    }
  }
  for (const std::string& name : SortedDirectoryEntries(dir)) {
    if (VersionRegistry::IsVersionFileName(name) && !listed.contains(name)) {
      report.notes.push_back(
          fmt::format("{}/{}: no version uses it; the next start removes it", dir, name));
    }
  }

  std::set<std::string> maps;
  for (const std::string& file : SortedDirectoryEntries(dir)) {
    if (!file.ends_with(".map")) continue;
    const std::string name = file.substr(0, file.size() - 4);
    std::optional<MacAddress> mac = ParseClientName(name);
    if (!mac) continue;
    maps.insert(name);
    CheckClient(dir, name, *mac, registry ? &*registry : nullptr, report.size_bytes, report);
  }
  for (const std::string& file : SortedDirectoryEntries(dir)) {
    if (file.find(".corrupt-") != std::string::npos) {
      report.notes.push_back(fmt::format("{}/{}: set aside as damaged", dir, file));
      continue;
    }
    if (!file.ends_with(".data")) continue;
    const std::string name = file.substr(0, file.size() - 5);
    if (ParseClientName(name) && !maps.contains(name)) {
      report.notes.push_back(
          fmt::format("{}/{}: a data file without a map (never flushed); the next start removes it",
                      dir, file));
    }
  }
  return report;
}

}  // namespace aoe::overlay
