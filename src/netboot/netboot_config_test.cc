#include "netboot/netboot_config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace aoe::netboot {
namespace {

TEST(NetbootConfig, ParsesEveryKey) {
  NetbootOptions o;
  std::string error = ApplyNetbootTomlText(R"(
interface = "br0"
mode = "full"
boot = "e0.1"
range = "10.77.0.100-10.77.0.200"
netmask = "255.255.255.0"
router = "10.77.0.1"
lease_time = 600
lease_file = "/tmp/x.leases"
tftp_root = "/srv/tftp"
bios_file = "a.kpxe"
efi_file = "b.efi"
[clients]
"52:54:00:12:34:56" = "e2.3"
)",
                                           "test.toml", o);
  ASSERT_EQ(error, "");
  EXPECT_EQ(o.interface_name, "br0");
  EXPECT_EQ(o.mode(), DhcpMode::kFull);
  EXPECT_EQ(o.targets.default_target, (proto::DiskAddress{0, 1}));
  EXPECT_EQ(o.range_first->ToString(), "10.77.0.100");
  EXPECT_EQ(o.range_last->ToString(), "10.77.0.200");
  EXPECT_EQ(o.router->ToString(), "10.77.0.1");
  EXPECT_EQ(o.lease_seconds, 600u);
  EXPECT_EQ(o.lease_file, "/tmp/x.leases");
  EXPECT_EQ(o.tftp_root, "/srv/tftp");
  EXPECT_EQ(o.files.bios, "a.kpxe");
  EXPECT_EQ(o.files.efi, "b.efi");
  EXPECT_EQ(o.targets.by_mac.at(*MacAddress::Parse("52:54:00:12:34:56")),
            (proto::DiskAddress{2, 3}));
  EXPECT_EQ(ValidateNetbootOptions(o), "");
}

TEST(NetbootConfig, ErrorsNameTheKeyAndLine) {
  NetbootOptions o;
  EXPECT_EQ(ApplyNetbootTomlText("boot = \"e0.1\"\nbot = 1\n", "f.toml", o),
            "f.toml:2: bot: unknown key; see docs/netboot.md for the netboot keys");
  EXPECT_NE(ApplyNetbootTomlText("boot = \"x\"\n", "f.toml", o).find("f.toml:1: boot"),
            std::string::npos);
  EXPECT_NE(ApplyNetbootTomlText("[clients]\n\"zz\" = \"e0.1\"\n", "f.toml", o).find("clients.zz"),
            std::string::npos);
  EXPECT_NE(ApplyNetbootTomlText("mode = \"fast\"\n", "f.toml", o).find("full"), std::string::npos);
  EXPECT_NE(ApplyNetbootTomlText("lease_time = 5\n", "f.toml", o).find("at least 60"),
            std::string::npos);
  EXPECT_NE(ApplyNetbootTomlText("x = \n", "f.toml", o).find("f.toml:1"), std::string::npos);
}

TEST(NetbootConfig, ValidateExplainsMissingPieces) {
  NetbootOptions o;
  EXPECT_NE(ValidateNetbootOptions(o).find("-i"), std::string::npos);
  o.interface_name = "br0";
  EXPECT_NE(ValidateNetbootOptions(o).find("--boot"), std::string::npos);
  o.targets.default_target = proto::DiskAddress{0, 1};
  EXPECT_EQ(ValidateNetbootOptions(o), "");
  o.given_mode = DhcpMode::kFull;
  EXPECT_NE(ValidateNetbootOptions(o).find("range = "), std::string::npos);
  ASSERT_EQ(ParseRange("10.0.0.9-10.0.0.1", o), "");
  EXPECT_NE(ValidateNetbootOptions(o).find("backwards"), std::string::npos);
  EXPECT_NE(ParseRange("10.0.0.1", o), "");
  o.given_mode = DhcpMode::kProxy;
  EXPECT_NE(ValidateNetbootOptions(o).find("proxy mode"), std::string::npos);
}

// An admin's finding: mode = "proxy" and a range in one file ran a full DHCP server, a rogue
// one on a network that has its own. Whichever order the keys come in, it is an error now.
TEST(NetbootConfig, ProxyModeWithARangeInTheSameFileIsAnError) {
  NetbootOptions o;
  EXPECT_EQ(
      ApplyNetbootTomlText(
          "mode = \"proxy\"\nboot = \"e0.1\"\nrange = \"10.77.0.100-10.77.0.200\"\n", "f.toml", o),
      "f.toml:3: range is for full DHCP mode, but line 1 says mode = \"proxy\" (the existing "
      "DHCP server gives addresses); remove range, or write mode = \"full\" to make this the "
      "DHCP server");
  EXPECT_EQ(
      ApplyNetbootTomlText("range = \"10.77.0.100-10.77.0.200\"\nmode = \"proxy\"\n", "f.toml", o)
          .rfind("f.toml:1: range is for full DHCP mode, but line 2 says", 0),
      0u);
  EXPECT_EQ(ApplyNetbootTomlText("mode = \"proxy\"\nnetmask = \"255.255.255.0\"\n", "f.toml", o)
                .rfind("f.toml:2: netmask is for full DHCP mode", 0),
            0u);
  EXPECT_EQ(ApplyNetbootTomlText("router = \"10.77.0.1\"\nmode = \"proxy\"\n", "f.toml", o)
                .rfind("f.toml:1: router is for full DHCP mode", 0),
            0u);
}

// The same with the two from different places: mode = "proxy" in the file and --range on the
// command line (which applies ParseRange to the file's options).
TEST(NetbootConfig, ProxyModeWithARangeFromElsewhereIsAnError) {
  NetbootOptions o;
  ASSERT_EQ(
      ApplyNetbootTomlText("interface = \"br0\"\nmode = \"proxy\"\nboot = \"e0.1\"\n", "f.toml", o),
      "");
  ASSERT_EQ(ParseRange("10.77.0.100-10.77.0.200", o), "");
  EXPECT_EQ(o.mode(), DhcpMode::kProxy);
  EXPECT_EQ(ValidateNetbootOptions(o),
            "proxy mode (--proxy, mode = \"proxy\") takes no range, netmask, router, lease time "
            "or lease file: the existing DHCP server gives addresses; remove them, or remove the "
            "proxy mode to make this the DHCP server (full mode)");
  o.range_first.reset();
  o.range_last.reset();
  o.router = Ipv4Address::Parse("10.77.0.1");
  EXPECT_NE(ValidateNetbootOptions(o).find("takes no range, netmask, router"), std::string::npos);
}

// An admin's finding: --lease-file with --proxy was accepted and ignored (proxy mode keeps no
// leases), so the admin believed leases were kept where they said. The lease settings are full
// mode's, like the range: given with proxy mode, from any source, they are an error.
TEST(NetbootConfig, ProxyModeWithLeaseSettingsIsAnError) {
  NetbootOptions o;
  EXPECT_EQ(ApplyNetbootTomlText("mode = \"proxy\"\nlease_file = \"/tmp/x\"\n", "f.toml", o)
                .rfind("f.toml:2: lease_file is for full DHCP mode, but line 1 says", 0),
            0u);
  o = {};
  EXPECT_EQ(ApplyNetbootTomlText("lease_time = 600\nmode = \"proxy\"\n", "f.toml", o)
                .rfind("f.toml:1: lease_time is for full DHCP mode, but line 2 says", 0),
            0u);
  o = {};
  o.interface_name = "br0";
  o.targets.default_target = proto::DiskAddress{0, 1};
  ASSERT_EQ(ValidateNetbootOptions(o), "");
  o.lease_file = "/tmp/x.leases";
  EXPECT_NE(ValidateNetbootOptions(o).find("lease file are for full DHCP mode"), std::string::npos);
  o.given_mode = DhcpMode::kProxy;
  EXPECT_NE(ValidateNetbootOptions(o).find("takes no range, netmask, router, lease time"),
            std::string::npos);
  o.lease_file.clear();
  o.lease_seconds = 600;
  EXPECT_NE(ValidateNetbootOptions(o).find("takes no range, netmask, router, lease time"),
            std::string::npos);
  // Full mode takes them.
  o.given_mode.reset();
  ASSERT_EQ(ParseRange("10.77.0.100-10.77.0.200", o), "");
  o.lease_file = "/tmp/x.leases";
  EXPECT_EQ(ValidateNetbootOptions(o), "");
}

// What docs/netboot.md promises: without a mode, a range means full mode and no range proxy.
TEST(NetbootConfig, WithoutAModeARangeMeansFullMode) {
  NetbootOptions o;
  EXPECT_EQ(o.mode(), DhcpMode::kProxy);
  ASSERT_EQ(ApplyNetbootTomlText("range = \"10.77.0.100-10.77.0.200\"\n", "f.toml", o), "");
  EXPECT_FALSE(o.given_mode);
  EXPECT_EQ(o.mode(), DhcpMode::kFull);
}

// Only a config file can say mode = "full" without a range: the message names its key, not an
// option of the command line.
TEST(NetbootConfig, FullModeWithoutARangeNamesTheKey) {
  NetbootOptions o;
  ASSERT_EQ(
      ApplyNetbootTomlText("interface = \"br0\"\nmode = \"full\"\nboot = \"e0.1\"\n", "f.toml", o),
      "");
  EXPECT_EQ(ValidateNetbootOptions(o),
            "mode = \"full\" needs an address range; add one, e.g. range = "
            "\"10.77.0.100-10.77.0.200\"");
}

NetbootOptions FullMode(std::string_view range) {
  NetbootOptions o;
  o.interface_name = "br0";
  o.targets.default_target = proto::DiskAddress{0, 1};
  EXPECT_EQ(ParseRange(range, o), "");
  return o;
}

const Ipv4Address kMask24 = *Ipv4Address::Parse("255.255.255.0");

// An admin's finding: --range 10.77.0.0-... handed out 10.77.0.0.
TEST(NetbootSubnet, ARangeWithTheNetworkAddressIsRefused) {
  NetbootOptions o = FullMode("10.77.0.0-10.77.0.200");
  const std::string refused =
      "range 10.77.0.0-10.77.0.200 includes 10.77.0.0, the network address of "
      "10.77.0.0/255.255.255.0; start it at 10.77.0.1 or above";
  EXPECT_EQ(ValidateSubnet(o, kMask24), refused);  // the interface's mask, at start
  EXPECT_EQ(ValidateNetbootOptions(o), "");        // ... which is not known before
  o.netmask = kMask24;
  EXPECT_EQ(ValidateNetbootOptions(o), refused);  // a given one is
}

TEST(NetbootSubnet, ARangeWithTheBroadcastAddressIsRefused) {
  NetbootOptions o = FullMode("10.77.0.100-10.77.0.255");
  EXPECT_EQ(ValidateSubnet(o, kMask24),
            "range 10.77.0.100-10.77.0.255 includes 10.77.0.255, the broadcast address of "
            "10.77.0.0/255.255.255.0; end it at 10.77.0.254 or below");
  EXPECT_EQ(ValidateSubnet(FullMode("10.77.0.1-10.77.0.254"), kMask24), "");
}

TEST(NetbootSubnet, ARangeAcrossSubnetsIsRefused) {
  NetbootOptions o = FullMode("10.77.0.100-10.77.1.20");
  EXPECT_EQ(ValidateSubnet(o, kMask24),
            "range 10.77.0.100-10.77.1.20 spans more than one subnet of netmask 255.255.255.0; "
            "keep it within 10.77.0.0/255.255.255.0");
  EXPECT_EQ(ValidateSubnet(o, *Ipv4Address::Parse("255.255.0.0")), "");
}

TEST(NetbootSubnet, ARouterOutsideTheSubnetIsRefused) {
  NetbootOptions o = FullMode("10.77.0.100-10.77.0.200");
  for (const char* outside : {"10.78.0.1", "10.77.0.0", "10.77.0.255"}) {
    o.router = Ipv4Address::Parse(outside);
    EXPECT_EQ(ValidateSubnet(o, kMask24),
              fmt::format("router {} is not a host of the clients' subnet "
                          "10.77.0.0/255.255.255.0, so they could not reach it; give an address "
                          "inside it",
                          outside));
  }
  o.router = Ipv4Address::Parse("10.77.0.1");
  EXPECT_EQ(ValidateSubnet(o, kMask24), "");
}

// RFC 3021: both addresses of a /31 are hosts (a point-to-point link to one client).
TEST(NetbootSubnet, BothAddressesOfAThirtyOneAreHosts) {
  const Ipv4Address mask31 = *Ipv4Address::Parse("255.255.255.254");
  NetbootOptions o = FullMode("10.0.0.1-10.0.0.1");
  o.router = Ipv4Address::Parse("10.0.0.0");
  EXPECT_EQ(ValidateSubnet(o, mask31), "");
  EXPECT_EQ(ValidateSubnet(FullMode("10.0.0.0-10.0.0.0"), mask31), "");
}

TEST(NetbootSubnet, ANetmaskWithAHoleIsRefused) {
  NetbootOptions o = FullMode("10.77.0.100-10.77.0.200");
  o.netmask = Ipv4Address::Parse("255.0.255.0");
  EXPECT_EQ(ValidateNetbootOptions(o),
            "netmask 255.0.255.0 is not a subnet mask (ones, then zeros); e.g. 255.255.255.0");
  NetbootOptions from_file;
  EXPECT_EQ(
      ApplyNetbootTomlText("boot = \"e0.1\"\nnetmask = \"255.0.255.0\"\n", "f.toml", from_file),
      "f.toml:2: netmask 255.0.255.0 is not a subnet mask (ones, then zeros); e.g. "
      "\"255.255.255.0\"");
}

TEST(NetbootConfig, AClientMacMustBeOneCardsAddress) {
  EXPECT_EQ(ClientMacProblem(*MacAddress::Parse("52:54:00:12:34:56")), "");
  EXPECT_EQ(ClientMacProblem(MacAddress::Broadcast()),
            "ff:ff:ff:ff:ff:ff is the broadcast address, not one client's");
  EXPECT_EQ(ClientMacProblem(*MacAddress::Parse("01:00:5e:00:00:01")),
            "01:00:5e:00:00:01 is a multicast address (first octet odd), not one client's");
  EXPECT_EQ(ClientMacProblem(MacAddress()), "00:00:00:00:00:00 is no network card's address");
  NetbootOptions o;
  EXPECT_EQ(ApplyNetbootTomlText("[clients]\n\"ff:ff:ff:ff:ff:ff\" = \"e0.1\"\n", "f.toml", o),
            "f.toml:2: clients.ff:ff:ff:ff:ff:ff: ff:ff:ff:ff:ff:ff is the broadcast address, not "
            "one client's; give the client's own MAC");
}

TEST(Ipv4Address, SubnetMasksAreOnesThenZeros) {
  for (const char* mask : {"255.255.255.0", "255.255.255.255", "128.0.0.0", "255.255.254.0"}) {
    EXPECT_TRUE(IsSubnetMask(*Ipv4Address::Parse(mask))) << mask;
  }
  for (const char* mask : {"0.0.0.0", "255.0.255.0", "255.255.255.1", "0.255.255.255"}) {
    EXPECT_FALSE(IsSubnetMask(*Ipv4Address::Parse(mask))) << mask;
  }
}

TEST(Ipv4Address, ParsesOnlyDottedQuads) {
  EXPECT_EQ(Ipv4Address::Parse("10.77.0.1"), Ipv4Address(0x0a4d0001));
  EXPECT_EQ(Ipv4Address::Parse("255.255.255.255"), Ipv4Address::Broadcast());
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "a.b.c.d", "1..2.3", "0001.2.3.4"}) {
    EXPECT_FALSE(Ipv4Address::Parse(bad)) << bad;
  }
  EXPECT_EQ(Ipv4Address(0xc0a80101).ToString(), "192.168.1.1");
}

}  // namespace
}  // namespace aoe::netboot
