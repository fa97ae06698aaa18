#include "target/incarnation.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <system_error>

#include "base/atomic_file.h"
#include "base/read_file.h"

namespace aoe::target {

namespace {

constexpr const char* kBootIdFile = "/proc/sys/kernel/random/boot_id";
constexpr mode_t kDirectoryMode = 0750;  // as the state files' (FileStateStore)

uint64_t RandomIncarnation() {
  static std::random_device random;
  uint64_t value = 0;
  while (value == 0) value = (uint64_t{random()} << 32) | random();
  return value;
}

// FNV-1a: stable across processes and builds (std::hash is not promised to be).
uint64_t Fnv1a(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash == 0 ? 1 : hash;
}

// The fallbacks where no record can be kept: the same for every export.
uint64_t UnrecordedIncarnation(BackendCapabilities::UnflushedWrites where) {
  static const uint64_t per_process = RandomIncarnation();
  if (where == BackendCapabilities::UnflushedWrites::kHostCache && !BootId().empty()) {
    return Fnv1a(BootId());
  }
  return per_process;
}

}  // namespace

const std::string& BootId() {
  // A function-local static: read once, thread-safe.
  static const std::string boot_id = [] {
    const char* seam = std::getenv("AOE_BOOT_ID_FILE");
    std::ifstream in(seam != nullptr && *seam != '\0' ? seam : kBootIdFile);
    std::string line;
    std::getline(in, line);
    return line;
  }();
  return boot_id;
}

IncarnationBook::IncarnationBook(std::string directory, std::string boot_id, Logger& log)
    : directory_(std::move(directory)), boot_id_(std::move(boot_id)), log_(log) {}

std::string IncarnationBook::RecordPath(const std::string& name) const {
  return directory_ + "/" + name + ".incarnation";
}

uint64_t IncarnationBook::Pick(const std::string& name, Where where) {
  switch (where) {
    case Where::kNone:
      return 0;
    case Where::kNotKept:
      return RandomIncarnation();
    case Where::kHostCache:
    case Where::kProcess:
      break;
  }
  // Given after a loss that could not be recorded: kept for this process's later openings.
  if (auto it = unrecorded_after_loss_.find(name); it != unrecorded_after_loss_.end()) {
    return it->second;
  }
  if (auto it = recorded_.find(name); it != recorded_.end()) {
    // Re-opened in this process (a reload, which flushed it): the same one. What holds its
    // unflushed writes from now on may have changed (a file export re-opened as an overlay):
    // recorded first, for the next start to judge by.
    Record& record = it->second;
    if (record.held_by != where) {
      Record next = record;
      next.held_by = where;
      if (!Save(name, next)) {
        recorded_.erase(it);
        return UnrecordedIncarnation(where);
      }
      before_serving_.try_emplace(name, BeforeServing{.record = record, .first_pick = false});
      record = next;
    }
    return record.incarnation;
  }
  if (!Lock(name)) return UnrecordedIncarnation(where);

  Record record{.incarnation = 0, .held_by = where, .boot_id = boot_id_, .stopped_cleanly = false};
  const std::optional<Record> last = Load(name);
  if (last) {
    // The page cache outlives aoe serve, not the host's boot, and holds nothing of an overlay.
    const bool cache_held = where == Where::kHostCache && last->held_by == Where::kHostCache &&
                            !boot_id_.empty() && last->boot_id == boot_id_;
    if (last->stopped_cleanly || cache_held) record.incarnation = last->incarnation;
  }
  if (record.incarnation == 0) record.incarnation = RandomIncarnation();
  if (!Save(name, record)) return UnrecordedIncarnation(where);
  recorded_[name] = record;
  before_serving_[name] = BeforeServing{.record = last, .first_pick = true};
  return record.incarnation;
}

uint64_t IncarnationBook::PickAfterLoss(const std::string& name, Where where, uint64_t lost) {
  const uint64_t next = Pick(name, where);
  if (next != lost) return next;
  const uint64_t random = RandomIncarnation();
  unrecorded_after_loss_[name] = random;
  return random;
}

void IncarnationBook::Serving(const std::string& name) { before_serving_.erase(name); }

void IncarnationBook::NeverServed(const std::string& name) {
  auto it = before_serving_.find(name);
  if (it == before_serving_.end()) return;
  const BeforeServing before = std::move(it->second);
  before_serving_.erase(it);
  if (!before.first_pick) {
    // Re-opened with other storage while the first instance serves on: as it was.
    if (before.record && Save(name, *before.record)) recorded_[name] = *before.record;
    return;
  }
  // Without a record before, the one Pick wrote says "not stopped cleanly" under a number no
  // initiator was given: the next start takes a new one, as it would have.
  if (before.record) Save(name, *before.record);
  recorded_.erase(name);
  locks_.erase(name);
}

void IncarnationBook::StoppedCleanly(const std::string& name) {
  auto it = recorded_.find(name);
  if (it == recorded_.end()) return;
  Record record = it->second;
  record.stopped_cleanly = true;
  Save(name, record);
  // A later Pick in this process records "not stopped cleanly" again before serving.
  recorded_.erase(it);
}

void IncarnationBook::Lost(const std::string& name) {
  before_serving_.erase(name);  // a loss is not undone
  unrecorded_after_loss_.erase(name);
  auto it = recorded_.find(name);
  if (it == recorded_.end()) {
    log_.Warn(name,
              "writes may have been lost, and no incarnation record is kept for this export: "
              "initiators learn of it only if it is served again under another number (a "
              "reload does that; a restart does for an overlay, and for a file after a reboot)");
    return;
  }
  // A number nobody was served, not stopped cleanly: whatever the next opening decides, it
  // differs from the one initiators hold. Should this save fail, the record still says "not
  // stopped cleanly", and only a page-cache export in this boot would keep it: said in the log.
  Record record = it->second;
  record.incarnation = RandomIncarnation();
  record.stopped_cleanly = false;
  if (!Save(name, record)) {
    log_.Error(name,
               "the final flush failed and {} cannot record it: delete that file before "
               "serving this export again, or initiators may not learn that writes were lost",
               RecordPath(name));
  }
  recorded_.erase(it);
}

bool IncarnationBook::Lock(const std::string& name) {
  if (locks_.contains(name)) return true;
  const std::string path = RecordPath(name) + ".lock";
  std::error_code failed;
  UniqueFd fd;
  if (::mkdir(directory_.c_str(), kDirectoryMode) != 0 && errno != EEXIST) {
    failed = std::error_code(errno, std::system_category());
  } else {
    fd = UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) failed = std::error_code(errno, std::system_category());
  }
  if (failed) {
    WarnOnce(name, fmt::format("cannot open {}: {}", path, failed.message()));
    return false;
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    WarnOnce(name, fmt::format("another aoe serve with this state directory serves an export "
                               "named {} ({} is locked; give each aoe serve its own --state-dir)",
                               name, path));
    return false;
  }
  locks_.emplace(name, std::move(fd));
  return true;
}

std::optional<IncarnationBook::Record> IncarnationBook::Load(const std::string& name) {
  const std::string path = RecordPath(name);
  auto text = ReadSmallFileIfPresent(path);
  if (!text) {
    log_.Warn(name, "cannot read {}: {}; taking a new incarnation", path, text.error().message());
    return std::nullopt;
  }
  if (!text->has_value()) return std::nullopt;
  const nlohmann::json json = nlohmann::json::parse(**text, nullptr, /*allow_exceptions=*/false);
  auto string_at = [&](const char* key) -> std::optional<std::string> {
    if (!json.is_object() || !json.contains(key) || !json[key].is_string()) return std::nullopt;
    return json[key].get<std::string>();
  };
  const std::optional<std::string> hex = string_at("incarnation");
  const std::optional<std::string> held_by = string_at("held_by");
  const std::optional<std::string> boot_id = string_at("boot_id");
  Record record;
  if (hex && !hex->empty() && held_by && (*held_by == "page cache" || *held_by == "process") &&
      boot_id && json.contains("stopped_cleanly") && json["stopped_cleanly"].is_boolean()) {
    char* end = nullptr;
    record.incarnation = std::strtoull(hex->c_str(), &end, 16);
    record.held_by = *held_by == "page cache" ? Where::kHostCache : Where::kProcess;
    record.boot_id = *boot_id;
    record.stopped_cleanly = json["stopped_cleanly"].get<bool>();
    if (*end == '\0' && record.incarnation != 0) return record;
  }
  log_.Warn(name, "{} is not an incarnation record; taking a new incarnation", path);
  return std::nullopt;
}

bool IncarnationBook::Save(const std::string& name, const Record& record) {
  const std::string path = RecordPath(name);
  const nlohmann::json json = {
      {"incarnation", fmt::format("{:016x}", record.incarnation)},
      {"held_by", record.held_by == Where::kHostCache ? "page cache" : "process"},
      {"boot_id", record.boot_id},
      {"stopped_cleanly", record.stopped_cleanly}};
  if (auto written = WriteFileAtomically(path, json.dump() + "\n"); !written) {
    WarnOnce(name, fmt::format("cannot write {}: {}", path, written.error().message()));
    return false;
  }
  return true;
}

void IncarnationBook::WarnOnce(const std::string& name, const std::string& why) {
  if (!warned_.insert(name).second) return;
  log_.Warn(name,
            "{}; its incarnation is not kept across restarts (after a restart that lost "
            "nothing, initiators that flush may write again or fail an fsync)",
            why);
}

}  // namespace aoe::target
