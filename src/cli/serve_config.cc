#include "cli/serve_config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "base/read_file.h"
#include "cli/export_spec.h"
#include "netboot/netboot_config.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kTopLevelKeys =
    "interfaces, state_dir, log_level, bufcnt, packet_io, busy_poll, loops, announce, durability, "
    "sync, direct, user, control_socket, [[export]], [netboot]";
constexpr std::string_view kExportKeys =
    "target, path, read_only, offset, length, durability, sync, direct, mask, interfaces, fail, "
    "overlay, lifetime, client_lifetimes, ceph_conf, ceph_id, keyring";

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// The keys of a table in the order they appear in the file: toml++ iterates in key order, and
// the first mistake a person sees reported should be the first one in their file.
std::vector<std::pair<std::string_view, const toml::node*>> KeysInFileOrder(
    const toml::table& table) {
  std::vector<std::pair<std::string_view, const toml::node*>> keys;
  for (const auto& [key, node] : table) keys.emplace_back(key.str(), &node);
  std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    return a.second->source().begin < b.second->source().begin;
  });
  return keys;
}

// Reads typed values out of one document and words every error with file:line.
class TomlReader {
 public:
  explicit TomlReader(std::string_view source_name) : source_name_(source_name) {}

  ParseError Error(const toml::node& at, std::string_view message) const {
    return ParseError{fmt::format("{}:{}: {}", source_name_, at.source().begin.line, message)};
  }
  ParseError WrongType(const toml::node& node, std::string_view key, std::string_view want,
                       std::string_view example) const {
    return Error(node,
                 fmt::format("{} must be {}, not {}; e.g. {}", key, want, TypeName(node), example));
  }

  std::optional<ParseError> Read(const toml::node& node, std::string_view key,
                                 std::string& out) const {
    const auto* value = node.as_string();
    if (!value) return WrongType(node, key, "a string", fmt::format("{} = \"...\"", key));
    out = value->get();
    return std::nullopt;
  }
  std::optional<ParseError> Read(const toml::node& node, std::string_view key, bool& out) const {
    const auto* value = node.as_boolean();
    if (!value) return WrongType(node, key, "true or false", fmt::format("{} = true", key));
    out = value->get();
    return std::nullopt;
  }
  // `example`: a value in range, for the message.
  std::optional<ParseError> Read(const toml::node& node, std::string_view key, uint64_t& out,
                                 uint64_t example = 2048) const {
    const auto* value = node.as_integer();
    if (!value) return WrongType(node, key, "an integer", fmt::format("{} = {}", key, example));
    if (value->get() < 0) {
      return Error(node, fmt::format("{} = {} is negative; give a count such as {} = {}", key,
                                     value->get(), key, example));
    }
    out = static_cast<uint64_t>(value->get());
    return std::nullopt;
  }
  // `entries`: example entries for the error message, as they go between the brackets.
  std::optional<ParseError> Read(const toml::node& node, std::string_view key,
                                 std::vector<std::string>& out,
                                 std::string_view entries = "\"eth0\", \"eth1\"") const {
    const auto* array = node.as_array();
    const std::string_view want = "an array of strings";
    const std::string example = fmt::format("{} = [{}]", key, entries);
    if (!array) return WrongType(node, key, want, example);
    out.clear();
    for (const toml::node& element : *array) {
      const auto* value = element.as_string();
      if (!value) {
        return WrongType(element, fmt::format("each entry of {}", key), "a string", example);
      }
      out.push_back(value->get());
    }
    return std::nullopt;
  }

 private:
  std::string_view source_name_;
};

// durability = "MODE", or its shorthand sync = true|false, in one table (top level or an
// [[export]]); the two together are an error.
class DurabilityKeys {
 public:
  std::optional<ParseError> Read(const TomlReader& reader, const toml::node& node,
                                 std::string_view key) {
    if (value_) {
      return reader.Error(node,
                          "durability is given twice (sync = true is durability = "
                          "\"sync\"); give it once");
    }
    if (key == "sync") {
      bool sync = false;
      if (auto error = reader.Read(node, key, sync)) return error;
      value_ = sync ? target::Durability::kSync : target::Durability::kAuto;
      return std::nullopt;
    }
    std::string text;
    if (auto error = reader.Read(node, key, text)) return error;
    ParseResult<target::Durability> durability = ParseDurabilityValue("durability", text);
    if (!durability) return reader.Error(node, durability.error().message);
    value_ = *durability;
    return std::nullopt;
  }
  const std::optional<target::Durability>& value() const { return value_; }

 private:
  std::optional<target::Durability> value_;
};

// Values of one [[export]] table before the server-wide defaults are applied.
struct ExportTable {
  target::ExportOptions options;
  DurabilityKeys durability;
  std::optional<bool> direct;
};

ParseResult<ExportTable> ParseExportTable(const TomlReader& reader, const toml::table& table) {
  ExportTable out;
  target::ExportOptions& e = out.options;
  bool have_target = false;
  bool have_path = false;
  CephClientOptions ceph;  // applied once path is known, whichever comes first
  for (const auto& [key, node_ptr] : KeysInFileOrder(table)) {
    const toml::node& node = *node_ptr;
    std::optional<ParseError> error;
    if (key == "target") {
      std::string text;
      error = reader.Read(node, key, text);
      if (!error) {
        ParseResult<proto::DiskAddress> address = ParseTargetAddress(text);
        if (!address) return reader.Error(node, fmt::format("target {}", address.error().message));
        e.address = *address;
        have_target = true;
      }
    } else if (key == "path") {
      std::string text;
      error = reader.Read(node, key, text);
      e.backend = ParseBackendSpec(text);
      have_path = true;
    } else if (key == "ceph_conf") {
      error = reader.Read(node, key, ceph.conf_path);
    } else if (key == "ceph_id") {
      error = reader.Read(node, key, ceph.id);
    } else if (key == "keyring") {
      error = reader.Read(node, key, ceph.keyring);
    } else if (key == "read_only") {
      error = reader.Read(node, key, e.read_only);
    } else if (key == "offset") {
      error = reader.Read(node, key, e.offset_sectors);
    } else if (key == "length") {
      error = reader.Read(node, key, e.length_sectors);
    } else if (key == "durability" || key == "sync") {
      error = out.durability.Read(reader, node, key);
    } else if (key == "direct") {
      bool value = false;
      error = reader.Read(node, key, value);
      out.direct = value;
    } else if (key == "interfaces") {
      error = reader.Read(node, key, e.interfaces);
    } else if (key == "mask") {
      std::vector<std::string> texts;
      error = reader.Read(node, key, texts, "\"02:00:00:00:00:01\"");
      for (size_t i = 0; !error && i < texts.size(); ++i) {
        std::optional<MacAddress> mac = MacAddress::Parse(texts[i]);
        if (!mac) {
          return reader.Error(node, fmt::format("mask entry '{}' is not a MAC address; "
                                                "write it as \"aa:bb:cc:dd:ee:ff\"",
                                                texts[i]));
        }
        e.mask.push_back(*mac);
      }
    } else if (key == "fail") {
      if (!node.is_array()) {
        return reader.WrongType(node, key, "an array of strings", "fail = [\"100-199:write\"]");
      }
      std::vector<std::string> texts;
      error = reader.Read(node, key, texts);
      for (size_t i = 0; !error && i < texts.size(); ++i) {
        ParseResult<target::InjectedFault> fault = ParseInjectedFault(texts[i]);
        if (!fault) return reader.Error(node, fault.error().message);
        e.fail.push_back(*fault);
      }
    } else if (key == "overlay") {
      error = reader.Read(node, key, e.overlay_dir);
      if (!error && e.overlay_dir.empty()) {
        return reader.Error(node,
                            "overlay must name a directory, e.g. overlay = "
                            "\"/var/lib/aoekit/overlays/e0.1\"");
      }
    } else if (key == "lifetime") {
      std::string text;
      error = reader.Read(node, key, text);
      if (!error) {
        ParseResult<overlay::Lifetime> lifetime =
            ParseLifetimeValue(key, text, "lifetime = \"discard-on-boot\"");
        if (!lifetime) return reader.Error(node, lifetime.error().message);
        e.lifetime = *lifetime;
      }
    } else if (key == "client_lifetimes") {
      const toml::table* lifetimes = node.as_table();
      if (!lifetimes) {
        return reader.WrongType(node, key, "a table of MAC = lifetime",
                                "client_lifetimes = { \"52:54:00:12:34:56\" = \"persist\" }");
      }
      for (const auto& [mac_key, value_node] : KeysInFileOrder(*lifetimes)) {
        std::optional<MacAddress> mac = MacAddress::Parse(mac_key);
        if (!mac) {
          return reader.Error(*value_node,
                              fmt::format("client_lifetimes key '{}' is not a MAC address; "
                                          "write it as \"aa:bb:cc:dd:ee:ff\"",
                                          mac_key));
        }
        std::string text;
        if (auto bad = reader.Read(*value_node, "each lifetime", text)) return std::move(*bad);
        ParseResult<overlay::Lifetime> lifetime = ParseLifetimeValue(
            "lifetime", text,
            fmt::format("client_lifetimes = {{ \"{}\" = \"persist\" }}", mac_key));
        if (!lifetime) return reader.Error(*value_node, lifetime.error().message);
        e.client_lifetimes[*mac] = *lifetime;
      }
    } else {
      return reader.Error(
          node, fmt::format("unknown key '{}' in [[export]]; known keys: {}", key, kExportKeys));
    }
    if (error) return std::move(*error);
  }
  if (!have_target) {
    return reader.Error(table,
                        "[[export]] has no target; add target = \"eSHELF.SLOT\", e.g. "
                        "target = \"e0.1\"");
  }
  if (!have_path || e.backend.path.empty()) {
    return reader.Error(table, fmt::format("export {} has no path; add path = \"/srv/disk.img\" "
                                           "(an image file or block device)",
                                           e.name()));
  }
  e.backend.ceph = ceph;
  return out;
}

}  // namespace

ParseResult<ServeConfig> ParseServeToml(std::string_view text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    // toml++ words its syntax errors well; only the location format is ours.
    return ParseError{
        fmt::format("{}:{}: {}", source_name, e.source().begin.line, e.description())};
  }

  const TomlReader reader(source_name);
  ServeConfig config;
  target::ServerOptions& server = config.server;
  DurabilityKeys default_durability;
  bool default_direct = false;
  std::vector<ExportTable> exports;
  const toml::node* netboot_node = nullptr;
  for (const auto& [key, node_ptr] : KeysInFileOrder(root)) {
    const toml::node& node = *node_ptr;
    std::optional<ParseError> error;
    if (key == "interfaces") {
      error = reader.Read(node, key, server.interfaces);
    } else if (key == "state_dir") {
      error = reader.Read(node, key, server.state_dir);
    } else if (key == "log_level") {
      std::string level;
      error = reader.Read(node, key, level);
      if (!error) {
        std::optional<LogLevel> parsed = ParseLogLevel(level);
        if (!parsed) {
          return reader.Error(
              node, fmt::format("log_level '{}' is not one of error, warn, info, debug", level));
        }
        config.log_level = *parsed;
      }
    } else if (key == "bufcnt") {
      uint64_t count = 0;
      error = reader.Read(node, key, count, /*example=*/64);
      if (!error && (count < 2 || count > UINT16_MAX)) {
        return reader.Error(
            node, fmt::format("bufcnt {} is out of range; use 2-65535 (default 64; Linux sends "
                              "nothing to a target advertising fewer than 2)",
                              count));
      }
      server.buffer_count = static_cast<uint16_t>(count);
    } else if (key == "packet_io") {
      std::string mode;
      error = reader.Read(node, key, mode);
      if (!error) {
        std::optional<PacketIo> parsed = ParsePacketIo(mode);
        if (!parsed) {
          return reader.Error(node,
                              fmt::format("packet_io '{}' is not one of ring, socket, auto", mode));
        }
        server.packet_io = *parsed;
      }
    } else if (key == "busy_poll") {
      uint64_t usec = 0;
      error = reader.Read(node, key, usec);
      if (!error && usec > static_cast<uint64_t>(target::kMaxBusyPoll.count())) {
        return reader.Error(node, fmt::format("busy_poll {} is out of range; use 0 (off) to {} "
                                              "microseconds (default 50)",
                                              usec, target::kMaxBusyPoll.count()));
      }
      server.busy_poll = std::chrono::microseconds(usec);
    } else if (key == "loops") {
      uint64_t loops = 0;
      error = reader.Read(node, key, loops, /*example=*/2);
      if (!error && (loops < 1 || loops > target::kMaxLoops)) {
        return reader.Error(node, fmt::format("loops {} is out of range; use 1 (default) to {}",
                                              loops, target::kMaxLoops));
      }
      server.loops = loops;
    } else if (key == "announce") {
      error = reader.Read(node, key, server.announce);
    } else if (key == "user") {
      error = reader.Read(node, key, config.user);
      if (!error && config.user.empty()) {
        return reader.Error(node,
                            "user must name a user, e.g. user = \"aoe\"; remove the key "
                            "to keep running as the starting user");
      }
    } else if (key == "control_socket") {
      std::string path;
      error = reader.Read(node, key, path);
      if (!error && path.empty()) {
        return reader.Error(node, "control_socket must be a path, or \"none\" for no socket");
      }
      config.control_socket = path;
    } else if (key == "durability" || key == "sync") {
      error = default_durability.Read(reader, node, key);
    } else if (key == "direct") {
      error = reader.Read(node, key, default_direct);
    } else if (key == "export") {
      const toml::array* tables = node.as_array();
      if (!tables || !tables->is_array_of_tables()) {
        return reader.Error(node,
                            "export must be a list of tables; write each export as an "
                            "[[export]] section");
      }
      for (const toml::node& table : *tables) {
        ParseResult<ExportTable> parsed = ParseExportTable(reader, *table.as_table());
        if (!parsed) return ParseError{parsed.error()};
        exports.push_back(std::move(*parsed));
      }
    } else if (key == "netboot") {
      const toml::table* table = node.as_table();
      if (!table) {
        return reader.Error(node, "netboot must be a table; write it as a [netboot] section");
      }
      netboot_node = &node;
      netboot::NetbootOptions& nb = config.netboot.emplace();
      // The message already starts with file:line (of the offending key).
      if (std::string problem = netboot::ApplyNetbootToml(*table, source_name, nb);
          !problem.empty()) {
        return ParseError{std::move(problem)};
      }
    } else {
      return reader.Error(node,
                          fmt::format("unknown key '{}'; known keys: {}", key, kTopLevelKeys));
    }
    if (error) return std::move(*error);
  }

  // Defaults apply whatever order the file lists things in.
  for (ExportTable& e : exports) {
    e.options.durability = e.durability.value().value_or(
        default_durability.value().value_or(target::Durability::kAuto));
    e.options.direct = e.direct.value_or(default_direct);
    server.exports.push_back(std::move(e.options));
  }
  if (config.netboot) {
    netboot::NetbootOptions& nb = *config.netboot;
    if (nb.interface_name.empty()) {
      if (server.interfaces.size() != 1) {
        return reader.Error(*netboot_node,
                            fmt::format("[netboot] has no interface and the server has {} "
                                        "interfaces; add interface = \"IFACE\" to [netboot]",
                                        server.interfaces.size()));
      }
      nb.interface_name = server.interfaces.front();
    }
    if (!nb.targets.default_target && nb.targets.by_mac.empty()) {
      return reader.Error(*netboot_node,
                          "[netboot] boots nothing; add boot = \"eSHELF.SLOT\" (e.g. "
                          "boot = \"e0.1\") or a [netboot.clients] table");
    }
    if (std::string problem = netboot::ValidateNetbootOptions(nb); !problem.empty()) {
      return reader.Error(*netboot_node, fmt::format("[netboot]: {}", problem));
    }
  }
  return config;
}

ParseResult<ServeConfig> LoadServeConfigFile(const std::string& path) {
  Result<std::string> text = ReadSmallFile(path);
  if (!text) {
    return ParseError{
        fmt::format("cannot read config file {}: {}; check the path and its permissions", path,
                    text.error().message())};
  }
  ParseResult<ServeConfig> config = ParseServeToml(*text, path);
  if (!config) return config;
  if (std::string problem = target::ValidateOptions(config->server); !problem.empty()) {
    return ParseError{fmt::format("{}: {}", path, problem)};
  }
  return config;
}

}  // namespace aoe::cli
