// Disk::CheckForRestarts (disk.h): did the target that acknowledged a writer's writes also
// answer its FLUSH with them still in its cache? aoe serve puts an incarnation in its IDENTIFY
// page (proto::IdentifyInfo::incarnation; target/incarnation.h), which changes when writes it
// acknowledged from a cache and had not flushed may have been lost. A MAC whose incarnation
// after the FLUSH is the one it had before the writes kept them all along, so the FLUSH covered
// them. Only MACs that acknowledged a write or trim since the last check are asked: one that
// carried nothing lost nothing (a dead host of two serving one image, say).
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "base/log.h"
#include "initiator/disk.h"
#include "initiator/initiator.h"

namespace aoe::initiator {

namespace {

// What the IDENTIFYs of one MAC's paths said.
struct MacCheck {
  MacAddress mac;
  DiskIdentity before;  // its identity at the last check (with the incarnation then)
  size_t asking = 0;    // its paths whose IDENTIFY is still out
  bool same = false;    // a path answered with the incarnation it had
  bool other = false;   // a path answered with another incarnation: a restart
  // Reported whatever its paths say: writes were acknowledged on it while the last check, which
  // found a restart, was out, perhaps by the process that had died (Path::restart_owed).
  bool owed = false;
  std::optional<uint64_t> incarnation{};  // the new one
};

bool Restarted(const MacCheck& m) { return m.other || m.owed; }

std::vector<MacCheck>::iterator FindMac(std::vector<MacCheck>& macs, const MacAddress& mac) {
  return std::find_if(macs.begin(), macs.end(), [&](const MacCheck& m) { return m.mac == mac; });
}

// A path that answered after the FLUSH with the incarnation it had before the writes: the
// process that held them answered the FLUSH, so they are durable, whatever its other paths
// (a dead link) say or do not say.
bool Kept(const MacCheck& m) { return m.same && !Restarted(m); }

// Silent, but another MAC of the same target (same serial: aoe serve and vblade put their host
// in it) answered with the incarnation this one had: the FLUSH went to the process that held
// these writes, over another link.
bool Vouched(const MacCheck& m, const std::vector<MacCheck>& all) {
  return !Restarted(m) && std::any_of(all.begin(), all.end(), [&](const MacCheck& o) {
    return Kept(o) && o.before.serial == m.before.serial &&
           o.before.incarnation == m.before.incarnation;
  });
}

}  // namespace

struct Disk::RestartCheckState {
  std::vector<MacCheck> macs;
  // Its IDENTIFYs still out, by path: cancelled when it ends (a dead link's would be resent
  // until the dead-target timeout, and reach aoe serve after our FLUSH as a new session).
  std::vector<std::pair<uint32_t, ExchangeHandle>> exchanges;
  bool finished = false;  // reported: later answers are ignored
  std::function<void(Outcome<RestartCheck>)> done;
};

void Disk::CheckForRestarts(std::function<void(Outcome<RestartCheck>)> done) {
  auto check = std::make_shared<RestartCheckState>();
  check->done = std::move(done);
  // A path whose target reports no incarnation cannot tell (vblade), or has nothing to lose
  // (aoe serve with durable acknowledgements): it is not asked.
  auto tells = [](const Path& p) { return p.identity && p.identity->incarnation.has_value(); };
  // From now on: a write acknowledged while the IDENTIFYs are out counts for the next check.
  for (Path& p : paths_) {
    if (!Usable(p) || !tells(p)) continue;
    if (p.writes_acked == p.writes_acked_at_check && !p.restart_owed) continue;
    p.writes_acked_at_check = p.writes_acked;
    auto m = FindMac(check->macs, p.target_mac);
    if (m == check->macs.end()) {
      m = check->macs.insert(check->macs.end(),
                             MacCheck{.mac = p.target_mac, .before = *p.identity});
    }
    m->owed = m->owed || p.restart_owed;
    p.restart_owed = false;
  }
  // Each path of such a MAC is asked (one of them may have lost its link).
  std::vector<uint32_t> ask;
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    auto m = FindMac(check->macs, paths_[i].target_mac);
    if (Usable(paths_[i]) && tells(paths_[i]) && m != check->macs.end()) {
      ask.push_back(i);
      ++m->asking;
    }
  }
  if (ask.empty()) {
    owner_.Defer([check] { check->done(RestartCheck{}); });
    return;
  }
  restart_checks_.push_back(check);
  // As long as a request waits for a silent target: a target killed just after its FLUSH
  // reply and started again at once (the same incarnation, its page cache intact) lost
  // nothing, and must not fail the fsync.
  const Duration dead = owner_.options_.dead_timeout;
  const Duration timeout = dead > Duration::zero() ? dead : kCheckWaitsForEver;
  for (uint32_t i : ask) {
    std::optional<ExchangeHandle> sent =
        SendPathIdentify(i, timeout, [this, check, i](std::optional<DiskIdentity> id) {
          if (check->finished) return;
          std::erase_if(check->exchanges, [i](const auto& e) { return e.first == i; });
          Path& p = paths_[i];
          auto m = FindMac(check->macs, p.target_mac);
          --m->asking;
          if (id) {
            if (p.identity->incarnation == id->incarnation) {
              m->same = true;
            } else {
              m->other = true;
              m->incarnation = id->incarnation;
            }
          }
          // Done once each MAC has answered on every path, or is known to have kept its writes
          // (by its own answer or another MAC's): a dead link does not hold up the fsync.
          const bool settled =
              std::all_of(check->macs.begin(), check->macs.end(), [&](const MacCheck& c) {
                return c.asking == 0 || Kept(c) || Vouched(c, check->macs);
              });
          if (settled) FinishRestartCheck(*check);
        });
    if (!sent) continue;
    if (check->finished) {
      owner_.CancelExchange(*sent);  // ended by a completion this send ran (Abort)
    } else {
      check->exchanges.emplace_back(i, *sent);
    }
  }
}

void Disk::EndRestartCheck(RestartCheckState& check) {
  check.finished = true;
  for (const auto& [path, exchange] : check.exchanges) owner_.CancelExchange(exchange);
  check.exchanges.clear();
}

void Disk::FinishRestartCheck(RestartCheckState& check) {
  EndRestartCheck(check);
  std::erase_if(restart_checks_, [&](const auto& c) { return c.get() == &check; });
  RestartCheck result{.restarts = {}, .asked = true};
  for (const MacCheck& c : check.macs) {
    if (Kept(c) || Vouched(c, check.macs)) continue;
    result.restarts.push_back(TargetRestart{c.mac, Restarted(c)});
    // Every path of a restarted MAC compares with the new process from now on. One that
    // carried writes acknowledged while the check was out owes the next check a report: the
    // old process may have acknowledged them before it died.
    for (Path& q : paths_) {
      if (q.target_mac != c.mac || !q.identity) continue;
      if (c.incarnation) q.identity->incarnation = c.incarnation;
      if (c.other && q.writes_acked != q.writes_acked_at_check) q.restart_owed = true;
    }
    if (owner_.options_.logger) {
      owner_.options_.logger->Warn(
          info_.address.ToString(),
          "{} {} since the last check: writes it acknowledged may be lost", c.mac.ToString(),
          Restarted(c) ? "restarted (another incarnation)" : "did not answer IDENTIFY");
    }
  }
  owner_.Defer([done = std::move(check.done), result = std::move(result)] { done(result); });
}

void Disk::CancelRestartChecks(const std::string& why) {
  for (const std::shared_ptr<RestartCheckState>& check : restart_checks_) {
    EndRestartCheck(*check);
    owner_.Defer([done = std::move(check->done),
                  error = Error(InitiatorErrc::kCancelled,
                                fmt::format("checking {} for restarts: {}",
                                            info_.address.ToString(), why))] { done(error); });
  }
  restart_checks_.clear();
}

}  // namespace aoe::initiator
