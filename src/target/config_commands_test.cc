// Query Config Information (aoe-protocol.md §3): reads, tests and sets of the config string, the
// parameters each reply carries, broadcast queries, persistence across a restart; and the
// config replies the target announces unasked.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "target/testing/target_fixture.h"

namespace aoe::target::testkit {
namespace {

// ---------------------------------------------------------------------------------------------
// Query Config Information

class Config : public TargetFixture {};

TEST_F(Config, ReadReturnsCurrentStringAndParameters) {
  StartServer();
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->command(), 1);
  EXPECT_EQ(r->buffer_count(), 16);
  EXPECT_EQ(r->firmware_version(), kFirmwareVersion);
  EXPECT_EQ(r->config_sector_count(), 2);
  EXPECT_EQ(r->config_version(), 1);
  EXPECT_EQ(r->ccmd(), 0);
  EXPECT_EQ(r->config_length(), 0);

  ASSERT_TRUE(QueryConfig(4, "host-a").has_value());
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "host-a");
}

TEST_F(Config, BufferCountMatchesOptions) {
  for (uint16_t count : std::initializer_list<uint16_t>{2, 64, 300}) {
    SCOPED_TRACE(count);
    h_.options().buffer_count = count;
    ASSERT_TRUE(h_.Restart());
    auto r = QueryConfig(0);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->buffer_count(), count);
    EXPECT_GE(r->buffer_count(), 2);
  }
}

TEST_F(Config, SectorCountFollowsPortMtu) {
  StartServer();
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_sector_count(), 2);  // (1500 - 36) / 512
  h_.target_port().set_mtu(9000);
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_sector_count(), 17);  // (9000 - 36) / 512
  h_.target_port().set_mtu(4200);
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_sector_count(), 8);
}

TEST_F(Config, ReplyEchoesCcmd) {
  StartServer();
  for (uint8_t ccmd : std::initializer_list<uint8_t>{0, 2, 3, 4}) {
    SCOPED_TRACE(ccmd);
    auto r = QueryConfig(ccmd, "");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->U8(29), 0x10 | ccmd);
  }
}

TEST_F(Config, ReadIgnoresFillerString) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "abc").has_value());
  Frame filler(1024, std::byte{0xED});
  auto r = h_.Exchange(BuildConfig(To(), 0, filler));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->config_string(), "abc");
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "abc");
}

TEST_F(Config, TestExactRepliesOnlyOnExactMatch) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "host1").has_value());
  auto r = QueryConfig(1, "host1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "host1");
  EXPECT_EQ(r->ccmd(), 1);
  for (std::string_view other : {"host", "host12", "", "HOST1", "hosT1"}) {
    SCOPED_TRACE(other);
    EXPECT_FALSE(QueryConfig(1, other).has_value());
  }
}

TEST_F(Config, TestExactOfEmptyStringMatchesEmptyString) {
  StartServer();
  EXPECT_TRUE(QueryConfig(1, "").has_value());
  EXPECT_FALSE(QueryConfig(1, "x").has_value());
}

TEST_F(Config, TestPrefixRepliesOnlyForPrefix) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "host1").has_value());
  for (std::string_view prefix : {"", "h", "host", "host1"}) {
    SCOPED_TRACE(prefix);
    auto r = QueryConfig(2, prefix);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->config_string(), "host1");
  }
  for (std::string_view other : {"x", "host12", "ost", "hosT"}) {
    SCOPED_TRACE(other);
    EXPECT_FALSE(QueryConfig(2, other).has_value());
  }
}

TEST_F(Config, SetIfEmptySetsWhenEmpty) {
  StartServer();
  auto r = QueryConfig(3, "claimed-by-a");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->config_string(), "claimed-by-a");
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "claimed-by-a");
}

TEST_F(Config, SetIfEmptyAcceptsIdenticalString) {
  StartServer();
  ASSERT_TRUE(QueryConfig(3, "same").has_value());
  auto r = QueryConfig(3, "same", kHostB);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->config_string(), "same");
}

TEST_F(Config, SetIfEmptyWithDifferentStringIsError4WithCurrentString) {
  StartServer();
  ASSERT_TRUE(QueryConfig(3, "first").has_value());
  auto r = QueryConfig(3, "second", kHostB);
  ExpectAoeError(r, 4);
  EXPECT_EQ(r->config_string(), "first");
  EXPECT_EQ(r->config_version(), 1);
  EXPECT_EQ(r->ccmd(), 3);
  r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "first");
}

TEST_F(Config, ForceSetAlwaysSets) {
  StartServer();
  ASSERT_TRUE(QueryConfig(3, "first").has_value());
  for (std::string_view s : {"second", "", "third"}) {
    auto r = QueryConfig(4, s, kHostB);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->error_flag());
    EXPECT_EQ(r->config_string(), s);
  }
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "third");
}

TEST_F(Config, ConfigStringIsOpaqueBytes) {
  StartServer();
  Frame binary = Pattern(1024, 50);
  binary[0] = std::byte{0};
  auto r = h_.Exchange(BuildConfig(To(), 4, binary));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_length(), 1024);
  EXPECT_EQ(r->Slice(32, 1024), binary);
  EXPECT_EQ(r->size(), 32u + 1024u);
}

TEST_F(Config, UnknownCcmdIsBadArgument) {
  StartServer();
  for (uint8_t ccmd = 5; ccmd < 16; ++ccmd) {
    SCOPED_TRACE(ccmd);
    ExpectAoeError(QueryConfig(ccmd, "x"), 2);
  }
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "");
}

TEST_F(Config, StringLongerThan1024IsDropped) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "keep").has_value());
  Frame big = Pattern(1025, 51);
  for (uint8_t ccmd : std::initializer_list<uint8_t>{1, 2, 3, 4}) {
    SCOPED_TRACE(ccmd);
    EXPECT_FALSE(h_.Exchange(BuildConfig(To(), ccmd, big)).has_value());
  }
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "keep");
  EXPECT_EQ(h_.stats().dropped_bad_config, 4u);
}

TEST_F(Config, StringLongerThanFrameIsDropped) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "keep").has_value());
  for (uint8_t ccmd : std::initializer_list<uint8_t>{1, 2, 3, 4}) {
    SCOPED_TRACE(ccmd);
    EXPECT_FALSE(h_.Exchange(BuildConfig(To(), ccmd, "short", uint16_t{100})).has_value());
  }
  ASSERT_TRUE(QueryConfig(4, "").has_value());
  // Even into an empty string, set-if-empty must not take a string the frame does not hold.
  EXPECT_FALSE(h_.Exchange(BuildConfig(To(), 3, "short", uint16_t{6})).has_value());
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "");
}

TEST_F(Config, BroadcastQueryGetsOneReplyPerExport) {
  h_.AddExport(kShelf, 7, 64 * kSector);
  h_.AddExport(9, 0, 64 * kSector);
  StartServer();
  RequestHeader a = Harness::To(0xFFFF, 0xFF);
  a.destination = MacAddress::Broadcast();
  a.tag = 0;
  h_.Send(BuildConfig(a, 0, ""), h_.host_a());
  h_.Settle();
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), 3u);
  std::vector<std::pair<uint16_t, uint8_t>> addresses;
  for (const auto& r : replies) {
    EXPECT_EQ(r.ver_flags(), 0x18);
    EXPECT_EQ(r.command(), 1);
    EXPECT_EQ(r.destination(), kHostA);
    addresses.emplace_back(r.shelf(), r.slot());
  }
  std::sort(addresses.begin(), addresses.end());
  std::vector<std::pair<uint16_t, uint8_t>> expected = {{kShelf, kSlot}, {kShelf, 7}, {9, 0}};
  EXPECT_EQ(addresses, expected);

  // Shelf 1, any slot: two of them.
  h_.Send(BuildConfig(Harness::To(kShelf, 0xFF), 0, ""), h_.host_a());
  h_.Settle();
  EXPECT_EQ(h_.Collect(h_.host_a()).size(), 2u);
}

TEST_F(Config, BroadcastIdentifyGetsOneReplyPerExport) {
  h_.AddExport(kShelf, 7, 64 * kSector);
  StartServer();
  RequestHeader a = Harness::To(0xFFFF, 0xFF);
  a.destination = MacAddress::Broadcast();
  h_.Send(BuildAta(a, AtaOp(kIdentify).Count(1)), h_.host_a());
  h_.Settle();
  auto replies = h_.Collect(h_.host_a());
  ASSERT_EQ(replies.size(), 2u);
  std::vector<uint64_t> capacities;
  for (const auto& r : replies) capacities.push_back(IdentifyLba48Capacity(r));
  std::sort(capacities.begin(), capacities.end());
  EXPECT_EQ(capacities, (std::vector<uint64_t>{64, kDiskSectors}));
}

TEST_F(Config, StringPersistsAcrossRestart) {
  StartServer();
  ASSERT_TRUE(QueryConfig(3, "owner=a").has_value());
  ASSERT_TRUE(h_.Restart());
  auto r = QueryConfig(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config_string(), "owner=a");
}

// ---------------------------------------------------------------------------------------------
// Announcements

class Announce : public TargetFixture {};

TEST_F(Announce, OnStartBroadcastsConfigReplyPerExport) {
  h_.AddExport(kShelf, 7, 64 * kSector);
  h_.options().announce = true;
  StartServer();
  // Not before the server runs: a start can still fail after Server::Create (aoe serve's
  // control socket, its [netboot]), and no initiator may hear of exports that are not served.
  EXPECT_TRUE(h_.Collect(h_.host_a()).empty()) << "announced before the server ran";
  h_.Settle();
  for (MemoryPort* host : {&h_.host_a(), &h_.host_b()}) {
    auto frames = h_.Collect(*host);
    ASSERT_EQ(frames.size(), 2u);
    std::vector<uint8_t> slots;
    for (const auto& r : frames) {
      EXPECT_EQ(r.ver_flags(), 0x18);
      EXPECT_EQ(r.tag(), 0u);
      EXPECT_EQ(r.command(), 1);
      EXPECT_TRUE(r.destination().is_broadcast());
      EXPECT_EQ(r.source(), kTargetMac);
      EXPECT_EQ(r.shelf(), kShelf);
      EXPECT_EQ(r.buffer_count(), 16);
      EXPECT_EQ(r.config_sector_count(), 2);
      EXPECT_EQ(r.config_version(), 1);
      EXPECT_EQ(r.ccmd(), 0);
      EXPECT_GE(r.size(), 60u);
      slots.push_back(r.slot());
    }
    std::sort(slots.begin(), slots.end());
    EXPECT_EQ(slots, (std::vector<uint8_t>{kSlot, 7}));
  }
}

TEST_F(Announce, CarriesTheConfigString) {
  StartServer();
  ASSERT_TRUE(QueryConfig(4, "owned").has_value());
  h_.options().announce = true;
  ASSERT_TRUE(h_.Restart());
  h_.Settle();
  auto frames = h_.Collect(h_.host_b());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].config_string(), "owned");
}

TEST_F(Announce, WithMaskListUnicastsToEachListedMac) {
  export_options().mask = {kHostA, kHostC};
  h_.options().announce = true;
  StartServer();
  h_.Settle();
  for (auto [host, mac] : {std::pair{&h_.host_a(), kHostA}, std::pair{&h_.host_c(), kHostC}}) {
    auto frames = h_.Collect(*host);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].destination(), mac);
    EXPECT_EQ(frames[0].ver_flags(), 0x18);
    EXPECT_EQ(frames[0].tag(), 0u);
  }
  EXPECT_TRUE(h_.Collect(h_.host_b()).empty());
}

TEST_F(Announce, NothingIsSentWhenDisabled) {
  StartServer();
  h_.Settle();
  EXPECT_TRUE(h_.Collect(h_.host_a()).empty());
}

}  // namespace
}  // namespace aoe::target::testkit
