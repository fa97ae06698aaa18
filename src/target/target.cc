#include "target/target.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "proto/ata.h"
#include "proto/config.h"
#include "proto/header.h"
#include "proto/mask.h"

namespace aoe::target {

using proto::AoeError;

namespace {

// vblade holds 32 mask entries; we allow more, still small enough for any reply frame.
constexpr size_t kMaxMaskEntries = 64;

std::string SectorRange(const Command& c) {
  auto a = proto::DecodeAta(c.buffer.first(std::max(c.length, proto::kAtaHeaderSize)));
  uint64_t lba = a ? proto::AddressedLba(*a) : 0;
  uint64_t count = a ? a->sector_count : 0;
  return fmt::format("sectors {}-{}", lba, lba + (count ? count - 1 : 0));
}

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
    command.CopyPayloadIn();  // (no data command reaches here, but a copy must be whole)
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
  if (!e.state().MaskAllows(requester)) {
    ++stats_.dropped_masked;
    return tx_.Release(command);
  }
  uint8_t version = LoadU8(frame, 14) >> 4;
  uint8_t aoe_command = LoadU8(frame, 19);
  e.clients().Seen(requester, LoadBe32(frame, 20),
                   aoe_command == static_cast<uint8_t>(proto::Command::kAta), now_unix_);
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
// Issue ATA Command

void Target::ServeAta(Command& command, Export& e, const PortInfo& port,
                      const MacAddress& requester) {
  ByteSpan frame = command.frame();
  auto ata = proto::DecodeAta(frame);
  if (!ata) {
    ++stats_.dropped_runt;
    return tx_.Release(command);
  }
  ++stats_.ata_commands;
  uint8_t opcode = ata->cmd_status;
  // IDENTIFY stays open to everyone so other hosts can still see the disk (as vblade does).
  if (opcode != proto::ata_op::kIdentifyDevice && !e.state().ReservationAllows(requester)) {
    ++stats_.refused_reserved;
    return ReplyAoeError(command, AoeError::kTargetReserved);
  }
  uint64_t lba = proto::AddressedLba(*ata);
  uint8_t count = ata->sector_count;
  auto in_range = [&] { return lba + count <= e.sector_count(); };
  const IoContext context = e.ContextFor(requester);

  switch (opcode) {
    case proto::ata_op::kIdentifyDevice: {
      if (count != 1) return ReplyAoeError(command, AoeError::kBadArgument);
      e.IdentifySeen(requester);
      ConstByteSpan page = e.identify_page();
      std::memcpy(command.buffer.data() + proto::kAtaHeaderSize, page.data(), page.size());
      return FinishAta(command, proto::kAtaStatusReady, 0, page.size());
    }
    case proto::ata_op::kReadSectors:
    case proto::ata_op::kReadSectorsExt: {
      if (count > MaxSectors(port)) return ReplyAoeError(command, AoeError::kBadArgument);
      // Sector count 0 means 0 here, not ATA's 256: nothing fits 128 KiB in a frame.
      if (count == 0) return FinishAta(command, proto::kAtaStatusReady, 0, 0);
      if (!in_range()) {
        return FinishAta(command, proto::kAtaStatusReady | proto::kAtaStatusError,
                         proto::kAtaErrorIdNotFound, 0, count);
      }
      command.pending = PendingIo::kRead;
      command.io_bytes = count * static_cast<uint32_t>(proto::kSectorSize);
      if (ReadIntoLentFrame(command, e, context, lba * proto::kSectorSize)) return;
      if (ReadFromView(command, e, context, lba * proto::kSectorSize)) return;
      return e.backend().Read(context, lba * proto::kSectorSize,
                              command.buffer.subspan(proto::kAtaHeaderSize, command.io_bytes),
                              &command);
    }
    case proto::ata_op::kWriteSectors:
    case proto::ata_op::kWriteSectorsExt: {
      if (count > MaxSectors(port)) return ReplyAoeError(command, AoeError::kBadArgument);
      size_t bytes = count * proto::kSectorSize;
      if (frame.size() - proto::kAtaHeaderSize < bytes) {
        return ReplyAoeError(command, AoeError::kBadArgument);  // short payload
      }
      if (count == 0) return FinishAta(command, proto::kAtaStatusReady, 0, 0);
      if (e.read_only()) {
        return FinishAta(command, proto::kAtaStatusReady | proto::kAtaStatusError,
                         proto::kAtaErrorAbort, 0, count);
      }
      if (!in_range()) {
        return FinishAta(command, proto::kAtaStatusReady | proto::kAtaStatusError,
                         proto::kAtaErrorIdNotFound, 0, count);
      }
      command.pending = PendingIo::kWrite;
      command.io_bytes = static_cast<uint32_t>(bytes);
      return e.backend().Write(context, lba * proto::kSectorSize,
                               WriteData(command, e, lba, bytes), &command);
    }
    case proto::ata_op::kDataSetManagement:
      return ServeTrim(command, e, port, *ata, context);
    case proto::ata_op::kFlushCache:
    case proto::ata_op::kFlushCacheExt:
      e.FlushSeen(requester);
      command.pending = PendingIo::kFlush;
      return e.backend().Flush(context, &command);
    case proto::ata_op::kCheckPowerMode:
      // Sector count 0xFF: active or idle.
      return FinishAta(command, proto::kAtaStatusReady, 0, 0, 0xFF);
    default:
      // Unsupported opcodes (SMART included) get ABRT in the ATA registers, never the AoE
      // error flag: Linux would drop that reply and retransmit until it gives the disk up.
      return FinishAta(command, proto::kAtaStatusReady | proto::kAtaStatusError,
                       proto::kAtaErrorAbort, 0, count);
  }
}

// A write's data: where the port received it (Command::payload_in_port), if storage is done
// with it before the port gets the frame back, else in the command's buffer. A write to LBA 0
// is read again when it completes (Complete: a new partition table), so it is always in the
// buffer.
ConstByteSpan Target::WriteData(Command& command, Export& e, uint64_t lba, size_t bytes) {
  if (!command.payload_in_port.empty() && lba != 0 &&
      e.backend().capabilities().copies_write_data_in_turn) {
    ++stats_.writes_from_port;
    return std::exchange(command.payload_in_port, {}).first(bytes);
  }
  command.CopyPayloadIn();
  return command.buffer.subspan(proto::kAtaHeaderSize, bytes);
}

// DATA SET MANAGEMENT with TRIM: one storage Trim per range entry, answered once all are done.
// Every range is checked before any is started, so a bad entry changes nothing.
void Target::ServeTrim(Command& command, Export& e, const PortInfo& port, const proto::AtaArg& ata,
                       const IoContext& context) {
  const uint8_t blocks = ata.sector_count;
  const size_t bytes = blocks * proto::kSectorSize;
  if (blocks > MaxSectors(port)) return ReplyAoeError(command, AoeError::kBadArgument);
  if (command.frame().size() - proto::kAtaHeaderSize < bytes) {
    return ReplyAoeError(command, AoeError::kBadArgument);  // short payload
  }
  const uint8_t abort = proto::kAtaStatusReady | proto::kAtaStatusError;
  // Only TRIM is defined; a read-only export or a backend without trim refuses it as a disk
  // without the feature would.
  if (ata.err_feature != proto::kDsmTrim || e.read_only() || !e.backend().capabilities().can_trim) {
    ++stats_.refused_trim;
    return FinishAta(command, abort, proto::kAtaErrorAbort, 0, blocks);
  }
  ConstByteSpan ranges = command.buffer.subspan(proto::kAtaHeaderSize, bytes);
  const size_t entries = bytes / proto::kDsmRangeSize;
  uint32_t used = 0;
  for (size_t i = 0; i < entries; ++i) {
    proto::DsmRange r = proto::DecodeDsmRange(ranges, i);
    if (r.sector_count == 0) continue;
    if (r.lba > e.sector_count() || r.sector_count > e.sector_count() - r.lba) {
      ++stats_.refused_trim;
      return FinishAta(command, abort, proto::kAtaErrorAbort, 0, blocks);
    }
    ++used;
  }
  if (used == 0) return FinishAta(command, proto::kAtaStatusReady, 0, 0);
  command.pending = PendingIo::kTrim;
  // One extra part held while issuing, so that ranges completing inline cannot finish the
  // command before the last one is started.
  command.parts_pending = used + 1;
  for (size_t i = 0; i < entries; ++i) {
    proto::DsmRange r = proto::DecodeDsmRange(ranges, i);
    if (r.sector_count == 0) continue;
    e.backend().Trim(context, r.lba * proto::kSectorSize, r.sector_count * proto::kSectorSize,
                     &command);
  }
  Complete(command, 0);  // the extra part
}

bool Target::ReadIntoLentFrame(Command& command, Export& e, IoContext context,
                               uint64_t offset_bytes) {
  // Only storage that can answer "now or never" (kNoWait): a lent frame that waited for a disk
  // would hold back every reply queued behind it in the port's ring.
  if (!e.backend().capabilities().no_wait_reads) return false;
  ByteSpan lent = tx_.LendFrame(command.port_index);
  if (lent.empty()) return false;
  const size_t reply_bytes = proto::kAtaHeaderSize + command.io_bytes;
  if (lent.size() < reply_bytes) {
    tx_.ReturnFrame(command.port_index);
    return false;
  }
  struct Attempt final : IoCallback {
    std::optional<int64_t> result;
    void IoDone(int64_t r) override { result = r; }
  } attempt;
  context.flags |= IoContext::kNoWait;
  e.backend().Read(context, offset_bytes, lent.subspan(proto::kAtaHeaderSize, command.io_bytes),
                   &attempt);
  if (!attempt.result.has_value()) {
    // A layer kept the frame although it promised not to (no_wait_reads): the ring would stall
    // behind it, or the frame would be reused under a read still writing into it.
    log_.Error(e.name(), "storage {} did not complete a no-wait read during the call",
               e.backend().Describe());
    std::abort();
  }
  if (*attempt.result == -EAGAIN) {
    // Not in memory: the read goes through io_uring into the command's own buffer, and its
    // reply is copied into a slot when it is sent.
    tx_.ReturnFrame(command.port_index);
    return false;
  }
  // The reply header (already turned around by Serve) moves to the lent frame; the request's
  // buffer is not needed any more.
  std::memcpy(lent.data(), command.buffer.data(), proto::kAtaHeaderSize);
  command.buffer = lent;
  Complete(command, *attempt.result);
  return true;
}

bool Target::ReadFromView(Command& command, Export& e, const IoContext& context,
                          uint64_t offset_bytes) {
  ConstByteSpan view = e.backend().View(context, offset_bytes, command.io_bytes);
  if (view.size() != command.io_bytes) return false;
  command.tail = view;
  ++stats_.reads_from_memory;
  Complete(command, command.io_bytes);
  return true;
}

void Target::FinishAta(Command& command, uint8_t status, uint8_t error, size_t data_bytes,
                       uint8_t sector_count) {
  ByteSpan frame = command.buffer;
  StoreU8(frame, 25, error);
  StoreU8(frame, 26, sector_count);
  StoreU8(frame, 27, status);
  if (status & proto::kAtaStatusError) ++stats_.ata_errors;
  // A reply's data sent from storage's memory (ReadFromView) is not in the buffer; a reply
  // without data has none there either.
  if (data_bytes == 0) command.tail = {};
  command.length = proto::kAtaHeaderSize + data_bytes - command.tail.size();
  Send(command);
}

void Target::Complete(Command& command, int64_t result) {
  if (command.pending == PendingIo::kTrim) {
    if (result < 0 && command.first_error == 0) command.first_error = result;
    if (--command.parts_pending > 0) return;
    result = command.first_error;
  }
  Export& e = *command.target;
  PendingIo pending = command.pending;
  command.pending = PendingIo::kNone;
  const bool no_data = pending == PendingIo::kFlush || pending == PendingIo::kTrim;
  bool ok = result >= 0 && (no_data || result == command.io_bytes);
  uint8_t count = LoadU8(command.buffer, 26);
  if (!ok) {
    std::string_view what = pending == PendingIo::kRead    ? "read"
                            : pending == PendingIo::kWrite ? "write"
                            : pending == PendingIo::kTrim  ? "trim"
                                                           : "flush";
    log_.Warn(e.name(), "{} of {} failed: {}", what, SectorRange(command),
              result < 0 ? std::system_category().message(static_cast<int>(-result))
                         : fmt::format("short transfer of {} bytes", result));
    // UNC tells the initiator the medium failed; ABRT covers writes and flushes.
    uint8_t error =
        pending == PendingIo::kRead ? proto::kAtaErrorUncorrectable : proto::kAtaErrorAbort;
    return FinishAta(command, proto::kAtaStatusReady | proto::kAtaStatusError, error, 0,
                     pending == PendingIo::kFlush ? 0 : count);
  }
  switch (pending) {
    case PendingIo::kRead:
      stats_.bytes_read += command.io_bytes;
      // The reply's destination is the requester.
      e.clients().AddRead(MacAddress::Load(command.buffer, 0), command.io_bytes);
      return FinishAta(command, proto::kAtaStatusReady, 0, command.io_bytes);
    case PendingIo::kWrite: {
      stats_.bytes_written += command.io_bytes;
      e.clients().AddWritten(MacAddress::Load(command.buffer, 0), command.io_bytes);
      auto ata = proto::DecodeAta(command.buffer);
      if (ata && proto::AddressedLba(*ata) == 0) {
        // A new partition table: IDENTIFY's geometry follows it, as the seed driver's did.
        e.UpdateGeometry(command.buffer.subspan(proto::kAtaHeaderSize, proto::kSectorSize));
      }
      return FinishAta(command, proto::kAtaStatusReady, 0, 0);
    }
    case PendingIo::kFlush:
      ++stats_.flushes;
      return FinishAta(command, proto::kAtaStatusReady, 0, 0);
    case PendingIo::kTrim:
      ++stats_.trims;
      return FinishAta(command, proto::kAtaStatusReady, 0, 0);
    case PendingIo::kNone:
      break;
  }
  tx_.Release(command);
}

// ---------------------------------------------------------------------------------------------
// Query Config Information

size_t Target::WriteConfigReply(ByteSpan frame, Export& e, const PortInfo& port, uint8_t ccmd) {
  const auto& current = e.state().config_string;
  proto::ConfigArg reply;
  reply.buffer_count = buffer_count_;
  reply.firmware_version = kFirmwareVersion;
  reply.sector_count = MaxSectors(port);
  reply.aoe_version = proto::kVersion;
  reply.command = ccmd;
  reply.string = std::as_bytes(std::span(current));
  return proto::EncodeConfig(reply, frame);
}

void Target::ServeConfig(Command& command, Export& e, const PortInfo& port,
                         const MacAddress& requester) {
  auto config = proto::DecodeConfig(command.frame());
  if (!config) {
    ++stats_.dropped_runt;
    return tx_.Release(command);
  }
  ++stats_.config_commands;
  auto& current = e.state().config_string;
  auto request =
      std::span(reinterpret_cast<const uint8_t*>(config->string.data()), config->string.size());
  auto matches = [&](size_t n) {
    return std::equal(request.begin(), request.begin() + static_cast<ptrdiff_t>(n),
                      current.begin());
  };
  // Strings that overrun the frame or the 1024-byte limit are dropped, as vblade does.
  bool usable = config->string_complete && request.size() <= proto::kMaxConfigStringSize;
  bool set_refused = false;
  auto ccmd = static_cast<proto::ConfigCommand>(config->command);
  StateAccess access =
      ccmd == proto::ConfigCommand::kSetIfEmpty || ccmd == proto::ConfigCommand::kForceSet
          ? StateAccess::kChange
          : StateAccess::kRead;
  if (!AdmitStateCommand(command, e, requester, access)) return;

  switch (ccmd) {
    case proto::ConfigCommand::kRead:
      break;  // the request's string is ignored (aoeping sends 1024 filler bytes)
    case proto::ConfigCommand::kTestExact:
      if (!usable || request.size() != current.size() || !matches(request.size())) {
        if (!usable) ++stats_.dropped_bad_config;
        return tx_.Release(command);  // silence means "no match"
      }
      break;
    case proto::ConfigCommand::kTestPrefix:
      if (!usable || request.size() > current.size() || !matches(request.size())) {
        if (!usable) ++stats_.dropped_bad_config;
        return tx_.Release(command);
      }
      break;
    case proto::ConfigCommand::kSetIfEmpty:
      if (!usable) {
        ++stats_.dropped_bad_config;
        return tx_.Release(command);
      }
      if (current.empty()) {
        if (!request.empty()) {
          current.assign(request.begin(), request.end());
          ChangedState(command);
        }
      } else if (request.size() != current.size() || !matches(request.size())) {
        set_refused = true;  // a different string is already set: error 4, current string
      }
      break;
    case proto::ConfigCommand::kForceSet:
      if (!usable) {
        ++stats_.dropped_bad_config;
        return tx_.Release(command);
      }
      if (request.size() != current.size() || !matches(request.size())) {
        current.assign(request.begin(), request.end());
        ChangedState(command);
      }
      break;
    default:
      return RefuseStateCommand(command, e, requester, AoeError::kBadArgument);
  }
  command.length = WriteConfigReply(command.buffer, e, port, config->command);
  if (set_refused) proto::SetError(command.buffer, AoeError::kConfigStringPresent);
  AnswerStateCommand(command, e, requester, access);
}

// ---------------------------------------------------------------------------------------------
// MAC Mask List and Reserve/Release

void Target::ServeMask(Command& command, Export& e, const MacAddress& requester) {
  auto mask = proto::DecodeMask(command.frame());
  if (!mask) {
    ++stats_.dropped_runt;
    return tx_.Release(command);
  }
  ++stats_.mask_commands;
  auto& list = e.state().mask;
  auto mcmd = static_cast<proto::MaskCommand>(mask->command);
  StateAccess access =
      mcmd == proto::MaskCommand::kEdit ? StateAccess::kChange : StateAccess::kRead;
  if (!AdmitStateCommand(command, e, requester, access)) return;
  switch (mcmd) {
    case proto::MaskCommand::kRead:
      break;
    case proto::MaskCommand::kEdit: {
      if (!mask->directives_complete) {
        return RefuseStateCommand(command, e, requester, AoeError::kBadArgument);
      }
      bool changed = false;
      std::optional<std::pair<proto::MaskError, size_t>> failure;
      // Directives apply in order; on the first failure processing stops and the earlier
      // ones stay applied.
      for (size_t i = 0; i < mask->available_directives() && !failure; ++i) {
        proto::MaskDirective d = mask->DirectiveAt(i);
        auto at = std::find(list.begin(), list.end(), d.mac);
        switch (static_cast<proto::DirectiveCommand>(d.command)) {
          case proto::DirectiveCommand::kNone:
            break;
          case proto::DirectiveCommand::kAdd:
            if (at != list.end()) break;
            if (list.size() >= kMaxMaskEntries) {
              failure = {proto::MaskError::kListFull, i};
              break;
            }
            list.push_back(d.mac);
            changed = true;
            break;
          case proto::DirectiveCommand::kDelete:
            if (at == list.end()) break;
            list.erase(at);
            changed = true;
            break;
          default:
            failure = {proto::MaskError::kBadDirective, i};
        }
      }
      if (changed) ChangedState(command);
      if (failure) {
        command.length = proto::EncodeMaskFailure(
            mask->command, failure->first, static_cast<uint8_t>(failure->second), command.buffer);
        return AnswerStateCommand(command, e, requester, access);
      }
      break;
    }
    default:
      return RefuseStateCommand(command, e, requester, AoeError::kBadArgument);
  }
  command.length = proto::EncodeMask(mask->command, proto::MaskError::kOk, list, command.buffer);
  AnswerStateCommand(command, e, requester, access);
}

void Target::ServeReserve(Command& command, Export& e, const MacAddress& requester) {
  auto reserve = proto::DecodeReserve(command.frame());
  if (!reserve) {
    ++stats_.dropped_runt;
    return tx_.Release(command);
  }
  ++stats_.reserve_commands;
  auto& list = e.state().reservation;
  bool refused = false;
  auto rcmd = static_cast<proto::ReserveCommand>(reserve->command);
  StateAccess access =
      rcmd == proto::ReserveCommand::kSet || rcmd == proto::ReserveCommand::kForceSet
          ? StateAccess::kChange
          : StateAccess::kRead;
  if (!AdmitStateCommand(command, e, requester, access)) return;
  switch (rcmd) {
    case proto::ReserveCommand::kRead:
      break;
    case proto::ReserveCommand::kSet:
    case proto::ReserveCommand::kForceSet: {
      if (!reserve->macs_complete) {
        return RefuseStateCommand(command, e, requester, AoeError::kBadArgument);
      }
      bool force = reserve->command == static_cast<uint8_t>(proto::ReserveCommand::kForceSet);
      if (!force && !e.state().ReservationAllows(requester)) {
        refused = true;  // held by someone else: error 6 with the current list
        ++stats_.refused_reserved;
        break;
      }
      std::vector<MacAddress> macs;
      for (size_t i = 0; i < reserve->available_macs(); ++i) macs.push_back(reserve->MacAt(i));
      if (macs != list) {
        list = std::move(macs);
        ChangedState(command);
      }
      break;
    }
    default:
      return RefuseStateCommand(command, e, requester, AoeError::kBadArgument);
  }
  command.length = proto::EncodeReserve(reserve->command, list, command.buffer);
  if (refused) proto::SetError(command.buffer, AoeError::kTargetReserved);
  AnswerStateCommand(command, e, requester, access);
}

// ---------------------------------------------------------------------------------------------
// Persistent state: rate limit, saves, held replies

bool Target::AdmitStateCommand(Command& command, Export& e, const MacAddress& requester,
                               StateAccess access) {
  bool change = access == StateAccess::kChange;
  if (change && held_.size() >= kMaxHeldReplies) {
    ++stats_.dropped_state_busy;
    tx_.Release(command);
    return false;
  }
  SourceRateLimiter& limiter = change ? change_limiter_ : read_limiter_;
  SourceRateLimiter::Decision decision = limiter.Take(requester, clock_.Now());
  if (decision.report_dropped > 0) {
    const SourceRateLimiter::Limits& limits = limiter.limits();
    std::string who = decision.overflow
                          ? fmt::format(
                                "new hosts (the table of {} hosts is full; they share "
                                "one limit)",
                                limits.max_sources)
                          : requester.ToString();
    log_.Warn(e.name(),
              "rate-limiting config/mask/reserve {} from {}: dropped {} since the last "
              "report (limit {:g} per second, bursts of {:g}; next report in {} s at the "
              "earliest)",
              change ? "changes" : "reads", who, decision.report_dropped, limits.per_second,
              limits.burst,
              std::chrono::duration_cast<std::chrono::seconds>(limits.report_interval).count());
  }
  if (!decision.allowed) {
    ++stats_.dropped_rate_limited;
    tx_.Release(command);
    return false;
  }
  return true;
}

void Target::ChangedState(Command& command) {
  Export& e = *command.target;
  e.saves().Changed();
  if (std::find(unsaved_.begin(), unsaved_.end(), command.target) == unsaved_.end()) {
    unsaved_.push_back(command.target);
  }
  StartSaveIfNeeded(e);
}

void Target::StartSaveIfNeeded(Export& e) {
  if (!e.saves().ShouldSave()) return;
  uint64_t version = e.saves().StartSave();
  store_.Save(e.name(), e.state(), version);
}

void Target::AnswerStateCommand(Command& command, const Export& e, const MacAddress& requester,
                                StateAccess access) {
  uint64_t wait_for = 0;
  for (const HeldReply& held : held_) {
    if (held.exported == &e && held.requester == requester) {
      wait_for = std::max(wait_for, held.version);
    }
  }
  if (access == StateAccess::kChange) wait_for = std::max(wait_for, e.saves().latest());
  if (wait_for <= e.saves().durable()) return Send(command);
  if (held_.size() >= kMaxHeldReplies) {
    ++stats_.dropped_state_busy;
    return tx_.Release(command);
  }
  held_.push_back(HeldReply{&command, &e, requester, wait_for});
}

void Target::RefuseStateCommand(Command& command, const Export& e, const MacAddress& requester,
                                AoeError error) {
  if (error == AoeError::kBadArgument) ++stats_.refused_bad_argument;
  proto::SetError(command.frame(), error);
  AnswerStateCommand(command, e, requester, StateAccess::kRead);
}

void Target::SendDurableReplies(const Export& e) {
  size_t kept = 0;
  for (const HeldReply& held : held_) {
    if (held.exported == &e && held.version <= e.saves().durable()) {
      Send(*held.command);
    } else {
      held_[kept++] = held;
    }
  }
  held_.resize(kept);
}

void Target::StateSaved(const StateStore::Saved& saved) {
  if (saved.refresh) {
    StateRefreshed(saved);
    return;
  }
  auto it = std::find_if(unsaved_.begin(), unsaved_.end(), [&](const auto& e) {
    return e->name() == saved.export_name && e->saves().saving();
  });
  if (it == unsaved_.end()) return;  // its unsaved state was abandoned meanwhile
  std::shared_ptr<Export> e = *it;
  bool was_failing = e->saves().last_save_failed();
  e->saves().Finished(saved.version, !saved.error);
  if (saved.error) {
    if (!was_failing) {
      log_.Error(e->name(),
                 "cannot save state to {}: {}; replies to config, mask and reserve changes "
                 "wait until it is saved, retried every second",
                 store_.Location(e->name()), saved.error.message());
    }
    return;
  }
  if (was_failing) log_.Info(e->name(), "state saved to {} again", store_.Location(e->name()));
  SendDurableReplies(*e);
  StartSaveIfNeeded(*e);
  if (e->saves().settled()) unsaved_.erase(it);
}

void Target::StateRefreshed(const StateStore::Saved& refreshed) {
  // A read that failed keeps what we have; the next refresh tries again.
  if (refreshed.error || !refreshed.refreshed) return;
  Export* e = FindExport(refreshed.export_name);
  if (e == nullptr || e->state() == *refreshed.refreshed) return;
  // A change made here and not saved yet is newer than what was read (the store reports a
  // refresh before any save that was started after it).
  if (std::any_of(unsaved_.begin(), unsaved_.end(),
                  [&](const auto& unsaved) { return unsaved.get() == e; })) {
    return;
  }
  e->state() = *refreshed.refreshed;
  log_.Info(e->name(), "state changed by another target host (read from {})",
            store_.Location(e->name()));
}

void Target::RetryFailedSaves() {
  for (const auto& e : unsaved_) {
    if (!e->saves().awaiting_retry()) continue;
    e->saves().Retry();
    StartSaveIfNeeded(*e);
  }
}

bool Target::saving() const {
  return std::any_of(unsaved_.begin(), unsaved_.end(),
                     [](const auto& e) { return e->saves().saving(); });
}

size_t Target::AbandonUnsavedState(const Export& e) {
  size_t dropped = 0;
  size_t kept = 0;
  for (const HeldReply& held : held_) {
    if (held.exported == &e) {
      tx_.Release(*held.command);
      ++dropped;
    } else {
      held_[kept++] = held;
    }
  }
  held_.resize(kept);
  std::erase_if(unsaved_, [&](const auto& unsaved) { return unsaved.get() == &e; });
  return dropped;
}

// ---------------------------------------------------------------------------------------------
// Announcements

void Target::Announce(Export& e, size_t port_index) {
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
