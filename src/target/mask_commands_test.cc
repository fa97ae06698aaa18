// The MAC Mask List (aoe-protocol.md §4.1): edits and reads, its limits, hosts it silences, and
// how the list saved over the wire and the configured one meet across restarts.
#include <gtest/gtest.h>

#include <vector>

#include "target/testing/target_fixture.h"

namespace aoe::target::testkit {
namespace {

class Mask : public TargetFixture {};

std::vector<MacAddress> MacsOf(const Reply& r) {
  std::vector<MacAddress> macs;
  for (const auto& d : r.directives()) {
    EXPECT_EQ(d.dcmd, kDirNone);
    macs.push_back(d.mac);
  }
  return macs;
}

MacAddress Numbered(size_t i) {
  return MacAddress(
      {0x02, 0x10, 0x00, 0x00, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
}

TEST_F(Mask, ReadOfEmptyListHasNoEntries) {
  StartServer();
  auto r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->command(), 2);
  EXPECT_EQ(r->mcmd(), 0);
  EXPECT_EQ(r->merror(), 0);
  EXPECT_EQ(r->directive_count(), 0);
}

TEST_F(Mask, EditAppliesDirectivesInOrderAndListsAllEntries) {
  StartServer();
  auto r = MaskList(1, {{kDirAdd, kHostA},
                        {kDirAdd, kHostB},
                        {kDirAdd, kHostC},
                        {kDirDelete, kHostB},
                        {kDirNone, kHostB},
                        {kDirDelete, Numbered(1)}});  // absent: ignored
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->mcmd(), 1);
  EXPECT_EQ(r->merror(), 0);
  EXPECT_EQ(MacsOf(*r), (std::vector<MacAddress>{kHostA, kHostC}));
  r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), (std::vector<MacAddress>{kHostA, kHostC}));
}

TEST_F(Mask, AddingExistingMacIsNoOp) {
  StartServer();
  auto r = MaskList(1, {{kDirAdd, kHostA}, {kDirAdd, kHostA}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->merror(), 0);
  EXPECT_EQ(MacsOf(*r), std::vector<MacAddress>{kHostA});
  r = MaskList(1, {{kDirAdd, kHostA}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), std::vector<MacAddress>{kHostA});
}

TEST_F(Mask, UnknownDcmdFailsAtItsIndexAndKeepsEarlierDirectives) {
  StartServer();
  auto r = MaskList(1, {{kDirAdd, kHostA}, {kDirAdd, kHostB}, {7, kHostC}, {kDirAdd, kHostC}});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag()) << "MError, not the AoE error flag";
  EXPECT_EQ(r->merror(), 2);
  EXPECT_EQ(r->directive_count(), 2);
  r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), (std::vector<MacAddress>{kHostA, kHostB}));
}

TEST_F(Mask, FullListIsMError3) {
  StartServer();
  std::vector<Directive> adds = {{kDirAdd, kHostA}};
  for (size_t i = 0; i < 170; ++i) adds.push_back({kDirAdd, Numbered(i)});
  auto r = MaskList(1, adds);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->error_flag());
  EXPECT_EQ(r->merror(), 3);
  size_t failed_at = r->directive_count();
  EXPECT_GE(failed_at, 32u) << "at least vblade's capacity";
  r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->directive_count(), failed_at) << "every directive before the failure applied";
  // The list stays usable: deleting one makes room for another.
  r = MaskList(1, {{kDirDelete, Numbered(0)}, {kDirAdd, kHostB}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->merror(), 0);
  EXPECT_EQ(r->directive_count(), failed_at);
}

TEST_F(Mask, UnknownMcmdIsBadArgument) {
  StartServer();
  for (uint8_t mcmd : std::initializer_list<uint8_t>{2, 3, 0xFF}) ExpectAoeError(MaskList(mcmd), 2);
}

TEST_F(Mask, NonEmptyListSilencesOtherHosts) {
  StartServer();
  ASSERT_TRUE(MaskList(1, {{kDirAdd, kHostA}}).has_value());
  EXPECT_FALSE(QueryConfig(0, "", kHostB).has_value());
  EXPECT_FALSE(Identify(kHostB).has_value());
  EXPECT_FALSE(Read(0, 1, kRead48, kHostB).has_value());
  EXPECT_FALSE(MaskList(0, {}, kHostB).has_value());
  EXPECT_FALSE(MaskList(1, {{kDirAdd, kHostB}}, kHostB).has_value());
  EXPECT_FALSE(Reservation(0, {}, kHostB).has_value());
  EXPECT_GE(h_.stats().dropped_masked, 6u);
  ExpectAtaOk(Identify(kHostA));
  ExpectAtaOk(Read(0, 1));
  EXPECT_TRUE(QueryConfig(0).has_value());
  // Once the list is empty again everybody is served.
  ASSERT_TRUE(MaskList(1, {{kDirDelete, kHostA}}).has_value());
  EXPECT_TRUE(QueryConfig(0, "", kHostB).has_value());
}

TEST_F(Mask, DirectiveCountBeyondFrameIsBadArgument) {
  StartServer();
  auto r = h_.Exchange(BuildMask(To(), 1, {{kDirAdd, kHostB}}, uint8_t{3}));
  ExpectAoeError(r, 2);
  r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->directive_count(), 0) << "nothing applied";
}

TEST_F(Mask, ListPersistsAcrossRestart) {
  StartServer();
  ASSERT_TRUE(MaskList(1, {{kDirAdd, kHostA}, {kDirAdd, kHostC}}).has_value());
  ASSERT_TRUE(h_.Restart());
  EXPECT_FALSE(QueryConfig(0, "", kHostB).has_value());
  auto r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), (std::vector<MacAddress>{kHostA, kHostC}));
}

TEST_F(Mask, OptionsMaskSeedsNewExport) {
  export_options().mask = {kHostA};
  StartServer();
  EXPECT_FALSE(QueryConfig(0, "", kHostB).has_value());
  auto r = MaskList(0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(MacsOf(*r), std::vector<MacAddress>{kHostA});
}

TEST_F(Mask, WireEditSurvivesRestartWithUnchangedConfiguration) {
  export_options().mask = {kHostA};
  StartServer();
  ASSERT_TRUE(MaskList(1, {{kDirAdd, kHostB}}).has_value());
  ASSERT_TRUE(h_.Restart());
  EXPECT_TRUE(QueryConfig(0, "", kHostA).has_value());
  EXPECT_TRUE(QueryConfig(0, "", kHostB).has_value());
  EXPECT_FALSE(QueryConfig(0, "", kHostC).has_value());
}

TEST_F(Mask, ChangedConfigurationReplacesTheSavedList) {
  export_options().mask = {kHostA};
  StartServer();
  ASSERT_TRUE(MaskList(1, {{kDirAdd, kHostB}}).has_value());
  export_options().mask = {kHostC};  // the administrator edits the configuration
  ASSERT_TRUE(h_.Restart());
  EXPECT_TRUE(QueryConfig(0, "", kHostC).has_value());
  EXPECT_FALSE(QueryConfig(0, "", kHostB).has_value());
  EXPECT_FALSE(QueryConfig(0, "", kHostA).has_value());
}

}  // namespace
}  // namespace aoe::target::testkit
