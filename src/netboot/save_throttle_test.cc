#include "netboot/save_throttle.h"

#include <gtest/gtest.h>

namespace aoe::netboot {
namespace {

using std::chrono::milliseconds;

TEST(SaveThrottle, TheFirstChangeAndOneAfterAQuietSpellAreWrittenAtOnce) {
  SaveThrottle throttle(milliseconds(1000));
  const TimePoint start{};
  EXPECT_TRUE(throttle.Changed(start));
  throttle.Saved(start);
  EXPECT_TRUE(throttle.Changed(start + milliseconds(1000)));
  EXPECT_FALSE(throttle.due());
}

TEST(SaveThrottle, AFloodOfChangesIsOneWritePerInterval) {
  SaveThrottle throttle(milliseconds(1000));
  const TimePoint start{};
  ASSERT_TRUE(throttle.Changed(start));
  throttle.Saved(start);
  int writes = 1;
  // 10,000 changes over 3 s: written when due, never in between.
  for (int i = 1; i <= 10000; ++i) {
    const TimePoint now = start + milliseconds(i * 3000 / 10000);
    if (throttle.due() && now >= *throttle.due()) {
      throttle.Saved(now);
      ++writes;
    }
    if (throttle.Changed(now)) {
      throttle.Saved(now);
      ++writes;
    }
  }
  EXPECT_LE(writes, 4);
  EXPECT_TRUE(throttle.pending()) << "the last changes still wait for their write";
  EXPECT_LE(*throttle.due(), start + milliseconds(4000));
}

}  // namespace
}  // namespace aoe::netboot
