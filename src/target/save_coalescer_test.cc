// SaveCoalescer: a burst of changes costs at most two saves, the last save carries the latest
// state, and replies can tell when their change is durable.
#include "target/save_coalescer.h"

#include <gtest/gtest.h>

namespace aoe::target {
namespace {

TEST(SaveCoalescer, StartsSettledWithNothingToSave) {
  SaveCoalescer saves;
  EXPECT_TRUE(saves.settled());
  EXPECT_FALSE(saves.ShouldSave());
  EXPECT_EQ(saves.durable(), 0u);
}

TEST(SaveCoalescer, EachChangeGetsTheNextVersion) {
  SaveCoalescer saves;
  EXPECT_EQ(saves.Changed(), 1u);
  EXPECT_EQ(saves.Changed(), 2u);
  EXPECT_EQ(saves.latest(), 2u);
  EXPECT_FALSE(saves.settled());
}

TEST(SaveCoalescer, OneSaveInFlightAtATime) {
  SaveCoalescer saves;
  saves.Changed();
  ASSERT_TRUE(saves.ShouldSave());
  EXPECT_EQ(saves.StartSave(), 1u);
  saves.Changed();
  EXPECT_TRUE(saves.saving());
  EXPECT_FALSE(saves.ShouldSave()) << "a second save while one is in flight";
}

TEST(SaveCoalescer, ChangesDuringASaveAreCoalescedIntoTheNextOne) {
  SaveCoalescer saves;
  saves.Changed();
  uint64_t first = saves.StartSave();
  for (int i = 0; i < 1000; ++i) saves.Changed();
  saves.Finished(first, true);
  EXPECT_EQ(saves.durable(), 1u);
  ASSERT_TRUE(saves.ShouldSave());
  uint64_t second = saves.StartSave();
  EXPECT_EQ(second, 1001u) << "the next save carries the latest state";
  saves.Finished(second, true);
  EXPECT_TRUE(saves.settled());
  EXPECT_FALSE(saves.ShouldSave()) << "1001 changes, two saves";
}

TEST(SaveCoalescer, FailedSaveWaitsForRetryAndKeepsDurableVersion) {
  SaveCoalescer saves;
  saves.Changed();
  saves.Finished(saves.StartSave(), true);
  saves.Changed();
  saves.Finished(saves.StartSave(), false);
  EXPECT_EQ(saves.durable(), 1u);
  EXPECT_TRUE(saves.last_save_failed());
  EXPECT_TRUE(saves.awaiting_retry());
  saves.Changed();
  EXPECT_FALSE(saves.ShouldSave()) << "no new save until the retry";
  saves.Retry();
  ASSERT_TRUE(saves.ShouldSave());
  EXPECT_TRUE(saves.last_save_failed()) << "still failing until a save succeeds";
  saves.Finished(saves.StartSave(), true);
  EXPECT_FALSE(saves.last_save_failed());
  EXPECT_TRUE(saves.settled());
}

}  // namespace
}  // namespace aoe::target
