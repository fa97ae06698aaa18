// `aoe mkimage`: builds a disk image that a diskless machine boots from over AoE (BIOS and UEFI)
// with a stock Debian on it.
//
// This file checks the arguments (one line and exit 2 when they are wrong) and then runs the
// worker script, packaging/mkimage/aoe-mkimage, installed as LIBEXECDIR/aoekit/mkimage: building
// an image is a sequence of system tools (debootstrap, chroot, update-initramfs, sfdisk,
// mkfs.ext4, extlinux, grub-mkstandalone), which a shell script states most plainly.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/initiator_args.h"

namespace aoe::cli {

namespace {

constexpr std::string_view kName = "mkimage";

constexpr CommandHelp kHelp{
    .name = kName,
    .usage =
        "Usage: aoe mkimage IMAGE --debootstrap SUITE [--mirror URL] [--packages A,B] "
        "[OPTIONS]\n"
        "       aoe mkimage IMAGE --from-dir DIR [OPTIONS]\n"
        "       aoe mkimage --tree-only --debootstrap SUITE --cache-dir DIR [--mirror URL]\n"
        "                   [--packages A,B] [--deb FILE]...\n",
    .description =
        "Build a disk image that a diskless amd64 machine boots from over AoE, under BIOS\n"
        "and UEFI: a GPT disk with an ext4 root holding a Debian system (debootstrapped, or\n"
        "copied from DIR), its kernel, an initramfs built in the image with aoekit's\n"
        "initramfs-tools hook (it finds the root disk with aoe.ko), extlinux for BIOS and\n"
        "GRUB on an EFI system partition for UEFI. Serve the image with `aoe serve` and\n"
        "boot the client with its [netboot] section. Needs root.",
    .footer = R"txt(Examples:
  aoe mkimage /srv/aoe/client1.img --debootstrap bookworm --append console=ttyS0,115200
  aoe mkimage /srv/aoe/client2.img --debootstrap bookworm --packages openssh-server,vim \
              --target e0.2 --size 4G --overlay /srv/aoe/client2-files
  aoe mkimage /srv/aoe/client3.img --from-dir /srv/trees/bookworm --bios
  aoe mkimage /srv/aoe/client4.img --debootstrap bookworm --deb ./aoekit_0.1.0_amd64.deb
  aoe mkimage --tree-only --debootstrap bookworm --cache-dir /var/cache/aoekit

The root file system is /dev/etherd/eX.Yp1 of the --target address: serve the image under
that address. See aoe-mkimage(8) and docs/diskless-boot.md.
Exit status: 0 built, 1 failed, 2 bad arguments.)txt"};

struct MkimageArgs {
  std::string output;
  std::string suite;
  std::string mirror;
  std::string packages;
  std::string from_dir;
  std::string size = "2G";
  std::string append;
  std::string target = "e0.0";
  std::string overlay;
  std::string cache_dir;
  std::vector<std::string> debs;
  bool bios = false;
  bool uefi = false;
  bool tree_only = false;
  bool force = false;
};

void DefineOptions(CLI::App& app, MkimageArgs& a) {
  app.add_option("IMAGE", a.output, "The image file to write.")->type_name("");
  app.add_option("--debootstrap", a.suite,
                 "Install Debian SUITE with debootstrap (minbase, plus systemd, a\n"
                 "kernel and initramfs-tools). Example: --debootstrap bookworm")
      ->type_name("SUITE");
  app.add_option("--mirror", a.mirror,
                 "Debian mirror for --debootstrap\n(default http://deb.debian.org/debian).")
      ->type_name("URL");
  app.add_option("--packages", a.packages,
                 "More packages for --debootstrap, comma-separated.\n"
                 "Example: --packages openssh-server,vim")
      ->type_name("A,B");
  app.add_option("--from-dir", a.from_dir,
                 "Use this Debian tree (with a kernel, initramfs-tools and an init)\n"
                 "instead of debootstrap; it is not modified.\nExample: --from-dir /srv/tree")
      ->type_name("DIR");
  app.add_option("--size", a.size, "Size of the image (default 2G). Example: --size 4G")
      ->type_name("SIZE");
  app.add_option("--append", a.append,
                 "More kernel command line. Example: --append console=ttyS0,115200")
      ->type_name("ARGS");
  app.add_option("--target", a.target,
                 "The AoE address the image will be served as (default e0.0); the\n"
                 "root is /dev/etherd/eX.Yp1. Example: --target e1.4")
      ->type_name("eX.Y");
  app.add_option("--overlay", a.overlay,
                 "Copy this directory's contents over the tree (keys, configs,\nunits). "
                 "Example: --overlay /srv/aoe/client-files")
      ->type_name("DIR");
  app.add_option("--cache-dir", a.cache_dir,
                 "Keep the debootstrapped tree in DIR and reuse it while the suite,\n"
                 "mirror and packages stay the same.\nExample: --cache-dir /var/cache/aoekit")
      ->type_name("DIR");
  app.add_option("--deb", a.debs,
                 "Install this Debian package file into the image (dpkg -i). With\n"
                 "--debootstrap its dependencies go into the tree first; with\n"
                 "--from-dir they must be there. Repeatable.\n"
                 "Example: --deb aoekit_0.1.0_amd64.deb")
      ->type_name("FILE")
      ->allow_extra_args(false);
  app.add_flag("--bios", a.bios, "Make it bootable by BIOS (extlinux); see --uefi.");
  app.add_flag("--force", a.force,
               "Replace IMAGE if it exists (the new image takes its place only\n"
               "once complete).");
  app.add_flag("--tree-only", a.tree_only,
               "Only debootstrap the Debian tree into --cache-dir (or find it there)\n"
               "and print its path; no IMAGE. Fetches the tree ahead of the builds\n"
               "that will use it (same --debootstrap, --mirror, --packages, --deb).");
  app.add_flag("--uefi", a.uefi,
               "Make it bootable by UEFI (GRUB on an EFI system partition).\n"
               "Without --bios or --uefi the image boots both ways.");
}

// debootstrap's suite scripts: a suite without one is unknown to it.
constexpr std::string_view kDebootstrapScripts = "/usr/share/debootstrap/scripts";

// What is wrong with IMAGE as the file to write, or nothing. An existing image is replaced only
// with --force: it may be the disk a fleet boots from.
std::optional<std::string> OutputProblem(const std::string& output, bool force) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path(output);
  const fs::path directory = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(directory, ec)) {
    return fmt::format("the directory of {} does not exist; create it first (mkdir -p {})", output,
                       directory.string());
  }
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) return std::nullopt;
  if (fs::is_directory(status)) {
    return fmt::format("{} is a directory; give the image file to write, e.g. {}/client1.img",
                       output, output);
  }
  if (!fs::is_regular_file(status)) {
    return fmt::format(
        "{} is not a regular file; aoe mkimage writes an image file (copy it onto a device "
        "afterwards, with dd or aoe cp)",
        output);
  }
  if (!force) {
    return fmt::format(
        "{} exists; give --force to replace it (stop serving it first: the new image takes its "
        "place once complete)",
        output);
  }
  return std::nullopt;
}

// Where the worker script is: in the source tree when this binary runs from its build tree,
// else installed next to the program (PREFIX/bin/aoe -> PREFIX/libexec/aoekit/mkimage).
struct Worker {
  std::string script;
  std::string initramfs_tools_dir;  // holds hooks/aoekit and scripts/local-top/aoekit
};

Worker FindWorker() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && exe.parent_path() == AOE_BUILD_CLI_DIR) {
    return {AOE_SOURCE_DIR "/packaging/mkimage/aoe-mkimage",
            AOE_SOURCE_DIR "/packaging/initramfs-tools"};
  }
  return {AOE_INSTALLED_MKIMAGE, AOE_INSTALLED_INITRAMFS_TOOLS_DIR};
}

}  // namespace

int MkimageMain(const std::vector<std::string>& args) {
  CLI::App app("", "aoe mkimage");
  SetUpCommand(app, kHelp);
  MkimageArgs a;
  DefineOptions(app, a);
  if (std::optional<int> status = ParseCommand(app, kName, args)) return *status;

  if (a.tree_only) {
    if (!a.output.empty()) {
      return Fail(kName, kExitUsage, "--tree-only writes no image; leave out " + a.output);
    }
    if (a.force) return Fail(kName, kExitUsage, "--force goes with an IMAGE to replace");
    if (a.suite.empty() || a.cache_dir.empty()) {
      return Fail(kName, kExitUsage,
                  "--tree-only needs --debootstrap SUITE and --cache-dir DIR to keep the tree in");
    }
  } else if (a.output.empty()) {
    return Fail(kName, kExitUsage, "give the image file to write, e.g. /srv/aoe/client1.img");
  }
  if (a.suite.empty() == a.from_dir.empty()) {
    return Fail(kName, kExitUsage,
                "give one source: --debootstrap SUITE (e.g. bookworm) or --from-dir DIR");
  }
  if (a.suite.empty() && (!a.mirror.empty() || !a.packages.empty() || !a.cache_dir.empty())) {
    return Fail(kName, kExitUsage, "--mirror, --packages and --cache-dir go with --debootstrap");
  }
  if (a.suite.find_first_of("/ ") != std::string::npos || a.suite.starts_with('-')) {
    return Fail(kName, kExitUsage,
                fmt::format("--debootstrap '{}' is not a suite name like bookworm", a.suite));
  }
  if (!a.suite.empty() && std::filesystem::is_directory(kDebootstrapScripts) &&
      !std::filesystem::exists(std::filesystem::path(kDebootstrapScripts) / a.suite)) {
    return Fail(kName, kExitUsage,
                fmt::format("--debootstrap {}: debootstrap knows no such suite (none in {}); "
                            "e.g. bookworm",
                            a.suite, kDebootstrapScripts));
  }
  if (a.packages.find(' ') != std::string::npos) {
    return Fail(kName, kExitUsage, "--packages is comma-separated without spaces, e.g. vim,less");
  }
  ParseResult<uint64_t> size = ParseByteSize("--size", a.size, "4G");
  if (!size) return Fail(kName, kExitUsage, size.error().message);
  constexpr uint64_t kMiB = 1024 * 1024;
  if (*size % kMiB != 0 || *size < 512 * kMiB || *size > (uint64_t{1} << 44)) {
    return Fail(
        kName, kExitUsage,
        fmt::format("--size {} must be whole MiB between 512M and 16T, e.g. --size 2G", a.size));
  }
  if (ParseResult<proto::DiskAddress> target = ParseDiskName(a.target); !target) {
    return Fail(kName, kExitUsage, fmt::format("--target: {}", target.error().message));
  }
  if (a.append.find('\n') != std::string::npos) {
    return Fail(kName, kExitUsage, "--append must be one line");
  }
  for (const std::string& deb : a.debs) {
    if (!deb.ends_with(".deb") || !std::filesystem::is_regular_file(deb)) {
      return Fail(kName, kExitUsage, fmt::format("--deb {} is not a .deb file", deb));
    }
  }
  for (const std::string* dir : {&a.from_dir, &a.overlay}) {
    if (!dir->empty() && !std::filesystem::is_directory(*dir)) {
      return Fail(kName, kExitUsage, fmt::format("{} is not a directory", *dir));
    }
  }

  if (!a.tree_only) {
    if (std::optional<std::string> bad = OutputProblem(a.output, a.force)) {
      return Fail(kName, kExitUsage, *bad);
    }
    // A symbolic link stays one: the image it points to is what --force replaces.
    std::error_code ec;
    if (std::filesystem::is_symlink(a.output, ec)) {
      a.output = std::filesystem::canonical(a.output, ec).string();
    }
  }

  const Worker worker = FindWorker();
  std::vector<std::string> argv{worker.script,
                                "--size",
                                std::to_string(*size / kMiB),
                                "--target",
                                a.target,
                                "--append",
                                a.append,
                                "--initramfs-tools-dir",
                                worker.initramfs_tools_dir};
  auto add = [&argv](const char* option, const std::string& value) {
    if (value.empty()) return;
    argv.push_back(option);
    argv.push_back(value);
  };
  add("--output", a.output);
  add("--debootstrap", a.suite);
  add("--mirror", a.mirror);
  add("--packages", a.packages);
  add("--from-dir", a.from_dir);
  add("--overlay", a.overlay);
  add("--cache-dir", a.cache_dir);
  for (const std::string& deb : a.debs) add("--deb", deb);
  if (a.bios) argv.push_back("--bios");
  if (a.uefi) argv.push_back("--uefi");
  if (a.tree_only) argv.push_back("--tree-only");
  if (a.force) argv.push_back("--replace");

  std::vector<char*> c_argv;
  for (std::string& s : argv) c_argv.push_back(s.data());
  c_argv.push_back(nullptr);
  ::execv(worker.script.c_str(), c_argv.data());
  return Fail(kName, kExitFailure,
              fmt::format("cannot run {}: {} (is aoekit installed completely?)", worker.script,
                          std::strerror(errno)));
}

}  // namespace aoe::cli
