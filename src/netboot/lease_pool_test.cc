#include "netboot/lease_pool.h"

#include <gtest/gtest.h>

namespace aoe::netboot {
namespace {

const Ipv4Address kFirst(0x0a000064);   // 10.0.0.100
const Ipv4Address kServer(0x0a000065);  // 10.0.0.101, inside the range on purpose
const Ipv4Address kLast(0x0a000066);    // 10.0.0.102
const MacAddress kA({2, 0, 0, 0, 0, 0xa});
const MacAddress kB({2, 0, 0, 0, 0, 0xb});
const MacAddress kC({2, 0, 0, 0, 0, 0xc});
constexpr int64_t kNow = 1'000'000;

class LeasePoolTest : public ::testing::Test {
 protected:
  LeasePool pool_{kFirst, kLast, kServer, 3600};
};

TEST_F(LeasePoolTest, OffersLowestFreeAndSkipsServerAddress) {
  EXPECT_EQ(pool_.Offer(kA, std::nullopt, kNow), kFirst);
  EXPECT_EQ(pool_.Offer(kB, std::nullopt, kNow), kLast);
  EXPECT_EQ(pool_.Offer(kC, std::nullopt, kNow), std::nullopt);
}

TEST_F(LeasePoolTest, SameClientKeepsItsAddress) {
  ASSERT_TRUE(pool_.Bind(kA, kLast, kNow));
  EXPECT_EQ(pool_.Offer(kA, std::nullopt, kNow + 10), kLast);
  EXPECT_TRUE(pool_.Find(kA)->bound);  // re-offering a bound lease keeps it bound
}

TEST_F(LeasePoolTest, HonoursRequestedAddressWhenFree) {
  EXPECT_EQ(pool_.Offer(kA, kLast, kNow), kLast);
  EXPECT_EQ(pool_.Offer(kB, kLast, kNow), kFirst);  // taken: falls back
  EXPECT_EQ(pool_.Offer(kC, kServer, kNow), std::nullopt);
}

TEST_F(LeasePoolTest, BindRefusesOtherClientsAddressUntilExpiry) {
  ASSERT_TRUE(pool_.Bind(kA, kFirst, kNow));
  EXPECT_FALSE(pool_.Bind(kB, kFirst, kNow + 3599));
  EXPECT_TRUE(pool_.Bind(kB, kFirst, kNow + 3600));
  EXPECT_EQ(pool_.Find(kA), nullptr);
}

TEST_F(LeasePoolTest, BindRefusesOutsideRangeAndServerAddress) {
  EXPECT_FALSE(pool_.Bind(kA, Ipv4Address(0x0a000001), kNow));
  EXPECT_FALSE(pool_.Bind(kA, kServer, kNow));
}

TEST_F(LeasePoolTest, OfferHoldExpiresQuickly) {
  ASSERT_EQ(pool_.Offer(kA, std::nullopt, kNow), kFirst);
  ASSERT_EQ(pool_.Offer(kB, std::nullopt, kNow), kLast);
  EXPECT_EQ(pool_.Offer(kC, std::nullopt, kNow + 1), std::nullopt);
  EXPECT_EQ(pool_.Offer(kC, std::nullopt, kNow + LeasePool::kOfferHoldSeconds),
            kFirst);  // reuses the expired hold
}

TEST_F(LeasePoolTest, ClientMovingAddressDropsTheOldOne) {
  ASSERT_TRUE(pool_.Bind(kA, kFirst, kNow));
  ASSERT_TRUE(pool_.Bind(kA, kLast, kNow));
  EXPECT_EQ(pool_.leases().size(), 1u);
}

TEST_F(LeasePoolTest, DeclineParksTheAddress) {
  ASSERT_EQ(pool_.Offer(kA, std::nullopt, kNow), kFirst);
  pool_.Decline(kA, kFirst, kNow);
  EXPECT_EQ(pool_.Offer(kA, std::nullopt, kNow), kLast);
}

// A host that declines whatever it is offered (DISCOVER, OFFER X, DECLINE X, again) must not
// keep the range from everyone for a lease time: once no address is free, the one parked
// longest ago is offered again.
TEST_F(LeasePoolTest, AClientDecliningEveryAddressCannotHoldTheRange) {
  for (int round = 0; round < 5; ++round) {
    std::optional<Ipv4Address> offered = pool_.Offer(kA, std::nullopt, kNow + round);
    ASSERT_TRUE(offered) << "round " << round;
    EXPECT_TRUE(pool_.Decline(kA, *offered, kNow + round));
  }
  std::optional<Ipv4Address> for_b = pool_.Offer(kB, std::nullopt, kNow + 10);
  ASSERT_TRUE(for_b);
  EXPECT_TRUE(pool_.Bind(kB, *for_b, kNow + 10));
}

// Parked addresses are kept under the zero MAC, which is no client: a request with an all-zero
// hardware address must not own them (it used to be offered one, and then its hold released
// every other parked address).
TEST_F(LeasePoolTest, TheZeroMacOwnsNoParkedAddress) {
  ASSERT_EQ(pool_.Offer(kA, std::nullopt, kNow), kFirst);
  ASSERT_TRUE(pool_.Decline(kA, kFirst, kNow));
  ASSERT_EQ(pool_.Offer(kA, std::nullopt, kNow), kLast);
  ASSERT_TRUE(pool_.Decline(kA, kLast, kNow));
  EXPECT_EQ(pool_.Find(MacAddress()), nullptr);
  EXPECT_FALSE(pool_.Bind(MacAddress(), kFirst, kNow));
  EXPECT_FALSE(pool_.Release(MacAddress(), kFirst));
  EXPECT_EQ(pool_.leases().size(), 2u) << "both addresses stay parked";
}

TEST_F(LeasePoolTest, ReleaseAndDeclineSayWhetherTheyChangedAnything) {
  ASSERT_TRUE(pool_.Bind(kA, kFirst, kNow));
  EXPECT_FALSE(pool_.Release(kB, kFirst)) << "not kB's";
  EXPECT_FALSE(pool_.Decline(kB, kFirst, kNow)) << "not kB's";
  EXPECT_FALSE(pool_.Release(kA, kLast)) << "not held";
  EXPECT_TRUE(pool_.Release(kA, kFirst));
  EXPECT_FALSE(pool_.Release(kA, kFirst)) << "already released";
}

TEST_F(LeasePoolTest, SerializeAndLoadRoundTripBoundLeasesOnly) {
  ASSERT_TRUE(pool_.Bind(kA, kFirst, kNow));
  ASSERT_TRUE(pool_.Offer(kB, std::nullopt, kNow));  // held, not bound
  std::string text = pool_.Serialize();
  EXPECT_EQ(text, "10.0.0.100 02:00:00:00:00:0a 1003600\n");
  LeasePool other(kFirst, kLast, kServer, 3600);
  EXPECT_EQ(other.Load(text), 0u);
  ASSERT_NE(other.Find(kA), nullptr);
  EXPECT_EQ(other.Find(kA)->address, kFirst);
  EXPECT_EQ(other.Find(kA)->expires_unix, kNow + 3600);
}

TEST_F(LeasePoolTest, LoadSkipsGarbageAndOutOfRange) {
  EXPECT_EQ(pool_.Load("# comment\n"
                       "garbage\n"
                       "10.0.0.100 02:00:00:00:00:0a\n"
                       "10.0.0.100 02:00:00:00:00:0a 12x\n"
                       "192.168.0.1 02:00:00:00:00:0a 5\n"
                       "10.0.0.102 02:00:00:00:00:0b 99 extra\n"
                       "10.0.0.102 02:00:00:00:00:0b 99\n"),
            5u);
  EXPECT_EQ(pool_.leases().size(), 1u);
}

}  // namespace
}  // namespace aoe::netboot
