#include "target/export.h"

#include <algorithm>

#include "proto/header.h"

namespace aoe::target {

namespace {
constexpr std::string_view kFirmwareRevision = "aoekit01";
}  // namespace

Export::Export(ExportOptions options, std::unique_ptr<BlockBackend> backend, ExportState state,
               std::string_view host_name, ConstByteSpan mbr)
    : options_(std::move(options)),
      name_(options_.name()),
      backend_(std::move(backend)),
      state_(std::move(state)),
      sector_count_(backend_->size_bytes() / proto::kSectorSize),
      model_("aoekit " + name_),
      // Like vblade: "shelf.slot:host", so a disk is recognisable on the initiator.
      serial_(std::to_string(shelf()) + "." + std::to_string(slot()) + ":" +
              std::string(host_name)) {
  BuildIdentify(mbr);
}

bool Export::Addressed(uint16_t shelf, uint8_t slot) const {
  return (shelf == this->shelf() || shelf == proto::kWildcardShelf) &&
         (slot == this->slot() || slot == proto::kWildcardSlot);
}

bool Export::ServesInterface(std::string_view interface_name) const {
  return options_.interfaces.empty() ||
         std::find(options_.interfaces.begin(), options_.interfaces.end(), interface_name) !=
             options_.interfaces.end();
}

void Export::UpdateGeometry(ConstByteSpan mbr) { BuildIdentify(mbr); }

void Export::BuildIdentify(ConstByteSpan mbr) {
  proto::IdentifyInfo info;
  info.sector_count = sector_count_;
  info.model = model_;
  info.serial = serial_;
  info.firmware = kFirmwareRevision;
  info.geometry = proto::GeometryFromMbr(mbr);
  info.write_cache_flush = true;
  proto::BuildIdentifyPage(info, identify_page_);
}

}  // namespace aoe::target
