#include "netboot/boot_policy.h"

#include <gtest/gtest.h>

#include "netboot/test_util.h"

namespace aoe::netboot {
namespace {

using testing::Client;
using testing::kClientMac;
using testing::MakeRequest;

BootTargets DefaultTarget() {
  BootTargets t;
  t.default_target = proto::DiskAddress{0, 1};
  return t;
}

TEST(BootPolicy, ClassifiesBiosPxe) {
  ClientInfo c = ClassifyClient(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios));
  EXPECT_EQ(c.firmware, Firmware::kPxeBios);
  EXPECT_TRUE(c.pxe);
  EXPECT_FALSE(c.efi);
}

TEST(BootPolicy, ClassifiesUefiByOption93) {
  for (int arch : {6, 7, 9}) {
    DhcpMessage m = MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios);
    m.Set(kOptClientArch, {0, static_cast<uint8_t>(arch)});
    ClientInfo c = ClassifyClient(m);
    EXPECT_EQ(c.firmware, Firmware::kPxeEfi) << int(arch);
    EXPECT_TRUE(c.efi);
  }
}

TEST(BootPolicy, FallsBackToArchInVendorClass) {
  DhcpMessage m = MakeRequest(DhcpMessageType::kDiscover, Client::kPxeEfi64);
  m.options.erase(m.options.begin() + 2);  // drop option 93
  ASSERT_EQ(m.Find(kOptClientArch), nullptr);
  EXPECT_EQ(ClassifyClient(m).firmware, Firmware::kPxeEfi);
}

TEST(BootPolicy, UnknownArchIsNotBooted) {
  DhcpMessage m = MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios);
  m.Set(kOptClientArch, {0, 11});  // ARM64 UEFI
  ClientInfo c = ClassifyClient(m);
  EXPECT_EQ(c.firmware, Firmware::kPxeUnknown);
  BootDecision d = DecideBoot(c, kClientMac, DefaultTarget(), BootFiles{});
  EXPECT_EQ(d.stage, BootDecision::Stage::kNone);
  EXPECT_NE(d.why.find("11"), std::string::npos);
}

TEST(BootPolicy, ClassifiesIpxeWithAndWithoutAoe) {
  EXPECT_EQ(ClassifyClient(MakeRequest(DhcpMessageType::kDiscover, Client::kIpxeBios)).firmware,
            Firmware::kIpxe);
  EXPECT_EQ(ClassifyClient(MakeRequest(DhcpMessageType::kDiscover, Client::kIpxeNoAoe)).firmware,
            Firmware::kIpxeNoAoe);
}

TEST(BootPolicy, AcceptsRfc3004UserClassList) {
  DhcpMessage m = MakeRequest(DhcpMessageType::kDiscover, Client::kPlain);
  m.Set(kOptUserClass, {3, 'f', 'o', 'o', 4, 'i', 'P', 'X', 'E'});
  EXPECT_EQ(ClassifyClient(m).firmware, Firmware::kIpxe);
}

TEST(BootPolicy, PlainDhcpClientIsOther) {
  EXPECT_EQ(ClassifyClient(MakeRequest(DhcpMessageType::kDiscover, Client::kPlain)).firmware,
            Firmware::kOther);
}

TEST(BootPolicy, BiosPxeGetsUndionly) {
  BootDecision d =
      DecideBoot(ClassifyClient(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios)),
                 kClientMac, DefaultTarget(), BootFiles{});
  EXPECT_EQ(d.stage, BootDecision::Stage::kFirstStage);
  EXPECT_EQ(d.file, "undionly.kpxe");
}

TEST(BootPolicy, UefiPxeGetsSnponly) {
  BootDecision d =
      DecideBoot(ClassifyClient(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeEfi64)),
                 kClientMac, DefaultTarget(), BootFiles{});
  EXPECT_EQ(d.file, "snponly.efi");
}

TEST(BootPolicy, IpxeGetsItsScript) {
  BootDecision d =
      DecideBoot(ClassifyClient(MakeRequest(DhcpMessageType::kDiscover, Client::kIpxeBios)),
                 kClientMac, DefaultTarget(), BootFiles{});
  EXPECT_EQ(d.stage, BootDecision::Stage::kScript);
  EXPECT_EQ(d.file, "aoekit/52-54-00-a0-e0-01.ipxe");
  EXPECT_EQ(d.target, (proto::DiskAddress{0, 1}));
}

TEST(BootPolicy, IpxeWithoutAoeIsChainedToFullBuild) {
  BootDecision d =
      DecideBoot(ClassifyClient(MakeRequest(DhcpMessageType::kDiscover, Client::kIpxeNoAoe)),
                 kClientMac, DefaultTarget(), BootFiles{});
  EXPECT_EQ(d.stage, BootDecision::Stage::kFirstStage);
  EXPECT_EQ(d.file, "undionly.kpxe");
}

TEST(BootPolicy, PerClientTargetWinsOverDefault) {
  BootTargets t = DefaultTarget();
  t.by_mac[kClientMac] = proto::DiskAddress{3, 4};
  EXPECT_EQ(t.For(kClientMac), (proto::DiskAddress{3, 4}));
  EXPECT_EQ(t.For(MacAddress({2, 0, 0, 0, 0, 9})), (proto::DiskAddress{0, 1}));
}

TEST(BootPolicy, NoTargetMeansNoBoot) {
  BootDecision d =
      DecideBoot(ClassifyClient(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios)),
                 kClientMac, BootTargets{}, BootFiles{});
  EXPECT_EQ(d.stage, BootDecision::Stage::kNone);
  EXPECT_NE(d.why.find("--boot"), std::string::npos);
}

TEST(BootPolicy, ScriptNameRoundTrips) {
  EXPECT_EQ(ParseScriptName(ScriptName(kClientMac)), kClientMac);
  EXPECT_EQ(ParseScriptName("/aoekit/52-54-00-a0-e0-01.ipxe"), kClientMac);
  EXPECT_FALSE(ParseScriptName("aoekit/52-54-00-a0-e0.ipxe"));
  EXPECT_FALSE(ParseScriptName("undionly.kpxe"));
}

TEST(BootPolicy, ScriptSanbootsTheTarget) {
  std::string script = RenderScript(proto::DiskAddress{7, 3}, kClientMac);
  EXPECT_TRUE(script.starts_with("#!ipxe\n"));
  EXPECT_NE(script.find("\nsanboot aoe:e7.3 "), std::string::npos);
}

TEST(BootPolicy, ParsesAoeTargets) {
  EXPECT_EQ(ParseAoeTarget("e0.1"), (proto::DiskAddress{0, 1}));
  EXPECT_EQ(ParseAoeTarget("e65534.254"), (proto::DiskAddress{65534, 254}));
  for (const char* bad :
       {"", "e", "0.1", "e1", "e1.", "e.1", "e65535.1", "e1.255", "e-1.2", "e1.2x", "E1.2"}) {
    EXPECT_FALSE(ParseAoeTarget(bad)) << bad;
  }
}

}  // namespace
}  // namespace aoe::netboot
