// BackendSpec: where an export's data lives, as an administrator writes it after "eS.L=" on the
// command line or as `path` in the configuration file:
//
//   /srv/disk.img, /dev/sdb     an image file or a block device (the default kind)
//   file:/srv/disk.img          the same, explicitly (for a path that starts with a scheme)
//
// Only a text that starts with a known scheme and ':' names another kind, so a path containing a
// colon elsewhere is still a path. Plain values; opening is storage/chain.h's job.
#pragma once

#include <string>
#include <string_view>

namespace aoe {

struct BackendSpec {
  enum class Kind { kFile };

  Kind kind = Kind::kFile;
  std::string path;  // kFile: the image file or block device

  // The spec as written, in canonical form ("file:" is dropped): for logs and messages.
  std::string ToString() const;
  bool operator==(const BackendSpec&) const = default;
};

BackendSpec ParseBackendSpec(std::string_view text);

}  // namespace aoe
