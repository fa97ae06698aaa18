// Disk::CheckForRestarts (disk.h): did the target process that acknowledged a writer's writes
// also answer its FLUSH? aoe serve puts a random incarnation, picked when the process starts,
// in its IDENTIFY page (proto::IdentifyInfo::incarnation). A MAC whose incarnation after the
// FLUSH is the one it had before the writes was one process all along, so the FLUSH covered
// them. Only MACs that answered a request since the last check are asked: a path that carried
// nothing lost nothing (a dead host of two serving one RBD image, say).
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
  bool same = false;   // a path answered with the incarnation it had (or none at all)
  bool other = false;  // a path answered with another incarnation: a new process
  std::optional<uint64_t> incarnation{};  // the new one
};

struct RestartCheck {
  std::vector<MacCheck> macs;
  size_t pending = 0;
  std::function<void(Outcome<std::vector<TargetRestart>>)> done;
};

}  // namespace

void Disk::CheckForRestarts(Duration timeout,
                            std::function<void(Outcome<std::vector<TargetRestart>>)> done) {
  auto check = std::make_shared<RestartCheck>();
  check->done = std::move(done);
  auto find = [&](const MacAddress& mac) {
    return std::find_if(check->macs.begin(), check->macs.end(),
                        [&](const MacCheck& m) { return m.mac == mac; });
  };
  // From now on: a reply that comes while the IDENTIFYs are out counts for the next check.
  for (Path& p : paths_) {
    if (!Usable(p) || p.replies == p.replies_at_check) continue;
    p.replies_at_check = p.replies;
    if (find(p.target_mac) == check->macs.end())
      check->macs.push_back(MacCheck{.mac = p.target_mac});
  }
  // Each path of such a MAC is asked (one of them may have lost its link).
  std::vector<uint32_t> ask;
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    if (Usable(paths_[i]) && find(paths_[i].target_mac) != check->macs.end()) ask.push_back(i);
  }
  check->pending = ask.size();
  if (ask.empty()) {
    owner_.Defer([check] { check->done(std::vector<TargetRestart>{}); });
    return;
  }
  for (uint32_t i : ask) {
    SendPathIdentify(i, timeout, [this, check, i](std::optional<DiskIdentity> id) {
      Path& p = paths_[i];
      auto m = std::find_if(check->macs.begin(), check->macs.end(),
                            [&](const MacCheck& c) { return c.mac == p.target_mac; });
      if (id) {
        // A path known only since its config reply has nothing to compare: it is one process
        // with what it acknowledged, as far as anyone can tell, and its answer is the baseline.
        if (!p.identity || p.identity->incarnation == id->incarnation) {
          m->same = true;
        } else {
          m->other = true;
          m->incarnation = id->incarnation;
        }
        if (!p.identity) p.identity = *id;
        p.identity->incarnation = id->incarnation;
      }
      if (--check->pending > 0) return;
      std::vector<TargetRestart> restarts;
      for (const MacCheck& c : check->macs) {
        // A path that answered with the old incarnation while another said a new one cannot
        // happen for one process: the new one wins, which writes again at worst.
        if (c.same && !c.other) continue;
        restarts.push_back(TargetRestart{c.mac, c.other});
        // Every path of a restarted MAC compares with the new process from now on.
        for (Path& q : paths_) {
          if (c.other && q.target_mac == c.mac && q.identity)
            q.identity->incarnation = c.incarnation;
        }
        if (owner_.options_.logger) {
          owner_.options_.logger->Warn(
              info_.address.ToString(), "{} {} since the last check", c.mac.ToString(),
              c.other ? "restarted (another incarnation)" : "did not answer IDENTIFY");
        }
      }
      owner_.Defer(
          [check, restarts = std::move(restarts)]() mutable { check->done(std::move(restarts)); });
    });
  }
}

}  // namespace aoe::initiator
