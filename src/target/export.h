// Export: one served disk (shelf.slot): its options, storage chain, IDENTIFY page, persistent
// state (config string, mask list, reservation) with the versions that say how much of that
// state is durable (SaveCoalescer; the Target saves it through a StateStore), the initiators
// seen, and which of them flush their writes.
//
// Shared (std::shared_ptr) between the target's export table and the commands in flight on it,
// so removing an export on reload never frees storage under a running I/O.
//
// Several event loops (docs/architecture.md, "More cores") each serve their own Export of one
// disk: its own storage chain, initiators and durability tracking. One of them owns the
// persistent state and publishes every change (PublishedState); the copies made for the other
// loops (CopyForLoop) check masks and reservations against what it published last, and drop
// every command but ATA.
//
// Single-threaded, except that a copy reads what its owner publishes from another thread.
#pragma once

#include <array>
#include <atomic>
#include <cassert>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "proto/identify.h"
#include "storage/block_backend.h"
#include "storage/overlay/overlay_filter.h"
#include "target/client_table.h"
#include "target/export_state.h"
#include "target/flushing_initiators.h"
#include "target/options.h"
#include "target/published_state.h"
#include "target/save_coalescer.h"

namespace aoe::target {

// Firmware version advertised in Query Config replies (major << 8 | minor).
inline constexpr uint16_t kFirmwareVersion = 0x0001;

class Export {
 public:
  // `mbr`: the first sector of the export (may be empty) for the IDENTIFY geometry.
  // `state`: as loaded at start, hence durable.
  // `incarnation`: what IDENTIFY reports (IncarnationBook::Pick, target/incarnation.h; 0 for
  // none). Left out of the page under durability=sync, where nothing can be lost.
  // `overlay`: the chain's overlay layer (owned by `backend`), or null.
  Export(ExportOptions options, std::unique_ptr<BlockBackend> backend, ExportState state,
         std::string_view host_name, ConstByteSpan mbr, uint64_t incarnation,
         overlay::OverlayFilter* overlay = nullptr);

  // The same disk for another event loop, served from `backend` (that loop's own chain on the
  // same storage, of the same size) with `owner`'s IDENTIFY page. It owns no state: it reads
  // what `owner` publishes, and its loop drops every command but ATA (the fanout selector sends
  // those to the owner's loop). It follows this owner only: an export re-opened on reload is a
  // new owner, and its copies must be made again from it.
  static std::shared_ptr<Export> CopyForLoop(const Export& owner,
                                             std::unique_ptr<BlockBackend> backend,
                                             overlay::OverlayFilter* overlay = nullptr);

  const ExportOptions& options() const { return options_; }
  const std::string& name() const { return name_; }
  const proto::DiskAddress& address() const { return options_.address; }
  uint16_t shelf() const { return options_.address.shelf; }
  uint8_t slot() const { return options_.address.slot; }
  bool read_only() const { return backend_->read_only(); }
  uint64_t sector_count() const { return sector_count_; }
  uint64_t incarnation() const { return incarnation_; }
  // Another incarnation, before the export serves (its predecessor lost writes at a reload).
  void Renumber(uint64_t incarnation);
  BlockBackend& backend() { return *backend_; }
  // The per-client overlays of an `overlay=` export; null for other exports.
  overlay::OverlayFilter* overlay() { return overlay_; }
  const overlay::OverlayFilter* overlay() const { return overlay_; }
  // The initiators seen (for the control socket).
  ClientTable& clients() { return clients_; }
  const ClientTable& clients() const { return clients_; }

  // Whether a frame addressed to (shelf, slot) is for this export; wildcards match.
  bool Addressed(uint16_t shelf, uint8_t slot) const;
  // Whether this export answers on the named interface.
  bool ServesInterface(std::string_view interface_name) const;

  // What IDENTIFY DEVICE answers: built again first if another loop has since seen a new
  // partition table written (UpdateGeometry).
  ConstByteSpan identify_page();

  // The context of a request from `initiator`: marked durable when its writes must be
  // durable before they are acknowledged (durability=sync, or auto for an initiator that has
  // not sent FLUSH since its last IDENTIFY).
  IoContext ContextFor(const MacAddress& initiator) const;
  // durability=auto learns from these: an initiator that sends FLUSH looks after its own
  // durability; an IDENTIFY starts over, because a different program may now run on that MAC
  // (iPXE, which flushes, hands the disk to Linux, which never does).
  void FlushSeen(const MacAddress& initiator);
  void IdentifySeen(const MacAddress& initiator);
  // Re-derives the CHS geometry after sector 0 (the partition table) was written, for this loop
  // and the owner's other loops (their next IDENTIFY). Not for an overlay export: one client's
  // partition table is not everyone's.
  void UpdateGeometry(ConstByteSpan mbr);

  // Whether this export's state (config string, mask, reservation) is changed here, by config,
  // mask and reserve commands, rather than read from what the owner published (a copy).
  bool owns_state() const { return owns_state_; }
  // The checks every command makes, against the state as this loop sees it: its own, or on a
  // copy, the one published last.
  bool MaskAllows(const MacAddress& host) const;
  bool ReservationAllows(const MacAddress& host) const;

  // The state, its saves and its publication: the owner's only (owns_state()). A copy's state_
  // is empty; publishing it would clear every loop's mask and reservation.
  ExportState& state() {
    assert(owns_state_);
    return state_;
  }
  const ExportState& state() const {
    assert(owns_state_);
    return state_;
  }
  SaveCoalescer& saves() {
    assert(owns_state_);
    return saves_;
  }
  const SaveCoalescer& saves() const {
    assert(owns_state_);
    return saves_;
  }
  // Makes the current state what the copies see; after every change, before the reply that
  // acknowledges it is sent.
  void PublishState() {
    assert(owns_state_);
    published_->Publish(state_);
  }

 private:
  Export(const Export& owner, std::unique_ptr<BlockBackend> backend,
         overlay::OverlayFilter* overlay);
  void BuildIdentify(proto::ChsGeometry geometry);
  // The state the checks read: the owner's own, or a copy's view of what the owner published.
  const ExportState& CheckedState() const {
    return owns_state_ ? state_ : published_view_.Current();
  }

  ExportOptions options_;
  std::string name_;
  std::unique_ptr<BlockBackend> backend_;
  overlay::OverlayFilter* overlay_;
  ClientTable clients_;
  ExportState state_;  // the owner's; empty on a copy
  SaveCoalescer saves_;
  bool owns_state_ = true;
  std::shared_ptr<PublishedState> published_;  // shared by the owner and its copies
  // A copy's reader of published_ (unused on the owner). Mutable: it caches the snapshot last
  // read, for this export's own loop only.
  mutable PublishedState::View published_view_;
  // Initiators whose writes take the cached path under durability=auto: one set for the owner
  // and its copies, read through this loop's view. Mutable: the view caches its snapshot.
  mutable FlushingInitiators::View flushing_;
  uint64_t sector_count_;
  std::string model_;
  std::string serial_;
  // The geometry of the partition table written last, as any loop saw it: shared by the owner
  // and its copies (a write to sector 0 may reach any loop, an IDENTIFY any other).
  std::shared_ptr<std::atomic<proto::ChsGeometry>> geometry_;
  proto::ChsGeometry page_geometry_;  // the one identify_page_ was built with
  uint64_t incarnation_ = 0;
  std::array<std::byte, proto::kIdentifyPageSize> identify_page_{};
};

}  // namespace aoe::target
