#include "proto/header.h"

#include <algorithm>

namespace aoe::proto {

std::optional<Header> DecodeHeader(ConstByteSpan frame) {
  if (frame.size() < kHeaderSize) return std::nullopt;
  if (LoadBe16(frame, 12) != kEtherType) return std::nullopt;
  Header h;
  h.destination = MacAddress::Load(frame, 0);
  h.source = MacAddress::Load(frame, 6);
  uint8_t ver_flags = LoadU8(frame, 14);
  h.version = ver_flags >> 4;
  h.flags = ver_flags & 0x0F;
  h.error = static_cast<AoeError>(LoadU8(frame, 15));
  h.shelf = LoadBe16(frame, 16);
  h.slot = LoadU8(frame, 18);
  h.command = LoadU8(frame, 19);
  h.tag = LoadBe32(frame, 20);
  return h;
}

void EncodeHeader(const Header& h, ByteSpan frame) {
  h.destination.Store(frame, 0);
  h.source.Store(frame, 6);
  StoreBe16(frame, 12, kEtherType);
  StoreU8(frame, 14, static_cast<uint8_t>((h.version << 4) | (h.flags & 0x0F)));
  StoreU8(frame, 15, static_cast<uint8_t>(h.error));
  StoreBe16(frame, 16, h.shelf);
  StoreU8(frame, 18, h.slot);
  StoreU8(frame, 19, h.command);
  StoreBe32(frame, 20, h.tag);
}

void MakeReplyHeader(ByteSpan frame, const MacAddress& own_mac, uint16_t shelf, uint8_t slot) {
  MacAddress requester = MacAddress::Load(frame, 6);
  requester.Store(frame, 0);
  own_mac.Store(frame, 6);
  StoreU8(frame, 14, static_cast<uint8_t>((kVersion << 4) | kFlagResponse));
  StoreU8(frame, 15, 0);
  StoreBe16(frame, 16, shelf);
  StoreU8(frame, 18, slot);
}

void SetError(ByteSpan frame, AoeError error) {
  StoreU8(frame, 14, static_cast<uint8_t>(LoadU8(frame, 14) | kFlagError));
  StoreU8(frame, 15, static_cast<uint8_t>(error));
}

uint8_t SectorsPerFrame(size_t mtu) {
  if (mtu < 36 + kSectorSize) return 0;
  return static_cast<uint8_t>(std::min<size_t>(255, (mtu - 36) / kSectorSize));
}

}  // namespace aoe::proto
