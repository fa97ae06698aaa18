// Golden-frame tests for the Issue ATA Command argument (aoe-protocol.md §2): frames as Linux,
// iPXE and WinAoE send them, and vblade-style replies.
#include "proto/ata.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "proto/testing/golden.h"

namespace aoe::proto {
namespace {

using testing::Frame;
using testing::Hex;

// The ATA argument only: bytes 24..35 of `frame`.
std::string ArgHex(ConstByteSpan frame) { return Hex(frame.subspan(kHeaderSize, 12)); }

// Linux aoe.ko 28-bit READ (ata_rw_frameinit): 2 sectors at LBA 0x0ABCDE12, 0xE0 in lba3.
std::vector<std::byte> LinuxRead28() {
  return Frame({
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // dst: target
      0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // src: Linux host
      0x88, 0xa2,                          // EtherType
      0x10, 0x00,                          // version 1, error 0
      0x00, 0x01, 0x02,                    // shelf 1, slot 2
      0x00,                                // command 0: ATA
      0x12, 0x34, 0x56, 0x78,              // tag
      0x00,                                // aflags: 28-bit read
      0x00,                                // feature
      0x02,                                // sector count 2
      0x20,                                // READ SECTORS
      0x12, 0xde, 0xbc, 0xea, 0x00, 0x00,  // lba0..lba5; lba3 = 0xE0 | 0x0A
      0x00, 0x00,                          // reserved
  });
}

// iPXE READ EXT (aoecmd_ata_cmd): E flag, 2 sectors at LBA 64 (the ISO9660 probe).
std::vector<std::byte> IpxeReadExt() {
  return Frame({
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // dst: target (unicast after the config reply)
      0x52, 0x54, 0x00, 0xfe, 0xed, 0x01,  // src: iPXE netdev
      0x88, 0xa2,                          // EtherType
      0x10, 0x00,                          // version 1, error 0
      0x00, 0x00, 0x01,                    // shelf 0, slot 1 (aoe:e0.1)
      0x00,                                // command 0: ATA
      0x18, 0xae, 0x00, 0x03,              // tag: AOE_TAG_MAGIC | 3
      0x40,                                // aflags: E
      0x00,                                // feature
      0x02,                                // sector count 2
      0x24,                                // READ SECTORS EXT
      0x40, 0x00, 0x00, 0x00, 0x00, 0x00,  // LBA 64
      0x00, 0x00,                          // reserved
  });
}

// WinAoE READ EXT of a 48-bit LBA (LBA48 always, tag in little-endian host order).
std::vector<std::byte> WinAoeReadExtHighLba() {
  return Frame({
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // dst
      0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c,  // src
      0x88, 0xa2,                          // EtherType
      0x10, 0x00,                          // version 1, error 0
      0x00, 0x01, 0x02,                    // shelf 1, slot 2
      0x00,                                // command 0
      0x05, 0x00, 0x00, 0x00,              // tag 5, host order
      0x40,                                // aflags: E
      0x00,                                // feature
      0x01,                                // sector count 1
      0x24,                                // READ SECTORS EXT
      0xbc, 0x9a, 0x78, 0x56, 0x34, 0x12,  // LBA 0x123456789abc, LSB first
      0x00, 0x00,                          // reserved
  });
}

// WinAoE discovery: IDENTIFY broadcast to the wildcard address.
std::vector<std::byte> WinAoeIdentifyBroadcast() {
  return Frame({
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // dst: broadcast
      0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c,  // src
      0x88, 0xa2,                          // EtherType
      0x10, 0x00,                          // version 1, error 0
      0xff, 0xff, 0xff,                    // shelf ffff, slot ff
      0x00,                                // command 0
      0x01, 0x00, 0x00, 0x00,              // tag 1, host order
      0x00,                                // aflags
      0x00,                                // feature
      0x01,                                // sector count 1
      0xec,                                // IDENTIFY DEVICE
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // LBA 0
      0x00, 0x00,                          // reserved
  });
}

// Linux 28-bit WRITE of 1 sector at LBA 0x800, followed by its 512-byte payload.
std::vector<std::byte> LinuxWrite28WithPayload() {
  auto frame = Frame({
      0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // dst
      0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // src
      0x88, 0xa2,                          // EtherType
      0x10, 0x00,                          // version 1, error 0
      0x00, 0x01, 0x02,                    // shelf 1, slot 2
      0x00,                                // command 0
      0x00, 0x05, 0x9c, 0x40,              // tag
      0x01,                                // aflags: W
      0x00,                                // feature
      0x01,                                // sector count 1
      0x30,                                // WRITE SECTORS
      0x00, 0x08, 0x00, 0xe0, 0x00, 0x00,  // LBA 0x800, 0xE0 in lba3
      0x00, 0x00,                          // reserved
  });
  for (size_t i = 0; i < kSectorSize; ++i) frame.push_back(std::byte{static_cast<uint8_t>(i)});
  return frame;
}

// --- DecodeAta ----------------------------------------------------------------------------

TEST(DecodeAta, ReadsLinux28BitReadWithDeviceBitsInLba3) {
  const auto frame = LinuxRead28();
  const auto a = DecodeAta(frame);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->aflags, 0x00);
  EXPECT_EQ(a->err_feature, 0x00);
  EXPECT_EQ(a->sector_count, 2);
  EXPECT_EQ(a->cmd_status, ata_op::kReadSectors);
  EXPECT_EQ(a->lba, 0xEABCDE12u);  // raw, as on the wire
  EXPECT_EQ(AddressedLba(*a), 0x0ABCDE12u);
  EXPECT_FALSE(a->is_write_flagged());
}

TEST(DecodeAta, ReadsIpxeReadExt) {
  const auto a = DecodeAta(IpxeReadExt());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->aflags, kAtaFlagExtended);
  EXPECT_EQ(a->sector_count, 2);
  EXPECT_EQ(a->cmd_status, ata_op::kReadSectorsExt);
  EXPECT_EQ(a->lba, 64u);
  EXPECT_EQ(AddressedLba(*a), 64u);
}

TEST(DecodeAta, ReadsLbaLeastSignificantByteFirst) {
  const auto a = DecodeAta(WinAoeReadExtHighLba());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->lba, 0x123456789ABCu);
  EXPECT_EQ(AddressedLba(*a), 0x123456789ABCu);
}

TEST(DecodeAta, ReadsWinAoeIdentifyBroadcast) {
  const auto a = DecodeAta(WinAoeIdentifyBroadcast());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->aflags, 0);
  EXPECT_EQ(a->sector_count, 1);
  EXPECT_EQ(a->cmd_status, ata_op::kIdentifyDevice);
  EXPECT_EQ(a->lba, 0u);
}

TEST(DecodeAta, ReadsWriteFlagAndLeavesPayloadToCaller) {
  const auto frame = LinuxWrite28WithPayload();
  const auto a = DecodeAta(frame);
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->is_write_flagged());
  EXPECT_EQ(a->cmd_status, ata_op::kWriteSectors);
  EXPECT_EQ(a->sector_count, 1);
  EXPECT_EQ(AddressedLba(*a), 0x800u);
  EXPECT_EQ(frame.size() - kAtaHeaderSize, kSectorSize);
}

TEST(DecodeAta, ReadsVbladeErrorReplyRegisters) {
  auto frame = LinuxRead28();
  frame[14] = std::byte{0x18};  // response
  frame[25] = std::byte{0x10};  // error register: IDNF
  frame[26] = std::byte{0x02};  // sectors not transferred
  frame[27] = std::byte{0x41};  // status: DRDY | ERR
  const auto a = DecodeAta(frame);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->err_feature, kAtaErrorIdNotFound);
  EXPECT_EQ(a->sector_count, 2);
  EXPECT_EQ(a->cmd_status, kAtaStatusReady | kAtaStatusError);
}

TEST(DecodeAta, AcceptsExactly36Bytes) { EXPECT_TRUE(DecodeAta(LinuxRead28()).has_value()); }

TEST(DecodeAta, RejectsFrameOf35Bytes) {
  auto frame = LinuxRead28();
  frame.resize(kAtaHeaderSize - 1);
  EXPECT_FALSE(DecodeAta(frame).has_value());
}

TEST(DecodeAta, RejectsHeaderOnlyFrame) {
  auto frame = LinuxRead28();
  frame.resize(kHeaderSize);
  EXPECT_FALSE(DecodeAta(frame).has_value());
}

TEST(DecodeAta, AcceptsTrailingEthernetPad) {
  auto frame = LinuxRead28();
  frame.resize(kMinFrameSize, std::byte{0x00});
  const auto a = DecodeAta(frame);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(AddressedLba(*a), 0x0ABCDE12u);
}

TEST(DecodeAta, IgnoresNonZeroReservedBytes) {
  auto frame = IpxeReadExt();
  frame[34] = std::byte{0xff};
  frame[35] = std::byte{0xff};
  const auto a = DecodeAta(frame);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->lba, 64u);
}

// --- EncodeAta ----------------------------------------------------------------------------

TEST(EncodeAta, WritesLinux28BitReadBytes) {
  AtaArg a;
  a.sector_count = 2;
  a.cmd_status = ata_op::kReadSectors;
  a.lba = 0xEABCDE12;
  auto frame = LinuxRead28();
  std::fill(frame.begin() + kHeaderSize, frame.end(), std::byte{0xEE});
  EncodeAta(a, frame);
  EXPECT_EQ(ArgHex(frame), ArgHex(LinuxRead28()));
}

TEST(EncodeAta, WritesLbaLeastSignificantByteFirst) {
  AtaArg a;
  a.aflags = kAtaFlagExtended;
  a.sector_count = 1;
  a.cmd_status = ata_op::kReadSectorsExt;
  a.lba = 0x123456789ABC;
  std::vector<std::byte> frame(kAtaHeaderSize);
  EncodeAta(a, frame);
  EXPECT_EQ(ArgHex(frame), ArgHex(WinAoeReadExtHighLba()));
}

TEST(EncodeAta, ZeroesReservedBytes) {
  std::vector<std::byte> frame(kAtaHeaderSize, std::byte{0xFF});
  EncodeAta(AtaArg{}, frame);
  EXPECT_EQ(frame[34], std::byte{0});
  EXPECT_EQ(frame[35], std::byte{0});
}

TEST(EncodeAta, DropsLbaBitsAbove48) {
  AtaArg a;
  a.lba = 0xFFFF000000000001;
  std::vector<std::byte> frame(kAtaHeaderSize, std::byte{0xFF});
  EncodeAta(a, frame);
  EXPECT_EQ(ArgHex(frame), "00 00 00 00 01 00 00 00 00 00 00 00");
}

TEST(EncodeAta, LeavesHeaderAndPayloadUntouched) {
  auto frame = LinuxWrite28WithPayload();
  const auto before = frame;
  EncodeAta(*DecodeAta(frame), frame);
  EXPECT_EQ(Hex(frame), Hex(before));
}

TEST(EncodeAta, WritesVbladeSuccessfulReadReply) {
  // vblade: aflags and LBA echoed, error 0, sectors left 0, status DRDY.
  auto frame = LinuxRead28();
  MakeReplyHeader(frame, MacAddress({0x52, 0x54, 0x00, 0x12, 0x34, 0x56}), 1, 2);
  AtaArg reply = *DecodeAta(frame);
  reply.err_feature = 0;
  reply.sector_count = 0;
  reply.cmd_status = kAtaStatusReady;
  EncodeAta(reply, frame);
  EXPECT_EQ(Hex(frame), Hex(Frame({
                            0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // dst: Linux host
                            0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // src: target
                            0x88, 0xa2,                          // EtherType
                            0x18, 0x00,                          // response, error 0
                            0x00, 0x01, 0x02,                    // shelf 1, slot 2
                            0x00,                                // command 0
                            0x12, 0x34, 0x56, 0x78,              // tag echoed
                            0x00,                                // aflags echoed
                            0x00,                                // ATA error 0
                            0x00,                                // 0 sectors left
                            0x40,                                // status DRDY
                            0x12, 0xde, 0xbc, 0xea, 0x00, 0x00,  // LBA echoed as received
                            0x00, 0x00,                          // reserved
                        })));
}

TEST(EncodeAta, WritesVbladeIdNotFoundReply) {
  AtaArg reply;
  reply.aflags = kAtaFlagExtended;
  reply.err_feature = kAtaErrorIdNotFound;
  reply.sector_count = 2;
  reply.cmd_status = kAtaStatusReady | kAtaStatusError;
  reply.lba = 64;
  auto frame = IpxeReadExt();
  EncodeAta(reply, frame);
  EXPECT_EQ(ArgHex(frame), "40 10 02 41 40 00 00 00 00 00 00 00");
}

// --- AddressedLba / IsLba48Opcode ---------------------------------------------------------

AtaArg Request(uint8_t opcode, uint64_t lba, uint8_t aflags = 0) {
  AtaArg a;
  a.aflags = aflags;
  a.cmd_status = opcode;
  a.lba = lba;
  return a;
}

TEST(AddressedLba, Masks28BitReadTo0x0FFFFFFF) {
  EXPECT_EQ(AddressedLba(Request(ata_op::kReadSectors, 0xE0000001)), 1u);
}

TEST(AddressedLba, Masks28BitWriteTo0x0FFFFFFF) {
  EXPECT_EQ(AddressedLba(Request(ata_op::kWriteSectors, 0xEFFFFFFF)), 0x0FFFFFFFu);
}

TEST(AddressedLba, Masks28BitCommandsGarbageInLba4AndLba5) {
  EXPECT_EQ(AddressedLba(Request(ata_op::kReadSectors, 0xFFFFFFFFFFFF)), 0x0FFFFFFFu);
}

TEST(AddressedLba, KeepsAll48BitsForReadExt) {
  EXPECT_EQ(AddressedLba(Request(ata_op::kReadSectorsExt, 0xFFFFFFFFFFFF, kAtaFlagExtended)),
            0xFFFFFFFFFFFFu);
}

TEST(AddressedLba, KeepsAll48BitsForWriteExt) {
  EXPECT_EQ(AddressedLba(Request(ata_op::kWriteSectorsExt, 0xE0000001, kAtaFlagExtended)),
            0xE0000001u);
}

TEST(AddressedLba, DecidesWidthFromOpcodeNotEFlag) {
  // E set on a 28-bit opcode still masks; E clear on an EXT opcode still gives 48 bits.
  EXPECT_EQ(AddressedLba(Request(ata_op::kReadSectors, 0xE0000010, kAtaFlagExtended)), 0x10u);
  EXPECT_EQ(AddressedLba(Request(ata_op::kReadSectorsExt, 0xE0000010, 0)), 0xE0000010u);
}

TEST(AddressedLba, MasksLinuxIdentifyA0InLba3) {
  EXPECT_EQ(AddressedLba(Request(ata_op::kIdentifyDevice, 0xA0000000)), 0u);
}

TEST(IsLba48Opcode, TrueForExtOpcodes) {
  EXPECT_TRUE(IsLba48Opcode(ata_op::kReadSectorsExt));
  EXPECT_TRUE(IsLba48Opcode(ata_op::kWriteSectorsExt));
  EXPECT_TRUE(IsLba48Opcode(ata_op::kFlushCacheExt));
}

TEST(IsLba48Opcode, FalseFor28BitAndNonDataOpcodes) {
  EXPECT_FALSE(IsLba48Opcode(ata_op::kReadSectors));
  EXPECT_FALSE(IsLba48Opcode(ata_op::kWriteSectors));
  EXPECT_FALSE(IsLba48Opcode(ata_op::kIdentifyDevice));
  EXPECT_FALSE(IsLba48Opcode(ata_op::kFlushCache));
  EXPECT_FALSE(IsLba48Opcode(ata_op::kCheckPowerMode));
}

TEST(DsmRange, GoldenEntryBothWays) {
  // LBA 0x0102030405 (little-endian in bytes 0-5), 0x0800 sectors in bytes 6-7.
  const std::vector<std::byte> golden = {std::byte{0x05}, std::byte{0x04}, std::byte{0x03},
                                         std::byte{0x02}, std::byte{0x01}, std::byte{0x00},
                                         std::byte{0x00}, std::byte{0x08}};
  EXPECT_EQ(DecodeDsmRange(golden, 0), (DsmRange{0x0102030405, 0x0800}));
  std::vector<std::byte> encoded(16, std::byte{0xFF});
  EncodeDsmRange({0x0102030405, 0x0800}, encoded, 1);
  EXPECT_TRUE(std::equal(golden.begin(), golden.end(), encoded.begin() + 8));
  EXPECT_EQ(encoded[0], std::byte{0xFF}) << "entry 0 untouched";
}

TEST(DsmRange, LbaIsMaskedTo48Bits) {
  std::vector<std::byte> entry(8);
  EncodeDsmRange({~uint64_t{0}, 1}, entry, 0);
  EXPECT_EQ(DecodeDsmRange(entry, 0), (DsmRange{kLba48Mask, 1}));
}

}  // namespace
}  // namespace aoe::proto
