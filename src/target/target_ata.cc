// Target's ATA commands (target.h): IDENTIFY, CHECK POWER MODE, READ and WRITE (28- and 48-bit
// LBA), FLUSH CACHE (and EXT), and DATA SET MANAGEMENT with TRIM; their storage I/O and its
// completion.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "proto/ata.h"
#include "proto/header.h"
#include "target/target.h"

namespace aoe::target {

using proto::AoeError;

namespace {

std::string SectorRange(const Command& c) {
  auto a = proto::DecodeAta(c.buffer.first(std::max(c.length, proto::kAtaHeaderSize)));
  uint64_t lba = a ? proto::AddressedLba(*a) : 0;
  uint64_t count = a ? a->sector_count : 0;
  return fmt::format("sectors {}-{}", lba, lba + (count ? count - 1 : 0));
}

// The rate-limiting key's kind of a failed command (with its export's name).
std::string_view FailureKind(PendingIo pending) {
  switch (pending) {
    case PendingIo::kRead:
      return "read failed";
    case PendingIo::kWrite:
      return "write failed";
    case PendingIo::kTrim:
      return "trim failed";
    case PendingIo::kFlush:
    case PendingIo::kNone:
      break;
  }
  return "flush failed";
}

}  // namespace

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
  if (opcode != proto::ata_op::kIdentifyDevice && !e.ReservationAllows(requester)) {
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
      return e.backend().Write(context, lba * proto::kSectorSize, WriteData(command, e, lba, bytes),
                               &command);
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
    // One line per failed command would let a host that keeps writing to a full overlay, or
    // storage that fails for a while, fill the log and the disk under it: per export and kind,
    // the first lines of a burst are logged in full and the rest counted (LogRateLimiter).
    const std::string_view kind = FailureKind(pending);
    if (log_limit_.Admit(LogLevel::kWarn, e.name(), kind)) {
      const std::string_view what = kind.substr(0, kind.find(' '));  // "read failed": "read"
      // Named by initiator: on an overlay export each has storage of its own, and one client's
      // full or failed overlay must not read as the export's. (The reply is addressed to it.)
      const std::string requester = MacAddress::Load(command.buffer, 0).ToString();
      const std::string why = result < 0 ? std::system_category().message(static_cast<int>(-result))
                                         : fmt::format("short transfer of {} bytes", result);
      if (pending == PendingIo::kFlush) {
        log_.Warn(e.name(), "flush by {} failed: {}", requester, why);
      } else {
        log_.Warn(e.name(), "{} of {} by {} failed: {}", what, SectorRange(command), requester,
                  why);
      }
    }
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

}  // namespace aoe::target
