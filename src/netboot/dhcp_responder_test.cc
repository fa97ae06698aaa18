#include "netboot/dhcp_responder.h"

#include <gtest/gtest.h>

#include "netboot/test_util.h"

namespace aoe::netboot {
namespace {

using testing::Client;
using testing::kClientMac;
using testing::MakeRequest;

const Ipv4Address kServer(0x0a4d0001);  // 10.77.0.1
const Ipv4Address kFirst(0x0a4d0064);   // 10.77.0.100
const Ipv4Address kLast(0x0a4d0065);    // 10.77.0.101
constexpr int64_t kNow = 1'700'000'000;

DhcpResponderConfig Config(DhcpMode mode) {
  DhcpResponderConfig c;
  c.mode = mode;
  c.server = kServer;
  c.netmask = Ipv4Address(0xffffff00);
  c.targets.default_target = proto::DiskAddress{0, 1};
  return c;
}

class FullMode : public ::testing::Test {
 protected:
  LeasePool pool_{kFirst, kLast, kServer, 3600};
  DhcpResponder responder_{Config(DhcpMode::kFull), &pool_};

  DhcpOutcome Send(const DhcpMessage& m) {
    return responder_.Handle(m, kDhcpServerPort, Ipv4Address(), kDhcpClientPort, kNow);
  }
};

TEST_F(FullMode, DiscoverFromBiosPxeGetsOfferWithAddressAndUndionly) {
  DhcpOutcome out = Send(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios));
  ASSERT_TRUE(out.reply);
  const DhcpMessage& offer = out.reply->message;
  EXPECT_EQ(offer.message_type(), DhcpMessageType::kOffer);
  EXPECT_EQ(offer.op, kBootReply);
  EXPECT_EQ(offer.xid, 0x11223344u);
  EXPECT_EQ(offer.yiaddr, kFirst);
  EXPECT_EQ(offer.siaddr, kServer);
  EXPECT_EQ(offer.file, "undionly.kpxe");
  EXPECT_EQ(offer.FindString(kOptBootFile), "undionly.kpxe");
  EXPECT_EQ(offer.FindAddress(kOptServerId), kServer);
  EXPECT_EQ(offer.FindAddress(kOptSubnetMask), Ipv4Address(0xffffff00));
  EXPECT_EQ(offer.FindString(kOptVendorClass), "PXEClient");
  ASSERT_NE(offer.Find(kOptClientGuid), nullptr);  // echoed for PXE
  EXPECT_EQ(out.reply->destination, Ipv4Address::Broadcast());
  EXPECT_EQ(out.reply->port, kDhcpClientPort);
  EXPECT_NE(out.log.find("OFFER 10.77.0.100"), std::string::npos);
}

TEST_F(FullMode, AClientWithoutAHardwareAddressIsNotAnswered) {
  DhcpOutcome out = Send(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios, MacAddress()));
  EXPECT_FALSE(out.reply);
  EXPECT_TRUE(pool_.leases().empty());
}

// A flood of RELEASE or DECLINE messages for addresses that are not the sender's must not
// make the service rewrite (and fsync) the lease file each time.
TEST_F(FullMode, ReleaseAndDeclineOfAnAddressNotTheClientsChangeNoLease) {
  DhcpMessage release = MakeRequest(DhcpMessageType::kRelease, Client::kPlain);
  release.ciaddr = kFirst;
  EXPECT_FALSE(Send(release).leases_changed);
  DhcpMessage decline = MakeRequest(DhcpMessageType::kDecline, Client::kPlain);
  decline.SetAddress(kOptRequestedIp, kFirst);
  EXPECT_FALSE(Send(decline).leases_changed);
  EXPECT_TRUE(pool_.leases().empty());
}

TEST_F(FullMode, RequestGetsAckAndBindsLease) {
  (void)Send(MakeRequest(DhcpMessageType::kDiscover, Client::kIpxeBios));
  DhcpMessage request = MakeRequest(DhcpMessageType::kRequest, Client::kIpxeBios);
  request.SetAddress(kOptRequestedIp, kFirst);
  request.SetAddress(kOptServerId, kServer);
  DhcpOutcome out = Send(request);
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->message.message_type(), DhcpMessageType::kAck);
  EXPECT_EQ(out.reply->message.yiaddr, kFirst);
  EXPECT_EQ(out.reply->message.file, "aoekit/52-54-00-a0-e0-01.ipxe");
  EXPECT_EQ(out.reply->message.Find(kOptLeaseTime)->data, (std::vector<uint8_t>{0, 0, 0x0e, 0x10}));
  EXPECT_TRUE(out.leases_changed);
  ASSERT_NE(pool_.Find(kClientMac), nullptr);
  EXPECT_TRUE(pool_.Find(kClientMac)->bound);
}

TEST_F(FullMode, RequestForSomeoneElsesAddressIsNaked) {
  DhcpMessage other =
      MakeRequest(DhcpMessageType::kRequest, Client::kPlain, MacAddress({2, 0, 0, 0, 0, 2}));
  other.SetAddress(kOptRequestedIp, kFirst);
  ASSERT_EQ(Send(other).reply->message.message_type(), DhcpMessageType::kAck);
  DhcpMessage mine = MakeRequest(DhcpMessageType::kRequest, Client::kPxeBios);
  mine.SetAddress(kOptRequestedIp, kFirst);
  DhcpOutcome out = Send(mine);
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->message.message_type(), DhcpMessageType::kNak);
}

TEST_F(FullMode, RequestOutsideRangeIsNaked) {
  DhcpMessage m = MakeRequest(DhcpMessageType::kRequest, Client::kPlain);
  m.SetAddress(kOptRequestedIp, Ipv4Address(0xc0a80001));
  EXPECT_EQ(Send(m).reply->message.message_type(), DhcpMessageType::kNak);
}

TEST_F(FullMode, RequestToAnotherServerIsIgnoredAndOfferReleased) {
  (void)Send(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios));
  ASSERT_NE(pool_.Find(kClientMac), nullptr);
  DhcpMessage m = MakeRequest(DhcpMessageType::kRequest, Client::kPxeBios);
  m.SetAddress(kOptServerId, Ipv4Address(0x0a4d0002));
  m.SetAddress(kOptRequestedIp, kFirst);
  EXPECT_FALSE(Send(m).reply);
  EXPECT_EQ(pool_.Find(kClientMac), nullptr);
}

// OVMF's PXE client (EDK2): option 93 = 7, vendor class PXEClient:Arch:00007, no user class.
TEST_F(FullMode, DiscoverFromUefiPxeGetsSnponlyWithPxeOptions) {
  DhcpOutcome out = Send(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeEfi64));
  ASSERT_TRUE(out.reply);
  const DhcpMessage& offer = out.reply->message;
  EXPECT_EQ(offer.yiaddr, kFirst);
  EXPECT_EQ(offer.siaddr, kServer);
  EXPECT_EQ(offer.file, "snponly.efi");
  EXPECT_EQ(offer.FindString(kOptBootFile), "snponly.efi");
  EXPECT_EQ(offer.FindString(kOptVendorClass), "PXEClient");
  ASSERT_NE(offer.Find(kOptVendorSpecific), nullptr);
  EXPECT_EQ(offer.Find(kOptVendorSpecific)->data, (std::vector<uint8_t>{6, 1, 8, 255}));
  EXPECT_NE(out.log.find("DISCOVER from PXE UEFI -> OFFER 10.77.0.100, boot file snponly.efi "
                         "(client arch 7)"),
            std::string::npos)
      << out.log;
}

TEST_F(FullMode, PlainClientGetsAddressWithoutBootFile) {
  DhcpOutcome out = Send(MakeRequest(DhcpMessageType::kDiscover, Client::kPlain));
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->message.yiaddr, kFirst);
  EXPECT_TRUE(out.reply->message.file.empty());
  EXPECT_EQ(out.reply->message.Find(kOptVendorClass), nullptr);
}

TEST_F(FullMode, ExhaustedRangeIsNotAnswered) {
  (void)Send(
      MakeRequest(DhcpMessageType::kDiscover, Client::kPlain, MacAddress({2, 0, 0, 0, 0, 1})));
  (void)Send(
      MakeRequest(DhcpMessageType::kDiscover, Client::kPlain, MacAddress({2, 0, 0, 0, 0, 2})));
  DhcpOutcome out = Send(MakeRequest(DhcpMessageType::kDiscover, Client::kPlain));
  EXPECT_FALSE(out.reply);
  EXPECT_NE(out.log.find("no free address"), std::string::npos);
}

TEST_F(FullMode, ReleaseFreesTheAddress) {
  DhcpMessage request = MakeRequest(DhcpMessageType::kRequest, Client::kPlain);
  request.SetAddress(kOptRequestedIp, kFirst);
  (void)Send(request);
  DhcpMessage release = MakeRequest(DhcpMessageType::kRelease, Client::kPlain);
  release.ciaddr = kFirst;
  EXPECT_TRUE(Send(release).leases_changed);
  EXPECT_EQ(pool_.Find(kClientMac), nullptr);
}

TEST_F(FullMode, RenewalIsUnicastToTheClient) {
  DhcpMessage m = MakeRequest(DhcpMessageType::kRequest, Client::kPlain);
  m.ciaddr = kFirst;
  DhcpOutcome out = Send(m);
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->message.message_type(), DhcpMessageType::kAck);
  EXPECT_EQ(out.reply->destination, kFirst);
}

TEST_F(FullMode, IgnoresPort4011AndReplies) {
  EXPECT_FALSE(responder_
                   .Handle(MakeRequest(DhcpMessageType::kRequest, Client::kPxeBios), kPxeProxyPort,
                           kFirst, kDhcpClientPort, kNow)
                   .reply);
  DhcpMessage reply = MakeRequest(DhcpMessageType::kOffer, Client::kPlain);
  reply.op = kBootReply;
  EXPECT_FALSE(Send(reply).reply);
}

class ProxyMode : public ::testing::Test {
 protected:
  DhcpResponder responder_{Config(DhcpMode::kProxy), nullptr};
};

TEST_F(ProxyMode, DiscoverFromPxeGetsOfferWithoutAddress) {
  DhcpOutcome out = responder_.Handle(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios),
                                      kDhcpServerPort, Ipv4Address(), kDhcpClientPort, kNow);
  ASSERT_TRUE(out.reply);
  const DhcpMessage& offer = out.reply->message;
  EXPECT_EQ(offer.message_type(), DhcpMessageType::kOffer);
  EXPECT_TRUE(offer.yiaddr.is_any());
  EXPECT_EQ(offer.siaddr, kServer);
  EXPECT_EQ(offer.FindString(kOptVendorClass), "PXEClient");
  EXPECT_EQ(offer.FindAddress(kOptServerId), kServer);
  EXPECT_EQ(offer.file, "undionly.kpxe");
  ASSERT_NE(offer.Find(kOptVendorSpecific), nullptr);
  EXPECT_EQ(offer.Find(kOptVendorSpecific)->data, (std::vector<uint8_t>{6, 1, 8, 255}));
  EXPECT_EQ(offer.Find(kOptSubnetMask), nullptr);  // addresses are not ours
  EXPECT_EQ(offer.Find(kOptLeaseTime), nullptr);
}

TEST_F(ProxyMode, IgnoresPlainClientsAndRequestsOnPort67) {
  EXPECT_FALSE(responder_
                   .Handle(MakeRequest(DhcpMessageType::kDiscover, Client::kPlain), kDhcpServerPort,
                           Ipv4Address(), kDhcpClientPort, kNow)
                   .reply);
  EXPECT_FALSE(responder_
                   .Handle(MakeRequest(DhcpMessageType::kRequest, Client::kPxeBios),
                           kDhcpServerPort, Ipv4Address(), kDhcpClientPort, kNow)
                   .reply);
}

TEST_F(ProxyMode, RequestOn4011GetsAckBackToTheSender) {
  DhcpMessage m = MakeRequest(DhcpMessageType::kRequest, Client::kIpxeBios);
  m.ciaddr = Ipv4Address(0x0a4d0032);
  DhcpOutcome out = responder_.Handle(m, kPxeProxyPort, m.ciaddr, 68, kNow);
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->message.message_type(), DhcpMessageType::kAck);
  EXPECT_EQ(out.reply->message.file, "aoekit/52-54-00-a0-e0-01.ipxe");
  EXPECT_TRUE(out.reply->message.yiaddr.is_any());
  EXPECT_EQ(out.reply->destination, m.ciaddr);
  EXPECT_EQ(out.reply->port, 68);
}

TEST_F(ProxyMode, ClientWithoutTargetIsLoggedNotAnswered) {
  DhcpResponderConfig c = Config(DhcpMode::kProxy);
  c.targets.default_target.reset();
  DhcpResponder responder(c, nullptr);
  DhcpOutcome out = responder.Handle(MakeRequest(DhcpMessageType::kDiscover, Client::kPxeBios),
                                     kDhcpServerPort, Ipv4Address(), kDhcpClientPort, kNow);
  EXPECT_FALSE(out.reply);
  EXPECT_NE(out.log.find("no AoE target"), std::string::npos);
}

}  // namespace
}  // namespace aoe::netboot
