// Target's config, mask and reserve commands (target.h), and what makes their changes durable
// before they are acknowledged: the per-source rate limits, the saves through the StateStore
// (coalesced per export), and the replies held until their save is done.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "proto/config.h"
#include "proto/header.h"
#include "proto/mask.h"
#include "target/target.h"

namespace aoe::target {

using proto::AoeError;

namespace {

// vblade holds 32 mask entries; we allow more, still small enough for any reply frame.
constexpr size_t kMaxMaskEntries = 64;

}  // namespace

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
  // Reports are already at most one per source per interval, but forged source addresses
  // multiply them: per export and kind, a burst of them is logged, then counted.
  if (decision.report_dropped > 0 &&
      log_limit_.Admit(LogLevel::kWarn, e.name(),
                       change ? "config/mask/reserve changes rate-limited"
                              : "config/mask/reserve reads rate-limited")) {
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
  e.PublishState();
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
  e->PublishState();
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

}  // namespace aoe::target
