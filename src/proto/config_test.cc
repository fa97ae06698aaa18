// Golden-frame tests for Query Config Information (aoe-protocol.md §3): the Linux discovery
// query, aoeping's filler-carrying read, vblade-style replies, and declared lengths that lie.
#include "proto/config.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "proto/testing/golden.h"

namespace aoe::proto {
namespace {

using testing::Frame;
using testing::Hex;

ConstByteSpan AsBytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// The 24-byte common header of a config query/reply from the Linux host; the caller appends
// the argument.
std::vector<std::byte> ConfigHeader() {
  return Frame({
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // dst: broadcast
      0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // src
      0x88, 0xa2,                          // EtherType
      0x10, 0x00,                          // version 1, error 0
      0xff, 0xff, 0xff,                    // shelf/slot wildcard
      0x01,                                // command 1: query config
      0x00, 0x00, 0x00, 0x00,              // tag 0
  });
}

std::vector<std::byte> WithArg(std::initializer_list<uint8_t> arg) {
  auto frame = ConfigHeader();
  for (uint8_t b : arg) frame.push_back(std::byte{b});
  return frame;
}

// Linux aoe.ko discovery: a zeroed config argument, ccmd 0 read, length 0. 32 bytes on a tap.
std::vector<std::byte> LinuxQuery() {
  return WithArg({
      0x00, 0x00,  // buffer count (ignored in requests)
      0x00, 0x00,  // firmware version
      0x00,        // sector count
      0x00,        // aoe version 0 | ccmd 0 (read): Linux leaves the whole arg zero
      0x00, 0x00,  // config string length 0
  });
}

// aoeping (find_blade): a read that still carries a 1024-byte string of 0xED filler.
std::vector<std::byte> AoepingRead() {
  auto frame = WithArg({
      0x00, 0x00,  // buffer count
      0x00, 0x00,  // firmware version
      0x00,        // sector count
      0x00,        // ccmd 0: read
      0x04, 0x00,  // config string length 1024
  });
  frame.insert(frame.end(), 1024, std::byte{0xED});
  return frame;
}

// --- DecodeConfig -------------------------------------------------------------------------

TEST(DecodeConfig, ReadsLinuxDiscoveryQueryWithEmptyString) {
  const auto frame = LinuxQuery();
  const auto c = DecodeConfig(frame);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->buffer_count, 0);
  EXPECT_EQ(c->firmware_version, 0);
  EXPECT_EQ(c->sector_count, 0);
  EXPECT_EQ(c->aoe_version, 0);
  EXPECT_EQ(c->command, static_cast<uint8_t>(ConfigCommand::kRead));
  EXPECT_EQ(c->string_length, 0);
  EXPECT_TRUE(c->string_complete);
  EXPECT_TRUE(c->string.empty());
}

TEST(DecodeConfig, ReadsAoepingFillerStringAsAViewIntoTheFrame) {
  const auto frame = AoepingRead();
  const auto c = DecodeConfig(frame);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->command, static_cast<uint8_t>(ConfigCommand::kRead));
  EXPECT_EQ(c->string_length, 1024);
  EXPECT_TRUE(c->string_complete);
  ASSERT_EQ(c->string.size(), 1024u);
  EXPECT_EQ(c->string.data(), frame.data() + kConfigHeaderSize);
  for (std::byte b : c->string) ASSERT_EQ(b, std::byte{0xED});
}

TEST(DecodeConfig, ReadsVbladeReplyFields) {
  const auto frame = WithArg({
      0x00, 0x10,     // buffer count 16
      0x40, 0x19,     // firmware version 0x4019 (vblade v25)
      0x02,           // sector count 2 (MTU 1500)
      0x10,           // aoe version 1 | ccmd 0
      0x00, 0x03,     // length 3
      'a', 'b', 'c',  // config string
  });
  const auto c = DecodeConfig(frame);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->buffer_count, 16);
  EXPECT_EQ(c->firmware_version, 0x4019);
  EXPECT_EQ(c->sector_count, 2);
  EXPECT_EQ(c->aoe_version, 1);
  EXPECT_EQ(c->command, 0);
  EXPECT_EQ(c->string_length, 3);
  EXPECT_TRUE(c->string_complete);
  EXPECT_EQ(Hex(c->string), "61 62 63");
}

TEST(DecodeConfig, SplitsAoeVersionFromCcmdNibble) {
  auto frame = LinuxQuery();
  frame[29] = std::byte{0x14};  // version 1, force set
  auto c = DecodeConfig(frame);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->aoe_version, 1);
  EXPECT_EQ(c->command, static_cast<uint8_t>(ConfigCommand::kForceSet));

  frame[29] = std::byte{0x2F};  // version 2, ccmd 15 (unknown: answered with error 2)
  c = DecodeConfig(frame);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->aoe_version, 2);
  EXPECT_EQ(c->command, 15);
}

TEST(DecodeConfig, DeclaredLengthPastTheFrameGivesIncompleteEmptyString) {
  auto frame = AoepingRead();
  frame.resize(kConfigHeaderSize + 10);  // length still says 1024
  const auto c = DecodeConfig(frame);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->string_length, 1024);
  EXPECT_FALSE(c->string_complete);
  EXPECT_TRUE(c->string.empty());
}

TEST(DecodeConfig, DeclaredLengthOneByteTooLongIsIncomplete) {
  auto frame = LinuxQuery();
  frame[31] = std::byte{0x01};  // length 1, no string byte present
  const auto c = DecodeConfig(frame);
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->string_complete);
  EXPECT_TRUE(c->string.empty());
}

TEST(DecodeConfig, MaximalDeclaredLengthOnShortFrameIsIncomplete) {
  auto frame = LinuxQuery();
  frame[30] = std::byte{0xff};
  frame[31] = std::byte{0xff};
  const auto c = DecodeConfig(frame);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->string_length, 0xFFFF);
  EXPECT_FALSE(c->string_complete);
  EXPECT_TRUE(c->string.empty());
}

TEST(DecodeConfig, StringStopsAtDeclaredLengthBeforeEthernetPad) {
  auto frame = WithArg({0, 0, 0, 0, 0, 0x10, 0x00, 0x02, 'h', 'i'});
  frame.resize(kMinFrameSize, std::byte{0x00});
  const auto c = DecodeConfig(frame);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->string_complete);
  EXPECT_EQ(Hex(c->string), "68 69");
}

TEST(DecodeConfig, RejectsFrameShorterThan32Bytes) {
  auto frame = LinuxQuery();
  frame.resize(kConfigHeaderSize - 1);
  EXPECT_FALSE(DecodeConfig(frame).has_value());
}

// --- EncodeConfig -------------------------------------------------------------------------

TEST(EncodeConfig, WritesVbladeReplyWithString) {
  ConfigArg c;
  c.buffer_count = 16;
  c.firmware_version = 0x4019;
  c.sector_count = 2;
  c.aoe_version = 1;
  c.command = static_cast<uint8_t>(ConfigCommand::kRead);
  c.string = AsBytes("host1");
  auto frame = ConfigHeader();
  frame.resize(64, std::byte{0xEE});
  ASSERT_EQ(EncodeConfig(c, frame), kConfigHeaderSize + 5);
  EXPECT_EQ(Hex(std::span(frame).subspan(kHeaderSize, 13)),
            Hex(Frame({
                0x00, 0x10,               // buffer count 16
                0x40, 0x19,               // firmware version
                0x02,                     // sector count
                0x10,                     // version 1 | ccmd 0
                0x00, 0x05,               // length 5
                'h', 'o', 's', 't', '1',  // string, no NUL
            })));
  EXPECT_EQ(frame[kConfigHeaderSize + 5], std::byte{0xEE});  // nothing written past the string
}

TEST(EncodeConfig, WritesEmptyStringAsLengthZero) {
  ConfigArg c;
  c.aoe_version = 1;
  c.command = static_cast<uint8_t>(ConfigCommand::kSetIfEmpty);
  std::vector<std::byte> frame(kConfigHeaderSize, std::byte{0xEE});
  ASSERT_EQ(EncodeConfig(c, frame), kConfigHeaderSize);
  EXPECT_EQ(Hex(std::span(frame).subspan(kHeaderSize)), "00 00 00 00 00 13 00 00");
}

TEST(EncodeConfig, TakesLengthFromStringNotFromStringLengthField) {
  ConfigArg c;
  c.string_length = 999;
  c.string = AsBytes("ab");
  std::vector<std::byte> frame(kConfigHeaderSize + 2);
  ASSERT_EQ(EncodeConfig(c, frame), kConfigHeaderSize + 2);
  EXPECT_EQ(frame[30], std::byte{0x00});
  EXPECT_EQ(frame[31], std::byte{0x02});
}

TEST(EncodeConfig, WritesMaximal1024ByteString) {
  const std::vector<std::byte> text(kMaxConfigStringSize, std::byte{'x'});
  ConfigArg c;
  c.string = text;
  std::vector<std::byte> frame(kConfigHeaderSize + kMaxConfigStringSize);
  ASSERT_EQ(EncodeConfig(c, frame), 1056u);
  EXPECT_EQ(frame[30], std::byte{0x04});
  EXPECT_EQ(frame[31], std::byte{0x00});
  EXPECT_EQ(frame.back(), std::byte{'x'});
}

TEST(EncodeConfig, ReturnsZeroAndWritesNothingWhenBufferTooSmall) {
  ConfigArg c;
  c.buffer_count = 16;
  c.string = AsBytes("host1");
  std::vector<std::byte> frame(kConfigHeaderSize + 4, std::byte{0xEE});
  EXPECT_EQ(EncodeConfig(c, frame), 0u);
  for (std::byte b : frame) EXPECT_EQ(b, std::byte{0xEE});
}

TEST(EncodeConfig, ReturnsZeroForBufferWithoutRoomForTheArgument) {
  std::vector<std::byte> frame(kHeaderSize);
  EXPECT_EQ(EncodeConfig(ConfigArg{}, frame), 0u);
}

TEST(EncodeConfig, MasksCcmdToLowNibble) {
  ConfigArg c;
  c.aoe_version = 1;
  c.command = 0x24;  // out of range: only the low nibble fits
  std::vector<std::byte> frame(kConfigHeaderSize);
  ASSERT_EQ(EncodeConfig(c, frame), kConfigHeaderSize);
  EXPECT_EQ(frame[29], std::byte{0x14});
}

TEST(EncodeConfig, RebuildsReplyInTheRequestBufferKeepingTheString) {
  // The target answers a set request in place: the string is already where it must go.
  auto frame = WithArg({0, 0, 0, 0, 0, 0x13, 0x00, 0x04, 'e', '1', '.', '2'});
  auto request = *DecodeConfig(frame);
  ConfigArg reply;
  reply.buffer_count = 16;
  reply.firmware_version = 0x4019;
  reply.sector_count = 17;
  reply.aoe_version = 1;
  reply.command = request.command;
  reply.string = request.string;
  ASSERT_EQ(EncodeConfig(reply, frame), kConfigHeaderSize + 4);
  EXPECT_EQ(Hex(std::span(frame).subspan(kHeaderSize)), "00 10 40 19 11 13 00 04 65 31 2e 32");
}

TEST(EncodeConfig, DecodeGivesBackTheFields) {
  ConfigArg c;
  c.buffer_count = 0xBEEF;
  c.firmware_version = 0x0102;
  c.sector_count = 255;
  c.aoe_version = 1;
  c.command = static_cast<uint8_t>(ConfigCommand::kTestPrefix);
  c.string = AsBytes("shelf");
  std::vector<std::byte> frame(64);
  const size_t n = EncodeConfig(c, frame);
  ASSERT_EQ(n, kConfigHeaderSize + 5);
  const auto back = DecodeConfig(std::span(frame).first(n));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->buffer_count, c.buffer_count);
  EXPECT_EQ(back->firmware_version, c.firmware_version);
  EXPECT_EQ(back->sector_count, c.sector_count);
  EXPECT_EQ(back->aoe_version, c.aoe_version);
  EXPECT_EQ(back->command, c.command);
  EXPECT_EQ(back->string_length, 5);
  EXPECT_EQ(Hex(back->string), Hex(c.string));
}

}  // namespace
}  // namespace aoe::proto
