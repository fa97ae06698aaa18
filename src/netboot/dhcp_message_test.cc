#include "netboot/dhcp_message.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace aoe::netboot {
namespace {

// A DHCPDISCOVER as QEMU's iPXE ROM sends it, trimmed to a few options.
std::vector<std::byte> GoldenDiscover() {
  std::vector<uint8_t> b(240, 0);
  b[0] = 1;  // op
  b[1] = 1;  // htype
  b[2] = 6;  // hlen
  b[4] = 0xde;
  b[5] = 0xad;
  b[6] = 0xbe;
  b[7] = 0xef;   // xid
  b[10] = 0x80;  // broadcast flag
  const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xa0, 0xe0, 0x01};
  for (int i = 0; i < 6; ++i) b[28 + i] = mac[i];
  b[236] = 99;
  b[237] = 130;
  b[238] = 83;
  b[239] = 99;
  const std::vector<uint8_t> options = {53, 1, 1,                   // DISCOVER
                                        93, 2, 0,   0,              // arch BIOS
                                        77, 4, 'i', 'P', 'X', 'E',  // user class
                                        0,                          // pad
                                        60, 9, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't', 255};
  b.insert(b.end(), options.begin(), options.end());
  std::vector<std::byte> out(b.size());
  for (size_t i = 0; i < b.size(); ++i) out[i] = std::byte{b[i]};
  return out;
}

TEST(DhcpMessage, DecodesGoldenDiscover) {
  std::vector<std::byte> bytes = GoldenDiscover();
  std::optional<DhcpMessage> m = DecodeDhcp(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->op, kBootRequest);
  EXPECT_EQ(m->xid, 0xdeadbeefu);
  EXPECT_EQ(m->flags, kDhcpBroadcastFlag);
  EXPECT_EQ(m->client_mac()->ToString(), "52:54:00:a0:e0:01");
  EXPECT_EQ(m->message_type(), DhcpMessageType::kDiscover);
  EXPECT_EQ(m->FindU16(kOptClientArch), 0);
  EXPECT_EQ(m->FindString(kOptUserClass), "iPXE");
  EXPECT_EQ(m->FindString(kOptVendorClass), "PXEClient");
  EXPECT_EQ(m->options.size(), 4u);
}

TEST(DhcpMessage, EncodeThenDecodeRoundTrips) {
  DhcpMessage m;
  m.op = kBootReply;
  m.xid = 42;
  m.yiaddr = Ipv4Address(0x0a4d0064);
  m.siaddr = Ipv4Address(0x0a4d0001);
  m.file = "undionly.kpxe";
  m.SetU8(kOptMessageType, 2);
  m.SetAddress(kOptServerId, Ipv4Address(0x0a4d0001));
  m.SetString(kOptBootFile, "undionly.kpxe");
  std::array<std::byte, 1024> buffer{};
  size_t n = EncodeDhcp(m, buffer);
  ASSERT_EQ(n, kDhcpMinimumMessageBytes);  // padded
  std::optional<DhcpMessage> back = DecodeDhcp(std::span(buffer).first(n));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->yiaddr, m.yiaddr);
  EXPECT_EQ(back->siaddr, m.siaddr);
  EXPECT_EQ(back->file, "undionly.kpxe");
  EXPECT_EQ(back->options, m.options);
}

TEST(DhcpMessage, EncodesFixedHeaderAtDocumentedOffsets) {
  DhcpMessage m;
  m.op = kBootReply;
  m.xid = 0x01020304;
  m.yiaddr = Ipv4Address(0x0a000002);
  m.file = "f";
  std::array<std::byte, 600> b{};
  ASSERT_GT(EncodeDhcp(m, b), 0u);
  EXPECT_EQ(LoadU8(b, 0), 2);
  EXPECT_EQ(LoadBe32(b, 4), 0x01020304u);
  EXPECT_EQ(LoadBe32(b, 16), 0x0a000002u);
  EXPECT_EQ(LoadU8(b, 108), 'f');
  EXPECT_EQ(LoadU8(b, 109), 0);
  EXPECT_EQ(LoadBe32(b, 236), kDhcpMagicCookie);
  EXPECT_EQ(LoadU8(b, 240), kOptEnd);
}

TEST(DhcpMessage, RejectsTruncatedHeader) {
  std::vector<std::byte> bytes = GoldenDiscover();
  for (size_t size : {0u, 1u, 100u, 239u}) {
    EXPECT_FALSE(DecodeDhcp(std::span(bytes).first(size))) << size;
  }
}

TEST(DhcpMessage, RejectsBadMagicCookie) {
  std::vector<std::byte> bytes = GoldenDiscover();
  bytes[236] = std::byte{0};
  EXPECT_FALSE(DecodeDhcp(bytes));
}

TEST(DhcpMessage, RejectsOptionRunningPastTheEnd) {
  std::vector<std::byte> bytes = GoldenDiscover();
  bytes.resize(240);
  bytes.push_back(std::byte{60});
  bytes.push_back(std::byte{20});  // says 20 bytes, has 2
  bytes.push_back(std::byte{'P'});
  bytes.push_back(std::byte{'X'});
  EXPECT_FALSE(DecodeDhcp(bytes));
  bytes.resize(241);  // code without length
  EXPECT_FALSE(DecodeDhcp(bytes));
}

TEST(DhcpMessage, ToleratesMissingEndOption) {
  std::vector<std::byte> bytes = GoldenDiscover();
  bytes.pop_back();  // the 255
  std::optional<DhcpMessage> m = DecodeDhcp(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->message_type(), DhcpMessageType::kDiscover);
}

TEST(DhcpMessage, ConcatenatesRepeatedOptions) {
  std::vector<std::byte> bytes = GoldenDiscover();
  bytes.pop_back();
  for (int v : {77, 2, int{'a'}, int{'b'}, 255}) bytes.push_back(static_cast<std::byte>(v));
  std::optional<DhcpMessage> m = DecodeDhcp(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->FindString(kOptUserClass), "iPXEab");
}

TEST(DhcpMessage, ReadsOptionsFromOverloadedFileField) {
  std::vector<std::byte> bytes = GoldenDiscover();
  bytes.pop_back();
  for (int v : {52, 1, 1, 255}) bytes.push_back(static_cast<std::byte>(v));
  bytes[108] = std::byte{51};  // lease time in `file`
  bytes[109] = std::byte{4};
  bytes[113] = std::byte{60};
  bytes[114] = std::byte{255};
  std::optional<DhcpMessage> m = DecodeDhcp(bytes);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->file.empty());
  ASSERT_NE(m->Find(51), nullptr);
  EXPECT_EQ(m->Find(51)->data[3], 60);
}

TEST(DhcpMessage, NonEthernetHasNoClientMac) {
  std::vector<std::byte> bytes = GoldenDiscover();
  bytes[1] = std::byte{6};  // IEEE 802
  std::optional<DhcpMessage> m = DecodeDhcp(bytes);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->client_mac());
}

TEST(DhcpMessage, MalformedMessageTypeIsNotAType) {
  DhcpMessage m;
  m.Set(kOptMessageType, {9});
  EXPECT_FALSE(m.message_type());
  m.Set(kOptMessageType, {1, 1});
  EXPECT_FALSE(m.message_type());
}

TEST(DhcpMessage, SplitsLongOptionsWhenEncoding) {
  DhcpMessage m;
  m.Set(kOptVendorSpecific, std::vector<uint8_t>(300, 7));
  std::array<std::byte, 1024> b{};
  size_t n = EncodeDhcp(m, b);
  ASSERT_GT(n, 0u);
  std::optional<DhcpMessage> back = DecodeDhcp(std::span(b).first(n));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->Find(kOptVendorSpecific)->data.size(), 300u);
}

TEST(DhcpMessage, EncodeFailsWhenBufferTooSmall) {
  DhcpMessage m;
  std::array<std::byte, 100> b{};
  EXPECT_EQ(EncodeDhcp(m, b), 0u);
  m.file = std::string(128, 'x');
  std::array<std::byte, 1024> big{};
  EXPECT_EQ(EncodeDhcp(m, big), 0u);
}

// Every prefix and every single-byte corruption of a valid message must decode or be refused,
// never crash (run under ASan in CI).
TEST(DhcpMessage, SurvivesEveryTruncationAndCorruption) {
  std::vector<std::byte> bytes = GoldenDiscover();
  for (size_t size = 0; size <= bytes.size(); ++size)
    (void)DecodeDhcp(std::span(bytes).first(size));
  for (size_t i = 236; i < bytes.size(); ++i) {
    for (int v : {0x00, 0x01, 0x34, 0xff}) {
      std::vector<std::byte> copy = bytes;
      copy[i] = static_cast<std::byte>(v);
      (void)DecodeDhcp(copy);
    }
  }
}

}  // namespace
}  // namespace aoe::netboot
