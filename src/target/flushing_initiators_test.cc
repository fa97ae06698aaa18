// FlushingInitiators (flushing_initiators.h): one set per export that every loop reads through
// its own View; a change made on one loop is seen by every other at its next read. Threaded
// here as in `aoe serve --loops 2` (CI runs target_test under ThreadSanitizer).
#include "target/flushing_initiators.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

namespace aoe::target {
namespace {

MacAddress Host(uint32_t n) {
  return MacAddress({0x02, 0, uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)});
}

TEST(FlushingInitiators, AChangeOnOneLoopIsSeenByTheOthersAtTheirNextRead) {
  auto shared = std::make_shared<FlushingInitiators>();
  FlushingInitiators::View loop0(shared);
  FlushingInitiators::View loop1(shared);
  EXPECT_FALSE(loop1.Contains(Host(1)));
  shared->Add(Host(1));
  EXPECT_TRUE(loop0.Contains(Host(1)));
  EXPECT_TRUE(loop1.Contains(Host(1)));
  shared->Remove(Host(1));
  EXPECT_FALSE(loop0.Contains(Host(1)));
  EXPECT_FALSE(loop1.Contains(Host(1)));
}

TEST(FlushingInitiators, TheSetIsBounded) {
  auto shared = std::make_shared<FlushingInitiators>();
  FlushingInitiators::View view(shared);
  for (uint32_t n = 0; n < FlushingInitiators::kMaxInitiators + 10; ++n) shared->Add(Host(n));
  EXPECT_TRUE(view.Contains(Host(FlushingInitiators::kMaxInitiators - 1)));
  EXPECT_FALSE(view.Contains(Host(FlushingInitiators::kMaxInitiators)))
      << "one past the bound gets the safe (durable) path";
}

// Loop 1 reads on its own thread while loop 0 adds initiators 0..N-1 and then removes them in
// the same order: a change made before a read began is always seen.
TEST(FlushingInitiators, ReadsOnAnotherThreadSeeEveryChangeMadeBeforeThem) {
  constexpr uint32_t kHosts = 1000;
  auto shared = std::make_shared<FlushingInitiators>();
  std::atomic<uint32_t> added{0};
  std::atomic<uint32_t> removed{0};
  std::atomic<bool> done{false};
  std::thread loop1([&] {
    FlushingInitiators::View view(shared);
    while (!done.load()) {
      const uint32_t a = added.load(std::memory_order_acquire);
      const uint32_t r = removed.load(std::memory_order_acquire);
      if (r > 0) {
        EXPECT_FALSE(view.Contains(Host(r - 1))) << "removed before the read";
      }
      if (a > 0) {
        const bool present = view.Contains(Host(a - 1));
        // Host(a - 1) is removed only after `removed` reached a - 1: if it had not when this
        // read ended, the host was there all along.
        if (removed.load(std::memory_order_acquire) < a - 1) {
          EXPECT_TRUE(present) << "added before the read";
        }
      }
    }
  });
  for (uint32_t k = 0; k < kHosts; ++k) {
    shared->Add(Host(k));
    added.store(k + 1, std::memory_order_release);
  }
  for (uint32_t k = 0; k < kHosts; ++k) {
    shared->Remove(Host(k));
    removed.store(k + 1, std::memory_order_release);
  }
  done = true;
  loop1.join();
}

}  // namespace
}  // namespace aoe::target
