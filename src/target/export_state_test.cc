// ExportState and its JSON encoding: every field survives a round trip, and anything that is
// not a state document is refused.
#include "target/export_state.h"

#include <gtest/gtest.h>

#include <string>

namespace aoe::target {
namespace {

constexpr MacAddress kMacA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0A}};
constexpr MacAddress kMacB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0B}};

ExportState SampleState() {
  ExportState s;
  // Opaque bytes, including NUL, quote, backslash and non-UTF-8.
  s.config_string = {'h', 'o', 's', 't', 0x00, '"', '\\', 0xFF, 0x80, '\n'};
  s.mask = {kMacA, kMacB};
  s.configured_mask = {kMacA};
  s.reservation = {kMacB};
  return s;
}

TEST(ExportStateCodec, RoundTripPreservesEveryField) {
  auto decoded = DecodeExportState(EncodeExportState(SampleState()));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, SampleState());
}

TEST(ExportStateCodec, RoundTripOfLongestConfigString) {
  ExportState s;
  for (size_t i = 0; i < 1024; ++i) s.config_string.push_back(static_cast<uint8_t>(i * 7));
  auto decoded = DecodeExportState(EncodeExportState(s));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, s);
}

TEST(ExportStateCodec, RoundTripOfEmptyState) {
  auto decoded = DecodeExportState(EncodeExportState(ExportState{}));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, ExportState{});
}

TEST(ExportStateCodec, MissingKeysAreEmpty) {
  auto decoded = DecodeExportState("{}");
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, ExportState{});
}

TEST(ExportStateCodec, ConfigStringIsAlsoReadableText) {
  ExportState s;
  s.config_string = {'o', 'w', 'n', 'e', 'r'};
  EXPECT_NE(EncodeExportState(s).find(R"("config_string": "owner")"), std::string::npos);
}

TEST(ExportStateCodec, NonDocumentsAreErrors) {
  const char* corrupt[] = {
      "{not json",
      "",
      "[1, 2, 3]",
      R"({"config_string_hex": "abc"})",  // odd number of digits
      R"({"config_string_hex": "zz"})",   // not hex
      R"({"config_string_hex": 12})",     // wrong type
      R"({"mask": ["02:00:00:00:00:0a", "nonsense"]})",
      R"({"mask": "02:00:00:00:00:0a"})",
      R"({"configured_mask": [1]})",
      R"({"reservation": [7]})",
  };
  for (const char* text : corrupt) {
    SCOPED_TRACE(text);
    auto decoded = DecodeExportState(text);
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error(), std::errc::illegal_byte_sequence);
  }
}

TEST(ExportStateCodec, OverlongConfigStringIsError) {
  EXPECT_FALSE(
      DecodeExportState(R"({"config_string_hex": ")" + std::string(2 * 1025, 'a') + "\"}"));
}

TEST(ExportStateTest, EmptyListsAllowEveryone) {
  ExportState s;
  EXPECT_TRUE(s.MaskAllows(kMacA));
  EXPECT_TRUE(s.ReservationAllows(kMacA));
}

TEST(ExportStateTest, NonEmptyListsAllowOnlyTheirMembers) {
  ExportState s;
  s.mask = {kMacA};
  s.reservation = {kMacB};
  EXPECT_TRUE(s.MaskAllows(kMacA));
  EXPECT_FALSE(s.MaskAllows(kMacB));
  EXPECT_TRUE(s.ReservationAllows(kMacB));
  EXPECT_FALSE(s.ReservationAllows(kMacA));
}

}  // namespace
}  // namespace aoe::target
