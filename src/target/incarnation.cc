#include "target/incarnation.h"

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

namespace aoe::target {

namespace {

constexpr const char* kBootIdFile = "/proc/sys/kernel/random/boot_id";

// FNV-1a: stable across processes and builds (std::hash is not promised to be).
uint64_t Fnv1a(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace

uint64_t HostIncarnation() {
  // Function-local statics: initialised once, thread-safe, by whichever loop asks first.
  static const uint64_t incarnation = [] {
    const char* seam = std::getenv("AOE_BOOT_ID_FILE");
    std::ifstream in(seam != nullptr && *seam != '\0' ? seam : kBootIdFile);
    std::string boot_id;
    if (!std::getline(in, boot_id) || boot_id.empty()) return ProcessIncarnation();
    const uint64_t hash = Fnv1a(boot_id);
    return hash == 0 ? 1 : hash;
  }();
  return incarnation;
}

uint64_t IncarnationFor(BackendCapabilities::UnflushedWrites where) {
  switch (where) {
    case BackendCapabilities::UnflushedWrites::kHostCache:
      return HostIncarnation();
    case BackendCapabilities::UnflushedWrites::kProcess:
      return ProcessIncarnation();
    case BackendCapabilities::UnflushedWrites::kNone:
      break;
  }
  return 0;
}

uint64_t ProcessIncarnation() {
  static const uint64_t incarnation = [] {
    std::random_device random;
    uint64_t value = 0;
    while (value == 0) value = (uint64_t{random()} << 32) | random();
    return value;
  }();
  return incarnation;
}

}  // namespace aoe::target
