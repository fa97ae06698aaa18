#include "netboot/tftp_packet.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace aoe::netboot {
namespace {

ConstByteSpan Bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(TftpPacket, DecodesGoldenReadRequestWithOptions) {
  const std::string wire(
      "\0\x01undionly.kpxe\0OCTET\0BLKSIZE\0"
      "1432\0tsize\0"
      "0\0",
      43);
  std::optional<TftpPacket> p = DecodeTftp(Bytes(wire));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->opcode, TftpOpcode::kReadRequest);
  EXPECT_EQ(p->filename, "undionly.kpxe");
  EXPECT_EQ(p->mode, "octet");
  ASSERT_EQ(p->options.size(), 2u);
  EXPECT_EQ(p->options[0], (std::pair<std::string, std::string>{"blksize", "1432"}));
  EXPECT_EQ(p->options[1], (std::pair<std::string, std::string>{"tsize", "0"}));
}

TEST(TftpPacket, EncodesReadRequestLikeTheGolden) {
  std::array<std::byte, 100> b{};
  size_t n = EncodeTftpReadRequest(b, "undionly.kpxe", "octet", {{"blksize", "1432"}});
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), n),
            std::string("\0\x01undionly.kpxe\0octet\0blksize\0"
                        "1432\0",
                        35));
}

TEST(TftpPacket, DataAckErrorOackGoldens) {
  std::array<std::byte, 64> b{};
  const std::string payload = "abc";
  size_t n = EncodeTftpData(b, 0x0102, Bytes(payload));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), n), std::string("\0\x03\x01\x02"
                                                                                 "abc",
                                                                                 7));
  n = EncodeTftpAck(b, 7);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), n),
            std::string("\0\x04\0\x07", 4));
  n = EncodeTftpError(b, TftpErrorCode::kFileNotFound, "nope");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), n),
            std::string("\0\x05\0\x01nope\0", 9));
  n = EncodeTftpOptionAck(b, {{"tsize", "10"}});
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), n), std::string("\0\x06tsize\0"
                                                                                 "10\0",
                                                                                 11));
}

TEST(TftpPacket, DecodesDataAndAck) {
  const std::string data("\0\x03\0\x05xyz", 7);
  std::optional<TftpPacket> p = DecodeTftp(Bytes(data));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->block, 5);
  EXPECT_EQ(p->data.size(), 3u);
  const std::string ack("\0\x04\xff\xff", 4);
  p = DecodeTftp(Bytes(ack));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->opcode, TftpOpcode::kAck);
  EXPECT_EQ(p->block, 0xffff);
}

TEST(TftpPacket, RejectsMalformed) {
  for (const std::string& bad :
       {std::string(), std::string("\0", 1), std::string("\0\x07", 2), std::string("\0\x00", 2),
        std::string("\0\x01name", 6), std::string("\0\x01name\0octet", 12),
        std::string("\0\x01name\0octet\0blksize\0", 21), std::string("\0\x04\x01", 3),
        std::string("\0\x05\0", 3)}) {
    EXPECT_FALSE(DecodeTftp(Bytes(bad))) << bad.size();
  }
}

TEST(TftpPacket, ErrorWithoutFinalNulKeepsTheMessage) {
  const std::string wire("\0\x05\0\x08refused", 11);
  std::optional<TftpPacket> p = DecodeTftp(Bytes(wire));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->error_code, TftpErrorCode::kOptionRefused);
  EXPECT_EQ(p->error_message, "refused");
}

TEST(TftpPacket, EncodersFailWhenBufferTooSmall) {
  std::array<std::byte, 3> b{};
  EXPECT_EQ(EncodeTftpAck(b, 1), 0u);
  EXPECT_EQ(EncodeTftpError(b, TftpErrorCode::kNotDefined, "x"), 0u);
}

}  // namespace
}  // namespace aoe::netboot
