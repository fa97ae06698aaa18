// Sha256: the SHA-256 digest (FIPS 180-4), so that `aoe cp --verify` prints the same checksum
// as sha256sum and a person can compare it with any other copy of the image.
//
// Our own small implementation instead of a crypto library: the CLI needs nothing else from
// one. A value type; not thread-safe (use one per thread).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace aoe::cli {

class Sha256 {
 public:
  Sha256();
  void Update(std::span<const std::byte> data);
  // Finishes the digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> Final();
  // Final() as 64 lowercase hex digits, as sha256sum prints it.
  std::string HexFinal();

 private:
  void Block(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace aoe::cli
