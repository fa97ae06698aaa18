// Golden-frame tests for MAC Mask List and Reserve/Release (aoe-protocol.md §4), including
// declared counts that promise more entries than the frame holds.
#include "proto/mask.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "proto/testing/golden.h"

namespace aoe::proto {
namespace {

using testing::Frame;
using testing::Hex;

// Everything after the common header.
std::string ArgHex(ConstByteSpan frame, size_t length) {
  return Hex(frame.subspan(kHeaderSize, length - kHeaderSize));
}

constexpr MacAddress kHostA({0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc});
constexpr MacAddress kHostB({0x52, 0x54, 0x00, 0x01, 0x02, 0x03});
constexpr MacAddress kHostC({0x02, 0x00, 0x00, 0x00, 0x00, 0x0c});

std::vector<std::byte> Header(uint8_t command) {
  return Frame({
      0x52,    0x54, 0x00, 0x12, 0x34, 0x56,  // dst: target
      0x00,    0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // src: host A
      0x88,    0xa2,                          // EtherType
      0x10,    0x00,                          // version 1, error 0
      0x00,    0x01, 0x02,                    // shelf 1, slot 2
      command,                                // 2: mask list, 3: reserve/release
      0x80,    0x00, 0x00, 0x01,              // tag (aoetools: bit 31 set)
  });
}

std::vector<std::byte> WithArg(uint8_t command, std::initializer_list<uint8_t> arg) {
  auto frame = Header(command);
  for (uint8_t b : arg) frame.push_back(std::byte{b});
  return frame;
}

// Mask edit: add host A, delete host B.
std::vector<std::byte> MaskEditAddAndDelete() {
  return WithArg(
      0x02, {
                0x00,                                            // reserved
                0x01,                                            // MCmd 1: edit
                0x00,                                            // MError
                0x02,                                            // directive count 2
                0x00, 0x01, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // reserved, DCmd add, host A
                0x00, 0x02, 0x52, 0x54, 0x00, 0x01, 0x02, 0x03,  // reserved, DCmd delete, host B
            });
}

// Reserve set: hosts A and B.
std::vector<std::byte> ReserveSetTwo() {
  return WithArg(0x03, {
                           0x01,                                // RCmd 1: set
                           0x02,                                // NMacs 2
                           0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // host A
                           0x52, 0x54, 0x00, 0x01, 0x02, 0x03,  // host B
                       });
}

// --- DecodeMask ---------------------------------------------------------------------------

TEST(DecodeMask, ReadsEmptyReadRequest) {
  const auto frame = WithArg(0x02, {0x00, 0x00, 0x00, 0x00});  // reserved, read, 0, count 0
  const auto m = DecodeMask(frame);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->command, static_cast<uint8_t>(MaskCommand::kRead));
  EXPECT_EQ(m->error, 0);
  EXPECT_EQ(m->directive_count, 0);
  EXPECT_TRUE(m->directives_complete);
  EXPECT_EQ(m->available_directives(), 0u);
}

TEST(DecodeMask, ReadsEditDirectives) {
  const auto frame = MaskEditAddAndDelete();
  const auto m = DecodeMask(frame);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->command, static_cast<uint8_t>(MaskCommand::kEdit));
  EXPECT_EQ(m->directive_count, 2);
  EXPECT_TRUE(m->directives_complete);
  ASSERT_EQ(m->available_directives(), 2u);
  EXPECT_EQ(m->directives.data(), frame.data() + kMaskHeaderSize);
}

TEST(DecodeMask, DirectiveAtGivesCommandAndMac) {
  const auto frame = MaskEditAddAndDelete();
  const auto m = DecodeMask(frame);
  ASSERT_TRUE(m.has_value());
  const MaskDirective first = m->DirectiveAt(0);
  const MaskDirective second = m->DirectiveAt(1);
  EXPECT_EQ(first.command, static_cast<uint8_t>(DirectiveCommand::kAdd));
  EXPECT_EQ(first.mac, kHostA);
  EXPECT_EQ(second.command, static_cast<uint8_t>(DirectiveCommand::kDelete));
  EXPECT_EQ(second.mac, kHostB);
}

TEST(DecodeMask, ReadsMErrorOfAFailureReply) {
  const auto frame = WithArg(0x02, {0x00, 0x01, 0x03, 0x01});  // edit, list full, at index 1
  const auto m = DecodeMask(frame);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->error, static_cast<uint8_t>(MaskError::kListFull));
  EXPECT_EQ(m->directive_count, 1);
  EXPECT_FALSE(m->directives_complete);  // a failure reply carries no list
}

TEST(DecodeMask, CountLargerThanFrameShowsOnlyCompleteDirectives) {
  auto frame = MaskEditAddAndDelete();
  frame[27] = std::byte{0x03};                                                     // claims 3
  frame.insert(frame.end(), {std::byte{0x00}, std::byte{0x01}, std::byte{0x02}});  // 3 of 8
  const auto m = DecodeMask(frame);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->directive_count, 3);
  EXPECT_FALSE(m->directives_complete);
  EXPECT_EQ(m->available_directives(), 2u);
  EXPECT_EQ(m->directives.size(), 2 * kMaskDirectiveSize);
}

TEST(DecodeMask, MaximalCountOnHeaderOnlyFrameShowsNothing) {
  const auto frame = WithArg(0x02, {0x00, 0x01, 0x00, 0xff});
  const auto m = DecodeMask(frame);
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->directives_complete);
  EXPECT_EQ(m->available_directives(), 0u);
  EXPECT_TRUE(m->directives.empty());
}

TEST(DecodeMask, CountSmallerThanFrameIgnoresEthernetPad) {
  auto frame = MaskEditAddAndDelete();
  frame[27] = std::byte{0x01};
  frame.resize(kMinFrameSize, std::byte{0x00});
  const auto m = DecodeMask(frame);
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->directives_complete);
  EXPECT_EQ(m->available_directives(), 1u);
}

TEST(DecodeMask, RejectsFrameShorterThan28Bytes) {
  auto frame = WithArg(0x02, {0x00, 0x00, 0x00, 0x00});
  frame.pop_back();
  EXPECT_FALSE(DecodeMask(frame).has_value());
}

// --- EncodeMask / EncodeMaskDirectives / EncodeMaskFailure --------------------------------

TEST(EncodeMask, WritesListReplyAsNoOpDirectives) {
  const std::array macs = {kHostA, kHostC};
  auto frame = Header(0x02);
  frame.resize(64, std::byte{0xEE});
  const size_t n =
      EncodeMask(static_cast<uint8_t>(MaskCommand::kRead), MaskError::kOk, macs, frame);
  ASSERT_EQ(n, 44u);
  EXPECT_EQ(ArgHex(frame, n), Hex(Frame({
                                  0x00,                                            // reserved
                                  0x00,                                            // MCmd 0: read
                                  0x00,                                            // MError 0
                                  0x02,                                            // count 2
                                  0x00, 0x00, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc,  // DCmd 0, A
                                  0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0c,  // DCmd 0, C
                              })));
  EXPECT_EQ(frame[n], std::byte{0xEE});
}

TEST(EncodeMask, WritesEmptyList) {
  std::vector<std::byte> frame(kMaskHeaderSize, std::byte{0xEE});
  const size_t n = EncodeMask(static_cast<uint8_t>(MaskCommand::kEdit), MaskError::kOk, {}, frame);
  ASSERT_EQ(n, kMaskHeaderSize);
  EXPECT_EQ(ArgHex(frame, n), "00 01 00 00");
}

TEST(EncodeMask, ReturnsZeroWhenBufferTooSmall) {
  const std::array macs = {kHostA, kHostB};
  std::vector<std::byte> frame(kMaskHeaderSize + kMaskDirectiveSize + 7);
  EXPECT_EQ(EncodeMask(0, MaskError::kOk, macs, frame), 0u);
}

TEST(EncodeMaskDirectives, WritesEditRequestBytes) {
  const std::array directives = {
      MaskDirective{static_cast<uint8_t>(DirectiveCommand::kAdd), kHostA},
      MaskDirective{static_cast<uint8_t>(DirectiveCommand::kDelete), kHostB},
  };
  auto frame = Header(0x02);
  frame.resize(44, std::byte{0xEE});
  const size_t n = EncodeMaskDirectives(directives, frame);
  ASSERT_EQ(n, 44u);
  EXPECT_EQ(Hex(frame), Hex(MaskEditAddAndDelete()));
}

TEST(EncodeMaskDirectives, ReturnsZeroWhenBufferTooSmall) {
  const std::array directives = {MaskDirective{1, kHostA}};
  std::vector<std::byte> frame(kMaskHeaderSize + kMaskDirectiveSize - 1);
  EXPECT_EQ(EncodeMaskDirectives(directives, frame), 0u);
}

TEST(EncodeMaskFailure, WritesMErrorAndFailingIndexWithoutList) {
  auto frame = MaskEditAddAndDelete();  // reply built over the request
  const size_t n = EncodeMaskFailure(static_cast<uint8_t>(MaskCommand::kEdit),
                                     MaskError::kBadDirective, 1, frame);
  ASSERT_EQ(n, kMaskHeaderSize);
  EXPECT_EQ(ArgHex(frame, n), Hex(Frame({
                                  0x00,  // reserved
                                  0x01,  // MCmd 1: edit
                                  0x02,  // MError 2: bad directive
                                  0x01,  // index of the failing directive
                              })));
}

TEST(EncodeMaskFailure, ZeroesReservedByte) {
  std::vector<std::byte> frame(kMaskHeaderSize, std::byte{0xFF});
  ASSERT_EQ(EncodeMaskFailure(1, MaskError::kListFull, 0, frame), kMaskHeaderSize);
  EXPECT_EQ(ArgHex(frame, kMaskHeaderSize), "00 01 03 00");
}

TEST(EncodeMaskFailure, ReturnsZeroWhenBufferTooSmall) {
  std::vector<std::byte> frame(kMaskHeaderSize - 1);
  EXPECT_EQ(EncodeMaskFailure(1, MaskError::kListFull, 0, frame), 0u);
}

// --- DecodeReserve / EncodeReserve --------------------------------------------------------

TEST(DecodeReserve, ReadsSetWithTwoMacs) {
  const auto frame = ReserveSetTwo();
  const auto r = DecodeReserve(frame);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->command, static_cast<uint8_t>(ReserveCommand::kSet));
  EXPECT_EQ(r->mac_count, 2);
  EXPECT_TRUE(r->macs_complete);
  ASSERT_EQ(r->available_macs(), 2u);
  EXPECT_EQ(r->MacAt(0), kHostA);
  EXPECT_EQ(r->MacAt(1), kHostB);
}

TEST(DecodeReserve, ReadsReleaseAsSetWithNoMacs) {
  const auto frame = WithArg(0x03, {0x01, 0x00});
  const auto r = DecodeReserve(frame);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->mac_count, 0);
  EXPECT_TRUE(r->macs_complete);
  EXPECT_EQ(r->available_macs(), 0u);
}

TEST(DecodeReserve, MacCountBeyondFrameShowsOnlyCompleteMacs) {
  auto frame = ReserveSetTwo();
  frame[25] = std::byte{0x03};
  frame.resize(frame.size() - 3);  // host B cut in half, a third never sent
  const auto r = DecodeReserve(frame);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->mac_count, 3);
  EXPECT_FALSE(r->macs_complete);
  ASSERT_EQ(r->available_macs(), 1u);
  EXPECT_EQ(r->macs.size(), 6u);
  EXPECT_EQ(r->MacAt(0), kHostA);
}

TEST(DecodeReserve, CountSmallerThanFrameIgnoresEthernetPad) {
  auto frame = ReserveSetTwo();
  frame[25] = std::byte{0x01};
  frame.resize(kMinFrameSize, std::byte{0x00});
  const auto r = DecodeReserve(frame);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->macs_complete);
  EXPECT_EQ(r->available_macs(), 1u);
}

TEST(DecodeReserve, RejectsFrameShorterThan26Bytes) {
  const auto frame = WithArg(0x03, {0x00});
  EXPECT_FALSE(DecodeReserve(frame).has_value());
}

TEST(EncodeReserve, WritesSetRequestBytes) {
  const std::array macs = {kHostA, kHostB};
  auto frame = Header(0x03);
  frame.resize(38, std::byte{0xEE});
  const size_t n = EncodeReserve(static_cast<uint8_t>(ReserveCommand::kSet), macs, frame);
  ASSERT_EQ(n, 38u);
  EXPECT_EQ(Hex(frame), Hex(ReserveSetTwo()));
}

TEST(EncodeReserve, WritesEmptyListReply) {
  std::vector<std::byte> frame(kReserveHeaderSize, std::byte{0xEE});
  const size_t n = EncodeReserve(static_cast<uint8_t>(ReserveCommand::kRead), {}, frame);
  ASSERT_EQ(n, kReserveHeaderSize);
  EXPECT_EQ(ArgHex(frame, n), "00 00");
}

TEST(EncodeReserve, ReturnsZeroWhenBufferTooSmall) {
  const std::array macs = {kHostA, kHostB};
  std::vector<std::byte> frame(kReserveHeaderSize + 11);
  EXPECT_EQ(EncodeReserve(2, macs, frame), 0u);
}

}  // namespace
}  // namespace aoe::proto
