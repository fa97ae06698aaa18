// Reserve/Release (aoe-protocol.md §4.2): who may set the reservation, what it returns, and I/O
// from hosts it shuts out.
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "target/testing/target_fixture.h"

namespace aoe::target::testkit {
namespace {

class Reserve : public TargetFixture {};

TEST_F(Reserve, ReadOfEmptyReservation) {
  StartServer();
  auto r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->command(), 3);
  EXPECT_EQ(r->rcmd(), 0);
  EXPECT_EQ(r->mac_count(), 0);
}

TEST_F(Reserve, SetWhenEmptySucceedsAndReturnsList) {
  StartServer();
  auto r = Reservation(1, {kHostA, kHostC});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->rcmd(), 1);
  EXPECT_EQ(r->reserve_macs(), (std::vector<MacAddress>{kHostA, kHostC}));
  r = Reservation(0, {}, kHostB);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reserve_macs(), (std::vector<MacAddress>{kHostA, kHostC}));
}

TEST_F(Reserve, SetByOtherHostWhileHeldIsError6WithCurrentList) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  auto r = Reservation(1, {kHostB}, kHostB);
  ExpectAoeError(r, 6);
  EXPECT_EQ(r->reserve_macs(), std::vector<MacAddress>{kHostA});
  r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reserve_macs(), std::vector<MacAddress>{kHostA});
}

TEST_F(Reserve, HolderMaySetAgain) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  auto r = Reservation(1, {kHostA, kHostB});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->reserve_macs(), (std::vector<MacAddress>{kHostA, kHostB}));
}

TEST_F(Reserve, ForceSetByOtherHostReplaces) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  auto r = Reservation(2, {kHostB}, kHostB);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->rcmd(), 2);
  EXPECT_EQ(r->reserve_macs(), std::vector<MacAddress>{kHostB});
  ExpectAoeError(Read(0, 1), 6);  // A lost it
}

TEST_F(Reserve, SetWithNoMacsByHolderReleases) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  auto r = Reservation(1, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->mac_count(), 0);
  ExpectAtaOk(Read(0, 1, kRead48, kHostB));
}

TEST_F(Reserve, OtherHostIoIsRefusedAndChangesNothing) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  uint64_t before = Checksum(disk().bytes());
  ExpectAoeError(Read(0, 1, kRead48, kHostB), 6);
  ExpectAoeError(Write(0, Pattern(kSector, 60), kWrite48, kHostB), 6);
  ExpectAoeError(Write(1, Pattern(kSector, 61), kWrite28, kHostB), 6);
  EXPECT_EQ(Checksum(disk().bytes()), before);
  EXPECT_GE(h_.stats().refused_reserved, 3u);
  // IDENTIFY stays open to everyone; config queries too.
  ExpectAtaOk(Identify(kHostB));
  EXPECT_TRUE(QueryConfig(0, "", kHostB).has_value());
  // The holder's I/O works.
  Frame data = Pattern(kSector, 62);
  ExpectAtaOk(Write(3, data));
  auto r = Read(3, 1);
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(kSector), data);
}

TEST_F(Reserve, UnknownRcmdIsBadArgument) {
  StartServer();
  for (uint8_t rcmd : std::initializer_list<uint8_t>{3, 0x10, 0xFF})
    ExpectAoeError(Reservation(rcmd, {kHostA}), 2);
  auto r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->mac_count(), 0);
}

TEST_F(Reserve, MacCountBeyondFrameIsBadArgument) {
  StartServer();
  auto r = h_.Exchange(BuildReserve(To(), 1, {kHostA}, uint8_t{5}));
  ExpectAoeError(r, 2);
  r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->mac_count(), 0);
}

TEST_F(Reserve, ReservationPersistsAcrossRestart) {
  StartServer();
  ASSERT_TRUE(Reservation(1, {kHostA}).has_value());
  ASSERT_TRUE(h_.Restart());
  ExpectAoeError(Read(0, 1, kRead48, kHostB), 6);
  auto r = Reservation(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->reserve_macs(), std::vector<MacAddress>{kHostA});
}

}  // namespace
}  // namespace aoe::target::testkit
