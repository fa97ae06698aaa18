// Dropping root for the long-running daemons (`aoe serve`, `aoe netboot`).
//
// A daemon starts as root, opens everything that needs root (packet sockets, block devices,
// privileged UDP ports, state files), then calls DropPrivileges() to become an ordinary user
// that keeps only the capabilities it still needs at run time:
//
//   PrivilegeDrop drop{.user = "aoe", .keep_capabilities = {CAP_NET_RAW},
//                      .writable_dirs = {state_dir}};
//   if (std::string problem = DropPrivileges(drop); !problem.empty()) { report, exit 1 }
//
// After a successful call the real, effective and saved uid and gid are the user's, the
// supplementary groups are the user's groups, the permitted and effective capability sets hold
// exactly `keep_capabilities` (inheritable and ambient are empty), and no_new_privs is set, so
// no later execve (of a setuid binary or one with file capabilities) can gain privileges back.
//
// Thread-safety: call it before the process starts any thread. Capabilities belong to a thread
// and capset(2) changes only the caller's; glibc's setuid family changes every thread, but a
// thread started earlier would keep its full capability sets.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace aoe::cli {

struct PrivilegeDrop {
  // A user name from the password database, or a numeric uid.
  std::string user;
  // Capability numbers from <linux/capability.h> (CAP_NET_RAW, CAP_NET_BIND_SERVICE, ...) to
  // keep in the permitted and effective sets; everything else is dropped.
  std::vector<int> keep_capabilities;
  // Directories the daemon writes to after the drop (e.g. the state directory). Each is
  // created if missing (mode 0750, parent must exist), then it and the regular files directly
  // in it are chowned to the user. Symbolic links are never followed.
  std::vector<std::string> writable_dirs;
};

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;
};
// The uid and primary gid of a user name or numeric uid; nullopt if there is no such user.
std::optional<UserIds> LookUpUser(const std::string& user);

// Checks, before anything is opened, that `user` is an account DropPrivileges can switch to:
// it exists and is not root. Returns "" or one line saying what is wrong (a bad argument: the
// caller exits 2 before starting anything).
std::string CheckDropUser(const std::string& user);

// Drops to `drop.user` as described above. Must run as root (euid 0). Returns an empty string
// on success, otherwise one line saying what failed and how to fix it (the process may then be
// half-way, e.g. with its groups changed: the caller should exit).
std::string DropPrivileges(const PrivilegeDrop& drop);

// "cap_net_raw" for CAP_NET_RAW, "cap_<n>" for numbers this function does not know.
std::string CapabilityName(int capability);

}  // namespace aoe::cli
