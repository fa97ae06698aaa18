#include "cli/initiator_args.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <set>
#include <utility>

#include "base/interface_name.h"
#include "cli/cli_error.h"
#include "cli/command.h"
#include "cli/export_spec.h"
#include "initiator/error.h"
#include "proto/ata.h"
#include "proto/header.h"
#include "proto/mask.h"

namespace aoe::cli {

namespace {

// Our usage lines and description first (CLI11 would print the description before a generated
// one-form usage line), then CLI11's option list, then the footer.
class InitiatorFormatter : public CLI::Formatter {
 public:
  explicit InitiatorFormatter(const CommandHelp& help)
      : usage_(help.usage), description_(help.description) {}
  std::string make_description(const CLI::App*) const override { return ""; }
  std::string make_usage(const CLI::App*, std::string) const override {
    return fmt::format("{}\n{}\n", usage_, description_);
  }

 private:
  std::string usage_;
  std::string description_;
};

}  // namespace

void SetUpCommand(CLI::App& app, const CommandHelp& help) {
  app.formatter(std::make_shared<InitiatorFormatter>(help));
  app.get_formatter()->column_width(30);
  app.footer(std::string(help.footer));
  app.set_help_flag("-h,--help", "Print this help and exit.");
  app.allow_extras();
}

void AddInterfaceOption(CLI::App& app, std::vector<std::string>& interfaces) {
  // allow_extra_args(false): each -i takes exactly one value, so "-i enp1s0 e0.1" keeps e0.1.
  app.add_option("-i,--interface", interfaces,
                 "Ethernet interface to use; repeat for several (multipath).\n"
                 "Example: -i enp1s0 -i enp2s0")
      ->type_name("IFACE")
      ->allow_extra_args(false)
      // One interface twice would be two ports on one link, each seeing the other's replies.
      ->check(
          [seen = std::make_shared<std::set<std::string>>()](const std::string& name) {
            if (std::string problem = InterfaceNameProblem(name); !problem.empty()) {
              return fmt::format("-i '{}' {}", name, problem);
            }
            return seen->insert(name).second
                       ? std::string()
                       : fmt::format("-i {} is given twice; give each interface once", name);
          },
          // No name: CLI11 would print it after the type in --help ("IFACE:IFACE").
          "");
}

std::optional<int> ParseCommand(CLI::App& app, std::string_view name,
                                const std::vector<std::string>& args) {
  ParseResult<bool> help = ParseWithCli11(app, name, args);
  if (!help) return Fail(name, kExitUsage, help.error().message);
  if (*help) {
    fmt::print("{}", app.help());
    return kExitOk;
  }
  return std::nullopt;
}

int Fail(std::string_view name, int status, std::string_view message) {
  fmt::print(stderr, "aoe {}: {}\n", name, message);
  return status;
}

void PrintNotices(std::string_view name, initiator::ClientOptions& options) {
  options.initiator.on_notice = [name = std::string(name)](proto::DiskAddress,
                                                           const std::string& message) {
    fmt::print(stderr, "aoe {}: {}\n", name, message);
  };
}

ParseResult<proto::DiskAddress> ParseDiskName(std::string_view text) {
  ParseResult<proto::DiskAddress> a = ParseTargetAddress(text);
  if (!a) return ParseError{a.error()};
  if (a->shelf == proto::kWildcardShelf) {
    return ParseError{fmt::format(
        "shelf 65535 in '{}' is the broadcast address; name one disk such as e0.1", text)};
  }
  if (a->slot == proto::kWildcardSlot) {
    return ParseError{
        fmt::format("slot 255 in '{}' is the broadcast address; name one disk such as e0.1", text)};
  }
  return *a;
}

bool LooksLikeDiskName(std::string_view text) {
  if (text.size() < 4 || text[0] != 'e') return false;
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot < 2 || dot + 1 == text.size()) return false;
  auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return digits(text.substr(1, dot - 1)) && digits(text.substr(dot + 1));
}

ParseResult<Duration> ParseSeconds(std::string_view option, std::string_view text,
                                   double max_seconds) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value) || value <= 0 ||
      value > max_seconds) {
    return ParseError{
        fmt::format("{} '{}' is not a number of seconds from 0.001 to {:g}; e.g. {} 2", option,
                    text, max_seconds, option)};
  }
  auto d = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(value));
  if (d < std::chrono::milliseconds(1)) {
    return ParseError{
        fmt::format("{} '{}' is shorter than a millisecond; e.g. {} 0.5", option, text, option)};
  }
  return d;
}

ParseResult<uint64_t> ParseByteSize(std::string_view option, std::string_view text,
                                    std::string_view example) {
  const auto bad = [&] {
    return ParseError{fmt::format(
        "{} '{}' is not a size; write whole bytes with an optional K, M, G or T suffix, e.g. {} "
        "{}",
        option, text, option, example)};
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::optional<uint64_t> number = ParseUnsigned(text.substr(0, digits));
  if (!number) return bad();
  std::string_view suffix = text.substr(digits);
  uint64_t unit = 1;
  if (suffix.empty() || suffix == "B") {
    unit = 1;
  } else if (suffix == "k" || suffix == "K" || suffix == "KiB") {
    unit = uint64_t{1} << 10;
  } else if (suffix == "m" || suffix == "M" || suffix == "MiB") {
    unit = uint64_t{1} << 20;
  } else if (suffix == "g" || suffix == "G" || suffix == "GiB") {
    unit = uint64_t{1} << 30;
  } else if (suffix == "t" || suffix == "T" || suffix == "TiB") {
    unit = uint64_t{1} << 40;
  } else {
    return bad();
  }
  if (*number > UINT64_MAX / unit) return bad();
  return *number * unit;
}

ParseResult<MacAddress> ParseMac(std::string_view option, std::string_view text) {
  std::optional<MacAddress> mac = MacAddress::Parse(text);
  if (!mac) {
    // "--mac 'x' ...; e.g. --mac 02:..." for an option, "MAC 'x' ...; e.g. 02:..." for an operand.
    const std::string example = option.starts_with("-") ? fmt::format("{} ", option) : "";
    return ParseError{fmt::format("{} '{}' is not a MAC address; e.g. {}02:00:00:00:00:01", option,
                                  text, example)};
  }
  if (mac->is_multicast() || mac->is_zero()) {
    return ParseError{
        fmt::format("{} '{}' is not a host's MAC address (broadcast, multicast or "
                    "zero); give a unicast MAC such as 02:00:00:00:00:01",
                    option, text)};
  }
  return *mac;
}

std::string HumanBytes(uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  size_t unit = 0;
  double value = static_cast<double>(bytes);
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  // Whole numbers print without decimals ("256 MiB"), others with at most one ("1.5 GiB").
  if (std::fabs(value - std::round(value)) < 0.05) {
    return fmt::format("{:.0f} {}", value, kUnits[unit]);
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string HumanSeconds(Duration d) {
  double seconds = std::chrono::duration<double>(d).count();
  return fmt::format("{:g} s", seconds);
}

std::string QuoteBytes(std::string_view bytes) {
  std::string out = "\"";
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JoinNames(const std::vector<std::string>& names) {
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string Milliseconds(Duration d) {
  return fmt::format("{:.3f}", std::chrono::duration<double, std::milli>(d).count());
}

nlohmann::json PathStatsJson(const std::vector<initiator::PathStats>& paths) {
  nlohmann::json out = nlohmann::json::array();
  for (const initiator::PathStats& p : paths) {
    out.push_back({{"interface", p.port},
                   {"local_mac", p.local_mac.ToString()},
                   {"target_mac", p.target_mac.ToString()},
                   {"up", p.up},
                   {"sent", p.sent},
                   {"replies", p.replies},
                   {"retransmits", p.retransmits},
                   {"timeouts", p.timeouts},
                   {"spurious_timeouts", p.spurious_timeouts},
                   {"window", p.window},
                   {"frame_sectors_cap", p.frame_sectors_cap},
                   {"frame_size_probes", p.frame_size_probes},
                   {"rtt_ms", std::chrono::duration<double, std::milli>(p.rtt_avg).count()}});
  }
  return out;
}

void PrintPathStats(std::string_view name, const std::vector<initiator::PathStats>& paths) {
  for (const initiator::PathStats& p : paths) {
    fmt::print(stderr,
               "aoe {}: path {} -> {}: {}, {} sent, {} replies, {} retransmits, {} timeouts "
               "({} late, not lost), rtt {} ms{}\n",
               name, p.port, p.target_mac.ToString(), p.up ? "up" : "DOWN", p.sent, p.replies,
               p.retransmits, p.timeouts, p.spurious_timeouts, Milliseconds(p.rtt_avg),
               p.frame_sectors_cap == 0
                   ? std::string()
                   : fmt::format(", frames cut to {} sectors (longer ones were lost)",
                                 p.frame_sectors_cap));
  }
}

std::string ExplainError(initiator::Client& client, proto::DiskAddress address,
                         const initiator::Error& error) {
  if (!(error == initiator::InitiatorErrc::kTargetReserved)) return error.message;
  std::string holders = "?";
  initiator::ExchangeOptions quick;
  quick.timeout = std::chrono::seconds(1);
  auto list = client.Reserve(address, proto::ReserveCommand::kRead, {}, quick);
  if (list) {
    std::vector<std::string> macs;
    for (const MacAddress& m : list->macs) macs.push_back(m.ToString());
    holders = JoinNames(macs);
  }
  return fmt::format(
      "{}: target reserved by another host ({}); it must release it, or take it "
      "over with 'aoe reserve --force'",
      address.ToString(), holders);
}

}  // namespace aoe::cli
