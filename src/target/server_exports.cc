// ServerImpl's export table (server_impl.h): opening exports at start, on SIGHUP (which also
// adds and drops interfaces) and from the control socket (add, remove, reload), announcing
// them, closing them once their writes are durable, a netboot client's boot applied to the
// overlays, and saving the exports' persistent state (config string, mask list, reservation)
// through the state store and its writer thread.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "proto/header.h"
#include "storage/chain.h"
#include "storage/overlay/overlay_filter.h"
#include "target/export_state.h"
#include "target/options.h"
#include "target/server_impl.h"

namespace aoe::target {

Result<std::vector<OpenedExport>> ServerImpl::OpenExports(
    const std::vector<ExportOptions>& wanted) {
  std::vector<OpenedExport> opened;
  for (const auto& options : wanted) {
    auto e = OpenExport(options);
    if (!e) {
      Discard(opened);
      return Unexpected{e.error().code};
    }
    opened.push_back(std::move(*e));
  }
  return opened;
}

void ServerImpl::AddExports(std::vector<OpenedExport> exports) {
  for (auto& [e, copies] : exports) {
    // An overlay export writes into its clients' overlays, never the image.
    const std::string access =
        e->options().has_overlay()
            ? fmt::format("writes into per-client overlays in {}", e->options().overlay_dir)
        : e->read_only() ? "read-only"
                         : "read-write";
    log_.Info(e->name(), "exporting {} ({} sectors, {}, durability {}{})",
              e->options().backend.ToString(), e->sector_count(), access,
              DurabilityName(e->options().durability),
              e->state().mask.empty() ? "" : fmt::format(", mask of {}", e->state().mask.size()));
    Export& added = *e;
    incarnations_.Serving(added.name());
    target().AddExport(std::move(e));
    OnOtherLoops([&](DataLoop& loop, size_t k) {
      if (copies[k]) loop.target().AddExport(std::move(copies[k]));
    });
    if (options_.announce && serving_) AnnounceEverywhere(added);  // else StartServing's
  }
  UpdateFanout();
  loop_->FlushTx();
}

void ServerImpl::UpdateFanout() {
  if (other_loops_.empty()) return;
  std::vector<FanoutDisk> first;
  for (const auto& e : target().exports()) {
    if (FirstLoopOnly(e->options())) first.push_back({e->shelf(), e->slot()});
  }
  fanout_first_.resize(loop_->port_count());
  for (size_t i = 0; i < loop_->port_count(); ++i) {
    Port* port = loop_->port(i);
    if (port == nullptr || fanout_first_[i] == first) continue;
    if (auto set = port->SetFanoutFirstDisks(first); !set) {
      log_.Error(port->name(),
                 "cannot send the requests of overlay exports on {} to the first event loop: "
                 "{}; initiators the other loops serve get no answer from them",
                 port->name(), set.error().message());
      continue;
    }
    fanout_first_[i] = first;
  }
}

Result<void> ServerImpl::Reconfigure(const ServerOptions& options) {
  if (std::string stuck = LoopNotAnswering(); !stuck.empty()) {
    log_.Error("server", "{}", stuck);
    return Err(std::errc::timed_out);
  }
  // The loops a reload finds are the ones it serves with (a new count waits for a restart), so
  // what they cannot serve is refused by their count, not the file's; checked too as written,
  // so that it would start the server again.
  ServerOptions as_served = options;
  as_served.loops = options_.loops;
  if (std::string bad = ValidateOptions(options); !bad.empty()) {
    log_.Error("server", "{}", bad);
    return Err(std::errc::invalid_argument);
  }
  if (std::string bad = ValidateOptions(as_served); !bad.empty()) {
    log_.Error("server", "{} (this aoe serve runs {} event loop(s) until it is restarted)", bad,
               options_.loops);
    return Err(std::errc::invalid_argument);
  }
  // Every export's file holds its latest state before any export is (re-)opened from it.
  SettleState();
  // Exports that vanished or changed. A changed export with an overlay is closed before it
  // is opened again (its overlay directory has one owner at a time); every other one is
  // opened first, so that a failure changes nothing.
  std::vector<std::string> gone;
  std::vector<ExportOptions> to_open;
  std::vector<ExportOptions> reopened_overlays;  // their previous options, to restore
  for (const auto& e : target().exports()) {
    const ExportOptions* wanted = FindWanted(options, e->name());
    if (wanted == nullptr || !(*wanted == e->options()) || ReopenedOnReload(*wanted)) {
      gone.push_back(e->name());
    }
  }
  for (const auto& wanted : options.exports) {
    Export* current = target().FindExport(wanted.name());
    if (current == nullptr || !(current->options() == wanted) || ReopenedOnReload(wanted)) {
      to_open.push_back(wanted);
    }
  }
  for (const std::string& name : gone) {
    // Closing would wait for the whole image copy, serving nothing meanwhile (the control
    // socket refuses the same).
    if (const Export* e = target().FindExport(name);
        e->overlay() && e->overlay()->commit_running()) {
      log_.Error(name,
                 "a commit is running on it; reload again when it is done (aoe ctl exports "
                 "shows its progress)");
      return Err(std::errc::device_or_resource_busy);
    }
  }
  // OpenExport points each export's state at its new storage (SharedMetadata) before the
  // change is committed; a change that fails puts back what the exports still served use.
  const SharedMetadataMapping previous_metadata = SharedMetadataOf(to_open);
  for (const std::string& name : gone) {
    Export* e = target().FindExport(name);
    if (e->options().has_overlay() && FindWanted(options, name) != nullptr) {
      reopened_overlays.push_back(e->options());
      CloseExport(name, "closing to re-open with new options");
    }
  }
  auto opened = OpenExports(to_open);
  if (!opened) {
    UseSharedMetadata(previous_metadata);
    RestoreExports(reopened_overlays);
    return Unexpected{opened.error()};
  }
  auto ports = OpenPorts(options.interfaces);
  if (!ports) {
    // The new exports let go of their overlay directories before the old ones take them back.
    Discard(*opened);
    UseSharedMetadata(previous_metadata);
    RestoreExports(reopened_overlays);
    return Unexpected{ports.error()};
  }
  // From here to AddExports, exports re-opened are missing on every loop: the other loops wait
  // for them instead of dropping their initiators' frames meanwhile.
  HoldOtherLoops(true);
  for (const auto& name : gone) {
    const Export* current = target().FindExport(name);
    if (current == nullptr) continue;  // closed above
    const ExportOptions* wanted = FindWanted(options, name);
    std::string_view why = "removed";
    if (wanted != nullptr) {
      why = *wanted == current->options()
                ? "re-opening (an rbd: image is opened again at every reload, for its size)"
                : "re-opening with new options";
    }
    auto successor = std::find_if(opened->begin(), opened->end(),
                                  [&](const OpenedExport& e) { return e.owner->name() == name; });
    CloseExport(name, why, successor != opened->end() ? &*successor : nullptr);
    if (wanted == nullptr) store_->UseSharedMetadata(name, nullptr);
  }
  // Interfaces no longer listed stop being served (their slot stays, empty, so port indexes
  // held by in-flight commands remain valid).
  for (size_t i = 0; i < loop_->port_count(); ++i) {
    const Port* port = loop_->port(i);
    if (port == nullptr || std::find(options.interfaces.begin(), options.interfaces.end(),
                                     port->name()) != options.interfaces.end()) {
      continue;
    }
    log_.Info(port->name(), "no longer serving on {}", port->name());
    loop_->DropPort(i);
    OnOtherLoops([i](DataLoop& loop, size_t) { loop.DropPort(i); });
  }
  AdoptPorts(std::move(*ports));
  // What a reload cannot change, by name, with the value in use.
  std::vector<std::string> at_restart;
  if (options.buffer_count != options_.buffer_count) {
    at_restart.push_back(fmt::format("bufcnt ({})", options_.buffer_count));
  }
  if (options.state_dir != options_.state_dir) {
    at_restart.push_back(fmt::format("state_dir ({})", options_.state_dir));
  }
  if (options.packet_io != options_.packet_io) {
    at_restart.push_back(fmt::format("packet_io ({})", PacketIoName(options_.packet_io)));
  }
  if (options.loops != options_.loops) {
    at_restart.push_back(fmt::format("loops ({})", options_.loops));
  }
  if (!at_restart.empty()) {
    log_.Warn("server", "not reloaded, kept until a restart: {}; the rest is reloaded",
              fmt::join(at_restart, ", "));
  }
  bool announce = options.announce;
  options_.interfaces = options.interfaces;
  options_.exports = options.exports;
  options_.announce = announce;
  options_.busy_poll = options.busy_poll;
  loop_->set_busy_poll(options.busy_poll);
  OnOtherLoops([&](DataLoop& loop, size_t) { loop.set_busy_poll(options.busy_poll); });
  AddExports(std::move(*opened));
  HoldOtherLoops(false);
  std::set<std::string> opened_names;
  for (const ExportOptions& e : to_open) opened_names.insert(e.name());
  WarnOfSharedImages(opened_names);
  return {};
}

void ServerImpl::WarnOfSharedImages(const std::set<std::string>& names) {
  for (const std::string& line : SharedWritableImages(options_, names)) {
    log_.Warn("server", "{}", line);
  }
}

std::string ServerImpl::AddExport(const ExportOptions& options) {
  if (std::string stuck = LoopNotAnswering(); !stuck.empty()) return stuck;
  if (target().FindExport(options.name()) != nullptr) {
    return fmt::format("export {} exists already; remove it first or reload it", options.name());
  }
  // No save of this name can be pending: CloseExport settled or gave up the state of any
  // export of that name before it left the table.
  ServerOptions next = options_;
  next.exports.push_back(options);
  if (std::string bad = ValidateOptions(next); !bad.empty()) return bad;
  auto opened = OpenExport(options);
  if (!opened) return OpenError(options, opened.error());
  options_.exports.push_back(options);
  AddExports({std::move(*opened)});
  WarnOfSharedImages({options.name()});
  return {};
}

std::string ServerImpl::RemoveExport(std::string_view name) {
  if (target().FindExport(name) == nullptr) return fmt::format("no export {}", name);
  if (std::string stuck = LoopNotAnswering(); !stuck.empty()) return stuck;
  CloseExport(std::string(name), "removed");
  store_->UseSharedMetadata(std::string(name), nullptr);
  std::erase_if(options_.exports, [&](const ExportOptions& e) { return e.name() == name; });
  return {};
}

std::string ServerImpl::ReloadExport(const ExportOptions& options) {
  Export* current = target().FindExport(options.name());
  if (current == nullptr) return fmt::format("no export {}", options.name());
  if (std::string stuck = LoopNotAnswering(); !stuck.empty()) return stuck;
  SettleState();  // the export is opened again from its state file
  ServerOptions next = options_;
  for (ExportOptions& e : next.exports)
    if (e.name() == options.name()) e = options;
  if (std::string bad = ValidateOptions(next); !bad.empty()) return bad;
  const ExportOptions previous = current->options();
  const SharedMetadataMapping previous_metadata = SharedMetadataOf({options});
  const bool close_first = previous.has_overlay();
  if (close_first) CloseExport(options.name(), "closing to reload");
  auto opened = OpenExport(options);
  if (!opened) {
    UseSharedMetadata(previous_metadata);
    if (close_first) RestoreExports({previous});
    return OpenError(options, opened.error());
  }
  HoldOtherLoops(true);  // until the new copies are in (Reconfigure says why)
  if (!close_first) CloseExport(options.name(), "reloading", &*opened);
  options_.exports = next.exports;
  AddExports({std::move(*opened)});
  HoldOtherLoops(false);
  WarnOfSharedImages({options.name()});
  return {};
}

std::vector<Server::BootOutcome> ServerImpl::ClientBooted(const MacAddress& mac) {
  std::vector<BootOutcome> outcomes;
  for (const auto& e : target().exports()) {
    overlay::OverlayFilter* overlay = e->overlay();
    if (overlay == nullptr) continue;
    BootOutcome& outcome = outcomes.emplace_back();
    outcome.export_name = e->name();
    outcome.reads_version = overlay->current_version();
    if (std::optional<overlay::ClientInfo> client = overlay->Client(mac)) {
      outcome.was_based_on = client->base_version;
    }
    const std::string& name = outcome.export_name;
    outcome.action = overlay->BootSeen(mac, [this, name, mac](Result<void> done) {
      if (!done) {
        log_.Error(name, "dropping the overlay of {} failed: {}", mac.ToString(),
                   done.error().message());
      }
    });
    switch (outcome.action) {
      case overlay::BootAction::kNone:
        break;
      case overlay::BootAction::kDiscarded:
        log_.Info(name, "{} boots: overlay discarded (lifetime discard-on-boot)", mac.ToString());
        break;
      case overlay::BootAction::kMoved:
        // Not "older": after a rollback the current version is the older one.
        log_.Info(name,
                  "{} boots: its overlay was based on version {}, not the current one; dropped, "
                  "it now reads version {}",
                  mac.ToString(), outcome.was_based_on, outcome.reads_version);
        break;
    }
  }
  return outcomes;
}

const ExportOptions* ServerImpl::FindWanted(const ServerOptions& options, std::string_view name) {
  for (const auto& e : options.exports)
    if (e.name() == name) return &e;
  return nullptr;
}

std::string ServerImpl::OpenError(const ExportOptions& options, const OpenFailure& failure) const {
  return fmt::format("cannot open export {}: {}: {}", options.name(), failure.what,
                     failure.code.message());
}

void ServerImpl::CloseExport(const std::string& name, std::string_view why,
                             OpenedExport* successor) {
  SettleState();
  std::shared_ptr<Export> removed = target().RemoveExport(name);
  if (!removed) return;
  // Every loop stops serving it first; then each waits for the commands it has in flight on it
  // (bounded, one deadline for all: storage that hangs holds the server 10 s, not 10 s a loop)
  // and makes its writes durable.
  std::vector<std::shared_ptr<Export>> copies(other_loops_.size());
  OnOtherLoops([&](DataLoop& loop, size_t k) { copies[k] = loop.target().RemoveExport(name); });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool flushed = true;  // every loop's commands done and its writes durable
  auto close = [&](DataLoop& loop, std::shared_ptr<Export>& e) {
    if (!e) return;
    loop.RunStorageUntil(
        [&] { return e.use_count() == 1 || std::chrono::steady_clock::now() > give_up; });
    // A command still in flight may yet acknowledge a write that this flush does not cover.
    if (e.use_count() != 1) flushed = false;
    if (!FlushExport(loop, *e)) flushed = false;
    e.reset();  // on the loop that opened it
  };
  OnOtherLoops([&](DataLoop& loop, size_t k) { close(loop, copies[k]); });
  AbandonUnsavedState(*removed);
  close(*loop_, removed);
  if (!flushed) {
    incarnations_.Lost(name);
    // Opened under the incarnation initiators hold for the writes just lost.
    if (successor && successor->owner->incarnation() != 0) {
      const uint64_t next = incarnations_.PickAfterLoss(
          name, successor->owner->backend().capabilities().unflushed_writes,
          successor->owner->incarnation());
      successor->owner->Renumber(next);
      for (const std::shared_ptr<Export>& copy : successor->copies) {
        if (copy) copy->Renumber(next);
      }
    }
  }
  UpdateFanout();
  log_.Info(name, "{}", why);
}

void ServerImpl::Discard(OpenedExport& e) {
  OnOtherLoops([&](DataLoop&, size_t k) {
    if (k < e.copies.size()) e.copies[k].reset();
  });
  if (e.owner) incarnations_.NeverServed(e.owner->name());
  e.owner.reset();
}

void ServerImpl::Discard(std::vector<OpenedExport>& exports) {
  for (OpenedExport& e : exports) Discard(e);
  exports.clear();
}

ServerImpl::SharedMetadataMapping ServerImpl::SharedMetadataOf(
    const std::vector<ExportOptions>& exports) const {
  SharedMetadataMapping mapping;
  for (const ExportOptions& e : exports) {
    mapping.emplace_back(e.name(), store_->SharedMetadataOf(e.name()));
  }
  return mapping;
}

void ServerImpl::UseSharedMetadata(const SharedMetadataMapping& mapping) {
  for (const auto& [name, metadata] : mapping) store_->UseSharedMetadata(name, metadata);
}

void ServerImpl::RestoreExports(const std::vector<ExportOptions>& previous) {
  for (const ExportOptions& options : previous) {
    auto e = OpenExport(options);
    if (!e) {
      log_.Error(options.name(),
                 "could not be re-opened with its previous options; it is "
                 "not served until the next successful reload");
      continue;
    }
    AddExports({std::move(*e)});
  }
}

Expected<StorageChain, OpenFailure> ServerImpl::OpenChain(DataLoop& loop,
                                                          const ExportOptions& options,
                                                          BlockBackend* owner_base) {
  StorageServices& services = loop.services();
  return BuildStorageChain(
      options.Storage(),
      [&](const BackendSpec& spec, const BaseOptions& base) -> Result<OpenedBackend> {
        if (owner_base != nullptr) {
          if (auto shared = owner_base->ShareWithThread(services)) {
            return OpenedBackend{
                .backend = std::move(shared), .warnings = {}, .shared_metadata = nullptr};
          }
        }
        return env_.open_base(services, spec, base);
      },
      &services.engine);
}

Expected<OpenedExport, OpenFailure> ServerImpl::OpenExport(const ExportOptions& options) {
  const std::string name = options.name();
  auto storage = OpenChain(*loop_, options);
  if (!storage) {
    log_.Error(name, "cannot open {}: {}", storage.error().what, storage.error().code.message());
    return storage.error();
  }
  for (const auto& warning : storage->warnings) log_.Warn(name, "{}", warning);

  // State of storage other hosts serve too lives with that storage (an RBD image's metadata).
  store_->UseSharedMetadata(name, storage->shared_metadata);
  auto loaded = store_->Load(name);
  if (!loaded) {
    log_.Error(name, "cannot read state file {}: {}; fix or delete it", store_->Location(name),
               loaded.error().message());
    return OpenFailure{loaded.error(), fmt::format("state file {}", store_->Location(name))};
  }
  ExportState state = loaded->value_or(ExportState{});
  // A new export, or the configuration's mask list changed since it was last applied: saved
  // below, once the export is open on every loop (a failure changes nothing).
  const bool save_mask = !loaded->has_value() || state.configured_mask != options.mask;
  if (save_mask) {
    state.mask = options.mask;
    state.configured_mask = options.mask;
  }

  // The first sector gives IDENTIFY's CHS geometry (from the partition table, if any).
  std::vector<std::byte> mbr;
  if (storage->backend->size_bytes() >= proto::kSectorSize) {
    auto* sector = static_cast<std::byte*>(std::aligned_alloc(4096, 4096));
    BlockingIo io;
    storage->backend->Read(IoContext{}, 0, ByteSpan(sector, proto::kSectorSize), &io);
    loop_->RunStorageUntil([&] { return io.result.has_value(); });
    if (io.result == static_cast<int64_t>(proto::kSectorSize)) {
      mbr.assign(sector, sector + proto::kSectorSize);
    }
    std::free(sector);
  }
  // Recorded before the export can acknowledge a write under it; none where no write can be
  // acknowledged before it is durable.
  const uint64_t incarnation =
      options.durability == Durability::kSync || storage->backend->read_only()
          ? 0
          : incarnations_.Pick(name, storage->backend->capabilities().unflushed_writes);
  OpenedExport opened;
  opened.owner = std::make_shared<Export>(options, std::move(storage->backend), std::move(state),
                                          env_.host_name, mbr, incarnation, storage->overlay);
  std::optional<OpenFailure> failed;
  if (FirstLoopOnly(options)) {
    opened.copies.resize(other_loops_.size());  // none: loop 0 alone serves it
  } else {
    OnOtherLoops([&](DataLoop& loop, size_t) {
      if (failed) return;
      auto copy = OpenCopy(loop, *opened.owner, *storage->base);
      if (copy) {
        opened.copies.push_back(std::move(*copy));
      } else {
        failed = copy.error();
      }
    });
  }
  if (!failed && save_mask) {
    if (loaded->has_value()) log_.Info(name, "mask list replaced by the configuration");
    if (auto saved = store_->SaveNow(name, opened.owner->state()); !saved) {
      log_.Error(name, "cannot write state file {}: {}; check --state-dir", store_->Location(name),
                 saved.error().message());
      failed = OpenFailure{saved.error(), fmt::format("state file {}", store_->Location(name))};
    }
  }
  if (failed) {
    Discard(opened);
    return *failed;
  }
  return opened;
}

Expected<std::shared_ptr<Export>, OpenFailure> ServerImpl::OpenCopy(DataLoop& loop,
                                                                    const Export& owner,
                                                                    BlockBackend& owner_base) {
  auto storage = OpenChain(loop, owner.options(), &owner_base);
  if (!storage) {
    log_.Error(owner.name(), "cannot open {} for another event loop: {}", storage.error().what,
               storage.error().code.message());
    return storage.error();
  }
  if (storage->backend->size_bytes() / proto::kSectorSize != owner.sector_count()) {
    // Resized between the two opens: the loops would serve two sizes of one disk.
    log_.Error(owner.name(), "changed size while being opened; open it again");
    return OpenFailure{std::make_error_code(std::errc::device_or_resource_busy),
                       owner.options().backend.ToString()};
  }
  return Export::CopyForLoop(owner, std::move(storage->backend), storage->overlay);
}

void ServerImpl::AnnounceEverywhere(Export& e) {
  for (size_t i = 0; i < loop_->port_count(); ++i) {
    const Port* port = loop_->port(i);
    if (port && port->link_up() && e.ServesInterface(port->name())) target().Announce(e, i);
  }
}

void ServerImpl::StartServing() {
  if (serving_) return;
  serving_ = true;
  state_writer_ = std::thread([store = store_.get()] { store->RunWriter(); });
  for (size_t k = 0; k < other_loops_.size(); ++k) {
    if (auto started = other_loops_[k]->Start(); !started) {
      // Its initiators would go unanswered: stop, and say why.
      log_.Error("server", "cannot start event loop {}: {}; stopping (try fewer --loops)", k + 1,
                 started.error().message());
      failure_ = started.error();
      stop_ = true;
      return;
    }
  }
  if (!options_.announce) return;
  for (const auto& e : target().exports()) AnnounceEverywhere(*e);
  loop_->FlushTx();
}

void ServerImpl::RefreshSharedState() {
  for (const auto& e : target().exports()) {
    const std::string& name = e->name();
    if (!store_->Shared(name) || refreshing_.contains(name)) continue;
    refreshing_.emplace(name, e);
    store_->Refresh(name);
  }
}

void ServerImpl::OnStateSaved() {
  store_->TakeCompleted(saved_);
  for (const StateStore::Saved& saved : saved_) {
    if (saved.refresh) {
      auto asked = refreshing_.find(saved.export_name);
      const bool same_export = asked != refreshing_.end() &&
                               asked->second.lock().get() == target().FindExport(saved.export_name);
      if (asked != refreshing_.end()) refreshing_.erase(asked);
      // Read before the export was re-opened (a reload): the state from before the reload,
      // not to be put over the export opened since. The next refresh reads it anew.
      if (!same_export) continue;
    }
    target().StateSaved(saved);
  }
  saved_.clear();
  loop_->FlushTx();
}

void ServerImpl::SettleState() {
  while (target().saving()) {
    store_->WaitIdle();
    OnStateSaved();
  }
}

void ServerImpl::AbandonUnsavedState(const Export& e) {
  if (size_t dropped = target().AbandonUnsavedState(e); dropped > 0) {
    log_.Warn(e.name(),
              "{} replies to config, mask or reserve changes dropped unsent: the "
              "state they acknowledge could not be saved to {}",
              dropped, store_->Location(e.name()));
  }
}

bool ServerImpl::FlushExport(DataLoop& loop, Export& e) {
  BlockingIo io;
  e.backend().Flush(IoContext{}, &io);
  loop.RunStorageUntil([&] { return io.result.has_value(); });
  if (*io.result < 0) {
    log_.Error(e.name(), "flush failed: {}",
               std::system_category().message(static_cast<int>(-*io.result)));
    return false;
  }
  return true;
}

}  // namespace aoe::target
