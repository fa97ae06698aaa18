// Export: one served disk (shelf.slot): its options, storage chain, IDENTIFY page and persistent
// state (config string, mask list, reservation) with the versions that say how much of that
// state is durable (SaveCoalescer; the Target saves it through a StateStore).
//
// Shared (std::shared_ptr) between the target's export table and the commands in flight on it,
// so removing an export on reload never frees storage under a running I/O. Single-threaded.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "proto/identify.h"
#include "storage/block_backend.h"
#include "target/export_state.h"
#include "target/options.h"
#include "target/save_coalescer.h"

namespace aoe::target {

// Firmware version advertised in Query Config replies (major << 8 | minor).
inline constexpr uint16_t kFirmwareVersion = 0x0001;

class Export {
 public:
  // `mbr`: the first sector of the export (may be empty) for the IDENTIFY geometry.
  // `state`: as loaded at start, hence durable.
  Export(ExportOptions options, std::unique_ptr<BlockBackend> backend, ExportState state,
         std::string_view host_name, ConstByteSpan mbr);

  const ExportOptions& options() const { return options_; }
  const std::string& name() const { return name_; }
  const proto::DiskAddress& address() const { return options_.address; }
  uint16_t shelf() const { return options_.address.shelf; }
  uint8_t slot() const { return options_.address.slot; }
  bool read_only() const { return backend_->read_only(); }
  uint64_t sector_count() const { return sector_count_; }
  BlockBackend& backend() { return *backend_; }

  // Whether a frame addressed to (shelf, slot) is for this export; wildcards match.
  bool Addressed(uint16_t shelf, uint8_t slot) const;
  // Whether this export answers on the named interface.
  bool ServesInterface(std::string_view interface_name) const;

  ConstByteSpan identify_page() const { return identify_page_; }
  // Re-derives the CHS geometry after sector 0 (the partition table) was written.
  void UpdateGeometry(ConstByteSpan mbr);

  ExportState& state() { return state_; }
  const ExportState& state() const { return state_; }
  SaveCoalescer& saves() { return saves_; }
  const SaveCoalescer& saves() const { return saves_; }

 private:
  void BuildIdentify(ConstByteSpan mbr);

  ExportOptions options_;
  std::string name_;
  std::unique_ptr<BlockBackend> backend_;
  ExportState state_;
  SaveCoalescer saves_;
  uint64_t sector_count_;
  std::string model_;
  std::string serial_;
  std::array<std::byte, proto::kIdentifyPageSize> identify_page_{};
};

}  // namespace aoe::target
