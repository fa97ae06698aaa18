#include "target/incarnation.h"

#include <fmt/format.h>
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

uint64_t IncarnationBook::Pick(const std::string& name,
                               BackendCapabilities::UnflushedWrites where) {
  using Where = BackendCapabilities::UnflushedWrites;
  switch (where) {
    case Where::kNone:
      return 0;
    case Where::kNotKept:
      return RandomIncarnation();
    case Where::kHostCache:
    case Where::kProcess:
      break;
  }
  if (auto it = recorded_.find(name); it != recorded_.end()) return it->second;

  Record record{.incarnation = 0, .boot_id = boot_id_, .stopped_cleanly = false};
  if (std::optional<Record> last = Load(name)) {
    // The page cache outlives aoe serve, not the host's boot.
    const bool cache_held =
        where == Where::kHostCache && !boot_id_.empty() && last->boot_id == boot_id_;
    if (last->stopped_cleanly || cache_held) record.incarnation = last->incarnation;
  }
  if (record.incarnation == 0) record.incarnation = RandomIncarnation();
  if (!Save(name, record)) return UnrecordedIncarnation(where);
  recorded_[name] = record.incarnation;
  return record.incarnation;
}

void IncarnationBook::StoppedCleanly(const std::string& name) {
  auto it = recorded_.find(name);
  if (it == recorded_.end()) return;
  Save(name, Record{.incarnation = it->second, .boot_id = boot_id_, .stopped_cleanly = true});
  // A later Pick in this process records "not stopped cleanly" again before serving.
  recorded_.erase(it);
}

std::optional<IncarnationBook::Record> IncarnationBook::Load(const std::string& name) {
  const std::string path = RecordPath(name);
  auto text = ReadSmallFileIfPresent(path);
  if (!text) {
    log_.Warn(name,
              "cannot read {}: {}; taking a new incarnation (initiators that flush will "
              "write again what they wrote last)",
              path, text.error().message());
    return std::nullopt;
  }
  if (!text->has_value()) return std::nullopt;
  const nlohmann::json json = nlohmann::json::parse(**text, nullptr, /*allow_exceptions=*/false);
  Record record;
  if (json.is_object() && json.value("incarnation", nlohmann::json()).is_string() &&
      json.value("boot_id", nlohmann::json()).is_string() &&
      json.value("stopped_cleanly", nlohmann::json()).is_boolean()) {
    const std::string hex = json["incarnation"].get<std::string>();
    char* end = nullptr;
    record.incarnation = std::strtoull(hex.c_str(), &end, 16);
    record.boot_id = json["boot_id"].get<std::string>();
    record.stopped_cleanly = json["stopped_cleanly"].get<bool>();
    if (!hex.empty() && *end == '\0' && record.incarnation != 0) return record;
  }
  log_.Warn(name, "{} is not an incarnation record; taking a new incarnation", path);
  return std::nullopt;
}

bool IncarnationBook::Save(const std::string& name, const Record& record) {
  const std::string path = RecordPath(name);
  const nlohmann::json json = {{"incarnation", fmt::format("{:016x}", record.incarnation)},
                               {"boot_id", record.boot_id},
                               {"stopped_cleanly", record.stopped_cleanly}};
  std::error_code failed;
  if (::mkdir(directory_.c_str(), kDirectoryMode) != 0 && errno != EEXIST) {
    failed = std::error_code(errno, std::system_category());
  } else if (auto written = WriteFileAtomically(path, json.dump() + "\n"); !written) {
    failed = written.error();
  }
  if (!failed) return true;
  log_.Warn(name,
            "cannot write {}: {}; its incarnation is not kept across restarts (after a restart "
            "that lost nothing, initiators that flush may write again or fail an fsync)",
            path, failed.message());
  return false;
}

}  // namespace aoe::target
