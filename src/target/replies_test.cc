// What every reply of the target looks like and which requests get one (aoe-protocol.md §1, 7):
// version, flags, tag and MACs, padding, runts, other versions and commands, and addressing.
#include <gtest/gtest.h>

#include <cerrno>

#include "target/testing/target_fixture.h"

namespace aoe::target::testkit {
namespace {

class Replies : public TargetFixture {};

TEST_F(Replies, CarryVersionOneAndResponseFlag) {
  StartServer();
  auto r = Identify();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ver_flags(), 0x18);
  EXPECT_EQ(r->ether_type(), 0x88A2);
  EXPECT_EQ(r->error(), 0);
  auto c = QueryConfig(0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->ver_flags(), 0x18);
}

TEST_F(Replies, EchoTagByteExact) {
  StartServer();
  for (uint32_t tag : {0x80000001u, 0x01000000u, 0x18AE0005u, 0xFFFFFFFFu, 0u}) {
    SCOPED_TRACE(tag);
    Frame request = BuildAta(Harness::To(kShelf, kSlot, kHostA, tag), AtaOp(kIdentify).Count(1));
    auto r = h_.Exchange(request);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->Slice(20, 4), Frame(request.begin() + 20, request.begin() + 24));
    EXPECT_EQ(r->tag(), tag);
  }
}

TEST_F(Replies, AtaReplyEchoesAflagsAndLba) {
  StartServer();
  auto r = AtaCmd(AtaOp(kRead48).Flags(0x40).Count(1).Lba(0x0102));
  ExpectAtaOk(r);
  EXPECT_EQ(r->aflags(), 0x40);
  EXPECT_EQ(r->Slice(28, 6), (Frame{std::byte{0x02}, std::byte{0x01}, std::byte{0}, std::byte{0},
                                    std::byte{0}, std::byte{0}}));
  EXPECT_EQ(r->sector_count(), 0) << "no sectors left untransferred";
}

TEST_F(Replies, SwapMacsWithTargetPortMacAsSource) {
  StartServer();
  RequestHeader a = To(kHostB);
  a.destination = MacAddress::Broadcast();
  auto r = h_.Exchange(BuildConfig(a, 0, ""), h_.host_b());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->destination(), kHostB);
  EXPECT_EQ(r->source(), kTargetMac);
}

TEST_F(Replies, ArePaddedToAtLeastSixtyBytes) {
  StartServer();
  auto config = QueryConfig(0);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->size(), 60u);
  auto write = Write(0, Pattern(kSector, 40));
  ASSERT_TRUE(write.has_value());
  EXPECT_EQ(write->size(), 60u);
  auto mask = MaskList(0);
  ASSERT_TRUE(mask.has_value());
  EXPECT_EQ(mask->size(), 60u);
  auto reserve = Reservation(0);
  ASSERT_TRUE(reserve.has_value());
  EXPECT_EQ(reserve->size(), 60u);
  auto power = AtaCmd(AtaOp(kCheckPowerMode));
  ASSERT_TRUE(power.has_value());
  EXPECT_EQ(power->size(), 60u);
  EXPECT_EQ(power->Slice(36, 24), Frame(24));
}

TEST_F(Replies, TrailingBytesAfterRequestAreIgnored) {
  StartServer();
  auto r = h_.Exchange(BuildAta(To(), AtaOp(kIdentify).Count(1).PadTo(1024)));
  ExpectAtaOk(r);
  // Linux's probe: a READ whose request carries maxbcnt bytes of zeros.
  Fill(disk(), 0, Pattern(2 * kSector, 41));
  r = h_.Exchange(BuildAta(To(), AtaOp(kRead48).Flags(0x40).Count(2).Data(Frame(2 * kSector))));
  ExpectAtaOk(r);
  EXPECT_EQ(r->ata_data(2 * kSector), Pattern(2 * kSector, 41));
  // A config read padded to 60 bytes.
  Frame config = BuildConfig(To(), 0, "");
  config.resize(60);
  EXPECT_TRUE(h_.Exchange(config).has_value());
}

TEST_F(Replies, RequestsWithResponseFlagAreIgnored) {
  StartServer();
  // Let the frame through the port's filter so the target's own check is exercised.
  h_.target_port().set_role(PortRole::kAny);
  RequestHeader a = To();
  a.ver_flags = 0x18;
  EXPECT_FALSE(h_.Exchange(BuildAta(a, AtaOp(kIdentify).Count(1))).has_value());
  EXPECT_FALSE(h_.Exchange(BuildConfig(a, 0, "")).has_value());
  EXPECT_EQ(h_.stats().dropped_response, 2u);
  EXPECT_TRUE(Identify().has_value());
}

// A reply goes to the request's source MAC. A broadcast, multicast or zero source would make
// every host on the segment receive the reply (an amplifier: a 60-byte READ request yields up
// to 8.7 KB to everyone), so such requests are dropped and counted.
TEST_F(Replies, RequestsFromAGroupOrZeroSourceAreDropped) {
  StartServer();
  const MacAddress sources[] = {MacAddress::Broadcast(),
                                MacAddress({0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}), MacAddress()};
  for (const MacAddress& source : sources) {
    SCOPED_TRACE(source.ToString());
    RequestHeader a = To();
    a.source = source;
    EXPECT_FALSE(h_.Exchange(BuildAta(a, AtaOp(kRead48).Flags(0x40).Count(2).Lba(0))));
    EXPECT_FALSE(h_.Exchange(BuildConfig(a, 0, "")));
  }
  EXPECT_EQ(h_.stats().dropped_bad_source, 6u);
  EXPECT_TRUE(Identify().has_value());
}

TEST_F(Replies, RuntsAreDroppedAndCounted) {
  StartServer();
  Frame full = BuildAta(To(), AtaOp(kIdentify).Count(1));
  // Shorter than the common header, shorter than the ATA header.
  for (size_t size : {15u, 20u, 23u, 24u, 30u, 35u}) {
    SCOPED_TRACE(size);
    Frame runt(full.begin(), full.begin() + static_cast<ptrdiff_t>(size));
    EXPECT_FALSE(h_.Exchange(runt).has_value());
  }
  // Runts of the other commands.
  Frame config = BuildConfig(To(), 0, "");
  EXPECT_FALSE(h_.Exchange(Frame(config.begin(), config.begin() + 31)).has_value());
  Frame mask = BuildMask(To(), 0, {});
  EXPECT_FALSE(h_.Exchange(Frame(mask.begin(), mask.begin() + 27)).has_value());
  Frame reserve = BuildReserve(To(), 0, {});
  EXPECT_FALSE(h_.Exchange(Frame(reserve.begin(), reserve.begin() + 25)).has_value());
  EXPECT_EQ(h_.stats().dropped_runt, 9u);
  ExpectAtaOk(Identify());
}

TEST_F(Replies, UnsupportedVersionIsError5) {
  StartServer();
  for (uint8_t ver_flags : std::initializer_list<uint8_t>{0x20, 0x00, 0xF0}) {
    SCOPED_TRACE(ver_flags);
    RequestHeader a = To();
    a.ver_flags = ver_flags;
    auto r = h_.Exchange(BuildAta(a, AtaOp(kIdentify).Count(1)));
    ExpectAoeError(r, 5);
    EXPECT_EQ(r->shelf(), kShelf);
    EXPECT_EQ(r->slot(), kSlot);
  }
  EXPECT_EQ(h_.stats().refused_bad_version, 3u);
}

TEST_F(Replies, UnknownCommandIsError1WithBodyEchoed) {
  StartServer();
  for (uint8_t command : std::initializer_list<uint8_t>{4, 7, 0xF0, 0xFF}) {
    SCOPED_TRACE(command);
    Frame request = BuildHeader(To(), command, 24);
    Frame body = Pattern(40, command);
    request.insert(request.end(), body.begin(), body.end());
    auto r = h_.Exchange(request);
    ExpectAoeError(r, 1);
    EXPECT_EQ(r->command(), command);
    EXPECT_EQ(r->Slice(24, body.size()), body);
  }
}

TEST_F(Replies, FramesForAnotherShelfOrSlotGetNoReply) {
  StartServer();
  for (auto [shelf, slot] :
       {std::pair<uint16_t, uint8_t>{kShelf, 3}, {2, kSlot}, {0xFFFF, 3}, {0, 0xFF}}) {
    SCOPED_TRACE(testing::Message() << shelf << "." << int{slot});
    EXPECT_FALSE(
        h_.Exchange(BuildAta(Harness::To(shelf, slot), AtaOp(kIdentify).Count(1))).has_value());
  }
  EXPECT_EQ(h_.stats().dropped_not_for_us, 4u);
}

TEST_F(Replies, ShelfAndSlotWildcardsMatchEachOnTheirOwn) {
  StartServer();
  for (auto [shelf, slot] : {std::pair<uint16_t, uint8_t>{0xFFFF, kSlot}, {kShelf, 0xFF}}) {
    auto r = h_.Exchange(BuildConfig(Harness::To(shelf, slot), 0, ""));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->shelf(), kShelf);
    EXPECT_EQ(r->slot(), kSlot);
  }
}

}  // namespace
}  // namespace aoe::target::testkit
