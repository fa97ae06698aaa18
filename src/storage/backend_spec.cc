#include "storage/backend_spec.h"

#include <algorithm>
#include <array>

namespace aoe {
namespace {

constexpr std::string_view kFileScheme = "file:";
// Every scheme a spec may start with; a path that starts with one of them needs "file:".
constexpr std::array<std::string_view, 1> kSchemes = {kFileScheme};

bool StartsWithScheme(std::string_view text) {
  return std::any_of(kSchemes.begin(), kSchemes.end(),
                     [&](std::string_view scheme) { return text.starts_with(scheme); });
}

}  // namespace

std::string BackendSpec::ToString() const {
  if (StartsWithScheme(path)) return std::string(kFileScheme) + path;
  return path;
}

BackendSpec ParseBackendSpec(std::string_view text) {
  BackendSpec spec;
  if (text.starts_with(kFileScheme)) text.remove_prefix(kFileScheme.size());
  spec.path = std::string(text);
  return spec;
}

}  // namespace aoe
