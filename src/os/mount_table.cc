#include "os/mount_table.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace aoe::os {

namespace fs = std::filesystem;

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size()) {
      const std::string octal = text.substr(i + 1, 3);
      if (octal.find_first_not_of("01234567") == std::string::npos) {
        out.push_back(static_cast<char>(std::strtol(octal.c_str(), nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// Every mount of this namespace, in mount order (later lines are mounted on top of earlier ones).
std::vector<MountEntry> ReadMountTable() {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<MountEntry> found;
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    std::istringstream fields(line);
    std::string id, parent, devno, root, mountpoint;
    fields >> id >> parent >> devno >> root >> mountpoint;
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    MountEntry e;
    e.mountpoint = Unescape(mountpoint);
    tail >> e.fstype >> e.source;
    e.source = Unescape(e.source);
    found.push_back(std::move(e));
  }
  return found;
}

}  // namespace

std::optional<MountEntry> FindMount(const std::string& path) {
  std::vector<MountEntry> mounts = MountsAt(path);
  if (mounts.empty()) return std::nullopt;
  return mounts.back();
}

std::vector<MountEntry> MountsAt(const std::string& path) {
  std::vector<MountEntry> found = ReadMountTable();
  std::erase_if(found, [&](const MountEntry& e) { return e.mountpoint != path; });
  return found;
}

std::vector<MountEntry> AoeMounts() {
  std::vector<MountEntry> found = ReadMountTable();
  std::erase_if(found, [](const MountEntry& e) { return e.fstype != kAoeFsType; });
  return found;
}

bool IsDeadFuseMount(const std::string& mountpoint) {
  struct statx st {};
  return ::statx(AT_FDCWD, mountpoint.c_str(), AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &st) != 0 &&
         errno == ENOTCONN;
}

std::vector<std::string> LoopDevicesBackedBy(const std::string& file) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator("/sys/block", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("loop", 0) != 0) continue;
    std::ifstream in(entry.path() / "loop" / "backing_file");
    std::string backing;
    if (!std::getline(in, backing)) continue;
    if (backing == file || backing.rfind(file + "/", 0) == 0) out.push_back("/dev/" + name);
  }
  return out;
}

bool LoopDetachesAtLastClose(const std::string& device) {
  const std::string name = fs::path(device).filename().string();
  std::ifstream in(fs::path("/sys/block") / name / "loop" / "autoclear");
  std::string value;
  return std::getline(in, value) && value == "1";
}

std::string NormalizePath(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec).lexically_normal();
  if (char resolved[PATH_MAX]; ::realpath(p.c_str(), resolved) != nullptr) p = resolved;
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace aoe::os
