// aoe: the aoekit command. Dispatches on the first argument to one subcommand per file; see
// command.h.
#include <fmt/format.h>

#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.h"

namespace aoe::cli {
namespace {

struct Command {
  std::string_view name;
  std::string_view summary;  // one line for `aoe --help`
  CommandMain main;
};

constexpr Command kCommands[] = {
    {"serve", "serve image files or block devices as AoE disks (the target)", ServeMain},
    {"scan", "list the AoE disks reachable through given interfaces", ScanMain},
    {"ping", "measure round trips to an AoE disk (config query and IDENTIFY)", PingMain},
    {"cp", "copy an AoE disk to a file or device, or back", CpMain},
    {"bench", "measure an AoE disk's throughput, IOPS and latency", BenchMain},
    {"config", "read, set or test a disk's config string", ConfigMain},
    {"mask", "read or edit a disk's MAC mask list", MaskMain},
    {"reserve", "reserve a disk for this host (or given MACs)", ReserveMain},
    {"release", "release a disk's reservation", ReleaseMain},
    {"netboot", "boot PXE clients from AoE disks (DHCP + TFTP + iPXE)", NetbootMain},
    {"ctl", "ask a running aoe serve: exports, clients; add, remove, reload exports", CtlMain},
    {"overlay", "list, reset, commit, roll back and check per-client overlays", OverlayMain},
    {"mount", "expose an AoE disk as a file through FUSE (for losetup)", MountMain},
    {"umount", "flush and unmount a disk mounted with 'aoe mount'", UmountMain},
    {"show", "list the disks mounted with 'aoe mount' and their paths", ShowMain},
    {"mkimage", "build a disk image a diskless machine boots from (Debian, BIOS+UEFI)",
     MkimageMain},
};

void PrintHelp() {
  std::string commands;
  for (const Command& c : kCommands) commands += fmt::format("  {:<10} {}\n", c.name, c.summary);
  fmt::print(
      "aoe: ATA over Ethernet tools (aoekit {})\n"
      "\n"
      "Usage: aoe COMMAND [ARGS...]\n"
      "       aoe COMMAND --help     options and examples of one command\n"
      "\n"
      "Commands:\n"
      "{}"
      "\n"
      "Options:\n"
      "  -h, --help     print this help and exit\n"
      "  -V, --version  print the version and exit\n",
      AOE_VERSION, commands);
}

const Command* FindCommand(std::string_view name) {
  for (const Command& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int Main(std::span<char*> argv) {
  if (argv.size() < 2) {
    fmt::print(stderr, "aoe: no command given; run 'aoe --help' for the list\n");
    return kExitUsage;
  }
  const std::string_view first = argv[1];
  std::vector<std::string> rest(argv.begin() + 2, argv.end());
  if (first == "-h" || first == "--help") {
    PrintHelp();
    return kExitOk;
  }
  if (first == "-V" || first == "--version") {
    if (!rest.empty()) {
      fmt::print(stderr, "aoe: {} takes no argument; did you mean 'aoe {} --help'?\n", first,
                 rest.front());
      return kExitUsage;
    }
    fmt::print("aoe (aoekit) {}\n", AOE_VERSION);
    return kExitOk;
  }
  // "aoe help serve" is "aoe serve --help", as in git.
  if (first == "help") {
    if (rest.empty()) {
      PrintHelp();
      return kExitOk;
    }
    const Command* command = FindCommand(rest.front());
    if (command == nullptr) {
      fmt::print(stderr, "aoe: unknown command '{}'; run 'aoe --help' for the list\n",
                 rest.front());
      return kExitUsage;
    }
    return command->main({"--help"});
  }
  if (first.starts_with('-')) {
    fmt::print(stderr, "aoe: unknown option '{}'; options go after the command, see 'aoe --help'\n",
               first);
    return kExitUsage;
  }
  const Command* command = FindCommand(first);
  if (command == nullptr) {
    fmt::print(stderr, "aoe: unknown command '{}'; run 'aoe --help' for the list\n", first);
    return kExitUsage;
  }
  return command->main(rest);
}

}  // namespace
}  // namespace aoe::cli

int main(int argc, char** argv) {
  return aoe::cli::Main(std::span<char*>(argv, static_cast<size_t>(argc)));
}
