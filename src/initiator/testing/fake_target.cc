#include "initiator/testing/fake_target.h"

#include <algorithm>
#include <cstring>

#include "proto/ata.h"
#include "proto/config.h"
#include "proto/header.h"
#include "proto/identify.h"
#include "proto/mask.h"

namespace aoe::initiator::testing {
namespace {
constexpr size_t kRxSlotBytes = 9216 + 14;
constexpr size_t kRxBatch = 8;
}  // namespace

FakeTarget::FakeTarget(FakeTargetOptions options, std::vector<Port*> ports)
    : options_(std::move(options)),
      ports_(std::move(ports)),
      silent_(ports_.size(), false),
      data_(options_.sectors * proto::kSectorSize),
      rx_storage_(kRxSlotBytes * kRxBatch) {
  stats_.per_port_requests.resize(ports_.size());
}

size_t FakeTarget::Serve() {
  size_t total = 0;
  std::vector<RxSlot> slots(kRxBatch);
  for (size_t i = 0; i < kRxBatch; ++i) {
    slots[i].buffer = ByteSpan(rx_storage_).subspan(i * kRxSlotBytes, kRxSlotBytes);
  }
  for (size_t port = 0; port < ports_.size(); ++port) {
    while (true) {
      Result<size_t> n = ports_[port]->Receive(slots);
      if (!n || *n == 0) break;
      for (size_t i = 0; i < *n; ++i) {
        if (!slots[i].truncated)
          Handle(port, ConstByteSpan(slots[i].buffer.data(), slots[i].length));
      }
      total += *n;
    }
  }
  return total;
}

uint8_t FakeTarget::MaxSectors(size_t port) const {
  uint8_t by_mtu = proto::SectorsPerFrame(ports_[port]->mtu());
  return options_.max_sectors == 0 ? by_mtu : std::min(options_.max_sectors, by_mtu);
}

void FakeTarget::Handle(size_t port, ConstByteSpan request) {
  std::optional<proto::Header> h = proto::DecodeHeader(request);
  if (!h || h->is_response()) return;
  if (h->shelf != proto::kWildcardShelf && h->shelf != options_.shelf) return;
  if (h->slot != proto::kWildcardSlot && h->slot != options_.slot) return;
  // A non-empty mask list hides us from everyone else, as in vblade.
  if (!mask_.empty() && std::find(mask_.begin(), mask_.end(), h->source) == mask_.end()) return;
  ++stats_.requests;
  // Room for the largest reply: a full read or a 1024-byte config string.
  std::vector<std::byte> frame(std::max<size_t>(request.size(), proto::kAtaHeaderSize + 255 * 512));
  std::memcpy(frame.data(), request.data(), request.size());
  size_t length = 0;
  switch (static_cast<proto::Command>(h->command)) {
    case proto::Command::kAta:
      length = Ata(port, frame, request.size(), h->source);
      break;
    case proto::Command::kConfig:
      length = Config(port, frame, request.size());
      break;
    case proto::Command::kMacMask:
      length = Mask(frame, request.size());
      break;
    case proto::Command::kReserve:
      length = Reserve(frame, request.size(), h->source);
      break;
    default:
      proto::SetError(frame, proto::AoeError::kUnrecognizedCommand);
      length = request.size();
      break;
  }
  if (length == 0 || silent_[port]) return;
  // SetError before MakeReplyHeader would be cleared by it, so errors are re-applied after.
  uint8_t flags_error = LoadU8(frame, 14) & proto::kFlagError;
  uint8_t error_code = LoadU8(frame, 15);
  proto::MakeReplyHeader(frame, ports_[port]->mac(), options_.shelf, options_.slot);
  if (flags_error) proto::SetError(frame, static_cast<proto::AoeError>(error_code));
  length = std::max(length, proto::kMinFrameSize);
  const TxFrame bytes{ConstByteSpan(frame.data(), length)};
  (void)ports_[port]->Send(std::span(&bytes, 1));
  ++stats_.replies;
}

size_t FakeTarget::Ata(size_t port, std::vector<std::byte>& frame, size_t length,
                       const MacAddress& from) {
  std::optional<proto::AtaArg> a = proto::DecodeAta(ConstByteSpan(frame.data(), length));
  if (!a) return 0;
  ++stats_.ata;
  ++stats_.per_port_requests[port];
  ata_tags_.push_back(LoadBe32(frame, 20));
  StoreU8(frame, 15, 0);
  if (a->cmd_status != proto::ata_op::kIdentifyDevice && !reserve_.empty() &&
      std::find(reserve_.begin(), reserve_.end(), from) == reserve_.end()) {
    proto::SetError(frame, proto::AoeError::kTargetReserved);
    return proto::kAtaHeaderSize;
  }
  proto::AtaArg reply = *a;
  reply.cmd_status = proto::kAtaStatusReady;
  reply.err_feature = 0;
  size_t data_bytes = 0;
  switch (a->cmd_status) {
    case proto::ata_op::kIdentifyDevice: {
      ++stats_.identifies;
      proto::IdentifyInfo info;
      info.sector_count = options_.sectors;
      info.model = options_.model;
      info.serial = options_.serial;
      info.firmware = options_.firmware;
      info.trim = options_.trim;
      info.trim_reads_zeroes = options_.trim;
      info.volatile_write_cache = options_.volatile_write_cache;
      info.incarnation = options_.incarnation;
      proto::BuildIdentifyPage(info, ByteSpan(frame).subspan(proto::kAtaHeaderSize, 512));
      reply.sector_count = 0;
      data_bytes = 512;
      break;
    }
    case proto::ata_op::kReadSectors:
    case proto::ata_op::kReadSectorsExt:
    case proto::ata_op::kWriteSectors:
    case proto::ata_op::kWriteSectorsExt: {
      bool write = a->cmd_status == proto::ata_op::kWriteSectors ||
                   a->cmd_status == proto::ata_op::kWriteSectorsExt;
      uint64_t lba = proto::AddressedLba(*a);
      uint64_t n = a->sector_count;
      if (n > MaxSectors(port) ||
          (options_.accepted_sectors != 0 && n > options_.accepted_sectors)) {
        ++stats_.refused_too_long;
        proto::SetError(frame, proto::AoeError::kBadArgument);
        return proto::kAtaHeaderSize;
      }
      if (write && length < proto::kAtaHeaderSize + n * 512) {
        proto::SetError(frame, proto::AoeError::kBadArgument);
        return proto::kAtaHeaderSize;
      }
      if (lba + n > options_.sectors) {
        reply.cmd_status = proto::kAtaStatusReady | proto::kAtaStatusError;
        reply.err_feature = proto::kAtaErrorIdNotFound;
      } else if (bad_sector_ && *bad_sector_ >= lba && *bad_sector_ < lba + n) {
        reply.cmd_status = proto::kAtaStatusReady | proto::kAtaStatusError;
        reply.err_feature = proto::kAtaErrorUncorrectable;
      } else if (stuck_from_ && lba + n > *stuck_from_) {
        return 0;
      } else if (write) {
        ++stats_.writes;
        std::memcpy(data_.data() + lba * 512, frame.data() + proto::kAtaHeaderSize, n * 512);
        reply.sector_count = 0;
      } else {
        ++stats_.reads;
        std::memcpy(frame.data() + proto::kAtaHeaderSize, data_.data() + lba * 512, n * 512);
        reply.sector_count = 0;
        data_bytes = n * 512;
      }
      break;
    }
    case proto::ata_op::kFlushCacheExt:
      if (!options_.flush_ext) {
        ++stats_.flush_ext_aborted;
        reply.cmd_status = proto::kAtaStatusReady | proto::kAtaStatusError;
        reply.err_feature = proto::kAtaErrorAbort;
        break;
      }
      ++stats_.flushes;
      break;
    case proto::ata_op::kFlushCache:
      ++stats_.flushes;
      break;
    case proto::ata_op::kDataSetManagement: {
      const size_t blocks = a->sector_count;
      if (!options_.trim || a->err_feature != proto::kDsmTrim ||
          length < proto::kAtaHeaderSize + blocks * 512) {
        reply.cmd_status = proto::kAtaStatusReady | proto::kAtaStatusError;
        reply.err_feature = proto::kAtaErrorAbort;
        break;
      }
      ConstByteSpan ranges(frame.data() + proto::kAtaHeaderSize, blocks * 512);
      for (size_t i = 0; i < blocks * proto::kDsmRangesPerBlock; ++i) {
        proto::DsmRange r = proto::DecodeDsmRange(ranges, i);
        if (r.sector_count == 0 || r.lba + r.sector_count > options_.sectors) continue;
        std::fill_n(data_.begin() + static_cast<ptrdiff_t>(r.lba * 512), r.sector_count * 512,
                    std::byte{0});
        stats_.trimmed_sectors += r.sector_count;
      }
      ++stats_.trims;
      reply.sector_count = 0;
      break;
    }
    default:
      reply.cmd_status = proto::kAtaStatusReady | proto::kAtaStatusError;
      reply.err_feature = proto::kAtaErrorAbort;
      break;
  }
  proto::EncodeAta(reply, frame);
  return proto::kAtaHeaderSize + data_bytes;
}

size_t FakeTarget::Config(size_t port, std::vector<std::byte>& frame, size_t length) {
  std::optional<proto::ConfigArg> c = proto::DecodeConfig(ConstByteSpan(frame.data(), length));
  if (!c) return 0;
  ++stats_.config;
  std::string request(reinterpret_cast<const char*>(c->string.data()), c->string.size());
  switch (static_cast<proto::ConfigCommand>(c->command)) {
    case proto::ConfigCommand::kRead:
      break;
    case proto::ConfigCommand::kTestExact:
      if (request != config_string_) return 0;
      break;
    case proto::ConfigCommand::kTestPrefix:
      if (config_string_.compare(0, request.size(), request) != 0 ||
          request.size() > config_string_.size()) {
        return 0;
      }
      break;
    case proto::ConfigCommand::kSetIfEmpty:
      if (!config_string_.empty() && config_string_ != request) {
        proto::SetError(frame, proto::AoeError::kConfigStringPresent);
      } else {
        config_string_ = request;
      }
      break;
    case proto::ConfigCommand::kForceSet:
      config_string_ = request;
      break;
    default:
      proto::SetError(frame, proto::AoeError::kBadArgument);
      return length;
  }
  proto::ConfigArg reply;
  reply.buffer_count = options_.buffer_count;
  reply.firmware_version = options_.firmware_version;
  reply.sector_count = MaxSectors(port);
  reply.command = c->command;
  reply.string = ConstByteSpan(reinterpret_cast<const std::byte*>(config_string_.data()),
                               config_string_.size());
  return proto::EncodeConfig(reply, frame);
}

size_t FakeTarget::Mask(std::vector<std::byte>& frame, size_t length) {
  std::optional<proto::MaskArg> m = proto::DecodeMask(ConstByteSpan(frame.data(), length));
  if (!m) return 0;
  if (m->command == static_cast<uint8_t>(proto::MaskCommand::kEdit)) {
    std::vector<proto::MaskDirective> dirs;
    for (size_t i = 0; i < m->available_directives(); ++i) dirs.push_back(m->DirectiveAt(i));
    for (size_t i = 0; i < dirs.size(); ++i) {
      auto it = std::find(mask_.begin(), mask_.end(), dirs[i].mac);
      if (dirs[i].command == static_cast<uint8_t>(proto::DirectiveCommand::kAdd)) {
        if (it == mask_.end()) mask_.push_back(dirs[i].mac);
      } else if (dirs[i].command == static_cast<uint8_t>(proto::DirectiveCommand::kDelete)) {
        if (it != mask_.end()) mask_.erase(it);
      } else if (dirs[i].command != 0) {
        return proto::EncodeMaskFailure(m->command, proto::MaskError::kBadDirective,
                                        static_cast<uint8_t>(i), frame);
      }
    }
  } else if (m->command != static_cast<uint8_t>(proto::MaskCommand::kRead)) {
    proto::SetError(frame, proto::AoeError::kBadArgument);
    return length;
  }
  return proto::EncodeMask(m->command, proto::MaskError::kOk, mask_, frame);
}

size_t FakeTarget::Reserve(std::vector<std::byte>& frame, size_t length, const MacAddress& from) {
  std::optional<proto::ReserveArg> r = proto::DecodeReserve(ConstByteSpan(frame.data(), length));
  if (!r || !r->macs_complete) return 0;
  std::vector<MacAddress> macs;
  for (size_t i = 0; i < r->available_macs(); ++i) macs.push_back(r->MacAt(i));
  switch (static_cast<proto::ReserveCommand>(r->command)) {
    case proto::ReserveCommand::kRead:
      break;
    case proto::ReserveCommand::kSet:
      if (!reserve_.empty() &&
          std::find(reserve_.begin(), reserve_.end(), from) == reserve_.end()) {
        proto::SetError(frame, proto::AoeError::kTargetReserved);
        return proto::EncodeReserve(r->command, reserve_, frame);
      }
      reserve_ = macs;
      break;
    case proto::ReserveCommand::kForceSet:
      reserve_ = macs;
      break;
    default:
      proto::SetError(frame, proto::AoeError::kBadArgument);
      return length;
  }
  return proto::EncodeReserve(r->command, reserve_, frame);
}

}  // namespace aoe::initiator::testing
