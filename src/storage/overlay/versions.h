// VersionRegistry: the base versions of one overlay export, as kept in the overlay directory's
// versions.json (docs/overlays.md, "Versions").
//
// Version 1 is the export's own image (never written). `aoe overlay commit` makes version N+1:
// a file in the overlay directory holding the current version with one client's overlay merged in,
// whose parent is the version it was made from. `current` is the version clients without an overlay
// read and new overlays are made against; rollback makes the current version's parent current.
//
//   {"format": 1, "size_bytes": 1073741824, "current": 3, "next_id": 4,
//    "versions": [{"id": 1, "parent": 0, "file": "", "created_unix": 0, "from_client": ""},
//                 {"id": 2, "parent": 1, "file": "v2.img", "created_unix": ...,
//                  "from_client": "52:54:00:a0:e0:01"}, ...]}
//
// Pure values and JSON; the filter does the file I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace aoe::overlay {

struct VersionRecord {
  uint64_t id = 0;
  uint64_t parent = 0;  // 0 for version 1
  std::string file;     // relative to the overlay directory; empty for version 1
  int64_t created_unix = 0;
  std::string from_client;  // the MAC whose overlay was committed; empty for version 1

  bool operator==(const VersionRecord&) const = default;
};

class VersionRegistry {
 public:
  // A registry with version 1 only, for a base of `size_bytes`.
  explicit VersionRegistry(uint64_t size_bytes);

  // Errors: OverlayErrc::kBadVersionsFile (syntax, missing keys, a parent or current that does
  // not exist, duplicate ids, a file name other than our own vN.img).
  static Result<VersionRegistry> Parse(std::string_view json);
  std::string Serialize() const;

  uint64_t size_bytes() const { return size_bytes_; }
  uint64_t current() const { return current_; }
  const std::vector<VersionRecord>& versions() const { return versions_; }
  const VersionRecord* Find(uint64_t id) const;

  // Adds version next_id() made from `parent` and makes it current; returns its record.
  const VersionRecord& Add(uint64_t parent, int64_t created_unix, std::string from_client);
  uint64_t next_id() const { return next_id_; }
  // "v<id>.img": where version `id`'s file lives, in the overlay directory.
  static std::string FileFor(uint64_t id);
  // A version file's name, or one being written ("v<id>.img", "v<id>.img.tmp").
  static bool IsVersionFileName(std::string_view name);
  void set_current(uint64_t id) { current_ = id; }
  // Versions no one needs any more: not 1, not current, not the current's parent (rollback
  // needs it) and not in `in_use` (versions overlays are based on). Removes and returns them.
  std::vector<VersionRecord> Collect(const std::set<uint64_t>& in_use);

 private:
  VersionRegistry() = default;

  uint64_t size_bytes_ = 0;
  uint64_t current_ = 1;
  uint64_t next_id_ = 2;
  std::vector<VersionRecord> versions_;
};

}  // namespace aoe::overlay
