#include "net/testing/test_data.h"

#include <fstream>
#include <iterator>
#include <random>

namespace aoe::testing {

Bytes RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = std::byte(rng() & 0xff);
  return out;
}

Bytes ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  Bytes out;
  for (std::istreambuf_iterator<char> it(in), end; it != end; ++it) {
    out.push_back(static_cast<std::byte>(*it));
  }
  return out;
}

void WriteFile(const std::filesystem::path& path, const Bytes& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

}  // namespace aoe::testing
