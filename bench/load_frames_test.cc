// The load client's frames, byte by byte, and the replies it must accept or ignore.
#include "bench/load_frames.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "proto/config.h"
#include "proto/header.h"
#include "proto/testing/golden.h"

namespace aoe::bench {
namespace {

using proto::testing::Frame;
using proto::testing::Hex;

const MacAddress kClient({0x02, 0x00, 0x00, 0x00, 0x00, 0x0c});
const MacAddress kTarget({0x02, 0x00, 0x00, 0x00, 0x00, 0x0a});

DiskAddress Address() {
  return DiskAddress{.client = kClient, .target = kTarget, .shelf = 0x0102, .slot = 3};
}

TEST(LoadFrames, ReadExtRequestGolden) {
  std::vector<std::byte> frame(128, std::byte{0xEE});
  AtaRequest read{.opcode = 0x24, .lba = 0x010203040506, .sector_count = 17};
  size_t length = EncodeAtaRequest(frame, Address(), 0x00011005, read);
  ASSERT_EQ(length, 60u);
  std::vector<std::byte> want = Frame({
      0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,  // dst: target
      0x02, 0x00, 0x00, 0x00, 0x00, 0x0c,  // src: client
      0x88, 0xa2,                          // EtherType
      0x10, 0x00,                          // version 1, no flags, no error
      0x01, 0x02, 0x03,                    // shelf 0x0102, slot 3
      0x00,                                // ATA
      0x00, 0x01, 0x10, 0x05,              // tag
      0x40, 0x00, 0x11, 0x24,              // E flag, feature, 17 sectors, READ SECTORS EXT
      0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // LBA, least significant byte first
      0x00, 0x00,                          // reserved
  });
  want.resize(60, std::byte{0});  // padded with zeros to ETH_ZLEN
  EXPECT_EQ(Hex(std::span(frame).first(length)), Hex(want));
}

TEST(LoadFrames, WriteRequestCarriesItsDataAndTheWriteFlag) {
  std::vector<std::byte> frame(36 + 2 * 512);
  AtaRequest write{.opcode = 0x34, .lba = 8, .sector_count = 2, .write = true};
  ASSERT_EQ(EncodeAtaRequest(frame, Address(), 1, write), 36u + 1024u);
  EXPECT_EQ(static_cast<uint8_t>(frame[24]), 0x41);  // E | W
  EXPECT_EQ(static_cast<uint8_t>(frame[27]), 0x34);
  std::vector<std::byte> small(100);
  EXPECT_EQ(EncodeAtaRequest(small, Address(), 1, write), 0u);  // does not fit: nothing
}

// A reply as a target builds it: the request turned around, status DRDY, data appended.
std::vector<std::byte> ReplyTo(uint32_t tag, size_t data_bytes) {
  std::vector<std::byte> frame(std::max<size_t>(60, 36 + data_bytes));
  AtaRequest read{.opcode = 0x24, .lba = 0, .sector_count = static_cast<uint8_t>(data_bytes / 512)};
  EncodeAtaRequest(frame, Address(), tag, read);
  proto::MakeReplyHeader(frame, kTarget, 0x0102, 3);
  frame[26] = std::byte{0};     // all sectors transferred
  frame[27] = std::byte{0x40};  // DRDY
  return frame;
}

TEST(LoadFrames, AcceptsTheTargetsReply) {
  std::vector<std::byte> frame = ReplyTo(0x2001, 1024);
  std::optional<AtaReply> reply = DecodeAtaReply(frame, Address());
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->tag, 0x2001u);
  EXPECT_TRUE(reply->ok());
  EXPECT_EQ(reply->data.size(), 1024u);
  EXPECT_EQ(reply->data_bytes, 1024u);
}

TEST(LoadFrames, ATruncatedReadStillReportsHowMuchDataTheReplyCarried) {
  std::vector<std::byte> frame = ReplyTo(0x2002, 8704);
  ConstByteSpan headers = ConstByteSpan(frame).first(60);  // what a header-only read keeps
  std::optional<AtaReply> reply = DecodeAtaReply(headers, Address(), frame.size());
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->data.size(), 24u);
  EXPECT_EQ(reply->data_bytes, 8704u);
  // A short reply read the same way is seen to be short.
  std::optional<AtaReply> short_reply = DecodeAtaReply(headers, Address(), 36 + 512);
  ASSERT_TRUE(short_reply);
  EXPECT_EQ(short_reply->data_bytes, 512u);
}

TEST(LoadFrames, IgnoresFramesThatAreNotThisDisksReplies) {
  std::vector<std::byte> request(60);
  EncodeAtaRequest(request, Address(), 1, AtaRequest{.sector_count = 1});
  EXPECT_FALSE(DecodeAtaReply(request, Address()));  // not a response

  std::vector<std::byte> other_mac = ReplyTo(1, 512);
  MacAddress({0x02, 0, 0, 0, 0, 0x0b}).Store(other_mac, 6);
  EXPECT_FALSE(DecodeAtaReply(other_mac, Address()));

  std::vector<std::byte> other_slot = ReplyTo(1, 512);
  other_slot[18] = std::byte{4};
  EXPECT_FALSE(DecodeAtaReply(other_slot, Address()));

  std::vector<std::byte> config = ReplyTo(1, 512);
  config[19] = std::byte{1};
  EXPECT_FALSE(DecodeAtaReply(config, Address()));

  std::vector<std::byte> runt = ReplyTo(1, 0);
  runt.resize(30);
  EXPECT_FALSE(DecodeAtaReply(runt, Address()));
}

TEST(LoadFrames, ErrorRepliesAndAtaErrorsAreNotOk) {
  std::vector<std::byte> aoe_error = ReplyTo(1, 0);
  proto::SetError(aoe_error, proto::AoeError::kBadArgument);
  ASSERT_TRUE(DecodeAtaReply(aoe_error, Address()));
  EXPECT_EQ(DecodeAtaReply(aoe_error, Address())->aoe_error, 2);
  EXPECT_FALSE(DecodeAtaReply(aoe_error, Address())->ok());

  std::vector<std::byte> ata_error = ReplyTo(1, 0);
  ata_error[27] = std::byte{0x41};  // DRDY | ERR
  ASSERT_TRUE(DecodeAtaReply(ata_error, Address()));
  EXPECT_FALSE(DecodeAtaReply(ata_error, Address())->ok());
}

TEST(LoadFrames, ConfigQueryAndReply) {
  DiskAddress address = Address();
  address.target = MacAddress::Broadcast();
  std::vector<std::byte> frame(60);
  ASSERT_EQ(EncodeConfigQuery(frame, address, 0x80000002), 60u);
  EXPECT_TRUE(MacAddress::Load(frame, 0).is_broadcast());
  EXPECT_EQ(static_cast<uint8_t>(frame[19]), 1);     // Query Config
  EXPECT_EQ(static_cast<uint8_t>(frame[29]), 0x10);  // version 1, read

  // The target's reply: bufcnt 64, 17 sectors, from its own MAC.
  proto::MakeReplyHeader(frame, kTarget, 0x0102, 3);
  proto::ConfigArg arg;
  arg.buffer_count = 64;
  arg.firmware_version = 0x4019;
  arg.sector_count = 17;
  proto::EncodeConfig(arg, frame);
  std::optional<ConfigReply> reply = DecodeConfigReply(frame, address, 0x80000002);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->target, kTarget);
  EXPECT_EQ(reply->buffer_count, 64);
  EXPECT_EQ(reply->max_sectors, 17);
  EXPECT_FALSE(DecodeConfigReply(frame, address, 0x80000003));  // another query's reply

  arg.buffer_count = 16;
  arg.sector_count = 0;
  proto::EncodeConfig(arg, frame);
  EXPECT_EQ(DecodeConfigReply(frame, address, 0x80000002)->max_sectors, 2);  // 0 means 2
}

}  // namespace
}  // namespace aoe::bench
