#include "storage/overlay/versions.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "storage/overlay/overlay_error.h"

namespace aoe::overlay {

VersionRegistry::VersionRegistry(uint64_t size_bytes) : size_bytes_(size_bytes) {
  VersionRecord first;
  first.id = 1;
  versions_.push_back(std::move(first));
}

std::string VersionRegistry::FileFor(uint64_t id) { return fmt::format("v{}.img", id); }

bool VersionRegistry::IsVersionFileName(std::string_view name) {
  if (name.ends_with(".tmp")) name.remove_suffix(4);
  if (!name.starts_with('v') || !name.ends_with(".img") || name.size() <= 5) return false;
  const std::string_view digits = name.substr(1, name.size() - 5);
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

const VersionRecord* VersionRegistry::Find(uint64_t id) const {
  for (const VersionRecord& v : versions_)
    if (v.id == id) return &v;
  return nullptr;
}

const VersionRecord& VersionRegistry::Add(uint64_t parent, int64_t created_unix,
                                          std::string from_client) {
  const uint64_t id = next_id_++;
  versions_.push_back(VersionRecord{.id = id,
                                    .parent = parent,
                                    .file = FileFor(id),
                                    .created_unix = created_unix,
                                    .from_client = std::move(from_client)});
  current_ = id;
  return versions_.back();
}

std::vector<VersionRecord> VersionRegistry::Collect(const std::set<uint64_t>& in_use) {
  const VersionRecord* current = Find(current_);
  const uint64_t keep_parent = current != nullptr ? current->parent : 0;
  std::vector<VersionRecord> gone;
  auto unused = [&](const VersionRecord& v) {
    return v.id != 1 && v.id != current_ && v.id != keep_parent && !in_use.contains(v.id);
  };
  for (const VersionRecord& v : versions_)
    if (unused(v)) gone.push_back(v);
  std::erase_if(versions_, unused);
  return gone;
}

std::string VersionRegistry::Serialize() const {
  nlohmann::ordered_json j;
  j["format"] = 1;
  j["size_bytes"] = size_bytes_;
  j["current"] = current_;
  j["next_id"] = next_id_;
  j["versions"] = nlohmann::ordered_json::array();
  for (const VersionRecord& v : versions_) {
    j["versions"].push_back(nlohmann::ordered_json{{"id", v.id},
                                                   {"parent", v.parent},
                                                   {"file", v.file},
                                                   {"created_unix", v.created_unix},
                                                   {"from_client", v.from_client}});
  }
  return j.dump(2) + "\n";
}

Result<VersionRegistry> VersionRegistry::Parse(std::string_view json) {
  const auto bad = [] { return OverlayError(OverlayErrc::kBadVersionsFile); };
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return bad();
  VersionRegistry r;
  auto number = [&](const nlohmann::json& o, const char* key, uint64_t& out) {
    auto it = o.find(key);
    if (it == o.end() || !it->is_number_unsigned()) return false;
    out = it->get<uint64_t>();
    return true;
  };
  uint64_t format = 0;
  if (!number(j, "format", format) || format != 1) return bad();
  if (!number(j, "size_bytes", r.size_bytes_) || !number(j, "current", r.current_) ||
      !number(j, "next_id", r.next_id_)) {
    return bad();
  }
  auto list = j.find("versions");
  if (list == j.end() || !list->is_array()) return bad();
  for (const nlohmann::json& item : *list) {
    if (!item.is_object()) return bad();
    VersionRecord v;
    uint64_t created = 0;
    if (!number(item, "id", v.id) || !number(item, "parent", v.parent)) return bad();
    auto file = item.find("file");
    auto from = item.find("from_client");
    if (file == item.end() || !file->is_string() || from == item.end() || !from->is_string()) {
      return bad();
    }
    v.file = file->get<std::string>();
    v.from_client = from->get<std::string>();
    auto created_it = item.find("created_unix");
    if (created_it != item.end() && created_it->is_number_integer()) {
      v.created_unix = created_it->get<int64_t>();
    } else if (number(item, "created_unix", created)) {
      v.created_unix = static_cast<int64_t>(created);
    }
    // Only our own names: a hand-edited file must not point anywhere else.
    if (v.id == 0 || v.id >= r.next_id_ || r.Find(v.id) != nullptr) return bad();
    if (v.id == 1 ? !v.file.empty() || v.parent != 0 : v.file != FileFor(v.id)) return bad();
    r.versions_.push_back(std::move(v));
  }
  if (r.Find(1) == nullptr || r.Find(r.current_) == nullptr) return bad();
  return r;
}

}  // namespace aoe::overlay
