// The netboot service under `--user` (`aoe netboot --user NAME`, and `aoe serve` with `user`
// and a [netboot] section): what it needs around DropPrivileges (privileges.h).
//
// Everything that needs root is opened before the drop: UDP ports 67 (and 4011 in proxy mode)
// and 69, bound to the interface, and the TFTP root directory. After the drop the service
// needs, at run time:
//   - no capability for DHCP: replies go out of the port-67 socket it already has, as UDP
//     broadcasts (SO_BROADCAST, set before the drop) to clients without an address, or as
//     unicasts to clients that have one; no raw or packet socket is involved;
//   - no capability for TFTP: each transfer gets a new socket on an ephemeral port, which needs
//     none, bound to the interface with SO_BINDTODEVICE, which a fresh socket may do without
//     CAP_NET_RAW since Linux 5.7 (before 5.7 CAP_NET_RAW is kept for it);
//   - the lease file (full mode) stays replaceable: it is rewritten as a temporary file renamed
//     over it, so its directory must be writable by the user;
//   - the TFTP root stays searchable: files are opened beneath it per request, as the user.
//
// Usage, in this order:
//   PrepareNetbootForUser(options, own_dirs, drop)   as root, before the service starts
//   NetbootService::Create(...)                       as root
//   DropPrivileges(drop)                              with NetbootCapabilities() kept
//   CheckNetbootAfterDrop(options, user)              as the user, before serving anyone
//
// Thread-safety: none needed; all of it runs on the main thread before the loop starts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cli/privileges.h"
#include "netboot/netboot_options.h"

namespace aoe::cli {

// The lease file the service writes (full mode), "" in proxy mode.
std::string NetbootLeaseFile(const netboot::NetbootOptions& options);

// The directory a lease file is replaced in: "." for a bare file name.
std::string LeaseDirectory(std::string_view lease_file);

// Whether the lease directory `dir` is given to the user (added to writable_dirs, which also
// gives the user the files in it): only when it is the user's already (`users`: aoekit created
// it for the user, now or on an earlier start, or it was chowned by hand), or it is one of
// aoekit's own directories (`own_dirs`: /var/lib/aoekit and `aoe serve`'s state_dir). Any other
// existing directory, such as /tmp or one root owns, is never chowned: the user must already
// be able to write it.
bool GiveLeaseDirectoryToUser(std::string_view dir, bool users,
                              const std::vector<std::string>& own_dirs);

// As root, before the service starts: in full mode, creates the lease directory if it is
// missing (mode 0750, owned by the user at once, its parent must exist) and, per
// GiveLeaseDirectoryToUser, adds it to `drop.writable_dirs`. /var/lib/aoekit is always one of
// the own directories. Returns "" or one line (a bad argument or config: exit 2).
std::string PrepareNetbootForUser(const netboot::NetbootOptions& options,
                                  std::vector<std::string> own_dirs, PrivilegeDrop& drop);

// As the user, right after DropPrivileges: the lease file can be replaced (it is rewritten
// with its own contents, exactly as the service saves it) and the TFTP root can be searched.
// Returns "" or one line saying what to change (exit 2).
std::string CheckNetbootAfterDrop(const netboot::NetbootOptions& options, const std::string& user);

// Whether a fresh socket may use SO_BINDTODEVICE without CAP_NET_RAW on the kernel whose
// `uname -r` is `release` (Linux 5.7 and later). False if `release` cannot be parsed.
bool KernelAllowsUnprivilegedBindToDevice(std::string_view release);

// The capabilities `aoe netboot --user` keeps: none, or CAP_NET_RAW on kernels before 5.7
// (see above).
std::vector<int> NetbootCapabilities();

// "no capabilities" or "only cap_net_raw" (for the log line after the drop).
std::string DescribeCapabilities(const std::vector<int>& capabilities);

}  // namespace aoe::cli
