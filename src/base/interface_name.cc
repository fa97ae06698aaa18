#include "base/interface_name.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace aoe {
namespace {
// IFNAMSIZ - 1.
constexpr size_t kMaxInterfaceNameSize = 15;
}  // namespace

std::string InterfaceNameProblem(std::string_view name) {
  if (name.empty()) return "is empty; name an interface such as eth0";
  if (name.size() > kMaxInterfaceNameSize) {
    return fmt::format("is longer than {} characters; check the name with 'ip link'",
                       kMaxInterfaceNameSize);
  }
  if (name == "." || name == "..") return "is not an interface name; check it with 'ip link'";
  const auto bad = std::find_if(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0;
  });
  if (bad == name.end()) return {};
  if (std::isspace(static_cast<unsigned char>(*bad)) != 0) {
    return "has white space, which no interface name has; check it with 'ip link'";
  }
  return fmt::format("has a '{}', which no interface name has; check it with 'ip link'", *bad);
}

}  // namespace aoe
