// Fuzz target: every proto/ decoder on one arbitrary frame, plus encode/decode round trips.
//
// The decoders are the first code that sees bytes from the wire, so besides "no crash, no read
// outside the input" (ASan) this checks what the rest of aoekit relies on:
//   - a decoder accepts exactly the frames long enough for its fixed part;
//   - variable parts (config string, mask directives, reserve MACs) are views inside the input,
//     never past it, and "complete" means exactly that the declared count fits;
//   - decode(encode(decode(x))) == decode(x), field by field, and encoding what was decoded
//     gives back the input's fixed bytes;
//   - the reply helpers (MakeReplyHeader, SetError) produce a version-1 response header.
// The input is one Ethernet frame; the same bytes also feed the IDENTIFY and MBR readers.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "proto/ata.h"
#include "proto/config.h"
#include "proto/header.h"
#include "proto/identify.h"
#include "proto/mask.h"

namespace aoe::proto {
namespace {

// Room for the largest frame any encoder below writes (a 255-entry mask list).
constexpr size_t kScratchSize = kMaskHeaderSize + 255 * kMaskDirectiveSize;

bool SameBytes(ConstByteSpan a, ConstByteSpan b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

bool Inside(ConstByteSpan part, ConstByteSpan whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void CheckHeader(ConstByteSpan frame) {
  auto h = DecodeHeader(frame);
  bool is_aoe = frame.size() >= kHeaderSize && LoadBe16(frame, 12) == kEtherType;
  FUZZ_CHECK(h.has_value() == is_aoe);
  if (!h) return;
  FUZZ_CHECK(h->version <= 0x0F && h->flags <= 0x0F);

  // The header has no reserved bits: encoding what was decoded gives the input back.
  std::array<std::byte, kHeaderSize> encoded{};
  EncodeHeader(*h, encoded);
  FUZZ_CHECK(SameBytes(encoded, frame.first(kHeaderSize)));
  auto again = DecodeHeader(encoded);
  FUZZ_CHECK(again && again->destination == h->destination && again->source == h->source &&
             again->version == h->version && again->flags == h->flags && again->error == h->error &&
             again->shelf == h->shelf && again->slot == h->slot && again->command == h->command &&
             again->tag == h->tag);

  // A reply header built over any request: to the requester, from us, version 1, response
  // flag, our address (never the wildcard), command and tag kept.
  const MacAddress own({0x02, 0, 0, 0, 0, 0x01});
  std::array<std::byte, kHeaderSize> reply = encoded;
  MakeReplyHeader(reply, own, 7, 3);
  auto r = DecodeHeader(reply);
  FUZZ_CHECK(r && r->version == kVersion && r->flags == kFlagResponse &&
             r->error == AoeError::kNone);
  FUZZ_CHECK(r->destination == h->source && r->source == own && r->shelf == 7 && r->slot == 3);
  FUZZ_CHECK(r->command == h->command && r->tag == h->tag);
  SetError(reply, AoeError::kBadArgument);
  r = DecodeHeader(reply);
  FUZZ_CHECK(r && r->is_response() && r->is_error() && r->error == AoeError::kBadArgument);

  // The input's length stands in for an MTU: a reply of that many sectors must fit in it.
  uint8_t sectors = SectorsPerFrame(frame.size());
  FUZZ_CHECK(sectors == 0 || kAtaHeaderSize + sectors * kSectorSize <= frame.size());
}

void CheckAta(ConstByteSpan frame) {
  auto a = DecodeAta(frame);
  FUZZ_CHECK(a.has_value() == (frame.size() >= kAtaHeaderSize));
  if (!a) return;
  FUZZ_CHECK(a->lba <= kLba48Mask);
  uint64_t lba = AddressedLba(*a);
  FUZZ_CHECK(lba <= (IsLba48Opcode(a->cmd_status) ? kLba48Mask : kLba28Mask));
  FUZZ_CHECK((lba & ~a->lba) == 0);  // masking only ever clears bits

  std::vector<std::byte> copy(frame.begin(), frame.end());
  EncodeAta(*a, copy);
  // Bytes 24..33 come back as they were, the reserved 34..35 are zeroed, the rest is untouched.
  FUZZ_CHECK(SameBytes(ConstByteSpan(copy).first(34), frame.first(34)));
  FUZZ_CHECK(copy[34] == std::byte{0} && copy[35] == std::byte{0});
  FUZZ_CHECK(SameBytes(ConstByteSpan(copy).subspan(kAtaHeaderSize), frame.subspan(kAtaHeaderSize)));
  auto again = DecodeAta(copy);
  FUZZ_CHECK(again && again->aflags == a->aflags && again->err_feature == a->err_feature &&
             again->sector_count == a->sector_count && again->cmd_status == a->cmd_status &&
             again->lba == a->lba && again->is_write_flagged() == a->is_write_flagged());
}

void CheckConfig(ConstByteSpan frame) {
  auto c = DecodeConfig(frame);
  FUZZ_CHECK(c.has_value() == (frame.size() >= kConfigHeaderSize));
  if (!c) return;
  FUZZ_CHECK(c->aoe_version <= 0x0F && c->command <= 0x0F);
  bool fits = c->string_length <= frame.size() - kConfigHeaderSize;
  FUZZ_CHECK(c->string_complete == fits);
  if (fits) {
    FUZZ_CHECK(c->string.size() == c->string_length);
    FUZZ_CHECK(c->string.data() == frame.data() + kConfigHeaderSize);
  } else {
    FUZZ_CHECK(c->string.empty());
  }
  FUZZ_CHECK(Inside(c->string, frame));

  std::vector<std::byte> encoded(kConfigHeaderSize + c->string.size());
  FUZZ_CHECK(EncodeConfig(*c, encoded) == encoded.size());
  auto again = DecodeConfig(encoded);
  FUZZ_CHECK(again && again->buffer_count == c->buffer_count &&
             again->firmware_version == c->firmware_version &&
             again->sector_count == c->sector_count && again->aoe_version == c->aoe_version &&
             again->command == c->command && again->string_complete &&
             again->string_length == c->string.size() && SameBytes(again->string, c->string));
  // A complete string re-encodes to the input's own bytes.
  if (fits)
    FUZZ_CHECK(
        SameBytes(ConstByteSpan(encoded).subspan(24), frame.subspan(24, encoded.size() - 24)));
  // Too small a buffer: refused, nothing written.
  if (!encoded.empty()) {
    std::vector<std::byte> small(encoded.size() - 1, std::byte{0xA5});
    FUZZ_CHECK(EncodeConfig(*c, small) == 0);
    FUZZ_CHECK(
        std::all_of(small.begin(), small.end(), [](std::byte b) { return b == std::byte{0xA5}; }));
  }
}

void CheckMask(ConstByteSpan frame) {
  auto m = DecodeMask(frame);
  FUZZ_CHECK(m.has_value() == (frame.size() >= kMaskHeaderSize));
  if (!m) return;
  size_t room = (frame.size() - kMaskHeaderSize) / kMaskDirectiveSize;
  FUZZ_CHECK(m->directives.size() % kMaskDirectiveSize == 0);
  FUZZ_CHECK(m->available_directives() == std::min<size_t>(m->directive_count, room));
  FUZZ_CHECK(m->directives_complete == (m->directive_count <= room));
  FUZZ_CHECK(Inside(m->directives, frame));
  FUZZ_CHECK(m->directives.empty() || m->directives.data() == frame.data() + kMaskHeaderSize);

  std::vector<MaskDirective> directives;
  std::vector<MacAddress> macs;
  for (size_t i = 0; i < m->available_directives(); ++i) {
    directives.push_back(m->DirectiveAt(i));
    macs.push_back(directives.back().mac);
  }
  std::vector<std::byte> scratch(kScratchSize);
  size_t n = EncodeMaskDirectives(directives, scratch);
  FUZZ_CHECK(n == kMaskHeaderSize + directives.size() * kMaskDirectiveSize);
  auto again = DecodeMask(ConstByteSpan(scratch).first(n));
  FUZZ_CHECK(again && again->directives_complete &&
             again->available_directives() == directives.size() &&
             again->command == static_cast<uint8_t>(MaskCommand::kEdit));
  for (size_t i = 0; i < directives.size(); ++i) {
    MaskDirective d = again->DirectiveAt(i);
    FUZZ_CHECK(d.command == directives[i].command && d.mac == directives[i].mac);
  }

  n = EncodeMask(m->command, static_cast<MaskError>(m->error), macs, scratch);
  FUZZ_CHECK(n == kMaskHeaderSize + macs.size() * kMaskDirectiveSize);
  again = DecodeMask(ConstByteSpan(scratch).first(n));
  FUZZ_CHECK(again && again->command == m->command && again->error == m->error &&
             again->directive_count == macs.size() && again->directives_complete);
  for (size_t i = 0; i < macs.size(); ++i) {
    MaskDirective d = again->DirectiveAt(i);
    FUZZ_CHECK(d.command == 0 && d.mac == macs[i]);
  }

  n = EncodeMaskFailure(m->command, static_cast<MaskError>(m->error), m->directive_count, scratch);
  FUZZ_CHECK(n == kMaskHeaderSize);
  again = DecodeMask(ConstByteSpan(scratch).first(n));
  FUZZ_CHECK(again && again->error == m->error && again->directive_count == m->directive_count);
}

void CheckReserve(ConstByteSpan frame) {
  auto r = DecodeReserve(frame);
  FUZZ_CHECK(r.has_value() == (frame.size() >= kReserveHeaderSize));
  if (!r) return;
  size_t room = (frame.size() - kReserveHeaderSize) / 6;
  FUZZ_CHECK(r->macs.size() % 6 == 0);
  FUZZ_CHECK(r->available_macs() == std::min<size_t>(r->mac_count, room));
  FUZZ_CHECK(r->macs_complete == (r->mac_count <= room));
  FUZZ_CHECK(Inside(r->macs, frame));

  std::vector<MacAddress> macs;
  for (size_t i = 0; i < r->available_macs(); ++i) macs.push_back(r->MacAt(i));
  std::vector<std::byte> scratch(kReserveHeaderSize + macs.size() * 6);
  FUZZ_CHECK(EncodeReserve(r->command, macs, scratch) == scratch.size());
  auto again = DecodeReserve(scratch);
  FUZZ_CHECK(again && again->command == r->command && again->mac_count == macs.size() &&
             again->macs_complete && again->available_macs() == macs.size());
  for (size_t i = 0; i < macs.size(); ++i) FUZZ_CHECK(again->MacAt(i) == macs[i]);
  if (r->macs_complete) {
    FUZZ_CHECK(
        SameBytes(ConstByteSpan(scratch).subspan(24), frame.subspan(24, scratch.size() - 24)));
  }
}

// The IDENTIFY readers take a page an initiator received (any bytes, any length); the builder
// takes fields a target derived from the disk, here from the input.
void CheckIdentify(ConstByteSpan frame) {
  uint64_t capacity = ReadIdentifyCapacity(frame);
  // Words 100-103 are read whole, as iPXE does, so a hostile page may claim more than 2^48
  // sectors; callers bound it. Short pages give 0.
  if (frame.size() < kIdentifyPageSize) FUZZ_CHECK(capacity == 0);
  if (frame.size() >= 2) {
    size_t first_word = LoadU8(frame, 0);
    size_t words = LoadU8(frame, 1);
    FUZZ_CHECK(ReadIdentifyString(frame, first_word, words).size() <= 2 * words);
  }
  ChsGeometry g = GeometryFromMbr(frame);
  FUZZ_CHECK(g.heads >= 1 && g.heads <= 255 && g.sectors_per_track >= 1 &&
             g.sectors_per_track <= 63);

  // Build a page from input-derived fields and read it back as an initiator would.
  IdentifyInfo info;
  for (size_t i = 0; i < 8 && i < frame.size(); ++i) {
    info.sector_count |= uint64_t{LoadU8(frame, i)} << (8 * i);
  }
  auto text = std::string_view(reinterpret_cast<const char*>(frame.data()), frame.size());
  info.model = text.substr(0, std::min<size_t>(text.size(), 48));
  info.serial = text.substr(std::min<size_t>(text.size(), 8), 24);
  info.firmware = text.substr(0, 10);
  info.geometry = g;
  info.write_cache_flush = frame.size() % 2 == 0;
  std::array<std::byte, kIdentifyPageSize> page{};
  BuildIdentifyPage(info, page);
  FUZZ_CHECK(ReadIdentifyCapacity(page) == std::min(info.sector_count, kLba48Mask));
  uint8_t sum = 0;
  for (std::byte b : page) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(b));
  FUZZ_CHECK(sum == 0);  // the integrity word makes the page sum to zero
  // Model text is printable ASCII only, whatever bytes went in.
  std::string model = ReadIdentifyString(page, 27, 20);
  FUZZ_CHECK(model.size() <= 40);
  FUZZ_CHECK(
      std::all_of(model.begin(), model.end(), [](char ch) { return ch >= 0x20 && ch <= 0x7E; }));
}

}  // namespace
}  // namespace aoe::proto

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, size_t size) {
  aoe::ConstByteSpan frame(reinterpret_cast<const std::byte*>(data), size);
  aoe::proto::CheckHeader(frame);
  aoe::proto::CheckAta(frame);
  aoe::proto::CheckConfig(frame);
  aoe::proto::CheckMask(frame);
  aoe::proto::CheckReserve(frame);
  aoe::proto::CheckIdentify(frame);
  return 0;
}
