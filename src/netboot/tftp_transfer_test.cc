#include "netboot/tftp_transfer.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>

namespace aoe::netboot {
namespace {

using std::chrono::milliseconds;

std::unique_ptr<TftpFile> File(size_t size) {
  std::string contents(size, '\0');
  for (size_t i = 0; i < size; ++i) contents[i] = static_cast<char>('a' + i % 26);
  return std::make_unique<MemoryTftpFile>(contents);
}

std::vector<std::byte> Ack(uint16_t block) {
  std::vector<std::byte> b(4);
  EncodeTftpAck(b, block);
  return b;
}

TftpPacket Decode(ConstByteSpan bytes) {
  std::optional<TftpPacket> p = DecodeTftp(bytes);
  EXPECT_TRUE(p);
  return p.value_or(TftpPacket{});
}

class TftpTransferTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  TftpLimits limits_;
};

TEST_F(TftpTransferTest, PlainTransferSendsBlocksUntilShortOne) {
  TftpTransfer t(File(1000), {}, limits_);
  TftpPacket first = Decode(t.Start(clock_.Now()));
  EXPECT_EQ(first.opcode, TftpOpcode::kData);
  EXPECT_EQ(first.block, 1);
  EXPECT_EQ(first.data.size(), 512u);
  TftpPacket second = Decode(t.OnPacket(Ack(1), clock_.Now()));
  EXPECT_EQ(second.block, 2);
  EXPECT_EQ(second.data.size(), 488u);
  EXPECT_TRUE(t.OnPacket(Ack(2), clock_.Now()).empty());
  EXPECT_EQ(t.state(), TftpTransfer::State::kDone);
  EXPECT_EQ(t.bytes_acked(), 1000u);
}

TEST_F(TftpTransferTest, FileOfWholeBlocksEndsWithEmptyBlock) {
  TftpTransfer t(File(512), {}, limits_);
  (void)t.Start(clock_.Now());
  TftpPacket last = Decode(t.OnPacket(Ack(1), clock_.Now()));
  EXPECT_EQ(last.block, 2);
  EXPECT_EQ(last.data.size(), 0u);
  (void)t.OnPacket(Ack(2), clock_.Now());
  EXPECT_EQ(t.state(), TftpTransfer::State::kDone);
}

TEST_F(TftpTransferTest, EmptyFileIsOneEmptyBlock) {
  TftpTransfer t(File(0), {}, limits_);
  EXPECT_EQ(Decode(t.Start(clock_.Now())).data.size(), 0u);
  (void)t.OnPacket(Ack(1), clock_.Now());
  EXPECT_EQ(t.state(), TftpTransfer::State::kDone);
}

TEST_F(TftpTransferTest, NegotiatesBlksizeAndTsize) {
  TftpTransfer t(File(3000), {{"blksize", "1432"}, {"tsize", "0"}, {"multicast", ""}}, limits_);
  TftpPacket oack = Decode(t.Start(clock_.Now()));
  ASSERT_EQ(oack.opcode, TftpOpcode::kOptionAck);
  EXPECT_EQ(oack.options, (TftpOptions{{"blksize", "1432"}, {"tsize", "3000"}}));
  TftpPacket first = Decode(t.OnPacket(Ack(0), clock_.Now()));
  EXPECT_EQ(first.block, 1);
  EXPECT_EQ(first.data.size(), 1432u);
}

TEST_F(TftpTransferTest, ClampsBlksizeToTheInterfaceLimit) {
  TftpTransfer t(File(100000), {{"blksize", "65464"}}, limits_);
  TftpPacket oack = Decode(t.Start(clock_.Now()));
  EXPECT_EQ(oack.options, (TftpOptions{{"blksize", "1468"}}));
  EXPECT_EQ(t.block_size(), 1468u);
}

TEST_F(TftpTransferTest, IgnoresInvalidOptions) {
  TftpTransfer t(File(10), {{"blksize", "7"}, {"blksize", "x"}, {"timeout", "0"}}, limits_);
  EXPECT_EQ(Decode(t.Start(clock_.Now())).opcode, TftpOpcode::kData);
}

TEST_F(TftpTransferTest, DuplicateAckIsNotAnswered) {
  TftpTransfer t(File(2000), {}, limits_);
  (void)t.Start(clock_.Now());
  (void)t.OnPacket(Ack(1), clock_.Now());
  EXPECT_TRUE(t.OnPacket(Ack(1), clock_.Now()).empty());  // Sorcerer's Apprentice guard
  EXPECT_EQ(Decode(t.OnPacket(Ack(2), clock_.Now())).block, 3);
}

TEST_F(TftpTransferTest, RetransmitsOnTimeoutThenGivesUp) {
  limits_.max_retries = 2;
  TftpTransfer t(File(100), {}, limits_);
  (void)t.Start(clock_.Now());
  EXPECT_TRUE(t.OnTimeout(clock_.Now()).empty());  // not due yet
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(Decode(t.OnTimeout(clock_.Now())).block, 1);
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(Decode(t.OnTimeout(clock_.Now())).block, 1);
  clock_.Advance(milliseconds(1000));
  TftpPacket error = Decode(t.OnTimeout(clock_.Now()));
  EXPECT_EQ(error.opcode, TftpOpcode::kError);
  EXPECT_EQ(t.state(), TftpTransfer::State::kFailed);
  EXPECT_EQ(t.retransmits(), 2);
}

TEST_F(TftpTransferTest, NegotiatedTimeoutIsUsed) {
  TftpTransfer t(File(10), {{"timeout", "3"}}, limits_);
  (void)t.Start(clock_.Now());
  clock_.Advance(milliseconds(2999));
  EXPECT_TRUE(t.OnTimeout(clock_.Now()).empty());
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(Decode(t.OnTimeout(clock_.Now())).opcode, TftpOpcode::kOptionAck);
}

// A silent client holds its transfer for six timeouts: a timeout of 255 s would hold a slot
// for 25 minutes. Above the limit the option is left out of the OACK and the default applies.
TEST_F(TftpTransferTest, ATimeoutAboveTheLimitIsNotAccepted) {
  TftpTransfer t(File(10), {{"timeout", "255"}}, limits_);
  EXPECT_EQ(Decode(t.Start(clock_.Now())).opcode, TftpOpcode::kData) << "no option accepted";
  clock_.Advance(limits_.timeout);
  EXPECT_EQ(Decode(t.OnTimeout(clock_.Now())).opcode, TftpOpcode::kData) << "default timeout";
  TftpTransfer at_limit(File(10), {{"timeout", std::to_string(limits_.max_timeout.count())}},
                        limits_);
  EXPECT_EQ(Decode(at_limit.Start(clock_.Now())).opcode, TftpOpcode::kOptionAck);
}

TEST_F(TftpTransferTest, ClientErrorEndsTheTransfer) {
  TftpTransfer t(File(10), {{"blksize", "1024"}}, limits_);
  (void)t.Start(clock_.Now());
  std::array<std::byte, 32> b{};
  size_t n = EncodeTftpError(b, TftpErrorCode::kOptionRefused, "no");
  EXPECT_TRUE(t.OnPacket(std::span(b).first(n), clock_.Now()).empty());
  EXPECT_EQ(t.state(), TftpTransfer::State::kFailed);
}

// EDK2's PXE client (OVMF, most UEFI firmware) sends RRQ with tsize and blksize, reads the
// size from the OACK and ends that transfer with ERROR 8, then requests the file again. That
// was logged as a failed transfer on every UEFI boot.
TEST_F(TftpTransferTest, ErrorAfterTsizeOackIsASizeQuery) {
  TftpTransfer t(File(10), {{"tsize", "0"}, {"blksize", "1468"}}, limits_);
  EXPECT_EQ(Decode(t.Start(clock_.Now())).opcode, TftpOpcode::kOptionAck);
  std::array<std::byte, 64> b{};
  size_t n = EncodeTftpError(b, TftpErrorCode::kOptionRefused, "User aborted the transfer");
  EXPECT_TRUE(t.OnPacket(std::span(b).first(n), clock_.Now()).empty());
  EXPECT_EQ(t.state(), TftpTransfer::State::kFailed);
  EXPECT_TRUE(t.size_query());
}

TEST_F(TftpTransferTest, ErrorDuringDataIsNotASizeQuery) {
  TftpTransfer t(File(2000), {{"tsize", "0"}}, limits_);
  (void)t.Start(clock_.Now());
  (void)t.OnPacket(Ack(0), clock_.Now());  // DATA 1 is in flight
  std::array<std::byte, 32> b{};
  size_t n = EncodeTftpError(b, TftpErrorCode::kNotDefined, "disk full");
  (void)t.OnPacket(std::span(b).first(n), clock_.Now());
  EXPECT_EQ(t.state(), TftpTransfer::State::kFailed);
  EXPECT_FALSE(t.size_query());
}

TEST_F(TftpTransferTest, ErrorAfterOackWithoutTsizeIsNotASizeQuery) {
  TftpTransfer t(File(10), {{"blksize", "1024"}}, limits_);
  (void)t.Start(clock_.Now());
  std::array<std::byte, 32> b{};
  size_t n = EncodeTftpError(b, TftpErrorCode::kOptionRefused, "no");
  (void)t.OnPacket(std::span(b).first(n), clock_.Now());
  EXPECT_FALSE(t.size_query());
}

TEST_F(TftpTransferTest, BlockNumbersWrapAround) {
  limits_.max_block_size = 8;
  TftpTransfer t(File(8 * 65536 + 3), {{"blksize", "8"}}, limits_);
  (void)t.Start(clock_.Now());
  uint16_t block = 0;
  for (uint32_t i = 0; i < 65536; ++i) {
    TftpPacket p = Decode(t.OnPacket(Ack(block), clock_.Now()));
    ASSERT_EQ(p.block, static_cast<uint16_t>(block + 1));
    block = p.block;
  }
  EXPECT_EQ(block, 0);  // block 65536 is sent as 0
  TftpPacket last = Decode(t.OnPacket(Ack(0), clock_.Now()));
  EXPECT_EQ(last.data.size(), 3u);
  (void)t.OnPacket(Ack(1), clock_.Now());
  EXPECT_EQ(t.state(), TftpTransfer::State::kDone);
}

TEST_F(TftpTransferTest, GarbageFromTheClientIsIgnored) {
  TftpTransfer t(File(10), {}, limits_);
  (void)t.Start(clock_.Now());
  const std::string junk = "x";
  EXPECT_TRUE(t.OnPacket(std::as_bytes(std::span(junk.data(), 1)), clock_.Now()).empty());
  EXPECT_EQ(t.state(), TftpTransfer::State::kRunning);
}

}  // namespace
}  // namespace aoe::netboot
