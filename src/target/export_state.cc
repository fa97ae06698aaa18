#include "target/export_state.h"

#include <nlohmann/json.hpp>

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

}  // namespace

std::string EncodeExportState(const ExportState& state) {
  nlohmann::json j;
  j["config_string_hex"] = ToHex(state.config_string);
  j["config_string"] = std::string(state.config_string.begin(), state.config_string.end());
  j["mask"] = MacList(state.mask);
  j["configured_mask"] = MacList(state.configured_mask);
  j["reservation"] = MacList(state.reservation);
  return j.dump(2, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<ExportState> DecodeExportState(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Err(std::errc::illegal_byte_sequence);
  ExportState s;
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
  return s;
}

}  // namespace aoe::target
