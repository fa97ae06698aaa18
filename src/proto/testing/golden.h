// Helpers for golden-frame tests: frames written out byte by byte, and hex dumps so that a
// mismatch names the differing byte. Test-only.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "base/bytes.h"

namespace aoe::proto::testing {

inline std::vector<std::byte> Frame(std::initializer_list<uint8_t> bytes) {
  std::vector<std::byte> out;
  for (uint8_t b : bytes) out.push_back(std::byte{b});
  return out;
}

inline std::string Hex(ConstByteSpan bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    if (!out.empty()) out += ' ';
    out += kDigits[static_cast<uint8_t>(b) >> 4];
    out += kDigits[static_cast<uint8_t>(b) & 0x0F];
  }
  return out;
}

}  // namespace aoe::proto::testing
