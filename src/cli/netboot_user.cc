#include "cli/netboot_user.h"

#include <fmt/format.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>

#include "base/atomic_file.h"
#include "netboot/lease_file.h"

namespace aoe::cli {

namespace {

// "/var/lib/aoekit/" and "/var/lib//aoekit" are "/var/lib/aoekit".
std::string Normalize(std::string_view path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  return p.string();
}

}  // namespace

std::string NetbootLeaseFile(const netboot::NetbootOptions& options) {
  if (options.mode() != netboot::DhcpMode::kFull) return "";
  return options.lease_file.empty() ? netboot::DefaultLeaseFile(options.interface_name)
                                    : options.lease_file;
}

std::string LeaseDirectory(std::string_view lease_file) {
  std::filesystem::path dir = std::filesystem::path(lease_file).parent_path();
  return dir.empty() ? std::string(".") : Normalize(dir.string());
}

bool GiveLeaseDirectoryToUser(std::string_view dir, bool users,
                              const std::vector<std::string>& own_dirs) {
  if (users) return true;
  const std::string wanted = Normalize(dir);
  return std::any_of(own_dirs.begin(), own_dirs.end(), [&](const std::string& own) {
    return !own.empty() && Normalize(own) == wanted;
  });
}

std::string PrepareNetbootForUser(const netboot::NetbootOptions& options,
                                  std::vector<std::string> own_dirs, PrivilegeDrop& drop) {
  const std::string lease_file = NetbootLeaseFile(options);
  if (lease_file.empty()) return "";  // proxy mode keeps no state
  own_dirs.push_back(LeaseDirectory(netboot::DefaultLeaseFile("any")));
  const std::string dir = LeaseDirectory(lease_file);
  std::optional<UserIds> ids = LookUpUser(drop.user);
  if (!ids) return fmt::format("user '{}' does not exist", drop.user);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return fmt::format("cannot look at the lease directory {}: {}", dir, std::strerror(errno));
    }
    if (::mkdir(dir.c_str(), 0750) != 0) {
      return fmt::format(
          "cannot create the lease directory {}: {}; create its parent, or name "
          "a lease file in an existing directory",
          dir, std::strerror(errno));
    }
    // The user's at once, so that it still is if this start fails before the switch.
    if (::lchown(dir.c_str(), ids->uid, ids->gid) != 0) {
      return fmt::format("cannot give the new lease directory {} to user {}: {}", dir, drop.user,
                         std::strerror(errno));
    }
    st.st_uid = ids->uid;
  } else if (!S_ISDIR(st.st_mode)) {
    return fmt::format("the lease file's directory {} is not a directory", dir);
  }
  if (!GiveLeaseDirectoryToUser(dir, st.st_uid == ids->uid, own_dirs)) return "";
  const bool listed = std::any_of(drop.writable_dirs.begin(), drop.writable_dirs.end(),
                                  [&](const std::string& d) { return Normalize(d) == dir; });
  if (!listed) drop.writable_dirs.push_back(dir);
  return "";
}

std::string CheckNetbootAfterDrop(const netboot::NetbootOptions& options, const std::string& user) {
  if (const std::string lease_file = NetbootLeaseFile(options); !lease_file.empty()) {
    Result<std::string> leases = netboot::ReadStateFile(lease_file);
    Result<void> written = leases ? WriteFileAtomically(lease_file, *leases)
                                  : Result<void>(Unexpected{leases.error()});
    if (!written) {
      const std::string dir = LeaseDirectory(lease_file);
      return fmt::format(
          "user {} cannot replace the lease file {}: {}; its directory {} must be writable by "
          "{}, and aoekit gives the user only a directory it creates, one the user owns or "
          "/var/lib/aoekit: name a lease file in a directory of its own (a missing one is "
          "created for {}), e.g. {}",
          user, lease_file, written.error().message(), dir, user, user,
          netboot::DefaultLeaseFile(options.interface_name));
    }
  }
  // Files are opened beneath the root per request: that needs search permission on it.
  if (::access(options.tftp_root.c_str(), X_OK) != 0) {
    return fmt::format(
        "user {} cannot search the TFTP root {}: {}; make it readable by {} "
        "(chmod o+rx), or choose another TFTP root",
        user, options.tftp_root, std::strerror(errno), user);
  }
  return "";
}

bool KernelAllowsUnprivilegedBindToDevice(std::string_view release) {
  int major = 0;
  int minor = 0;
  const char* end = release.data() + release.size();
  auto [after_major, e1] = std::from_chars(release.data(), end, major);
  if (e1 != std::errc() || after_major == end || *after_major != '.') return false;
  auto [after_minor, e2] = std::from_chars(after_major + 1, end, minor);
  if (e2 != std::errc()) return false;
  return major > 5 || (major == 5 && minor >= 7);
}

std::vector<int> NetbootCapabilities() {
  utsname name{};
  if (::uname(&name) == 0 && KernelAllowsUnprivilegedBindToDevice(name.release)) return {};
  return {CAP_NET_RAW};
}

std::string DescribeCapabilities(const std::vector<int>& capabilities) {
  if (capabilities.empty()) return "no capabilities";
  std::vector<std::string> names;
  for (int c : capabilities) names.push_back(CapabilityName(c));
  return fmt::format("only {}", fmt::join(names, ", "));
}

}  // namespace aoe::cli
