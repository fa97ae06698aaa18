// Target (target.h): the export table, the dispatch of each request to the exports it
// addresses, the AoE error replies, and announcements. ATA commands are served in
// target_ata.cc; config, mask and reserve commands, and the saves that make their changes
// durable, in target_state_commands.cc.
#include "target/target.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "proto/ata.h"
#include "proto/header.h"

namespace aoe::target {

using proto::AoeError;

namespace {

// Discovery may address every disk at once (WinAoE broadcasts IDENTIFY), but data commands may
// not: a broadcast WRITE would land on every export it reaches. No real initiator sends one.
bool IsWildcardDataCommand(const proto::Header& header, ConstByteSpan frame) {
  if (header.command != static_cast<uint8_t>(proto::Command::kAta)) return false;
  if (header.shelf != proto::kWildcardShelf && header.slot != proto::kWildcardSlot) return false;
  auto ata = proto::DecodeAta(frame);
  return ata && ata->cmd_status != proto::ata_op::kIdentifyDevice &&
         ata->cmd_status != proto::ata_op::kCheckPowerMode;
}

}  // namespace

Target::Target(Logger& log, Stats& stats, Transmitter& transmitter, StateStore& store,
               const Clock& clock, uint16_t buffer_count, size_t frame_capacity,
               StateCommandLimits limits)
    : log_(log),
      stats_(stats),
      tx_(transmitter),
      store_(store),
      clock_(clock),
      log_limit_(log, clock),
      buffer_count_(buffer_count),
      frame_capacity_(frame_capacity),
      change_limiter_(limits.changes),
      read_limiter_(limits.reads) {
  held_.reserve(kMaxHeldReplies);
}

void Target::AddExport(std::shared_ptr<Export> e) { exports_.push_back(std::move(e)); }

std::shared_ptr<Export> Target::RemoveExport(std::string_view name) {
  auto it = std::find_if(exports_.begin(), exports_.end(),
                         [&](const auto& e) { return e->name() == name; });
  if (it == exports_.end()) return nullptr;
  std::shared_ptr<Export> removed = std::move(*it);
  exports_.erase(it);
  return removed;
}

Export* Target::FindExport(std::string_view name) const {
  for (const auto& e : exports_)
    if (e->name() == name) return e.get();
  return nullptr;
}

uint8_t Target::MaxSectors(const PortInfo& port) const {
  size_t mtu = std::min(port.mtu, frame_capacity_ - proto::kEthernetHeaderSize);
  return std::max<uint8_t>(1, proto::SectorsPerFrame(mtu));
}

void Target::Handle(Command& command) {
  auto header = proto::DecodeHeader(command.frame());
  if (!header) {
    ++stats_.dropped_runt;
    return tx_.Release(command);
  }
  if (header->is_response()) {
    ++stats_.dropped_response;
    return tx_.Release(command);
  }
  // A reply goes to the request's source MAC: a group address there would send it to every
  // host on the segment (up to 8.7 KB for a 60-byte request), and zero is no host at all.
  if (const MacAddress source = MacAddress::Load(command.frame(), 6);
      source.is_multicast() || source.is_zero()) {
    ++stats_.dropped_bad_source;
    return tx_.Release(command);
  }
  if (IsWildcardDataCommand(*header, command.frame())) {
    ++stats_.dropped_wildcard_io;
    return tx_.Release(command);
  }
  PortInfo port = tx_.PortAt(command.port_index);
  auto matches = [&](const Export& e) {
    return e.Addressed(header->shelf, header->slot) && e.ServesInterface(port.name);
  };
  // A wildcard request (broadcast discovery, WinAoE's broadcast IDENTIFY) is answered by every
  // export it reaches, each in its own copy of the frame; the last one uses the original.
  auto last =
      std::find_if(exports_.rbegin(), exports_.rend(), [&](const auto& e) { return matches(*e); });
  if (last == exports_.rend()) {
    ++stats_.dropped_not_for_us;
    return tx_.Release(command);
  }
  for (auto it = exports_.begin(); it != last.base() - 1; ++it) {
    if (!matches(**it)) continue;
    Command* copy = tx_.Acquire();
    if (copy == nullptr) break;  // out of buffers: the initiator will ask again
    command.CopyPayloadIn();     // (no data command reaches here, but a copy must be whole)
    std::memcpy(copy->buffer.data(), command.buffer.data(), command.length);
    copy->length = command.length;
    copy->port_index = command.port_index;
    copy->target = *it;
    Serve(*copy, **it, port);
  }
  command.target = *last;
  Serve(command, **last, port);
}

void Target::Serve(Command& command, Export& e, const PortInfo& port) {
  ByteSpan frame = command.frame();
  MacAddress requester = MacAddress::Load(frame, 6);
  if (!e.MaskAllows(requester)) {
    ++stats_.dropped_masked;
    return tx_.Release(command);
  }
  uint8_t version = LoadU8(frame, 14) >> 4;
  uint8_t aoe_command = LoadU8(frame, 19);
  const bool ata = aoe_command == static_cast<uint8_t>(proto::Command::kAta);
  // Only the loop that owns the export's state may answer about it or change it.
  if (!ata && !e.owns_state()) {
    ++stats_.dropped_state_elsewhere;
    return tx_.Release(command);
  }
  e.clients().Seen(requester, LoadBe32(frame, 20), ata, now_unix_);
  proto::MakeReplyHeader(frame, port.mac, e.shelf(), e.slot());
  if (version != proto::kVersion) {
    ++stats_.refused_bad_version;
    return ReplyAoeError(command, AoeError::kUnsupportedVersion);
  }
  switch (static_cast<proto::Command>(aoe_command)) {
    case proto::Command::kAta:
      return ServeAta(command, e, port, requester);
    case proto::Command::kConfig:
      return ServeConfig(command, e, port, requester);
    case proto::Command::kMacMask:
      return ServeMask(command, e, requester);
    case proto::Command::kReserve:
      return ServeReserve(command, e, requester);
  }
  ++stats_.refused_unknown_command;
  ReplyAoeError(command, AoeError::kUnrecognizedCommand);
}

void Target::Send(Command& command) {
  if (command.length + command.tail.size() < proto::kMinFrameSize) {
    std::memset(command.buffer.data() + command.length, 0, proto::kMinFrameSize - command.length);
    command.length = proto::kMinFrameSize;
  }
  tx_.Transmit(command);
}

// An AoE-level error echoes the request body back, as vblade does.
void Target::ReplyAoeError(Command& command, AoeError error) {
  if (error == AoeError::kBadArgument) ++stats_.refused_bad_argument;
  command.CopyPayloadIn();
  proto::SetError(command.frame(), error);
  Send(command);
}

// ---------------------------------------------------------------------------------------------
// Announcements

void Target::Announce(Export& e, size_t port_index) {
  if (!e.owns_state()) return;  // announced by the loop that owns its config string and mask
  PortInfo port = tx_.PortAt(port_index);
  auto send_to = [&](const MacAddress& destination) {
    Command* command = tx_.Acquire();
    if (command == nullptr) return;
    command->port_index = port_index;
    proto::Header h;
    h.destination = destination;
    h.source = port.mac;
    h.flags = proto::kFlagResponse;
    h.shelf = e.shelf();
    h.slot = e.slot();
    h.command = static_cast<uint8_t>(proto::Command::kConfig);
    h.tag = 0;
    proto::EncodeHeader(h, command->buffer);
    command->length = WriteConfigReply(command->buffer, e, port, 0);
    Send(*command);
  };
  if (e.state().mask.empty()) {
    send_to(MacAddress::Broadcast());
  } else {
    for (const auto& mac : e.state().mask) send_to(mac);
  }
}

}  // namespace aoe::target
