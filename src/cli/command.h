// The subcommands of the `aoe` program.
//
// Each subcommand lives in its own file (serve.cc, ...) and defines one entry point declared
// here; main.cc lists them in its command table. Adding a subcommand is that file, its
// declaration below and one table line.
#pragma once

#include <string>
#include <vector>

namespace aoe::cli {

// Process exit statuses shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // a runtime failure: interface, image, I/O, ...
inline constexpr int kExitUsage = 2;    // bad arguments or config; nothing was started

// Runs a subcommand with the arguments after its name and returns the exit status. Errors are
// printed to stderr as one line prefixed with "aoe <name>: ".
using CommandMain = int (*)(const std::vector<std::string>& args);

int ServeMain(const std::vector<std::string>& args);
// The initiator side: scan.cc, ping.cc, cp.cc, bench.cc, admin.cc (config, mask, reserve, release).
int ScanMain(const std::vector<std::string>& args);
int PingMain(const std::vector<std::string>& args);
int CpMain(const std::vector<std::string>& args);
int BenchMain(const std::vector<std::string>& args);
int ConfigMain(const std::vector<std::string>& args);
int MaskMain(const std::vector<std::string>& args);
int ReserveMain(const std::vector<std::string>& args);
int ReleaseMain(const std::vector<std::string>& args);
int NetbootMain(const std::vector<std::string>& args);
// The control socket of a running `aoe serve`: ctl.cc, overlay.cc (control_cli.h).
int CtlMain(const std::vector<std::string>& args);
int OverlayMain(const std::vector<std::string>& args);

// The FUSE mount of a disk: mount.cc, umount.cc, show.cc (machinery in src/os/).
int MountMain(const std::vector<std::string>& args);
int UmountMain(const std::vector<std::string>& args);
int ShowMain(const std::vector<std::string>& args);

// A bootable diskless disk image (mkimage.cc, which runs packaging/mkimage/aoe-mkimage).
int MkimageMain(const std::vector<std::string>& args);

}  // namespace aoe::cli
