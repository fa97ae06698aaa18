#include "cli/privileges.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"

namespace aoe::cli {

namespace {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

std::string Errno(std::string_view what) {
  return fmt::format("{}: {}", what, std::strerror(errno));
}

// The password entry for a name or a numeric uid.
std::optional<Account> LookUpAccount(const std::string& user) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  uid_t uid = 0;
  const char* end = user.data() + user.size();
  if (auto [ptr, ec] = std::from_chars(user.data(), end, uid); ec == std::errc() && ptr == end) {
    getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
  } else {
    getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
  }
  if (found == nullptr) return std::nullopt;
  return Account{found->pw_name, found->pw_uid, found->pw_gid};
}

// Creates `path` if missing, then gives it and the regular files directly in it to `account`,
// never following a symbolic link (a link planted in the directory must not make root chown
// something elsewhere).
std::string MakeWritableBy(const std::string& path, const Account& account) {
  const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd dir(::open(path.c_str(), flags));
  if (!dir && errno == ENOENT) {
    if (::mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
      return Errno(fmt::format("cannot create directory {}", path));
    }
    dir = UniqueFd(::open(path.c_str(), flags));
  }
  if (!dir) return Errno(fmt::format("cannot open directory {}", path));
  if (::fchown(dir.get(), account.uid, account.gid) != 0) {
    return Errno(fmt::format("cannot give {} to user {}", path, account.name));
  }
  // fdopendir takes ownership of the fd it is given, so give it a copy.
  std::unique_ptr<DIR, int (*)(DIR*)> listing(::fdopendir(::dup(dir.get())), &::closedir);
  if (!listing) return Errno(fmt::format("cannot list directory {}", path));
  while (dirent* entry = ::readdir(listing.get())) {
    struct stat st {};
    if (::fstatat(dir.get(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode)) continue;
    if (::fchownat(dir.get(), entry->d_name, account.uid, account.gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno(fmt::format("cannot give {}/{} to user {}", path, entry->d_name, account.name));
    }
  }
  return {};
}

// Sets the permitted and effective sets to exactly `keep`, and inheritable to nothing (which
// also empties the ambient set). There is no glibc wrapper; libcap would be a dependency for
// twenty lines.
std::string SetCapabilities(const std::vector<int>& keep) {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;  // this thread
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  for (int capability : keep) {
    const auto word = static_cast<size_t>(capability / 32);
    const uint32_t bit = uint32_t{1} << (capability % 32);
    data[word].permitted |= bit;
    data[word].effective |= bit;
  }
  if (::syscall(SYS_capset, &header, data) != 0) return Errno("capset");
  return {};
}

}  // namespace

std::string CapabilityName(int capability) {
  switch (capability) {
    case CAP_NET_RAW:
      return "cap_net_raw";
    case CAP_NET_ADMIN:
      return "cap_net_admin";
    case CAP_NET_BIND_SERVICE:
      return "cap_net_bind_service";
    default:
      return fmt::format("cap_{}", capability);
  }
}

std::optional<UserIds> LookUpUser(const std::string& user) {
  std::optional<Account> account = LookUpAccount(user);
  if (!account) return std::nullopt;
  return UserIds{account->uid, account->gid};
}

std::string CheckDropUser(const std::string& user) {
  std::optional<Account> account = LookUpAccount(user);
  if (!account) {
    return fmt::format(
        "user '{}' does not exist; create it (useradd --system --no-create-home {}) or name "
        "another",
        user, user);
  }
  if (account->uid == 0) {
    return fmt::format("user {} is root (uid 0); name an unprivileged user", account->name);
  }
  return {};
}

std::string DropPrivileges(const PrivilegeDrop& drop) {
  for (int capability : drop.keep_capabilities) {
    if (capability < 0 || capability >= 32 * _LINUX_CAPABILITY_U32S_3) {
      return fmt::format("capability number {} is not a Linux capability", capability);
    }
  }
  if (std::string problem = CheckDropUser(drop.user); !problem.empty()) return problem;
  std::optional<Account> account = LookUpAccount(drop.user);
  if (!account) return fmt::format("user '{}' disappeared from the password database", drop.user);
  if (::geteuid() != 0) {
    return fmt::format("switching to user {} needs root; start as root or leave the user out",
                       account->name);
  }
  for (const std::string& dir : drop.writable_dirs) {
    if (std::string problem = MakeWritableBy(dir, *account); !problem.empty()) return problem;
  }

  // Keep the permitted set across the uid change; otherwise setresuid() empties it.
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return Errno("prctl(PR_SET_KEEPCAPS)");
  // Groups first: once the uid is not 0, they can no longer be changed.
  if (::initgroups(account->name.c_str(), account->gid) != 0) {
    return Errno(fmt::format("cannot set the groups of user {}", account->name));
  }
  if (::setresgid(account->gid, account->gid, account->gid) != 0) {
    return Errno(fmt::format("cannot switch to group {}", account->gid));
  }
  if (::setresuid(account->uid, account->uid, account->uid) != 0) {
    return Errno(fmt::format("cannot switch to user {}", account->name));
  }
  if (std::string problem = SetCapabilities(drop.keep_capabilities); !problem.empty()) {
    return problem;
  }
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return Errno("prctl(PR_SET_KEEPCAPS, 0)");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("prctl(PR_SET_NO_NEW_PRIVS)");

  // Belt and braces: a drop that can be undone is no drop.
  if (::setuid(0) == 0 || ::geteuid() == 0) {
    return fmt::format("still able to become root after switching to {}; refusing to run",
                       account->name);
  }
  return {};
}

}  // namespace aoe::cli
