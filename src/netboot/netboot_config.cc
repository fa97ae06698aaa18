#include "netboot/netboot_config.h"

#include <fmt/format.h>

#include <optional>

namespace aoe::netboot {

namespace {

std::string Where(std::string_view source, const toml::node& node, std::string_view key) {
  return fmt::format("{}:{}: {}", source, node.source().begin.line, key);
}

std::optional<std::string> String(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  return std::nullopt;
}

std::string ParseAddress(std::string_view source, const toml::node& node, std::string_view key,
                         std::optional<Ipv4Address>& out) {
  std::optional<std::string> text = String(node);
  std::optional<Ipv4Address> address = text ? Ipv4Address::Parse(*text) : std::nullopt;
  if (!address) {
    return fmt::format("{} must be an IPv4 address in quotes, e.g. \"10.77.0.1\"",
                       Where(source, node, key));
  }
  out = address;
  return "";
}

std::string ParseClients(std::string_view source, const toml::node& node, NetbootOptions& options) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return fmt::format("{} must be a table of \"MAC\" = \"eSHELF.SLOT\"",
                       Where(source, node, "clients"));
  }
  for (const auto& [key, value] : *table) {
    std::optional<MacAddress> mac = MacAddress::Parse(key.str());
    std::optional<std::string> text = String(value);
    std::optional<proto::DiskAddress> target = text ? ParseAoeTarget(*text) : std::nullopt;
    const std::string where = Where(source, value, fmt::format("clients.{}", key.str()));
    if (!mac || !target) return fmt::format("{}: want \"52:54:00:12:34:56\" = \"e0.1\"", where);
    if (std::string problem = ClientMacProblem(*mac); !problem.empty()) {
      return fmt::format("{}: {}; give the client's own MAC", where, problem);
    }
    options.targets.by_mac[*mac] = *target;
  }
  return "";
}

std::string ParseNetmask(std::string_view source, const toml::node& node, std::string_view key,
                         std::optional<Ipv4Address>& out) {
  if (std::string error = ParseAddress(source, node, key, out); !error.empty()) return error;
  if (!IsSubnetMask(*out)) {
    return fmt::format("{} {} is not a subnet mask (ones, then zeros); e.g. \"255.255.255.0\"",
                       Where(source, node, key), out->ToString());
  }
  return "";
}

// A table that says mode = "proxy" and also gives full mode's address settings contradicts
// itself; said here, the error can name both lines. (ValidateNetbootOptions catches the same
// when the two come from different places, e.g. the file and the command line.)
std::string CheckProxyTable(const toml::table& table, std::string_view source) {
  const toml::node* mode = table.get("mode");
  if (mode == nullptr || String(*mode) != "proxy") return "";
  for (std::string_view key : {"range", "netmask", "router", "lease_time", "lease_file"}) {
    if (const toml::node* node = table.get(key)) {
      return fmt::format(
          "{} is for full DHCP mode, but line {} says mode = \"proxy\" (the existing DHCP "
          "server gives addresses); remove {}, or write mode = \"full\" to make this the DHCP "
          "server",
          Where(source, *node, key), mode->source().begin.line, key);
    }
  }
  return "";
}

}  // namespace

std::string ParseRange(std::string_view text, NetbootOptions& options) {
  size_t dash = text.find('-');
  std::optional<Ipv4Address> first =
      dash == std::string_view::npos ? std::nullopt : Ipv4Address::Parse(text.substr(0, dash));
  std::optional<Ipv4Address> last =
      dash == std::string_view::npos ? std::nullopt : Ipv4Address::Parse(text.substr(dash + 1));
  if (!first || !last) {
    return fmt::format("range '{}' is not FROM-TO, e.g. 10.77.0.100-10.77.0.200", text);
  }
  options.range_first = first;
  options.range_last = last;
  return "";
}

std::string ApplyNetbootToml(const toml::table& table, std::string_view source,
                             NetbootOptions& options) {
  for (const auto& [key_node, node] : table) {
    const std::string_view key = key_node.str();
    auto need_string = [&](std::string& out) -> std::string {
      std::optional<std::string> text = String(node);
      if (!text) return fmt::format("{} must be a string in quotes", Where(source, node, key));
      out = *text;
      return "";
    };
    std::string error;
    std::string text;
    if (key == "interface") {
      error = need_string(options.interface_name);
    } else if (key == "mode") {
      error = need_string(text);
      if (error.empty()) {
        if (text == "full") {
          options.given_mode = DhcpMode::kFull;
        } else if (text == "proxy") {
          options.given_mode = DhcpMode::kProxy;
        } else {
          error = fmt::format("{} must be \"full\" or \"proxy\"", Where(source, node, key));
        }
      }
    } else if (key == "boot") {
      error = need_string(text);
      if (error.empty()) {
        std::optional<proto::DiskAddress> target = ParseAoeTarget(text);
        if (!target) {
          error = fmt::format("{} must be an AoE target like \"e0.1\"", Where(source, node, key));
        } else {
          options.targets.default_target = target;
        }
      }
    } else if (key == "range") {
      error = need_string(text);
      if (error.empty()) {
        error = ParseRange(text, options);
        if (!error.empty()) error = fmt::format("{}: {}", Where(source, node, key), error);
      }
    } else if (key == "netmask") {
      error = ParseNetmask(source, node, key, options.netmask);
    } else if (key == "router") {
      error = ParseAddress(source, node, key, options.router);
    } else if (key == "lease_time") {
      const auto* seconds = node.as_integer();
      if (seconds == nullptr || seconds->get() < 60 || seconds->get() > 0xffffffffLL) {
        error =
            fmt::format("{} must be a number of seconds, at least 60", Where(source, node, key));
      } else {
        options.lease_seconds = static_cast<uint32_t>(seconds->get());
      }
    } else if (key == "lease_file") {
      error = need_string(options.lease_file);
    } else if (key == "tftp_root") {
      error = need_string(options.tftp_root);
    } else if (key == "bios_file") {
      error = need_string(options.files.bios);
    } else if (key == "efi_file") {
      error = need_string(options.files.efi);
    } else if (key == "clients") {
      error = ParseClients(source, node, options);
    } else {
      error = fmt::format("{}: unknown key; see docs/netboot.md for the netboot keys",
                          Where(source, node, key));
    }
    if (!error.empty()) return error;
  }
  return CheckProxyTable(table, source);
}

std::string ApplyNetbootTomlText(std::string_view text, std::string_view source,
                                 NetbootOptions& options) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return fmt::format("{}:{}: {}", source, e.source().begin.line, e.description());
  }
  return ApplyNetbootToml(root, source, options);
}

}  // namespace aoe::netboot
