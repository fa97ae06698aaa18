#include "storage/backend_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace aoe {
namespace {

constexpr std::string_view kFileScheme = "file:";
constexpr std::string_view kRbdScheme = "rbd:";
// Every scheme a spec may start with; a path that starts with one of them needs "file:".
constexpr std::array<std::string_view, 2> kSchemes = {kFileScheme, kRbdScheme};

bool StartsWithScheme(std::string_view text) {
  return std::any_of(kSchemes.begin(), kSchemes.end(),
                     [&](std::string_view scheme) { return text.starts_with(scheme); });
}

// Splits "POOL/IMAGE[@SNAP]" into the spec's fields; leaves them empty where a part is missing
// (BackendSpecProblem explains).
void SplitRbdPath(BackendSpec& spec) {
  std::string_view rest = spec.path;
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return;
  spec.pool = std::string(rest.substr(0, slash));
  rest.remove_prefix(slash + 1);
  const size_t at = rest.find('@');
  spec.image = std::string(rest.substr(0, at));
  if (at != std::string_view::npos) spec.snapshot = std::string(rest.substr(at + 1));
}

}  // namespace

std::string BackendSpec::ToString() const {
  if (kind == Kind::kRbd) return std::string(kRbdScheme) + path;
  if (StartsWithScheme(path)) return std::string(kFileScheme) + path;
  return path;
}

BackendSpec ParseBackendSpec(std::string_view text) {
  BackendSpec spec;
  if (text.starts_with(kRbdScheme)) {
    spec.kind = BackendSpec::Kind::kRbd;
    spec.path = std::string(text.substr(kRbdScheme.size()));
    SplitRbdPath(spec);
    return spec;
  }
  if (text.starts_with(kFileScheme)) text.remove_prefix(kFileScheme.size());
  spec.path = std::string(text);
  return spec;
}

std::string BackendSpecProblem(const BackendSpec& spec) {
  if (spec.kind == BackendSpec::Kind::kFile) {
    if (spec.path.empty()) return "no path; give the image file or block device to serve";
    if (!spec.ceph.empty()) {
      return fmt::format(
          "ceph_conf=, ceph_id= and keyring= apply to rbd: images only, and {} is a file; "
          "write rbd:POOL/IMAGE to serve an RBD image",
          spec.ToString());
    }
    return {};
  }
  const bool has_at = spec.path.find('@') != std::string::npos;
  if (spec.pool.empty() || spec.image.empty() || spec.image.find('/') != std::string::npos ||
      (has_at && spec.snapshot.empty()) || spec.snapshot.find('@') != std::string::npos) {
    return fmt::format(
        "'{}' is not an RBD image; write rbd:POOL/IMAGE or rbd:POOL/IMAGE@SNAP, "
        "e.g. rbd:rbd/disk1",
        spec.ToString());
  }
  return {};
}

}  // namespace aoe
