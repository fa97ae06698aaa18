#include "target/export.h"

#include <algorithm>
#include <atomic>
#include <cassert>

#include "proto/header.h"

namespace aoe::target {

namespace {
constexpr std::string_view kFirmwareRevision = "aoekit01";
}  // namespace

Export::Export(ExportOptions options, std::unique_ptr<BlockBackend> backend, ExportState state,
               std::string_view host_name, ConstByteSpan mbr, uint64_t incarnation,
               overlay::OverlayFilter* overlay)
    : options_(std::move(options)),
      name_(options_.name()),
      backend_(std::move(backend)),
      overlay_(overlay),
      state_(std::move(state)),
      published_(std::make_shared<PublishedState>(state_)),
      published_view_(published_),
      flushing_(std::make_shared<FlushingInitiators>()),
      sector_count_(backend_->size_bytes() / proto::kSectorSize),
      model_("aoekit " + name_),
      // Like vblade: "shelf.slot:host", so a disk is recognisable on the initiator.
      serial_(std::to_string(shelf()) + "." + std::to_string(slot()) + ":" +
              std::string(host_name)),
      geometry_(std::make_shared<std::atomic<proto::ChsGeometry>>(proto::GeometryFromMbr(mbr))),
      incarnation_(incarnation) {
  BuildIdentify(geometry_->load(std::memory_order_relaxed));
}

Export::Export(const Export& owner, std::unique_ptr<BlockBackend> backend,
               overlay::OverlayFilter* overlay)
    : options_(owner.options_),
      name_(owner.name_),
      backend_(std::move(backend)),
      overlay_(overlay),
      owns_state_(false),
      published_(owner.published_),
      published_view_(published_),
      flushing_(owner.flushing_.shared()),
      sector_count_(backend_->size_bytes() / proto::kSectorSize),
      model_(owner.model_),
      serial_(owner.serial_),
      geometry_(owner.geometry_),
      page_geometry_(owner.page_geometry_),
      incarnation_(owner.incarnation_),
      identify_page_(owner.identify_page_) {
  // The same disk: the owner's IDENTIFY page (its size, its geometry) holds for this chain, and
  // only an overlay export's copy has overlays (UpdateGeometry keeps their pages apart).
  assert(sector_count_ == owner.sector_count_);
  assert((overlay_ == nullptr) == (owner.overlay_ == nullptr));
}

std::shared_ptr<Export> Export::CopyForLoop(const Export& owner,
                                            std::unique_ptr<BlockBackend> backend,
                                            overlay::OverlayFilter* overlay) {
  return std::shared_ptr<Export>(new Export(owner, std::move(backend), overlay));
}

bool Export::MaskAllows(const MacAddress& host) const { return CheckedState().MaskAllows(host); }

bool Export::ReservationAllows(const MacAddress& host) const {
  return CheckedState().ReservationAllows(host);
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

void Export::UpdateGeometry(ConstByteSpan mbr) {
  if (overlay_ != nullptr) return;
  // Relaxed: the value stands alone, and a loop that reads the old one a moment longer answers
  // as if the IDENTIFY had come just before the write.
  geometry_->store(proto::GeometryFromMbr(mbr), std::memory_order_relaxed);
}

void Export::Renumber(uint64_t incarnation) {
  incarnation_ = incarnation;
  BuildIdentify(page_geometry_);
}

ConstByteSpan Export::identify_page() {
  const proto::ChsGeometry latest = geometry_->load(std::memory_order_relaxed);
  if (latest != page_geometry_) BuildIdentify(latest);
  return identify_page_;
}

IoContext Export::ContextFor(const MacAddress& initiator) const {
  IoContext context{.initiator = initiator};
  const bool durable = options_.durability == Durability::kSync ||
                       (options_.durability == Durability::kAuto && !flushing_.Contains(initiator));
  if (durable) context.flags |= IoContext::kDurable;
  return context;
}

void Export::FlushSeen(const MacAddress& initiator) {
  if (options_.durability != Durability::kAuto) return;
  if (!flushing_.Contains(initiator)) flushing_.shared()->Add(initiator);
}

void Export::IdentifySeen(const MacAddress& initiator) {
  if (flushing_.Contains(initiator)) flushing_.shared()->Remove(initiator);
}

void Export::BuildIdentify(proto::ChsGeometry geometry) {
  page_geometry_ = geometry;
  proto::IdentifyInfo info;
  info.sector_count = sector_count_;
  info.model = model_;
  info.serial = serial_;
  info.firmware = kFirmwareRevision;
  info.geometry = geometry;
  // Under sync every write is durable when acknowledged: there is no volatile cache to report.
  // Under auto an initiator that flushes gets the cache, one that does not never sees it.
  info.volatile_write_cache = options_.durability != Durability::kSync;
  const BackendCapabilities can = backend_->capabilities();
  info.trim = can.can_trim;
  info.trim_reads_zeroes = can.can_trim && can.trim_reads_zeroes;
  info.write_protected = backend_->read_only();
  // No incarnation where nothing acknowledged can be lost: initiators then do not check.
  info.incarnation = info.volatile_write_cache ? incarnation_ : uint64_t{0};
  proto::BuildIdentifyPage(info, identify_page_);
}

}  // namespace aoe::target
