// Disk's paths (disk.h): a path is one (local port, target MAC) pair, learnt from a config
// reply. Frames go to the path with the most room in its window; a path that keeps losing
// frames is marked down and probed with unicast config reads until it answers again.
#include <fmt/format.h>

#include <algorithm>

#include "initiator/disk.h"
#include "initiator/initiator.h"

namespace aoe::initiator {

std::optional<uint32_t> Disk::ChoosePath(std::optional<uint32_t> avoid) const {
  // Most free window first, so load spreads by outstanding work; a retransmission prefers any
  // other path with room over the one that just lost the frame.
  std::optional<uint32_t> best;
  bool best_other = false;
  uint32_t best_free = 0;
  bool any_up = false;
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    const Path& p = paths_[i];
    if (!p.up) continue;
    any_up = true;
    if (p.in_flight >= p.window.size()) continue;
    uint32_t free = p.window.size() - p.in_flight;
    bool other = !avoid || *avoid != i;
    if (!best || (other && !best_other) || (other == best_other && free > best_free)) {
      best = i;
      best_other = other;
      best_free = free;
    }
  }
  if (best || any_up) return best;
  // Every path is down: keep the I/O going with one frame at a time per path, which also
  // serves as the probe that brings a path back.
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    if (paths_[i].in_flight == 0 && (!best || (avoid && *best == *avoid))) best = i;
  }
  return best;
}

std::optional<uint32_t> Disk::FindPath(size_t port, const MacAddress& mac) const {
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    if (paths_[i].port == port && paths_[i].target_mac == mac) return i;
  }
  return std::nullopt;
}

void Disk::MarkPathDown(uint32_t path) {
  Path& p = paths_[path];
  p.up = false;
  p.silent_since = p.last_reply;
  p.next_probe = owner_.clock_.Now() + owner_.options_.probe_interval;
  // The target may have moved to another port or MAC: look for it everywhere soon.
  next_rediscover_ = std::min(next_rediscover_, owner_.clock_.Now());
  if (owner_.options_.logger) {
    owner_.options_.logger->Warn(info_.address.ToString(),
                                 "path {} down after {} loss events in a row", PathName(path),
                                 p.consecutive_timeouts);
  }
}

void Disk::MarkPathUp(uint32_t path) {
  Path& p = paths_[path];
  p.up = true;
  p.consecutive_timeouts = 0;
  p.last_reply = owner_.clock_.Now();
  p.window.Restart();
  // Down means silent for at least down_after_silence after repeated loss: long enough for the
  // target to have restarted in between, losing what it had not flushed (interruptions()).
  ++interruptions_;
  last_interruption_silence_ = p.last_reply - p.silent_since;
  if (owner_.options_.logger) {
    owner_.options_.logger->Info(
        info_.address.ToString(), "path {} answers again after {} ms", PathName(path),
        std::chrono::duration_cast<std::chrono::milliseconds>(last_interruption_silence_).count());
  }
}

void Disk::SendProbe(uint32_t path, TimePoint now) {
  Path& p = paths_[path];
  p.probe_pending = true;
  ExchangeOptions o;
  o.port = p.port;
  o.target_mac = p.target_mac;
  o.timeout = std::min<Duration>(owner_.options_.probe_interval, std::chrono::seconds(1));
  o.resend_interval = Duration::zero();
  // A config read answered on this path brings it back up (Initiator::HandleConfigReply ->
  // LearnPath); the callback only schedules the next probe.
  owner_.Config(info_.address, proto::ConfigCommand::kRead, {}, o,
                [this, path, now](Outcome<ConfigReply>) {
                  Path& q = paths_[path];
                  q.probe_pending = false;
                  q.next_probe = now + owner_.options_.probe_interval;
                  Pump();
                });
}

void Disk::LearnPath(size_t port, const MacAddress& mac, const proto::ConfigArg& config,
                     bool announced) {
  uint32_t limit = std::clamp<uint32_t>(config.buffer_count, 1, owner_.options_.max_window);
  std::optional<uint32_t> idx = FindPath(port, mac);
  if (!idx) {
    Path p;
    p.port = port;
    p.target_mac = mac;
    p.last_reply = owner_.clock_.Now();
    p.window = CongestionWindow(limit);
    p.rtt = RttEstimator(owner_.options_.flow);
    paths_.push_back(std::move(p));
    idx = static_cast<uint32_t>(paths_.size() - 1);
  } else {
    Path& p = paths_[*idx];
    if (p.window.limit() != limit) p.window.SetLimit(limit);
    if (!p.up) {
      MarkPathUp(*idx);
    } else if (announced) {
      // A target announces itself when it starts: it restarted, perhaps faster than the path
      // could go down, and what it acknowledged from its cache is gone.
      ++interruptions_;
      last_interruption_silence_ = Duration::zero();
      if (owner_.options_.logger) {
        owner_.options_.logger->Info(info_.address.ToString(), "path {} announced itself again",
                                     PathName(*idx));
      }
    }
  }
  Path& p = paths_[*idx];
  p.buffer_count = config.buffer_count;
  p.advertised_sectors = config.sector_count == 0 ? 2 : config.sector_count;
  info_.buffer_count = config.buffer_count;
  info_.firmware_version = config.firmware_version;
  if (config.string_complete) {
    info_.config_string.assign(reinterpret_cast<const char*>(config.string.data()),
                               config.string.size());
  }
  RecomputeSectorsPerFrame();
  info_.paths.clear();
  for (const Path& q : paths_) info_.paths.push_back(MakePathInfo(q));
  Pump();
}

void Disk::RecomputeSectorsPerFrame() {
  uint8_t n = 255;
  for (const Path& p : paths_) {
    n = std::min(n, p.advertised_sectors);
    n = std::min(n, proto::SectorsPerFrame(owner_.ports_[p.port]->mtu()));
  }
  info_.sectors_per_frame = std::max<uint8_t>(n, 1);
}

PathInfo Disk::MakePathInfo(const Path& p) const {
  const Port& port = *owner_.ports_[p.port];
  return PathInfo{port.name(), port.mac(), p.target_mac, p.buffer_count, p.advertised_sectors};
}

std::vector<PathStats> Disk::path_stats() const {
  std::vector<PathStats> out;
  for (const Path& p : paths_) {
    const Port& port = *owner_.ports_[p.port];
    PathStats s;
    s.port = port.name();
    s.local_mac = port.mac();
    s.target_mac = p.target_mac;
    s.window = p.window.size();
    s.window_limit = p.window.limit();
    s.ssthresh = p.window.ssthresh();
    s.in_flight = p.in_flight;
    s.sent = p.sent;
    s.retransmits = p.retransmits;
    s.timeouts = p.timeouts;
    s.spurious_timeouts = p.spurious_timeouts;
    s.replies = p.replies;
    s.rtt_avg = p.rtt.srtt();
    s.rto = p.rtt.Rto();
    s.up = p.up;
    out.push_back(std::move(s));
  }
  return out;
}

std::string Disk::PathName(uint32_t path) const {
  const Path& p = paths_[path];
  return fmt::format("{} (mac {})", owner_.ports_[p.port]->name(), p.target_mac.ToString());
}

void Disk::NoteReply(size_t port, const MacAddress& mac) {
  std::optional<uint32_t> path = FindPath(port, mac);
  if (!path) return;
  paths_[*path].consecutive_timeouts = 0;
  paths_[*path].last_reply = owner_.clock_.Now();
  if (!paths_[*path].up) MarkPathUp(*path);
}

}  // namespace aoe::initiator
