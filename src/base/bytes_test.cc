#include "base/bytes.h"

#include <gtest/gtest.h>

#include <array>

namespace aoe {
namespace {

TEST(ByteReader, ReadsBigEndianFieldsInOrder) {
  std::array<std::byte, 7> buf{std::byte{0x12}, std::byte{0x34}, std::byte{0xde}, std::byte{0xad},
                               std::byte{0xbe}, std::byte{0xef}, std::byte{0x7f}};
  ByteReader r(buf);
  EXPECT_EQ(r.Be16(), 0x1234);
  EXPECT_EQ(r.Be32(), 0xdeadbeefu);
  EXPECT_EQ(r.U8(), 0x7f);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(ByteReader, ReadPastEndFailsAndReturnsZero) {
  std::array<std::byte, 3> buf{};
  ByteReader r(buf);
  EXPECT_EQ(r.Be32(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.U8(), 0) << "a failed reader stays failed";
  EXPECT_TRUE(r.Bytes(1).empty());
}

TEST(ByteWriter, WritesAndRefusesOverrun) {
  std::array<std::byte, 4> buf{};
  ByteWriter w(buf);
  w.Be16(0xabcd);
  w.U8(1);
  EXPECT_TRUE(w.ok());
  w.Be16(2);
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(buf[0], std::byte{0xab});
  EXPECT_EQ(buf[3], std::byte{0}) << "a refused write leaves the buffer untouched";
}

TEST(LittleEndian, RoundTrips) {
  std::array<std::byte, 4> buf{};
  StoreLe32(buf, 0, 0x01020304);
  EXPECT_EQ(buf[0], std::byte{4});
  EXPECT_EQ(LoadLe32(buf, 0), 0x01020304u);
}

}  // namespace
}  // namespace aoe
