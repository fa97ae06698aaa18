// BackendSpec: where an export's data lives, as an administrator writes it after "eS.L=" on the
// command line or as `path` in the configuration file:
//
//   /srv/disk.img, /dev/sdb     an image file or a block device (the default kind)
//   file:/srv/disk.img          the same, explicitly (for a path that starts with a scheme)
//   rbd:POOL/IMAGE[@SNAP]       a Ceph RBD image, or a snapshot of one (read-only)
//
// Only a text that starts with a known scheme and ':' names another kind, so a path containing a
// colon elsewhere is still a path. An RBD image also takes the export options ceph_conf=,
// ceph_id= and keyring= (CephClientOptions). Plain values; opening is storage/chain.h's job.
#pragma once

#include <string>
#include <string_view>

namespace aoe {

// How to reach the Ceph cluster: empty values mean Ceph's defaults (/etc/ceph/ceph.conf and the
// search path librados uses, client.admin, the keyring ceph.conf names).
struct CephClientOptions {
  std::string conf_path;  // ceph_conf=
  std::string id;         // ceph_id=, without "client."
  std::string keyring;    // keyring=

  bool empty() const { return conf_path.empty() && id.empty() && keyring.empty(); }
  bool operator==(const CephClientOptions&) const = default;
};

struct BackendSpec {
  enum class Kind { kFile, kRbd };

  Kind kind = Kind::kFile;
  // kFile: the image file or block device. kRbd: "POOL/IMAGE[@SNAP]" as written, split into the
  // fields below by ParseBackendSpec.
  std::string path;
  std::string pool{};        // kRbd
  std::string image{};       // kRbd
  std::string snapshot{};    // kRbd: empty for the image itself
  CephClientOptions ceph{};  // kRbd only (BackendSpecProblem refuses them elsewhere)

  bool is_snapshot() const { return kind == Kind::kRbd && !snapshot.empty(); }
  // The spec as written, in canonical form ("file:" is dropped): for logs and messages.
  std::string ToString() const;
  bool operator==(const BackendSpec&) const = default;
};

BackendSpec ParseBackendSpec(std::string_view text);

// "" or one line saying what is wrong with a parsed spec and how to write it: an empty path, an
// rbd: spec that is not POOL/IMAGE[@SNAP], Ceph options on something that is not an rbd: image.
std::string BackendSpecProblem(const BackendSpec& spec);

}  // namespace aoe
