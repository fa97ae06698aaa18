#include "cli/sha256.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aoe::cli {
namespace {

std::string Digest(std::string_view text) {
  Sha256 h;
  h.Update(std::as_bytes(std::span(text.data(), text.size())));
  return h.HexFinal();
}

// FIPS 180-4 examples.
TEST(Sha256, EmptyInput) {
  EXPECT_EQ(Digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, Abc) {
  EXPECT_EQ(Digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, TwoBlockMessage) {
  EXPECT_EQ(Digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, PiecewiseUpdatesEqualOneUpdate) {
  std::vector<std::byte> data(100000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7 + i / 251);
  Sha256 whole;
  whole.Update(data);
  Sha256 pieces;
  for (size_t off = 0, step = 1; off < data.size(); off += step, step = step * 3 % 1000 + 1) {
    pieces.Update(std::span(data).subspan(off, std::min(step, data.size() - off)));
  }
  EXPECT_EQ(whole.HexFinal(), pieces.HexFinal());
}

TEST(Sha256, MillionAs) {
  std::string a(1000000, 'a');
  EXPECT_EQ(Digest(a), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace aoe::cli
