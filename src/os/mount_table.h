// What the kernel says about mounts and loop devices, for `aoe umount` and `aoe mount`:
// /proc/self/mountinfo (this process's mount namespace) and /sys/block/loop*/loop/backing_file.
//
// Free functions over procfs and sysfs; no state. Thread-safety: as for any read of those files.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace aoe::os {

struct MountEntry {
  std::string mountpoint;  // unescaped
  std::string fstype;      // "fuse.aoe" for `aoe mount`
  std::string source;      // "aoe:e0.1"
};

inline constexpr const char* kAoeFsType = "fuse.aoe";

// The topmost mount at exactly `path` (absolute, normalized), if any.
std::optional<MountEntry> FindMount(const std::string& path);
// Every mount at exactly `path`, bottom first (later ones are mounted on top).
std::vector<MountEntry> MountsAt(const std::string& path);
// Every `aoe mount` (type fuse.aoe) in this mount namespace, in mount order.
std::vector<MountEntry> AoeMounts();

// Whether the FUSE mount at `mountpoint` has lost its daemon (ENOTCONN). Asks the connection,
// not the kernel's attribute cache, which answers stat() for a minute after any I/O. Do not
// call it for a mount whose daemon may be stopped (it would wait for it).
bool IsDeadFuseMount(const std::string& mountpoint);

// Loop devices ("/dev/loop0", ...) whose backing file is `file` or lies under `file` + "/".
std::vector<std::string> LoopDevicesBackedBy(const std::string& file);

// Whether the loop device ("/dev/loop0") is set to detach at its last close (autoclear):
// `losetup -d` of a device that something still has open (udev probes its partitions for a
// moment after their filesystem is unmounted) leaves it so, as does `mount -o loop`.
bool LoopDetachesAtLastClose(const std::string& device);

// Absolute, lexically normalized, no trailing slash; resolves symlinks when the path can be
// stat'ed (a dead FUSE mount cannot, and must still be found for `aoe umount`).
std::string NormalizePath(const std::string& path);

}  // namespace aoe::os
