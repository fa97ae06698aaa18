#include "cli/initiator_args.h"

#include <gtest/gtest.h>

#include "cli/progress.h"

namespace aoe::cli {
namespace {

TEST(ParseDiskName, AcceptsShelfAndSlot) {
  auto a = ParseDiskName("e12.3");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->shelf, 12);
  EXPECT_EQ(a->slot, 3);
}

TEST(ParseDiskName, RefusesBroadcastShelfAndSlot) {
  auto shelf = ParseDiskName("e65535.1");
  ASSERT_FALSE(shelf);
  EXPECT_NE(shelf.error().message.find("broadcast"), std::string::npos);
  auto slot = ParseDiskName("e1.255");
  ASSERT_FALSE(slot);
  EXPECT_NE(slot.error().message.find("broadcast"), std::string::npos);
}

TEST(ParseDiskName, RefusesOtherText) {
  auto a = ParseDiskName("disk.img");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message,
            "'disk.img' is not a target name; expected eSHELF.SLOT such as e0.1");
}

TEST(LooksLikeDiskName, TellsDisksFromFiles) {
  EXPECT_TRUE(LooksLikeDiskName("e0.1"));
  EXPECT_TRUE(LooksLikeDiskName("e99999.999"));  // out of range, but meant as a disk
  EXPECT_FALSE(LooksLikeDiskName("./e0.1"));
  EXPECT_FALSE(LooksLikeDiskName("e0.img"));
  EXPECT_FALSE(LooksLikeDiskName("e.1"));
  EXPECT_FALSE(LooksLikeDiskName("e0."));
  EXPECT_FALSE(LooksLikeDiskName("disk.img"));
}

TEST(ParseSeconds, AcceptsDecimals) {
  auto d = ParseSeconds("--timeout", "0.25");
  ASSERT_TRUE(d);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*d).count(), 250);
}

TEST(ParseSeconds, RefusesZeroNegativeAndJunk) {
  for (const char* text : {"0", "-1", "abc", "1s", "", "inf", "nan"}) {
    auto d = ParseSeconds("--timeout", text);
    ASSERT_FALSE(d) << text;
    EXPECT_NE(d.error().message.find("--timeout"), std::string::npos);
  }
  EXPECT_FALSE(ParseSeconds("--timeout", "601", 600));
}

TEST(ParseByteSize, Suffixes) {
  EXPECT_EQ(*ParseByteSize("--bs", "512", "64K"), 512u);
  EXPECT_EQ(*ParseByteSize("--bs", "4k", "64K"), 4096u);
  EXPECT_EQ(*ParseByteSize("--bs", "4KiB", "64K"), 4096u);
  EXPECT_EQ(*ParseByteSize("--bs", "1M", "64K"), 1u << 20);
  EXPECT_EQ(*ParseByteSize("--bs", "2G", "64K"), 2ull << 30);
  EXPECT_FALSE(ParseByteSize("--bs", "4X", "64K"));
  EXPECT_FALSE(ParseByteSize("--bs", "K", "64K"));
  EXPECT_FALSE(ParseByteSize("--bs", "99999999999999999999", "64K"));
  EXPECT_FALSE(ParseByteSize("--bs", "20000000000T", "64K"));  // overflows
  EXPECT_EQ(ParseByteSize("--size", "2.5G", "4G").error().message,
            "--size '2.5G' is not a size; write whole bytes with an optional K, M, G or T "
            "suffix, e.g. --size 4G");
}

TEST(ParseMac, RefusesMulticastAndMalformed) {
  EXPECT_TRUE(ParseMac("--add", "02:00:00:00:00:01"));
  EXPECT_FALSE(ParseMac("--add", "ff:ff:ff:ff:ff:ff"));
  EXPECT_FALSE(ParseMac("--add", "01:00:5e:00:00:01"));
  EXPECT_FALSE(ParseMac("--add", "00:00:00:00:00:00"));
  auto bad = ParseMac("--add", "02:00:00");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "--add '02:00:00' is not a MAC address; e.g. --add 02:00:00:00:00:01");
}

TEST(HumanBytes, PicksTheUnit) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(256ull << 20), "256 MiB");
  EXPECT_EQ(HumanBytes(3ull << 40), "3 TiB");
}

TEST(HumanSeconds, ShortestForm) {
  EXPECT_EQ(HumanSeconds(std::chrono::seconds(2)), "2 s");
  EXPECT_EQ(HumanSeconds(std::chrono::milliseconds(500)), "0.5 s");
}

TEST(QuoteBytes, EscapesUnprintable) {
  EXPECT_EQ(QuoteBytes("host1"), "\"host1\"");
  EXPECT_EQ(QuoteBytes(std::string_view("a\"b\\\n\0", 6)), "\"a\\\"b\\\\\\x0a\\x00\"");
}

TEST(ProgressFormat, ShowsBytesRateAndEta) {
  EXPECT_EQ(Progress::Format(64ull << 20, 256ull << 20, std::chrono::seconds(1)),
            "64 MiB / 256 MiB  25%  67.1 MB/s  ETA 0:03");
  EXPECT_EQ(Progress::Format(0, 256ull << 20, std::chrono::seconds(0)),
            "0 B / 256 MiB  0%  0.0 MB/s  ETA --:--");
}

}  // namespace
}  // namespace aoe::cli
