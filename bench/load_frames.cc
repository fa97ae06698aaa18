#include "bench/load_frames.h"

#include <algorithm>

#include "proto/config.h"
#include "proto/header.h"

namespace aoe::bench {

size_t EncodeAtaRequest(ByteSpan frame, const DiskAddress& address, uint32_t tag,
                        const AtaRequest& request) {
  size_t data_bytes = request.write ? size_t{request.sector_count} * proto::kSectorSize : 0;
  size_t length = std::max(proto::kMinFrameSize, proto::kAtaHeaderSize + data_bytes);
  if (frame.size() < length) return 0;
  proto::Header header{.destination = address.target,
                       .source = address.client,
                       .shelf = address.shelf,
                       .slot = address.slot,
                       .command = static_cast<uint8_t>(proto::Command::kAta),
                       .tag = tag};
  proto::EncodeHeader(header, frame);
  proto::AtaArg arg{.aflags = static_cast<uint8_t>(
                        (proto::IsLba48Opcode(request.opcode) ? proto::kAtaFlagExtended : 0) |
                        (request.write ? proto::kAtaFlagWrite : 0)),
                    .sector_count = request.sector_count,
                    .cmd_status = request.opcode,
                    .lba = request.lba};
  proto::EncodeAta(arg, frame);
  if (data_bytes == 0) {  // zero the padding of short frames: reserved bytes go out as zeros
    std::fill(frame.begin() + proto::kAtaHeaderSize, frame.begin() + length, std::byte{0});
  }
  return length;
}

std::optional<AtaReply> DecodeAtaReply(ConstByteSpan frame, const DiskAddress& address,
                                       size_t wire_length) {
  std::optional<proto::Header> header = proto::DecodeHeader(frame);
  if (!header || !header->is_response() ||
      header->command != static_cast<uint8_t>(proto::Command::kAta) ||
      header->shelf != address.shelf || header->slot != address.slot ||
      header->source != address.target) {
    return std::nullopt;
  }
  AtaReply reply;
  reply.tag = header->tag;
  if (header->is_error()) {
    reply.aoe_error = std::max<uint8_t>(1, static_cast<uint8_t>(header->error));
    return reply;  // an error reply may echo only the common header
  }
  std::optional<proto::AtaArg> arg = proto::DecodeAta(frame);
  if (!arg) return std::nullopt;
  reply.status = arg->cmd_status;
  reply.ata_error = arg->err_feature;
  reply.sectors_left = arg->sector_count;
  reply.data = frame.subspan(proto::kAtaHeaderSize);
  reply.data_bytes = std::max(wire_length, frame.size()) - proto::kAtaHeaderSize;
  return reply;
}

size_t EncodeConfigQuery(ByteSpan frame, const DiskAddress& address, uint32_t tag) {
  if (frame.size() < proto::kMinFrameSize) return 0;
  proto::Header header{.destination = MacAddress::Broadcast(),
                       .source = address.client,
                       .shelf = address.shelf,
                       .slot = address.slot,
                       .command = static_cast<uint8_t>(proto::Command::kConfig),
                       .tag = tag};
  proto::EncodeHeader(header, frame);
  proto::ConfigArg arg;
  arg.command = static_cast<uint8_t>(proto::ConfigCommand::kRead);
  size_t length = proto::EncodeConfig(arg, frame);
  std::fill(frame.begin() + length, frame.begin() + proto::kMinFrameSize, std::byte{0});
  return proto::kMinFrameSize;
}

std::optional<ConfigReply> DecodeConfigReply(ConstByteSpan frame, const DiskAddress& address,
                                             uint32_t tag) {
  std::optional<proto::Header> header = proto::DecodeHeader(frame);
  if (!header || !header->is_response() || header->is_error() ||
      header->command != static_cast<uint8_t>(proto::Command::kConfig) ||
      header->shelf != address.shelf || header->slot != address.slot || header->tag != tag) {
    return std::nullopt;
  }
  std::optional<proto::ConfigArg> arg = proto::DecodeConfig(frame);
  if (!arg) return std::nullopt;
  return ConfigReply{.target = header->source,
                     .buffer_count = arg->buffer_count,
                     .max_sectors = arg->sector_count == 0 ? uint8_t{2} : arg->sector_count,
                     .firmware_version = arg->firmware_version};
}

}  // namespace aoe::bench
