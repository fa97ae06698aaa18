#include "cli/export_spec.h"

#include <fmt/format.h>

#include <charconv>
#include <string>
#include <vector>

namespace aoe::cli {

namespace {

constexpr std::string_view kExportExample = "e.g. e0.1=/srv/disk.img";
constexpr std::string_view kKnownKeys =
    "ro, offset=N, length=N, durability=cache|auto|sync, sync, direct, mask=MAC;MAC..., "
    "iface=NAME, fail=FIRST-LAST, overlay=DIR, lifetime=persist|discard-on-boot, "
    "lifetime.MAC=..., ceph_conf=PATH, ceph_id=NAME, keyring=PATH";

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// Which once-only keys an export spec has given so far.
struct SeenKeys {
  bool ro = false;
  bool direct = false;
  bool offset = false;
  bool length = false;
  bool durability = false;  // durability= or sync
  bool overlay = false;
  bool lifetime = false;
};

constexpr std::string_view kClientLifetimePrefix = "lifetime.";

// Parses the value of one key=value element into `e`. Returns an empty string or the reason
// the element is wrong (without the "bad export" prefix, which the caller adds).
std::string ApplyElement(std::string_view element, target::ExportOptions& e, SeenKeys& seen) {
  if (element.empty()) return "empty option between commas; remove the extra comma";
  const size_t eq = element.find('=');
  const std::string_view key = element.substr(0, eq);
  const bool has_value = eq != std::string_view::npos;
  const std::string_view value = has_value ? element.substr(eq + 1) : std::string_view{};

  const bool is_flag = key == "ro" || key == "sync" || key == "direct";
  if (is_flag) {
    if (has_value) return fmt::format("'{}' takes no value; write ,{}", key, key);
    if (key == "ro" || key == "direct") {
      bool& once = key == "ro" ? seen.ro : seen.direct;
      if (once) return fmt::format("{} is given twice; give it once", key);
      once = true;
      (key == "ro" ? e.read_only : e.direct) = true;
    }
    if (key == "sync") {
      if (seen.durability)
        return "durability is given twice (sync is durability=sync); give it once";
      seen.durability = true;
      e.durability = target::Durability::kSync;
    }
    return {};
  }
  const bool is_client_lifetime = key.starts_with(kClientLifetimePrefix);
  const bool is_valued = key == "offset" || key == "length" || key == "mask" || key == "iface" ||
                         key == "fail" || key == "durability" || key == "overlay" ||
                         key == "lifetime" || is_client_lifetime || key == "ceph_conf" ||
                         key == "ceph_id" || key == "keyring";
  if (!is_valued) return fmt::format("unknown option '{}'; use {}", key, kKnownKeys);
  if (value.empty()) {
    return fmt::format("'{}' needs a value, e.g. {}", key,
                       key == "mask"                 ? "mask=02:00:00:00:00:01"
                       : key == "iface"              ? "iface=vt0"
                       : key == "fail"               ? "fail=100-199:write"
                       : key == "durability"         ? "durability=sync"
                       : key == "overlay"            ? "overlay=/var/lib/aoekit/overlays/e0.1"
                       : key == "ceph_conf"          ? "ceph_conf=/etc/ceph/ceph.conf"
                       : key == "ceph_id"            ? "ceph_id=aoe"
                       : key == "keyring"            ? "keyring=/etc/ceph/ceph.client.aoe.keyring"
                       : key.starts_with("lifetime") ? std::string(key) + "=discard-on-boot"
                                                     : fmt::format("{}=2048", key));
  }

  if (key == "ceph_conf" || key == "ceph_id" || key == "keyring") {
    std::string& field = key == "ceph_conf" ? e.backend.ceph.conf_path
                         : key == "ceph_id" ? e.backend.ceph.id
                                            : e.backend.ceph.keyring;
    if (!field.empty()) return fmt::format("{} is given twice; give it once", key);
    field = std::string(value);
    return {};
  }
  if (key == "overlay") {
    if (seen.overlay) return "overlay is given twice; give it once";
    seen.overlay = true;
    e.overlay_dir = std::string(value);
    return {};
  }
  if (key == "lifetime" || is_client_lifetime) {
    ParseResult<overlay::Lifetime> lifetime =
        ParseLifetimeValue(key, value, fmt::format("{}=discard-on-boot", key));
    if (!lifetime) return lifetime.error().message;
    if (key == "lifetime") {
      if (seen.lifetime) return "lifetime is given twice; give it once";
      seen.lifetime = true;
      e.lifetime = *lifetime;
      return {};
    }
    const std::string_view mac_text = key.substr(kClientLifetimePrefix.size());
    std::optional<MacAddress> mac = MacAddress::Parse(mac_text);
    if (!mac) {
      return fmt::format("'{}' in {} is not a MAC address; write lifetime.aa:bb:cc:dd:ee:ff=...",
                         mac_text, key);
    }
    if (!e.client_lifetimes.emplace(*mac, *lifetime).second) {
      return fmt::format("{} is given twice; give it once", key);
    }
    return {};
  }

  if (key == "durability") {
    if (seen.durability) return "durability is given twice (sync is durability=sync); give it once";
    seen.durability = true;
    ParseResult<target::Durability> durability = ParseDurabilityValue("durability", value);
    if (!durability) return durability.error().message;
    e.durability = *durability;
    return {};
  }
  if (key == "offset" || key == "length") {
    bool& once = key == "offset" ? seen.offset : seen.length;
    if (once) return fmt::format("{} is given twice; give it once", key);
    once = true;
    std::optional<uint64_t> sectors = ParseUnsigned(value);
    if (!sectors) {
      return fmt::format("{} '{}' is not a whole number of 512-byte sectors, e.g. {}=2048", key,
                         value, key);
    }
    (key == "offset" ? e.offset_sectors : e.length_sectors) = *sectors;
    return {};
  }
  if (key == "mask") {
    // Repeating mask= appends, which spares the shell quoting that ';' needs.
    for (std::string_view text : Split(value, ';')) {
      std::optional<MacAddress> mac = MacAddress::Parse(text);
      if (!mac) {
        return fmt::format("'{}' is not a MAC address; write it as aa:bb:cc:dd:ee:ff", text);
      }
      e.mask.push_back(*mac);
    }
    return {};
  }
  if (key == "fail") {
    // Repeatable: each element adds one range.
    ParseResult<target::InjectedFault> fault = ParseInjectedFault(value);
    if (!fault) return fault.error().message;
    e.fail.push_back(*fault);
    return {};
  }
  // iface: repeatable, one interface per element.
  e.interfaces.emplace_back(value);
  return {};
}

}  // namespace

std::optional<uint64_t> ParseUnsigned(std::string_view text) {
  // from_chars takes no sign, space or base prefix, and fails on empty text and on overflow.
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

ParseResult<target::InjectedFault> ParseInjectedFault(std::string_view text) {
  const auto bad = [&] {
    return ParseError{fmt::format(
        "fail '{}' is not a sector range; write FIRST-LAST[:read|:write], e.g. 100-199:write",
        text)};
  };
  target::InjectedFault fault;
  std::string_view range = text;
  if (size_t colon = text.find(':'); colon != std::string_view::npos) {
    range = text.substr(0, colon);
    const std::string_view direction = text.substr(colon + 1);
    if (direction == "read") {
      fault.on_write = false;
    } else if (direction == "write") {
      fault.on_read = false;
    } else {
      return ParseError{fmt::format(
          "fail '{}': '{}' is not a direction; write :read or :write (or nothing for both)", text,
          direction)};
    }
  }
  const size_t dash = range.find('-');
  std::optional<uint64_t> first = ParseUnsigned(range.substr(0, dash));
  std::optional<uint64_t> last =
      dash == std::string_view::npos ? first : ParseUnsigned(range.substr(dash + 1));
  if (!first || !last) return bad();
  if (*first > *last) {
    return ParseError{
        fmt::format("fail '{}' ends before it starts; write FIRST-LAST with FIRST <= LAST", text)};
  }
  fault.first_sector = *first;
  fault.last_sector = *last;
  return fault;
}

ParseResult<proto::DiskAddress> ParseTargetAddress(std::string_view text) {
  Result<proto::DiskAddress> address = proto::ParseDiskAddress(text);
  if (!address) return ParseError{proto::DescribeDiskAddressError(text)};
  return *address;
}

ParseResult<target::Durability> ParseDurabilityValue(std::string_view option,
                                                     std::string_view text) {
  std::optional<target::Durability> durability = target::ParseDurability(text);
  if (!durability) {
    return ParseError{fmt::format(
        "{} '{}' is not one of cache, auto, sync; e.g. {}{}auto (see docs/configuration.md)",
        option, text, option, option.starts_with("--") ? " " : "=")};
  }
  return *durability;
}

ParseResult<overlay::Lifetime> ParseLifetimeValue(std::string_view option, std::string_view text,
                                                  std::string_view example) {
  std::optional<overlay::Lifetime> lifetime = overlay::ParseLifetime(text);
  if (!lifetime) {
    return ParseError{fmt::format("{} '{}' is not one of persist, discard-on-boot; e.g. {}", option,
                                  text, example)};
  }
  return *lifetime;
}

ParseResult<target::ExportOptions> ParseExportSpec(std::string_view spec,
                                                   const ExportDefaults& defaults) {
  const size_t eq = spec.find('=');
  if (eq == std::string_view::npos) {
    return ParseError{
        fmt::format("bad export '{}'; expected eSHELF.SLOT=PATH, {}", spec, kExportExample)};
  }
  ParseResult<proto::DiskAddress> address = ParseTargetAddress(spec.substr(0, eq));
  if (!address)
    return ParseError{fmt::format("bad export '{}': {}", spec, address.error().message)};

  target::ExportOptions e;
  e.address = *address;
  e.durability = defaults.durability;
  e.direct = defaults.direct;

  // The path ends at the first comma: paths with commas go in a config file instead.
  std::vector<std::string_view> elements = Split(spec.substr(eq + 1), ',');
  e.backend = ParseBackendSpec(elements.front());
  if (e.backend.path.empty()) {
    return ParseError{fmt::format("bad export '{}': no PATH after '='; {}", spec, kExportExample)};
  }
  SeenKeys seen;
  for (size_t i = 1; i < elements.size(); ++i) {
    std::string problem = ApplyElement(elements[i], e, seen);
    if (!problem.empty()) return ParseError{fmt::format("bad export '{}': {}", spec, problem)};
  }
  return e;
}

std::string MapExportSpecPaths(std::string_view spec,
                               const std::function<std::string(const std::string&)>& map) {
  const size_t eq = spec.find('=');
  if (eq == std::string_view::npos) return std::string(spec);
  std::string out(spec.substr(0, eq + 1));
  std::vector<std::string_view> elements = Split(spec.substr(eq + 1), ',');
  for (size_t i = 0; i < elements.size(); ++i) {
    std::string_view element = elements[i];
    if (i > 0) out += ',';
    if (i == 0) {
      const BackendSpec backend = ParseBackendSpec(element);
      if (backend.kind == BackendSpec::Kind::kFile && !backend.path.empty()) {
        // Keeps a "file:" scheme written before the path.
        out += element.substr(0, element.size() - backend.path.size());
        out += map(backend.path);
        continue;
      }
    } else if (const size_t key_end = element.find('='); key_end != std::string_view::npos) {
      const std::string_view key = element.substr(0, key_end);
      const std::string_view value = element.substr(key_end + 1);
      if (!value.empty() && (key == "overlay" || key == "ceph_conf" || key == "keyring")) {
        out += element.substr(0, key_end + 1);
        out += map(std::string(value));
        continue;
      }
    }
    out += element;
  }
  return out;
}

std::string RelativePathIn(std::string_view spec) {
  std::string relative;
  MapExportSpecPaths(spec, [&](const std::string& path) {
    if (relative.empty() && !path.starts_with('/')) relative = path;
    return path;
  });
  return relative;
}

}  // namespace aoe::cli
