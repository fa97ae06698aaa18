#include "cli/control_cli.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cstdio>
#include <ctime>

#include "cli/command.h"
#include "cli/export_spec.h"
#include "cli/initiator_args.h"
#include "control/control_client.h"

namespace aoe::cli {

ParseResult<ControlCliArgs> ParseControlCliArgs(const std::vector<std::string>& args) {
  ControlCliArgs out;
  out.socket = std::string(control::kDefaultSocketPath);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string_view option) -> ParseResult<std::string> {
      if (i + 1 >= args.size()) {
        return ParseError{fmt::format("{} needs a value", option)};
      }
      return args[++i];
    };
    if (a == "--") {
      // The end of the options: the rest are words even if they start with '-'.
      out.words.insert(out.words.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                       args.end());
      break;
    } else if (a == "-h" || a == "--help") {
      out.help = true;
    } else if (a == "--json") {
      out.json = true;
    } else if (a == "-S" || a == "--socket") {
      ParseResult<std::string> v = value("--socket");
      if (!v) return ParseError{v.error()};
      out.socket = *v;
    } else if (a == "--timeout") {
      ParseResult<std::string> v = value("--timeout");
      if (!v) return ParseError{v.error()};
      ParseResult<Duration> seconds = ParseSeconds("--timeout", *v, 86400);
      if (!seconds) return ParseError{seconds.error()};
      out.timeout = std::chrono::ceil<std::chrono::milliseconds>(*seconds);
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      return ParseError{fmt::format("unknown option '{}'", a)};
    } else {
      out.words.push_back(a);
    }
  }
  return out;
}

int ControlUsage(std::string_view name, std::string_view message) {
  fmt::print(stderr, "aoe {}: {}; see 'aoe {} --help'\n", name, message, name);
  return kExitUsage;
}

std::optional<int> StartControlCli(std::string_view name, std::string_view help,
                                   const std::vector<std::string>& arguments, ControlCliArgs& cli) {
  ParseResult<ControlCliArgs> parsed = ParseControlCliArgs(arguments);
  if (!parsed) return ControlUsage(name, parsed.error().message);
  cli = std::move(*parsed);
  if (cli.help) {
    fmt::print("{}", help);
    return kExitOk;
  }
  if (cli.words.empty()) return ControlUsage(name, "no command given");
  return std::nullopt;
}

int RunControlCommand(std::string_view name, const ControlCliArgs& cli, const std::string& command,
                      const control::Json& args,
                      const std::function<void(const control::Json&)>& print) {
  control::Json request{{"command", command}};
  if (!args.is_null() && !args.empty()) request["args"] = args;
  return RunControlRequest(name, cli, request, print);
}

int RunControlRequest(std::string_view name, const ControlCliArgs& cli,
                      const control::Json& request,
                      const std::function<void(const control::Json&)>& print) {
  std::string why;
  Result<control::Json> response = control::Call(cli.socket, request, cli.timeout, why);
  if (!response) {
    fmt::print(stderr, "aoe {}: {}\n", name, why);
    return 1;
  }
  if (!(*response)["ok"].get<bool>()) {
    const control::Json& error = (*response)["error"];
    if (cli.json) {
      fmt::print("{}\n", response->dump(2));
    } else {
      fmt::print(stderr, "aoe {}: {} ({})\n", name, error["message"].get<std::string>(),
                 error["code"].get<std::string>());
    }
    // What the server found wrong with the arguments is a bad argument, as the help says.
    return error["code"].get<std::string>() == control::errc::kBadArgument ? kExitUsage
                                                                           : kExitFailure;
  }
  const control::Json& result = (*response)["result"];
  if (cli.json) {
    fmt::print("{}\n", result.dump(2));
    return 0;
  }
  // A result without the fields this command prints (an aoe serve of another version): one
  // line, not an uncaught exception.
  try {
    print(result);
  } catch (const control::Json::exception& e) {
    fmt::print(stderr,
               "aoe {}: unexpected answer from {} ({}); are aoe and aoe serve the same "
               "version? --json shows the answer as it is\n",
               name, cli.socket, e.what());
    return 1;
  }
  return 0;
}

std::optional<std::string> BadExportOperand(std::string_view text) {
  ParseResult<proto::DiskAddress> address = ParseDiskName(text);
  if (!address) return fmt::format("bad EXPORT: {}", address.error().message);
  return std::nullopt;
}

std::optional<std::string> BadMacOperand(std::string_view text) {
  ParseResult<MacAddress> mac = ParseMac("MAC", text);
  if (!mac) return mac.error().message;
  return std::nullopt;
}

std::string BytesText(const control::Json& bytes) {
  if (!bytes.is_number_unsigned()) return "-";
  return HumanBytes(bytes.get<uint64_t>());
}

std::string TimeText(const control::Json& unix_seconds) {
  if (!unix_seconds.is_number() || unix_seconds.get<int64_t>() == 0) return "-";
  const auto t = static_cast<std::time_t>(unix_seconds.get<int64_t>());
  const int64_t ago = static_cast<int64_t>(std::time(nullptr)) - unix_seconds.get<int64_t>();
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC ({} s ago)", tm, ago);
}

}  // namespace aoe::cli
