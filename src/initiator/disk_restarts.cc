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
  bool same = false;    // a path answered with the incarnation it had
  bool other = false;   // a path answered with another incarnation: a restart
  std::optional<uint64_t> incarnation{};  // the new one
};

struct CheckState {
  std::vector<MacCheck> macs;
  size_t pending = 0;
  std::function<void(Outcome<RestartCheck>)> done;
};

}  // namespace

void Disk::CheckForRestarts(Duration timeout, std::function<void(Outcome<RestartCheck>)> done) {
  auto check = std::make_shared<CheckState>();
  check->done = std::move(done);
  auto find = [&](const MacAddress& mac) {
    return std::find_if(check->macs.begin(), check->macs.end(),
                        [&](const MacCheck& m) { return m.mac == mac; });
  };
  // A path whose target reports no incarnation cannot tell (vblade), or has nothing to lose
  // (aoe serve with durable acknowledgements): it is not asked.
  auto tells = [](const Path& p) { return p.identity && p.identity->incarnation.has_value(); };
  // From now on: a write acknowledged while the IDENTIFYs are out counts for the next check.
  for (Path& p : paths_) {
    if (!Usable(p) || !tells(p) || p.writes_acked == p.writes_acked_at_check) continue;
    p.writes_acked_at_check = p.writes_acked;
    if (find(p.target_mac) == check->macs.end()) {
      check->macs.push_back(MacCheck{.mac = p.target_mac, .before = *p.identity});
    }
  }
  // Each path of such a MAC is asked (one of them may have lost its link).
  std::vector<uint32_t> ask;
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    if (Usable(paths_[i]) && tells(paths_[i]) && find(paths_[i].target_mac) != check->macs.end()) {
      ask.push_back(i);
    }
  }
  check->pending = ask.size();
  if (ask.empty()) {
    owner_.Defer([check] { check->done(RestartCheck{}); });
    return;
  }
  for (uint32_t i : ask) {
    SendPathIdentify(i, timeout, [this, check, i](std::optional<DiskIdentity> id) {
      Path& p = paths_[i];
      auto m = std::find_if(check->macs.begin(), check->macs.end(),
                            [&](const MacCheck& c) { return c.mac == p.target_mac; });
      if (id) {
        if (p.identity->incarnation == id->incarnation) {
          m->same = true;
        } else {
          m->other = true;
          m->incarnation = id->incarnation;
        }
        p.identity->incarnation = id->incarnation;
      }
      if (--check->pending > 0) return;
      RestartCheck result{.restarts = {}, .asked = true};
      for (const MacCheck& c : check->macs) {
        if (c.same && !c.other) continue;
        // Silent, but another MAC of the same target (same serial: aoe serve and vblade put
        // their host in it) answered with the incarnation this one had: the FLUSH went to the
        // process that held these writes, over another link.
        const bool vouched =
            !c.other && std::any_of(check->macs.begin(), check->macs.end(), [&](const MacCheck& o) {
              return o.same && !o.other && o.before.serial == c.before.serial &&
                     o.before.incarnation == c.before.incarnation;
            });
        if (vouched) continue;
        result.restarts.push_back(TargetRestart{c.mac, c.other});
        // Every path of a restarted MAC compares with the new process from now on.
        for (Path& q : paths_) {
          if (c.other && q.target_mac == c.mac && q.identity)
            q.identity->incarnation = c.incarnation;
        }
        if (owner_.options_.logger) {
          owner_.options_.logger->Warn(
              info_.address.ToString(),
              "{} {} since the last check: writes it acknowledged may be lost", c.mac.ToString(),
              c.other ? "restarted (another incarnation)" : "did not answer IDENTIFY");
        }
      }
      owner_.Defer([check, result = std::move(result)] { check->done(result); });
    });
  }
}

}  // namespace aoe::initiator
