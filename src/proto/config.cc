#include "proto/config.h"

#include <cstring>

namespace aoe::proto {

std::optional<ConfigArg> DecodeConfig(ConstByteSpan frame) {
  if (frame.size() < kConfigHeaderSize) return std::nullopt;
  ConfigArg c;
  c.buffer_count = LoadBe16(frame, 24);
  c.firmware_version = LoadBe16(frame, 26);
  c.sector_count = LoadU8(frame, 28);
  c.aoe_version = LoadU8(frame, 29) >> 4;
  c.command = LoadU8(frame, 29) & 0x0F;
  c.string_length = LoadBe16(frame, 30);
  c.string_complete = c.string_length <= frame.size() - kConfigHeaderSize;
  if (c.string_complete) c.string = frame.subspan(kConfigHeaderSize, c.string_length);
  return c;
}

size_t EncodeConfig(const ConfigArg& c, ByteSpan frame) {
  size_t total = kConfigHeaderSize + c.string.size();
  if (frame.size() < total || c.string.size() > 0xFFFF) return 0;
  StoreBe16(frame, 24, c.buffer_count);
  StoreBe16(frame, 26, c.firmware_version);
  StoreU8(frame, 28, c.sector_count);
  StoreU8(frame, 29, static_cast<uint8_t>((c.aoe_version << 4) | (c.command & 0x0F)));
  StoreBe16(frame, 30, static_cast<uint16_t>(c.string.size()));
  // memmove: the reply may be built in the request's own buffer, string over string.
  if (!c.string.empty())
    std::memmove(frame.data() + kConfigHeaderSize, c.string.data(), c.string.size());
  return total;
}

}  // namespace aoe::proto
