// Test data for integration tests: reproducible random bytes, and whole files read and written
// as bytes (disk images the test makes before starting the program under test and compares
// afterwards).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

namespace aoe::testing {

using Bytes = std::vector<std::byte>;

// `n` bytes from a generator seeded with `seed`: the same seed gives the same bytes.
Bytes RandomBytes(size_t n, uint32_t seed);
// The whole file (empty if it cannot be read).
Bytes ReadFile(const std::filesystem::path& path);
// Replaces the file's contents with `data`.
void WriteFile(const std::filesystem::path& path, const Bytes& data);

}  // namespace aoe::testing
