#include "target/options.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "base/interface_name.h"
#include "net/fanout.h"

namespace aoe::target {

namespace {

// Linux starts a target at bufcnt/2 outstanding frames, so 0 or 1 means it never sends one.
constexpr uint16_t kMinBufferCount = 2;
// ATA LBA48 is the widest address an initiator can send.
constexpr uint64_t kMaxAddressableSectors = uint64_t{1} << 48;
constexpr uint64_t kSectorSize = 512;

// One line about an interface name, or empty when it could be a real interface.
std::string CheckInterfaceName(std::string_view name, std::string_view where) {
  const std::string problem = InterfaceNameProblem(name);
  if (problem.empty()) return {};
  return fmt::format("{} names interface '{}': it {}", where, name, problem);
}

// A directory as it resolves now (symbolic links followed; a part that does not exist yet is
// taken as written); nullopt if it cannot be resolved.
std::optional<std::filesystem::path> ResolvedDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path directory =
      std::filesystem::weakly_canonical(std::filesystem::absolute(dir), ec);
  if (ec) return std::nullopt;
  if (!directory.has_filename()) directory = directory.parent_path();  // "DIR/" is DIR
  return directory;
}

// The directory a file export's image lies in, resolved the same way; nullopt for other
// backends.
std::optional<std::filesystem::path> ResolvedImageDirectory(const BackendSpec& image) {
  if (image.kind != BackendSpec::Kind::kFile) return std::nullopt;
  std::error_code ec;
  const std::filesystem::path file =
      std::filesystem::weakly_canonical(std::filesystem::absolute(image.path), ec);
  if (ec) return std::nullopt;
  return file.parent_path();
}

// Whether `image` (a file) lies directly in `dir`.
bool ImageInDirectory(const BackendSpec& image, const std::string& dir) {
  std::optional<std::filesystem::path> image_dir = ResolvedImageDirectory(image);
  std::optional<std::filesystem::path> directory =
      image_dir ? ResolvedDirectory(dir) : std::nullopt;
  return directory && *image_dir == *directory;
}

std::string CheckExportIn(const ExportOptions& e, const std::set<std::string_view>& served) {
  const std::string name = e.name();
  if (e.address.shelf == proto::kWildcardShelf) {
    return fmt::format("export {}: shelf 65535 is the broadcast address; use 0-65534", name);
  }
  if (e.address.slot == proto::kWildcardSlot) {
    return fmt::format("export {}: slot 255 is the broadcast address; use 0-254", name);
  }
  if (std::string problem = BackendSpecProblem(e.backend); !problem.empty()) {
    return fmt::format("export {}: {}", name, problem);
  }
  if (e.length_sectors > kMaxAddressableSectors) {
    return fmt::format(
        "export {}: length {} sectors is more than AoE can address (2^48); use a smaller length",
        name, e.length_sectors);
  }
  // offset + length must stay a valid byte offset, or the storage layer would wrap around.
  const uint64_t max_sectors = UINT64_MAX / kSectorSize;
  if (e.offset_sectors > max_sectors || e.length_sectors > max_sectors - e.offset_sectors) {
    return fmt::format(
        "export {}: offset {} + length {} sectors is beyond any disk; "
        "check the numbers (they count 512-byte sectors)",
        name, e.offset_sectors, e.length_sectors);
  }
  std::set<MacAddress> masked;
  for (const MacAddress& mac : e.mask) {
    // Frames are never sent from a group address, so such an entry would lock everyone out.
    if (mac.is_multicast() || mac.is_zero()) {
      return fmt::format(
          "export {}: mask entry {} is not an initiator's address; "
          "list the initiators' unicast MACs",
          name, mac.ToString());
    }
    if (!masked.insert(mac).second) {
      return fmt::format("export {}: mask entry {} is given twice; list each initiator once", name,
                         mac.ToString());
    }
  }
  for (const auto& [mac, lifetime] : e.client_lifetimes) {
    if (mac.is_multicast() || mac.is_zero()) {
      return fmt::format(
          "export {}: lifetime.{} names no initiator (a group or zero address); give a "
          "client's unicast MAC",
          name, mac.ToString());
    }
  }
  for (const InjectedFault& f : e.fail) {
    if (f.first_sector > f.last_sector) {
      return fmt::format(
          "export {}: fail={} ends before it starts; write FIRST-LAST with "
          "FIRST <= LAST",
          name, f.ToString());
    }
    if (f.last_sector >= kMaxAddressableSectors) {
      return fmt::format("export {}: fail={} is beyond any AoE disk (2^48 sectors)", name,
                         f.ToString());
    }
    if (!f.on_read && !f.on_write) {
      return fmt::format("export {}: fail={} fails neither reads nor writes", name, f.ToString());
    }
  }
  if (!e.has_overlay() && (e.lifetime || !e.client_lifetimes.empty())) {
    return fmt::format("export {}: lifetime applies to overlays only; add overlay=DIR or drop it",
                       name);
  }
  if (e.has_overlay() && e.read_only) {
    return fmt::format(
        "export {}: an overlay export takes writes into its overlays; drop ro (the image is "
        "never written either way) or drop overlay=",
        name);
  }
  if (e.has_overlay() && ImageInDirectory(e.backend, e.overlay_dir)) {
    return fmt::format(
        "export {}: the image {} is in its own overlay directory {}, whose files aoe serve "
        "manages (and removes); keep the image elsewhere",
        name, e.backend.path, e.overlay_dir);
  }
  std::set<std::string_view> seen;
  for (const std::string& iface : e.interfaces) {
    if (std::string bad = CheckInterfaceName(iface, "export " + name); !bad.empty()) return bad;
    if (!seen.insert(iface).second) {
      return fmt::format("export {} lists interface {} twice; list it once", name, iface);
    }
    if (!served.contains(iface)) {
      return fmt::format(
          "export {} names interface {}, which is not among the served interfaces (-i); "
          "add -i {} or drop it from the export",
          name, iface, iface);
    }
  }
  return {};
}

}  // namespace

std::string InjectedFault::ToString() const {
  std::string text = fmt::format("{}-{}", first_sector, last_sector);
  if (on_read && !on_write) text += ":read";
  if (on_write && !on_read) text += ":write";
  return text;
}

// Numeric even for wildcards, so that ValidateOptions can say "export e65535.1: shelf 65535 is
// the broadcast address".
std::string ExportOptions::name() const {
  return fmt::format("e{}.{}", address.shelf, address.slot);
}

ChainOptions ExportOptions::Storage() const {
  ChainOptions chain;
  chain.backend = backend;
  chain.base = BaseOptions{.read_only = read_only, .direct = direct};
  chain.offset_sectors = offset_sectors;
  chain.length_sectors = length_sectors;
  if (has_overlay()) {
    chain.overlay =
        overlay::OverlaySettings{.dir = overlay_dir,
                                 .lifetime = lifetime.value_or(overlay::Lifetime::kPersist),
                                 .client_lifetimes = client_lifetimes,
                                 .direct = direct};
  }
  for (const InjectedFault& f : fail) {
    chain.faults.push_back(FaultRule{.first_sector = f.first_sector,
                                     .sector_count = f.last_sector - f.first_sector + 1,
                                     .on_read = f.on_read,
                                     .on_write = f.on_write,
                                     .error = EIO});
  }
  return chain;
}

std::string_view DurabilityName(Durability durability) {
  switch (durability) {
    case Durability::kCache:
      return "cache";
    case Durability::kAuto:
      return "auto";
    case Durability::kSync:
      return "sync";
  }
  return "?";
}

std::optional<Durability> ParseDurability(std::string_view text) {
  for (Durability d : {Durability::kCache, Durability::kAuto, Durability::kSync}) {
    if (text == DurabilityName(d)) return d;
  }
  return std::nullopt;
}

namespace {

// The file an export's image is, to compare with another's: its device and inode, or (a file
// that cannot be stat'ed) its path.
struct FileIdentity {
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
  bool stated = false;

  explicit FileIdentity(const std::string& p) : path(p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
      device = st.st_dev;
      inode = st.st_ino;
      stated = true;
    }
  }
  bool operator==(const FileIdentity& other) const {
    if (stated && other.stated) return device == other.device && inode == other.inode;
    return path == other.path;
  }
};

// Whether two windows of one file (offset, length in sectors; length 0: to the end) overlap.
bool Overlap(const ExportOptions& a, const ExportOptions& b) {
  auto end = [](const ExportOptions& e) {
    return e.length_sectors == 0 ? UINT64_MAX : e.offset_sectors + e.length_sectors;
  };
  return a.offset_sectors < end(b) && b.offset_sectors < end(a);
}

// An export's image, to find two exports that reach the same sectors of it. A file is the same
// by path or by inode (another path, a symbolic link); other names of the same bytes (a
// partition of the same disk, a loop device) are not seen. An RBD image is the same by pool and
// name, whatever ceph_conf= says (two files may name one cluster). Each file is stat'ed once.
struct ExportImage {
  const ExportOptions* e;
  std::optional<FileIdentity> file;  // for a file; an RBD image is compared by name

  explicit ExportImage(const ExportOptions& options)
      : e(&options),
        file(options.backend.kind == BackendSpec::Kind::kFile
                 ? std::optional<FileIdentity>(FileIdentity(options.backend.path))
                 : std::nullopt) {}
  // Whether both reach some sector of one image.
  bool SharesSectorsWith(const ExportImage& other) const {
    if (e->backend.kind != other.e->backend.kind) return false;
    const bool same_image = file ? *file == *other.file
                                 : e->backend.pool == other.e->backend.pool &&
                                       e->backend.image == other.e->backend.image;
    return same_image && Overlap(*e, *other.e);
  }
};

// The exports that write their image: read-write, and not a snapshot (which never changes).
std::vector<ExportImage> WritersOf(const ServerOptions& options) {
  std::vector<ExportImage> writers;
  for (const ExportOptions& e : options.exports) {
    if (!e.has_overlay() && !e.read_only && !e.backend.is_snapshot()) writers.emplace_back(e);
  }
  return writers;
}

// An overlay export's image is its clients' base: their overlays hold blocks against it, so
// another export that writes to the same part of it would change every client's disk under it.
// A snapshot never changes, so a base that is one has no writer.
std::string WriterOfAnOverlayBase(const ServerOptions& options) {
  std::vector<ExportImage> bases;
  for (const ExportOptions& e : options.exports) {
    if (e.has_overlay() && !e.backend.is_snapshot()) bases.emplace_back(e);
  }
  if (bases.empty()) return {};
  const std::vector<ExportImage> writers = WritersOf(options);
  for (const ExportImage& base : bases) {
    for (const ExportImage& writer : writers) {
      if (!writer.SharesSectorsWith(base)) continue;
      return fmt::format(
          "export {} would write {}, the image export {} gives its clients as the base of their "
          "overlays; export it read-only (ro), or serve a copy",
          writer.e->name(), writer.e->backend.ToString(), base.e->name());
    }
  }
  return {};
}

// An image in another export's overlay directory: that export's start removes a file there
// named like a version it does not list (CheckExportIn covers an export's own directory).
std::string ImageInAnotherOverlayDirectory(const ServerOptions& options) {
  // Each path resolved once (file system calls per part of it): pairwise, 2,000 overlay exports
  // took most of a minute.
  std::map<std::filesystem::path, std::vector<const ExportOptions*>> by_image_directory;
  for (const ExportOptions& e : options.exports) {
    if (auto dir = ResolvedImageDirectory(e.backend)) by_image_directory[*dir].push_back(&e);
  }
  for (const ExportOptions& owner : options.exports) {
    if (!owner.has_overlay()) continue;
    std::optional<std::filesystem::path> dir = ResolvedDirectory(owner.overlay_dir);
    auto images = dir ? by_image_directory.find(*dir) : by_image_directory.end();
    if (images == by_image_directory.end()) continue;
    for (const ExportOptions* other : images->second) {
      if (other == &owner) continue;
      const ExportOptions& e = *other;
      return fmt::format(
          "export {}: the image {} is in the overlay directory {} of export {}, whose files aoe "
          "serve manages (and removes); keep the image elsewhere",
          e.name(), e.backend.path, owner.overlay_dir, owner.name());
    }
  }
  return {};
}

// With several event loops, the fanout selector sends every ATA request of an overlay export to
// the first loop (ServerImpl::FirstLoopOnly), comparing the address with each such export's.
std::string TooManyFirstLoopExports(const ServerOptions& options) {
  if (options.loops <= 1) return {};
  const auto overlays = std::count_if(options.exports.begin(), options.exports.end(),
                                      [](const ExportOptions& e) { return e.has_overlay(); });
  if (static_cast<size_t>(overlays) <= kMaxFanoutFirstDisks) return {};
  return fmt::format(
      "{} overlay exports: with --loops above 1 at most {} can be served; serve the rest from "
      "another aoe serve",
      overlays, kMaxFanoutFirstDisks);
}

}  // namespace

std::string CheckExport(const ExportOptions& e, const std::vector<std::string>& interfaces) {
  return CheckExportIn(e, std::set<std::string_view>(interfaces.begin(), interfaces.end()));
}

std::vector<std::string> SharedWritableImages(const ServerOptions& options,
                                              const std::set<std::string>& involving) {
  std::vector<std::string> warnings;
  const std::vector<ExportImage> writers = WritersOf(options);
  for (size_t i = 0; i < writers.size(); ++i) {
    for (size_t j = i + 1; j < writers.size(); ++j) {
      const ExportOptions& a = *writers[i].e;
      const ExportOptions& b = *writers[j].e;
      if (!involving.contains(a.name()) && !involving.contains(b.name())) continue;
      if (!writers[i].SharesSectorsWith(writers[j])) continue;
      warnings.push_back(fmt::format(
          "exports {} and {} both write {} (the same sectors): initiators of the two would "
          "overwrite each other's data; export one read-only (ro) unless that is meant",
          a.name(), b.name(), a.backend.ToString()));
    }
  }
  return warnings;
}

std::string ValidateOptions(const ServerOptions& options) {
  if (options.interfaces.empty()) {
    return "no interface given; add -i IFACE (or interfaces = [\"IFACE\"] in the config file)";
  }
  std::set<std::string_view> served;
  for (const std::string& iface : options.interfaces) {
    if (std::string bad = CheckInterfaceName(iface, "the interface list"); !bad.empty()) return bad;
    if (!served.insert(iface).second) {
      return fmt::format("interface {} is listed twice; list each interface once", iface);
    }
  }
  if (options.buffer_count < kMinBufferCount) {
    return fmt::format(
        "--bufcnt must be at least {} (Linux sends nothing to a target advertising fewer); "
        "use 2 or more (default 64)",
        kMinBufferCount);
  }
  if (options.busy_poll < std::chrono::microseconds(0) || options.busy_poll > kMaxBusyPoll) {
    return fmt::format(
        "--busy-poll {} is out of range; give microseconds from 0 (off) to {} (default 50)",
        options.busy_poll.count(), kMaxBusyPoll.count());
  }
  if (options.loops < 1 || options.loops > kMaxLoops) {
    return fmt::format(
        "--loops {} is out of range; give 1 to {} event loops (default 1; one per core to spare)",
        options.loops, kMaxLoops);
  }
  if (options.state_dir.empty()) {
    return "the state directory is empty; give --state-dir DIR (default /var/lib/aoekit)";
  }
  if (options.exports.empty()) {
    return "no export given; add one such as e0.1=/srv/disk.img";
  }
  std::set<proto::DiskAddress> addresses;
  std::set<std::string_view> overlay_dirs;
  for (const ExportOptions& e : options.exports) {
    if (std::string bad = CheckExportIn(e, served); !bad.empty()) return bad;
    if (!addresses.insert(e.address).second) {
      return fmt::format("export {} is listed twice; give each export its own shelf.slot",
                         e.name());
    }
    if (e.has_overlay() && !overlay_dirs.insert(e.overlay_dir).second) {
      return fmt::format(
          "export {}: overlay directory {} is used by another export; give each export its own",
          e.name(), e.overlay_dir);
    }
  }
  if (std::string bad = TooManyFirstLoopExports(options); !bad.empty()) return bad;
  if (std::string bad = ImageInAnotherOverlayDirectory(options); !bad.empty()) return bad;
  return WriterOfAnOverlayBase(options);
}

}  // namespace aoe::target
