#include "proto/disk_address.h"

#include <fmt/format.h>

#include <charconv>
#include <optional>

namespace aoe::proto {
namespace {

struct Parts {
  std::optional<uint64_t> shelf;
  std::optional<uint64_t> slot;
};

std::optional<uint64_t> Decimal(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The two numbers of "e<shelf>.<slot>", or nothing when the text has another form.
std::optional<Parts> Split(std::string_view text) {
  if (!text.starts_with('e')) return std::nullopt;
  text.remove_prefix(1);
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  Parts parts{Decimal(text.substr(0, dot)), Decimal(text.substr(dot + 1))};
  if (!parts.shelf || !parts.slot) return std::nullopt;
  return parts;
}

}  // namespace

std::string DiskAddress::ToString() const {
  std::string s = shelf == kWildcardShelf ? "e*" : fmt::format("e{}", shelf);
  s += slot == kWildcardSlot ? ".*" : fmt::format(".{}", slot);
  return s;
}

Result<DiskAddress> ParseDiskAddress(std::string_view text) {
  std::optional<Parts> parts = Split(text);
  if (!parts) return Err(std::errc::invalid_argument);
  if (*parts->shelf > kWildcardShelf || *parts->slot > kWildcardSlot) {
    return Err(std::errc::result_out_of_range);
  }
  return DiskAddress{static_cast<uint16_t>(*parts->shelf), static_cast<uint8_t>(*parts->slot)};
}

std::string DescribeDiskAddressError(std::string_view text) {
  std::optional<Parts> parts = Split(text);
  if (!parts) {
    return fmt::format("'{}' is not a target name; expected eSHELF.SLOT such as e0.1", text);
  }
  if (*parts->shelf > kWildcardShelf) {
    return fmt::format("shelf {} in '{}' is out of range; use 0-65534", *parts->shelf, text);
  }
  if (*parts->slot > kWildcardSlot) {
    return fmt::format("slot {} in '{}' is out of range; use 0-254", *parts->slot, text);
  }
  return fmt::format("'{}' is a valid disk address", text);
}

}  // namespace aoe::proto
