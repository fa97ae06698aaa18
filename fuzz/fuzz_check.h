// FUZZ_CHECK: the invariant check of the fuzz targets. Unlike assert() it stays on in release
// builds, and it aborts, which libFuzzer reports as a crash (and saves the input) and the replay
// runner reports as a failed ctest.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, size_t size);
