#include "proto/mask.h"

#include <cassert>

namespace aoe::proto {

MaskDirective MaskArg::DirectiveAt(size_t i) const {
  assert(i < available_directives());
  size_t at = i * kMaskDirectiveSize;
  return {LoadU8(directives, at + 1), MacAddress::Load(directives, at + 2)};
}

std::optional<MaskArg> DecodeMask(ConstByteSpan frame) {
  if (frame.size() < kMaskHeaderSize) return std::nullopt;
  MaskArg m;
  m.command = LoadU8(frame, 25);
  m.error = LoadU8(frame, 26);
  m.directive_count = LoadU8(frame, 27);
  size_t available = (frame.size() - kMaskHeaderSize) / kMaskDirectiveSize;
  size_t usable = m.directive_count <= available ? m.directive_count : available;
  m.directives_complete = usable == m.directive_count;
  m.directives = frame.subspan(kMaskHeaderSize, usable * kMaskDirectiveSize);
  return m;
}

namespace {
void EncodeMaskHeader(uint8_t command, MaskError error, uint8_t count, ByteSpan frame) {
  StoreU8(frame, 24, 0);
  StoreU8(frame, 25, command);
  StoreU8(frame, 26, static_cast<uint8_t>(error));
  StoreU8(frame, 27, count);
}
}  // namespace

size_t EncodeMask(uint8_t command, MaskError error, std::span<const MacAddress> macs,
                  ByteSpan frame) {
  size_t total = kMaskHeaderSize + macs.size() * kMaskDirectiveSize;
  if (macs.size() > 255 || frame.size() < total) return 0;
  EncodeMaskHeader(command, error, static_cast<uint8_t>(macs.size()), frame);
  for (size_t i = 0; i < macs.size(); ++i) {
    size_t at = kMaskHeaderSize + i * kMaskDirectiveSize;
    StoreU8(frame, at, 0);
    StoreU8(frame, at + 1, static_cast<uint8_t>(DirectiveCommand::kNone));
    macs[i].Store(frame, at + 2);
  }
  return total;
}

size_t EncodeMaskDirectives(std::span<const MaskDirective> directives, ByteSpan frame) {
  size_t total = kMaskHeaderSize + directives.size() * kMaskDirectiveSize;
  if (directives.size() > 255 || frame.size() < total) return 0;
  EncodeMaskHeader(static_cast<uint8_t>(MaskCommand::kEdit), MaskError::kOk,
                   static_cast<uint8_t>(directives.size()), frame);
  for (size_t i = 0; i < directives.size(); ++i) {
    size_t at = kMaskHeaderSize + i * kMaskDirectiveSize;
    StoreU8(frame, at, 0);
    StoreU8(frame, at + 1, directives[i].command);
    directives[i].mac.Store(frame, at + 2);
  }
  return total;
}

size_t EncodeMaskFailure(uint8_t command, MaskError error, uint8_t failed_index, ByteSpan frame) {
  if (frame.size() < kMaskHeaderSize) return 0;
  EncodeMaskHeader(command, error, failed_index, frame);
  return kMaskHeaderSize;
}

std::optional<ReserveArg> DecodeReserve(ConstByteSpan frame) {
  if (frame.size() < kReserveHeaderSize) return std::nullopt;
  ReserveArg r;
  r.command = LoadU8(frame, 24);
  r.mac_count = LoadU8(frame, 25);
  size_t available = (frame.size() - kReserveHeaderSize) / 6;
  size_t usable = r.mac_count <= available ? r.mac_count : available;
  r.macs_complete = usable == r.mac_count;
  r.macs = frame.subspan(kReserveHeaderSize, usable * 6);
  return r;
}

size_t EncodeReserve(uint8_t command, std::span<const MacAddress> macs, ByteSpan frame) {
  size_t total = kReserveHeaderSize + macs.size() * 6;
  if (macs.size() > 255 || frame.size() < total) return 0;
  StoreU8(frame, 24, command);
  StoreU8(frame, 25, static_cast<uint8_t>(macs.size()));
  for (size_t i = 0; i < macs.size(); ++i) macs[i].Store(frame, kReserveHeaderSize + i * 6);
  return total;
}

}  // namespace aoe::proto
