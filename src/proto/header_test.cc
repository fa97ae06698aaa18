// Golden-frame tests for the AoE common header (aoe-protocol.md §1): decode(bytes) gives the
// fields, encode(fields) gives the bytes, and a request header turns into the right reply header.
#include "proto/header.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "proto/testing/golden.h"

namespace aoe::proto {
namespace {

using testing::Frame;
using testing::Hex;

constexpr MacAddress kLinuxHost({0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc});
constexpr MacAddress kTarget({0x52, 0x54, 0x00, 0x12, 0x34, 0x56});

// Linux aoe.ko discovery (aoecmd_cfg_pkts): broadcast config query, wildcard address, tag 0.
std::vector<std::byte> LinuxBroadcastConfigQuery() {
  return Frame({
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // dst: broadcast
      0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // src: the Linux host
      0x88, 0xa2,                          // EtherType AoE
      0x10,                                // version 1, no flags
      0x00,                                // error 0
      0xff, 0xff,                          // shelf: wildcard
      0xff,                                // slot: wildcard
      0x01,                                // command 1: query config
      0x00, 0x00, 0x00, 0x00,              // tag 0
      0x00, 0x00, 0x00, 0x00,              // config arg: bufcnt, fwver
      0x00, 0x00, 0x00, 0x00,              //   scnt, ver|ccmd, string length
  });
}

// vblade-style reply to the query above from shelf 7, slot 3 (header part only).
std::vector<std::byte> VbladeConfigReplyHeader() {
  return Frame({
      0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // dst: the requester
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // src: the target
      0x88, 0xa2,                          // EtherType AoE
      0x18,                                // version 1, response
      0x00,                                // error 0
      0x00, 0x07,                          // shelf 7
      0x03,                                // slot 3
      0x01,                                // command 1
      0x00, 0x00, 0x00, 0x00,              // tag 0, echoed
  });
}

// --- DecodeHeader -------------------------------------------------------------------------

TEST(DecodeHeader, ReadsEveryFieldOfLinuxBroadcastConfigQuery) {
  const auto frame = LinuxBroadcastConfigQuery();
  const auto h = DecodeHeader(frame);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->destination, MacAddress::Broadcast());
  EXPECT_EQ(h->source, kLinuxHost);
  EXPECT_EQ(h->version, 1);
  EXPECT_EQ(h->flags, 0);
  EXPECT_EQ(h->error, AoeError::kNone);
  EXPECT_EQ(h->shelf, kWildcardShelf);
  EXPECT_EQ(h->slot, kWildcardSlot);
  EXPECT_EQ(h->command, static_cast<uint8_t>(Command::kConfig));
  EXPECT_EQ(h->tag, 0u);
  EXPECT_FALSE(h->is_response());
  EXPECT_FALSE(h->is_error());
}

TEST(DecodeHeader, ReadsVbladeReplyWithResponseFlag) {
  const auto h = DecodeHeader(VbladeConfigReplyHeader());
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->destination, kLinuxHost);
  EXPECT_EQ(h->source, kTarget);
  EXPECT_EQ(h->version, 1);
  EXPECT_EQ(h->flags, kFlagResponse);
  EXPECT_TRUE(h->is_response());
  EXPECT_FALSE(h->is_error());
  EXPECT_EQ(h->shelf, 7);
  EXPECT_EQ(h->slot, 3);
}

TEST(DecodeHeader, SplitsVersionHighNibbleFromFlagsLowNibble) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[14] = std::byte{0x1C};  // version 1, response | error
  frame[15] = std::byte{0x06};  // target reserved
  const auto h = DecodeHeader(frame);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->version, 1);
  EXPECT_EQ(h->flags, 0x0C);
  EXPECT_TRUE(h->is_response());
  EXPECT_TRUE(h->is_error());
  EXPECT_EQ(h->error, AoeError::kTargetReserved);
}

TEST(DecodeHeader, ReportsVersionNibbleAsSentWithoutJudgingIt) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[14] = std::byte{0x08};  // vblade's announce: version 0, response
  const auto h = DecodeHeader(frame);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->version, 0);
  EXPECT_EQ(h->flags, kFlagResponse);
}

TEST(DecodeHeader, KeepsMustBeZeroFlagBitsSoCallersCanSeeThem) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[14] = std::byte{0x11};  // aoeping SMART WRITE LOG sets 0x01 in the header flags
  const auto h = DecodeHeader(frame);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->flags, 0x01);
  EXPECT_FALSE(h->is_response());
}

TEST(DecodeHeader, ReadsShelfAndTagBigEndian) {
  const auto frame = Frame({
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // dst
      0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // src
      0x88, 0xa2,                          // EtherType
      0x10, 0x00,                          // version 1, error 0
      0x12, 0x34,                          // shelf 0x1234
      0x56,                                // slot 0x56
      0x00,                                // command 0: ATA
      0x80, 0x00, 0x01, 0x2a,              // tag 0x8000012a (aoetools set bit 31)
  });
  const auto h = DecodeHeader(frame);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->shelf, 0x1234);
  EXPECT_EQ(h->slot, 0x56);
  EXPECT_EQ(h->command, static_cast<uint8_t>(Command::kAta));
  EXPECT_EQ(h->tag, 0x8000012Au);
}

TEST(DecodeHeader, ReadsWinAoeLittleEndianTagAsOpaqueBigEndianValue) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[20] = std::byte{0x05};  // WinAoE stores tag 5 in host (little-endian) order
  const auto h = DecodeHeader(frame);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->tag, 0x05000000u);
}

TEST(DecodeHeader, KeepsUnknownCommandRaw) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[19] = std::byte{0xF0};  // vendor-specific
  const auto h = DecodeHeader(frame);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->command, 0xF0);
}

TEST(DecodeHeader, AcceptsExactly24Bytes) {
  auto frame = LinuxBroadcastConfigQuery();
  frame.resize(kHeaderSize);
  EXPECT_TRUE(DecodeHeader(frame).has_value());
}

TEST(DecodeHeader, RejectsFramesShorterThan24Bytes) {
  auto frame = LinuxBroadcastConfigQuery();
  frame.resize(kHeaderSize - 1);
  EXPECT_FALSE(DecodeHeader(frame).has_value());
}

TEST(DecodeHeader, RejectsEmptyFrame) { EXPECT_FALSE(DecodeHeader({}).has_value()); }

TEST(DecodeHeader, RejectsOtherEtherTypes) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[12] = std::byte{0x08};  // IPv4 0x0800
  frame[13] = std::byte{0x00};
  EXPECT_FALSE(DecodeHeader(frame).has_value());
}

TEST(DecodeHeader, RejectsByteSwappedEtherType) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[12] = std::byte{0xa2};
  frame[13] = std::byte{0x88};
  EXPECT_FALSE(DecodeHeader(frame).has_value());
}

// --- EncodeHeader -------------------------------------------------------------------------

TEST(EncodeHeader, WritesLinuxBroadcastConfigQueryBytes) {
  Header h;
  h.destination = MacAddress::Broadcast();
  h.source = kLinuxHost;
  h.shelf = kWildcardShelf;
  h.slot = kWildcardSlot;
  h.command = static_cast<uint8_t>(Command::kConfig);
  h.tag = 0;
  std::vector<std::byte> frame(kHeaderSize, std::byte{0xEE});
  EncodeHeader(h, frame);
  auto expected = LinuxBroadcastConfigQuery();
  expected.resize(kHeaderSize);
  EXPECT_EQ(Hex(frame), Hex(expected));
}

TEST(EncodeHeader, WritesErrorResponseFlagsAndCode) {
  Header h;
  h.destination = kLinuxHost;
  h.source = kTarget;
  h.flags = kFlagResponse | kFlagError;
  h.error = AoeError::kUnrecognizedCommand;
  h.shelf = 0x0102;
  h.slot = 0x09;
  h.command = 0x04;  // Coraid keyed reserve: unknown to us
  h.tag = 0x8000012A;
  std::vector<std::byte> frame(kHeaderSize);
  EncodeHeader(h, frame);
  EXPECT_EQ(Hex(frame), Hex(Frame({
                            0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // dst
                            0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // src
                            0x88, 0xa2,                          // EtherType
                            0x1c,                                // version 1, R | E
                            0x01,                                // error 1: unrecognized
                            0x01, 0x02,                          // shelf 0x0102
                            0x09,                                // slot 9
                            0x04,                                // command 4
                            0x80, 0x00, 0x01, 0x2a,              // tag
                        })));
}

TEST(EncodeHeader, LeavesBytesAfterTheHeaderUntouched) {
  Header h;
  std::vector<std::byte> frame(kHeaderSize + 4, std::byte{0xAB});
  EncodeHeader(h, frame);
  for (size_t i = kHeaderSize; i < frame.size(); ++i) EXPECT_EQ(frame[i], std::byte{0xAB}) << i;
}

TEST(EncodeHeader, DecodeGivesBackEveryField) {
  Header h;
  h.destination = kTarget;
  h.source = kLinuxHost;
  h.flags = kFlagResponse;
  h.error = AoeError::kConfigStringPresent;
  h.shelf = 65534;
  h.slot = 254;
  h.command = static_cast<uint8_t>(Command::kReserve);
  h.tag = 0xDEADBEEF;
  std::vector<std::byte> frame(kHeaderSize);
  EncodeHeader(h, frame);
  const auto back = DecodeHeader(frame);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->destination, h.destination);
  EXPECT_EQ(back->source, h.source);
  EXPECT_EQ(back->version, h.version);
  EXPECT_EQ(back->flags, h.flags);
  EXPECT_EQ(back->error, h.error);
  EXPECT_EQ(back->shelf, h.shelf);
  EXPECT_EQ(back->slot, h.slot);
  EXPECT_EQ(back->command, h.command);
  EXPECT_EQ(back->tag, h.tag);
}

// --- MakeReplyHeader ----------------------------------------------------------------------

TEST(MakeReplyHeader, TurnsLinuxBroadcastQueryIntoVbladeReply) {
  auto frame = LinuxBroadcastConfigQuery();
  MakeReplyHeader(frame, kTarget, 7, 3);
  auto expected = VbladeConfigReplyHeader();
  expected.resize(frame.size());  // the zeroed config arg is untouched
  EXPECT_EQ(Hex(frame), Hex(expected));
}

TEST(MakeReplyHeader, WritesRealShelfAndSlotNotTheWildcard) {
  // WinAoE discovery: ATA IDENTIFY broadcast to shelf ffff, slot ff.
  auto frame = Frame({
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // dst: broadcast
      0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // src: the Windows host
      0x88, 0xa2,                          // EtherType
      0x10, 0x00,                          // version 1, error 0
      0xff, 0xff, 0xff,                    // shelf/slot: wildcard
      0x00,                                // command 0: ATA
      0x01, 0x00, 0x00, 0x00,              // tag 1 in host order
  });
  MakeReplyHeader(frame, kTarget, 0x0102, 0x05);
  EXPECT_EQ(Hex(frame), Hex(Frame({
                            0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // dst: requester
                            0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // src: own MAC
                            0x88, 0xa2,                          // EtherType
                            0x18, 0x00,                          // version 1 + R, error 0
                            0x01, 0x02, 0x05,                    // shelf 0x0102, slot 5
                            0x00,                                // command kept
                            0x01, 0x00, 0x00, 0x00,              // tag kept byte for byte
                        })));
}

TEST(MakeReplyHeader, ClearsErrorCodeAndStrayFlags) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[14] = std::byte{0x15};  // version 1 with E and an MBZ bit set
  frame[15] = std::byte{0x03};
  MakeReplyHeader(frame, kTarget, 1, 1);
  EXPECT_EQ(frame[14], std::byte{0x18});
  EXPECT_EQ(frame[15], std::byte{0x00});
}

TEST(MakeReplyHeader, SendsVersion1EvenWhenRequestCarriedAnother) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[14] = std::byte{0x20};
  MakeReplyHeader(frame, kTarget, 1, 1);
  EXPECT_EQ(frame[14], std::byte{0x18});
}

TEST(MakeReplyHeader, KeepsTagCommandAndEtherType) {
  auto frame = LinuxBroadcastConfigQuery();
  frame[19] = std::byte{0x02};  // mask list
  frame[20] = std::byte{0x7f};
  frame[21] = std::byte{0xfe};
  frame[22] = std::byte{0x12};
  frame[23] = std::byte{0x34};
  MakeReplyHeader(frame, kTarget, 1, 1);
  const auto h = DecodeHeader(frame);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->command, 0x02);
  EXPECT_EQ(h->tag, 0x7FFE1234u);
}

// --- SetError -----------------------------------------------------------------------------

TEST(SetError, TurnsGoodReplyIntoErrorReplyWithCode) {
  auto frame = VbladeConfigReplyHeader();
  SetError(frame, AoeError::kConfigStringPresent);
  EXPECT_EQ(frame[14], std::byte{0x1C});
  EXPECT_EQ(frame[15], std::byte{0x04});
}

TEST(SetError, LeavesEveryOtherHeaderByteAlone) {
  auto frame = VbladeConfigReplyHeader();
  const auto before = frame;
  SetError(frame, AoeError::kTargetReserved);
  for (size_t i = 0; i < frame.size(); ++i) {
    if (i == 14 || i == 15) continue;
    EXPECT_EQ(frame[i], before[i]) << "byte " << i;
  }
  const auto h = DecodeHeader(frame);
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(h->is_response());
  EXPECT_TRUE(h->is_error());
  EXPECT_EQ(h->error, AoeError::kTargetReserved);
}

// --- SectorsPerFrame ----------------------------------------------------------------------

TEST(SectorsPerFrame, StandardEthernetMtuGivesTwo) { EXPECT_EQ(SectorsPerFrame(1500), 2); }
TEST(SectorsPerFrame, Mtu4200GivesEight) { EXPECT_EQ(SectorsPerFrame(4200), 8); }
TEST(SectorsPerFrame, Mtu8228GivesSixteen) { EXPECT_EQ(SectorsPerFrame(8228), 16); }
TEST(SectorsPerFrame, JumboMtu9000GivesSeventeen) { EXPECT_EQ(SectorsPerFrame(9000), 17); }
TEST(SectorsPerFrame, Mtu65535Gives127) { EXPECT_EQ(SectorsPerFrame(65535), 127); }  // 65499/512

TEST(SectorsPerFrame, CapsAt255BecauseScntIsOneByte) {
  EXPECT_EQ(SectorsPerFrame(36 + 255 * 512), 255);
  EXPECT_EQ(SectorsPerFrame(36 + 256 * 512), 255);
  EXPECT_EQ(SectorsPerFrame(size_t{1} << 40), 255);
}

TEST(SectorsPerFrame, JustBelowTheCapGives254) {
  EXPECT_EQ(SectorsPerFrame(36 + 255 * 512 - 1), 254);
}

TEST(SectorsPerFrame, OneSectorNeedsMtuOf548) {
  EXPECT_EQ(SectorsPerFrame(548), 1);
  EXPECT_EQ(SectorsPerFrame(547), 0);
}

TEST(SectorsPerFrame, TinyMtuGivesZeroWithoutUnderflow) {
  EXPECT_EQ(SectorsPerFrame(35), 0);
  EXPECT_EQ(SectorsPerFrame(36), 0);
  EXPECT_EQ(SectorsPerFrame(0), 0);
}

}  // namespace
}  // namespace aoe::proto
