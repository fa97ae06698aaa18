#include "target/export_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/unique_fd.h"

namespace aoe::target {

namespace {

std::string ToHex(const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

bool FromHex(const std::string& text, std::vector<uint8_t>& out) {
  if (text.size() % 2 != 0) return false;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = digit(text[i]);
    int lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<uint8_t>(hi * 16 + lo));
  }
  return true;
}

nlohmann::json MacList(const std::vector<MacAddress>& macs) {
  auto list = nlohmann::json::array();
  for (const auto& mac : macs) list.push_back(mac.ToString());
  return list;
}

bool ParseMacList(const nlohmann::json& j, std::vector<MacAddress>& out) {
  if (!j.is_array()) return false;
  out.clear();
  for (const auto& item : j) {
    if (!item.is_string()) return false;
    auto mac = MacAddress::Parse(item.get<std::string>());
    if (!mac) return false;
    out.push_back(*mac);
  }
  return true;
}

Result<void> WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno();
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

StateFile::StateFile(std::string directory, std::string export_name)
    : directory_(std::move(directory)),
      path_(directory_.empty() ? "" : directory_ + "/" + export_name + ".json") {}

Result<StateFile::Loaded> StateFile::Load() const {
  Loaded loaded;
  if (!persistent()) return loaded;
  std::ifstream in(path_);
  if (!in) {
    if (errno == ENOENT) return loaded;
    return Errno();
  }
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Err(std::errc::illegal_byte_sequence);
  ExportState& s = loaded.state;
  if (j.contains("config_string_hex") &&
      (!j["config_string_hex"].is_string() ||
       !FromHex(j["config_string_hex"].get<std::string>(), s.config_string) ||
       s.config_string.size() > 1024)) {
    return Err(std::errc::illegal_byte_sequence);
  }
  if (j.contains("mask") && !ParseMacList(j["mask"], s.mask)) {
    return Err(std::errc::illegal_byte_sequence);
  }
  if (j.contains("configured_mask") && !ParseMacList(j["configured_mask"], s.configured_mask)) {
    return Err(std::errc::illegal_byte_sequence);
  }
  if (j.contains("reservation") && !ParseMacList(j["reservation"], s.reservation)) {
    return Err(std::errc::illegal_byte_sequence);
  }
  loaded.found = true;
  return loaded;
}

Result<void> StateFile::Save(const ExportState& state) const {
  if (!persistent()) return {};
  nlohmann::json j;
  j["config_string_hex"] = ToHex(state.config_string);
  // Readable copy for administrators; the hex form is authoritative.
  j["config_string"] = std::string(state.config_string.begin(), state.config_string.end());
  j["mask"] = MacList(state.mask);
  j["configured_mask"] = MacList(state.configured_mask);
  j["reservation"] = MacList(state.reservation);
  std::string text = j.dump(2, ' ', /*ensure_ascii=*/true,
                            nlohmann::json::error_handler_t::replace) + "\n";

  if (::mkdir(directory_.c_str(), 0750) != 0 && errno != EEXIST) return Errno();
  std::string tmp = path_ + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!fd) return Errno();
  AOE_TRY(WriteAll(fd.get(), text));
  if (::fsync(fd.get()) != 0) return Errno();
  fd.reset();
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return Errno();
  // The rename is durable only once the directory entry is.
  UniqueFd dir(::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) ::fsync(dir.get());
  return {};
}

}  // namespace aoe::target
