// The target administration commands, like aoetools' aoecfg and aoe-mask/aoe-reserve:
//   aoe config   read, set, force or test the config string (Query Config, cmd 1)
//   aoe mask     read or edit the MAC mask list (cmd 2)
//   aoe reserve  / aoe release: the reserve list (cmd 3)
// Each is one exchange with the target, resent until it answers or --timeout passes.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "cli/command.h"
#include "cli/initiator_args.h"
#include "proto/config.h"
#include "proto/mask.h"

namespace aoe::cli {

namespace {

// What every admin command takes: interfaces, the disk and the reply timeout.
struct AdminArgs {
  std::vector<std::string> interfaces;
  std::string target_text;
  std::string timeout_text = "1";
  proto::DiskAddress address;
  Duration timeout{};
};

void AddAdminOptions(CLI::App& app, AdminArgs& a) {
  AddInterfaceOption(app, a.interfaces);
  app.add_option("--timeout", a.timeout_text,
                 "Seconds to wait for the target's reply (default 1).\n"
                 "Example: --timeout 3")
      ->type_name("S");
}

void AddTargetPositional(CLI::App& app, AdminArgs& a) {
  app.add_option("TARGET", a.target_text, "The disk, eSHELF.SLOT. Example: e0.1")->type_name("");
}

// Checks what AddAdminOptions collected; returns an exit status on error.
std::optional<int> CheckAdminArgs(std::string_view name, AdminArgs& a) {
  ParseResult<Duration> timeout = ParseSeconds("--timeout", a.timeout_text, 600);
  if (!timeout) return Fail(name, kExitUsage, timeout.error().message);
  a.timeout = *timeout;
  if (a.target_text.empty()) {
    return Fail(
        name, kExitUsage,
        fmt::format("no disk given; name it as eSHELF.SLOT, e.g. aoe {} -i IFACE e0.1", name));
  }
  ParseResult<proto::DiskAddress> address = ParseDiskName(a.target_text);
  if (!address) return Fail(name, kExitUsage, address.error().message);
  a.address = *address;
  if (a.interfaces.empty()) {
    return Fail(name, kExitUsage,
                fmt::format("no interface given; add -i IFACE, e.g. aoe {} -i enp1s0 e0.1", name));
  }
  return std::nullopt;
}

initiator::ExchangeOptions Exchange(const AdminArgs& a) {
  initiator::ExchangeOptions o;
  o.timeout = a.timeout;
  return o;
}

std::string MacList(const std::vector<MacAddress>& macs) {
  std::vector<std::string> names;
  for (const MacAddress& m : macs) names.push_back(m.ToString());
  return JoinNames(names);
}

// --- aoe config ------------------------------------------------------------------------------

constexpr CommandHelp kConfigHelp{
    .name = "config",
    .usage =
        "Usage: aoe config -i IFACE eSHELF.SLOT [--set STR | --force STR | --test STR |\n"
        "                                        --test-prefix STR] [--timeout S]\n",
    .description =
        "Read or change the config string of an AoE disk (up to 1024 bytes that hosts use to\n"
        "claim a disk, like aoecfg). With no option it prints the current string.",
    .footer = R"txt(Examples:
  aoe config -i enp1s0 e0.1                        print the string
  aoe config -i enp1s0 e0.1 --set "$(hostname)"    claim the disk if nobody has
  aoe config -i enp1s0 e0.1 --test-prefix web      exit 0 if the string starts with "web"

Exit status: 0 done (or the test matched), 1 refused, no reply or no match,
2 bad arguments.)txt"};

// An exchange's error as the user reads it: a target that did not answer on an interface
// without link is told so (Client::NoLinkHint).
std::string Explained(const initiator::Client& c, const initiator::Error& error) {
  if (!(error == initiator::InitiatorErrc::kTimeout)) return error.message;
  return error.message + c.NoLinkHint();
}

// A request the initiator refused to send (too long for the link) is a bad argument; anything
// else is a failure.
int ExitCodeFor(const initiator::Error& error) {
  return error == initiator::InitiatorErrc::kInvalidArgument ? kExitUsage : kExitFailure;
}

int ConfigMainImpl(const std::vector<std::string>& args) {
  constexpr std::string_view kName = "config";
  CLI::App app("", "aoe config");
  SetUpCommand(app, kConfigHelp);
  AdminArgs a;
  std::string set_text, force_text, test_text, prefix_text;
  AddAdminOptions(app, a);
  app.add_option("--set", set_text,
                 "Store STR if the string is empty (or already STR); refused if\n"
                 "another string is set. Example: --set host1")
      ->type_name("STR");
  app.add_option("--force", force_text,
                 "Store STR whatever the current string. Example: --force host1")
      ->type_name("STR");
  app.add_option("--test", test_text,
                 "Exit 0 if the string is exactly STR, 1 if not. Example: --test host1")
      ->type_name("STR");
  app.add_option("--test-prefix", prefix_text,
                 "Exit 0 if the string starts with STR, 1 if not.\n"
                 "Example: --test-prefix host")
      ->type_name("STR");
  AddTargetPositional(app, a);
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;
  // Empty strings are allowed (--force '' clears the string), so ask CLI11 what was given.
  auto given = [&](const char* option, const std::string& text) {
    return app.count(option) > 0 ? std::optional<std::string>(text) : std::nullopt;
  };
  const std::optional<std::string> set = given("--set", set_text);
  const std::optional<std::string> force = given("--force", force_text);
  const std::optional<std::string> test = given("--test", test_text);
  const std::optional<std::string> test_prefix = given("--test-prefix", prefix_text);
  const int chosen =
      set.has_value() + force.has_value() + test.has_value() + test_prefix.has_value();
  if (chosen > 1) {
    return Fail(kName, kExitUsage,
                "--set, --force, --test and --test-prefix exclude each other; give one");
  }
  if (std::optional<int> status = CheckAdminArgs(kName, a)) return *status;
  for (const auto* value : {&set, &force, &test, &test_prefix}) {
    if (*value && (*value)->size() > 1024) {
      return Fail(
          kName, kExitUsage,
          fmt::format("the config string is {} bytes; AoE allows at most 1024", (*value)->size()));
    }
  }

  auto client = initiator::Client::Open(a.interfaces);
  if (!client) return Fail(kName, kExitFailure, client.error().message);
  initiator::Client& c = **client;
  const std::string name = a.address.ToString();

  if (test || test_prefix) {
    const bool exact = test.has_value();
    const std::string& value = exact ? *test : *test_prefix;
    auto reply = c.Config(
        a.address, exact ? proto::ConfigCommand::kTestExact : proto::ConfigCommand::kTestPrefix,
        value, Exchange(a));
    const char* relation = exact ? "is" : "starts with";
    if (reply) {
      fmt::print("{} config string {} {}\n", name, relation, QuoteBytes(value));
      return kExitOk;
    }
    if (reply.error() == initiator::InitiatorErrc::kTimeout) {
      // Silence is how a target says "no match"; it is also what a missing target looks like.
      return Fail(kName, kExitFailure,
                  fmt::format("{} config string does not {} {} (no reply within {} on {}; "
                              "an absent disk looks the same, check with 'aoe config' alone){}",
                              name, exact ? "equal" : "start with", QuoteBytes(value),
                              HumanSeconds(a.timeout), JoinNames(a.interfaces), c.NoLinkHint()));
    }
    return Fail(kName, kExitFailure, Explained(c, reply.error()));
  }

  proto::ConfigCommand command = proto::ConfigCommand::kRead;
  std::string value;
  if (set) {
    command = proto::ConfigCommand::kSetIfEmpty;
    value = *set;
  } else if (force) {
    command = proto::ConfigCommand::kForceSet;
    value = *force;
  }
  auto reply = c.Config(a.address, command, value, Exchange(a));
  if (!reply) {
    std::string message = Explained(c, reply.error());
    if (set && reply.error() == initiator::InitiatorErrc::kAoeError) {
      message += "; use --force to replace it";
    }
    return Fail(kName, kExitFailure, message);
  }
  if (command == proto::ConfigCommand::kRead) {
    fmt::print("{} config string: {}\n", name,
               reply->config_string.empty() ? "(empty)" : QuoteBytes(reply->config_string));
  } else {
    fmt::print("{} config string set to {}\n", name, QuoteBytes(reply->config_string));
  }
  return kExitOk;
}

// A list (mask or reserve) that holds no MAC of this host shuts it out: say so on stderr, since
// the admin's next command from here will get no reply (mask) or be refused (reserve).
void NoteIfLockedOut(std::string_view name, initiator::Client& c,
                     const std::vector<MacAddress>& list, const std::string& disk,
                     std::string_view consequence) {
  for (const MacAddress& m : c.local_macs()) {
    if (std::find(list.begin(), list.end(), m) != list.end()) return;
  }
  fmt::print(stderr, "aoe {}: note: no MAC of this host ({}) is on the list, so {} now {}\n", name,
             MacList(c.local_macs()), disk, consequence);
}

// --- aoe mask --------------------------------------------------------------------------------

constexpr CommandHelp kMaskHelp{
    .name = "mask",
    .usage = "Usage: aoe mask -i IFACE eSHELF.SLOT [--add MAC]... [--del MAC]... [--timeout S]\n",
    .description =
        "Read or edit the MAC mask list of an AoE disk. An empty list lets every host use the\n"
        "disk; otherwise the target ignores every host not on the list, this one included.\n"
        "With no option it prints the list. Additions are applied before deletions.",
    .footer = R"txt(Examples:
  aoe mask -i enp1s0 e0.1
  aoe mask -i enp1s0 e0.1 --add 02:00:00:00:00:01 --add 02:00:00:00:00:02
  aoe mask -i enp1s0 e0.1 --del 02:00:00:00:00:02

Exit status: 0 done, 1 refused or no reply, 2 bad arguments.)txt"};

int MaskMainImpl(const std::vector<std::string>& args) {
  constexpr std::string_view kName = "mask";
  CLI::App app("", "aoe mask");
  SetUpCommand(app, kMaskHelp);
  AdminArgs a;
  std::vector<std::string> add_text, del_text;
  AddAdminOptions(app, a);
  app.add_option("--add", add_text,
                 "Add MAC to the list; repeatable. Example: --add 02:00:00:00:00:01")
      ->type_name("MAC")
      ->allow_extra_args(false);
  app.add_option("--del", del_text,
                 "Delete MAC from the list; repeatable. Example: --del 02:00:00:00:00:01")
      ->type_name("MAC")
      ->allow_extra_args(false);
  AddTargetPositional(app, a);
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;
  std::vector<proto::MaskDirective> directives;
  for (const auto& [texts, option, dcmd] :
       {std::tuple{&add_text, "--add", proto::DirectiveCommand::kAdd},
        std::tuple{&del_text, "--del", proto::DirectiveCommand::kDelete}}) {
    for (const std::string& t : *texts) {
      ParseResult<MacAddress> mac = ParseMac(option, t);
      if (!mac) return Fail(kName, kExitUsage, mac.error().message);
      directives.push_back({static_cast<uint8_t>(dcmd), *mac});
    }
  }
  if (directives.size() > 255) {
    return Fail(kName, kExitUsage, "at most 255 --add/--del per command; split the edit");
  }
  if (std::optional<int> status = CheckAdminArgs(kName, a)) return *status;

  auto client = initiator::Client::Open(a.interfaces);
  if (!client) return Fail(kName, kExitFailure, client.error().message);
  initiator::Client& c = **client;
  const std::string name = a.address.ToString();
  auto reply = directives.empty() ? c.ReadMask(a.address, Exchange(a))
                                  : c.EditMask(a.address, directives, Exchange(a));
  if (!reply) {
    std::string message = reply.error().message;
    if (reply.error() == initiator::InitiatorErrc::kTimeout) {
      message += "; if a mask list is set, this host may not be on it" + c.NoLinkHint();
    }
    return Fail(kName, ExitCodeFor(reply.error()), message);
  }
  if (reply->macs.empty()) {
    fmt::print("{} mask list: empty (every host may use the disk)\n", name);
  } else {
    fmt::print("{} mask list: {}\n", name, MacList(reply->macs));
    NoteIfLockedOut("mask", c, reply->macs, name, "ignores it");
  }
  return kExitOk;
}

// --- aoe reserve / aoe release -----------------------------------------------------------------

constexpr CommandHelp kReserveHelp{
    .name = "reserve",
    .usage =
        "Usage: aoe reserve -i IFACE eSHELF.SLOT [--force] [MAC...] [--timeout S]\n"
        "       aoe reserve -i IFACE eSHELF.SLOT --list\n",
    .description =
        "Reserve an AoE disk: while the reserve list is not empty, the target refuses every ATA\n"
        "command but IDENTIFY (reads, writes, flushes) from every MAC not on it. With no MAC the "
        "list becomes the\n"
        "MACs of the given interfaces, so every path of this host keeps working. Refused when\n"
        "another host holds the reservation, unless --force.",
    .footer = R"txt(Examples:
  aoe reserve -i enp1s0 -i enp2s0 e0.1
  aoe reserve -i enp1s0 e0.1 02:00:00:00:00:01 02:00:00:00:00:02
  aoe reserve -i enp1s0 e0.1 --force          take over another host's reservation
  aoe reserve -i enp1s0 e0.1 --list

Exit status: 0 done, 1 refused or no reply, 2 bad arguments.)txt"};

constexpr CommandHelp kReleaseHelp{
    .name = "release",
    .usage = "Usage: aoe release -i IFACE eSHELF.SLOT [--force] [--timeout S]\n",
    .description =
        "Release an AoE disk: empty its reserve list so that every host may use it again.\n"
        "Refused when another host holds the reservation, unless --force.",
    .footer = R"txt(Examples:
  aoe release -i enp1s0 e0.1
  aoe release -i enp1s0 e0.1 --force

Exit status: 0 done, 1 refused or no reply, 2 bad arguments.)txt"};

// The refusal of a set: name who holds the disk (the target sends the list with the refusal;
// only if it did not is it read with a second exchange).
int ReservedFailure(std::string_view name, initiator::Client& c, const AdminArgs& a,
                    const initiator::Error& error) {
  if (!(error == initiator::InitiatorErrc::kTargetReserved)) {
    return Fail(name, ExitCodeFor(error), Explained(c, error));
  }
  std::string holders = "?";
  if (error.holders) {
    holders = MacList(*error.holders);
  } else if (auto list = c.Reserve(a.address, proto::ReserveCommand::kRead, {}, Exchange(a))) {
    holders = MacList(list->macs);
  }
  return Fail(name, kExitFailure,
              fmt::format("{}: target reserved by another host ({}); use --force to take it over",
                          a.address.ToString(), holders));
}

int ReserveMainImpl(const std::vector<std::string>& args) {
  constexpr std::string_view kName = "reserve";
  CLI::App app("", "aoe reserve");
  SetUpCommand(app, kReserveHelp);
  AdminArgs a;
  bool force = false, list = false;
  std::vector<std::string> words;  // TARGET then MACs
  AddAdminOptions(app, a);
  app.add_flag("--force", force,
               "Replace the list even if another host holds it. Example: --force");
  app.add_flag("--list", list, "Only print the reserve list. Example: --list");
  app.add_option("TARGET", words,
                 "The disk, eSHELF.SLOT, then the MACs to reserve it for.\n"
                 "Example: e0.1 02:00:00:00:00:01")
      ->type_name("");
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;
  if (!words.empty()) a.target_text = words.front();
  std::vector<MacAddress> macs;
  for (size_t i = 1; i < words.size(); ++i) {
    ParseResult<MacAddress> mac = ParseMac("MAC", words[i]);
    if (!mac) return Fail(kName, kExitUsage, mac.error().message);
    // A MAC given twice is one host: the list holds it once.
    if (std::find(macs.begin(), macs.end(), *mac) == macs.end()) macs.push_back(*mac);
  }
  if (list && (force || !macs.empty())) {
    return Fail(kName, kExitUsage, "--list only reads the list; drop --force and the MACs");
  }
  if (macs.size() > 255) return Fail(kName, kExitUsage, "at most 255 MACs in a reserve list");
  if (std::optional<int> status = CheckAdminArgs(kName, a)) return *status;

  auto client = initiator::Client::Open(a.interfaces);
  if (!client) return Fail(kName, kExitFailure, client.error().message);
  initiator::Client& c = **client;
  const std::string name = a.address.ToString();
  initiator::Outcome<initiator::ReserveReply> reply =
      list ? c.Reserve(a.address, proto::ReserveCommand::kRead, {}, Exchange(a))
      : macs.empty()
          ? c.ReserveForUs(a.address, force, Exchange(a))
          : c.Reserve(a.address,
                      force ? proto::ReserveCommand::kForceSet : proto::ReserveCommand::kSet, macs,
                      Exchange(a));
  if (!reply) return ReservedFailure(kName, c, a, reply.error());
  if (reply->macs.empty()) {
    fmt::print("{} is not reserved\n", name);
  } else {
    fmt::print("{} reserved for {}\n", name, MacList(reply->macs));
    if (!list) NoteIfLockedOut("reserve", c, reply->macs, name, "refuses its reads and writes");
  }
  return kExitOk;
}

int ReleaseMainImpl(const std::vector<std::string>& args) {
  constexpr std::string_view kName = "release";
  CLI::App app("", "aoe release");
  SetUpCommand(app, kReleaseHelp);
  AdminArgs a;
  bool force = false;
  AddAdminOptions(app, a);
  app.add_flag("--force", force,
               "Release even if another host holds the reservation. Example: --force");
  AddTargetPositional(app, a);
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;
  if (std::optional<int> status = CheckAdminArgs(kName, a)) return *status;

  auto client = initiator::Client::Open(a.interfaces);
  if (!client) return Fail(kName, kExitFailure, client.error().message);
  initiator::Client& c = **client;
  auto reply = force ? c.Reserve(a.address, proto::ReserveCommand::kForceSet, {}, Exchange(a))
                     : c.Release(a.address, Exchange(a));
  if (!reply) return ReservedFailure(kName, c, a, reply.error());
  fmt::print("{} released\n", a.address.ToString());
  return kExitOk;
}

}  // namespace

int ConfigMain(const std::vector<std::string>& args) { return ConfigMainImpl(args); }
int MaskMain(const std::vector<std::string>& args) { return MaskMainImpl(args); }
int ReserveMain(const std::vector<std::string>& args) { return ReserveMainImpl(args); }
int ReleaseMain(const std::vector<std::string>& args) { return ReleaseMainImpl(args); }

}  // namespace aoe::cli
