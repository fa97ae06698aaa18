// Disk's paths (disk.h): a path is one (local port, target MAC) pair, learnt from a config
// reply. Frames go to the path with the most room in its window; a path that keeps losing
// frames is marked down and probed with unicast config reads until it answers again. A MAC
// carries I/O only once its own IDENTIFY shows the first path's disk (README.md, "Multipath").
#include <fmt/format.h>

#include <algorithm>

#include "base/log.h"
#include "initiator/disk.h"
#include "initiator/initiator.h"
#include "proto/identify.h"

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
    if (!p.up || !Usable(p)) continue;
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
    if (!Usable(paths_[i])) continue;
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
  if (owner_.options_.logger) {
    owner_.options_.logger->Info(info_.address.ToString(), "path {} answers again", PathName(path));
  }
  Redeclare(path);
}

void Disk::Redeclare(uint32_t path) {
  Path& p = paths_[path];
  const TimePoint now = owner_.clock_.Now();
  if (!declared_flushing_ || !Usable(p) || p.redeclare_pending ||
      (p.last_redeclare && now < *p.last_redeclare + kPortFlushTimeout)) {
    return;
  }
  p.redeclare_pending = true;
  p.last_redeclare = now;
  SendPathAta(path, FlushArg(), 0, kPortFlushTimeout, Duration::zero(), "FLUSH (we flush)",
              [this, path](const PathAtaReply&) { paths_[path].redeclare_pending = false; });
}

void Disk::TargetAnnounced(size_t port, const MacAddress& mac) {
  if (std::optional<uint32_t> path = FindPath(port, mac)) Redeclare(*path);
}

proto::AtaArg Disk::FlushArg() const {
  proto::AtaArg arg;  // as BuildFrame's
  arg.aflags = flush_ext_refused_ ? uint8_t{0} : proto::kAtaFlagExtended;
  arg.cmd_status = flush_ext_refused_ ? proto::ata_op::kFlushCache : proto::ata_op::kFlushCacheExt;
  return arg;
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

void Disk::LearnPath(size_t port, const MacAddress& mac, const proto::ConfigArg& config) {
  uint32_t limit = std::clamp<uint32_t>(config.buffer_count, 1, owner_.options_.max_window);
  std::optional<uint32_t> idx = FindPath(port, mac);
  if (!idx) {
    Path p;
    p.port = port;
    p.target_mac = mac;
    p.last_reply = owner_.clock_.Now();
    p.window = CongestionWindow(limit);
    p.rtt = RttEstimator(owner_.options_.flow);
    // The first MAC that answers defines the disk; any other may be a second disk that was
    // given the same shelf.slot by mistake, and mixing the two would corrupt every copy.
    p.verdict = paths_.empty() ? Path::Verdict::kSame : Path::Verdict::kUnknown;
    paths_.push_back(std::move(p));
    idx = static_cast<uint32_t>(paths_.size() - 1);
  } else {
    Path& p = paths_[*idx];
    if (p.window.limit() != limit) p.window.SetLimit(limit);
    if (!p.up) MarkPathUp(*idx);
  }
  Path& p = paths_[*idx];
  p.buffer_count = config.buffer_count;
  p.advertised_sectors = config.sector_count == 0 ? 2 : config.sector_count;
  if (p.refusal_cap != 0 && p.advertised_sectors != p.advertised_at_refusal) {
    p.refusal_cap = 0;  // the target's count changed since it refused: it is believed again
  }
  // Only the disk's own MACs describe it: another disk's config string is not this one's.
  if (Usable(p)) {
    info_.buffer_count = config.buffer_count;
    info_.firmware_version = config.firmware_version;
    if (config.string_complete) {
      info_.config_string.assign(reinterpret_cast<const char*>(config.string.data()),
                                 config.string.size());
    }
  }
  RecomputeSectorsPerFrame();
  IdentifyPaths(owner_.clock_.Now());
  Pump();
}

void Disk::RefreshPathInfo() {
  info_.paths.clear();
  info_.conflicting.clear();
  for (const Path& q : paths_) {
    (q.verdict == Path::Verdict::kOther ? info_.conflicting : info_.paths)
        .push_back(MakePathInfo(q));
  }
}

bool Disk::identifying_paths() const {
  return std::any_of(paths_.begin(), paths_.end(), [](const Path& p) {
    return p.identify_pending && p.verdict == Path::Verdict::kUnknown;
  });
}

void Disk::IdentifyPaths(TimePoint now) {
  // A disk with one MAC has nothing to compare: no extra frame for the common case.
  if (paths_.size() < 2) return;
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    Path& p = paths_[i];
    if (p.identity || p.identify_pending || now < p.next_identify) continue;
    p.identify_pending = true;
    SendPathIdentify(i, ExchangeOptions{}.timeout, [this, i](std::optional<DiskIdentity> id) {
      OnPathIdentify(i, std::move(id));
    });
  }
}

std::optional<ExchangeHandle> Disk::SendPathAta(uint32_t path, const proto::AtaArg& arg,
                                                size_t reply_bytes, Duration timeout,
                                                Duration resend_interval, std::string_view what,
                                                std::function<void(const PathAtaReply&)> done) {
  const Path& p = paths_[path];
  // An admin exchange rather than a data frame: it goes to this MAC only (an unverified path
  // never gets a frame of a request) and is resent with the same tag until it is answered.
  std::array<std::byte, proto::kAtaHeaderSize> frame{};
  proto::EncodeAta(arg, frame);
  ExchangeOptions o;
  o.port = p.port;
  o.target_mac = p.target_mac;
  o.timeout = timeout;
  o.resend_interval = resend_interval;
  return owner_.AdminExchange(
      info_.address, static_cast<uint8_t>(proto::Command::kAta),
      ConstByteSpan(frame).subspan(proto::kHeaderSize), o, fmt::format("path {}", what),
      [this, path, reply_bytes, what = std::string(what),
       done = std::move(done)](Outcome<std::vector<std::byte>> reply) {
        std::optional<proto::Header> h;
        std::optional<proto::AtaArg> ata;
        if (reply) {
          h = proto::DecodeHeader(*reply);
          ata = proto::DecodeAta(*reply);
        }
        if (!h || h->is_error() || !ata || (ata->cmd_status & kAtaFailureBits) != 0 ||
            reply->size() < proto::kAtaHeaderSize + reply_bytes) {
          if (owner_.options_.logger) {
            owner_.options_.logger->Debug(info_.address.ToString(), "{} of path {} failed: {}",
                                          what, PathName(path),
                                          reply ? "refused or short reply" : reply.error().message);
          }
          return done(PathAtaReply{.answered = reply.has_value(), .data = std::nullopt});
        }
        done(PathAtaReply{
            .answered = true,
            .data = ConstByteSpan(*reply).subspan(proto::kAtaHeaderSize, reply_bytes)});
      });
}

std::optional<ExchangeHandle> Disk::SendPathIdentify(
    uint32_t path, Duration timeout, std::function<void(std::optional<DiskIdentity>)> done) {
  proto::AtaArg arg;
  arg.sector_count = 1;
  arg.cmd_status = proto::ata_op::kIdentifyDevice;
  return SendPathAta(path, arg, proto::kIdentifyPageSize, timeout,
                     ExchangeOptions{}.resend_interval, "IDENTIFY",
                     [done = std::move(done)](const PathAtaReply& reply) {
                       done(reply.data ? std::optional(IdentityOf(*reply.data)) : std::nullopt);
                     });
}

void Disk::DeclareFlushing(IoCallback done) {
  const bool volatile_cache =
      info_.identify && proto::ReadIdentifyFeatures(info_.identify->page).volatile_write_cache;
  if (!volatile_cache) {
    owner_.Defer([done = std::move(done)] { done({}); });
    return;
  }
  declared_flushing_ = true;
  Flush([this, done = std::move(done)](Outcome<void> flushed) mutable {
    // One path that is up on each local port (each has its own MAC).
    std::vector<uint32_t> ask;
    for (uint32_t i = 0; i < paths_.size(); ++i) {
      const Path& p = paths_[i];
      if (!p.up || !Usable(p)) continue;
      if (std::none_of(ask.begin(), ask.end(),
                       [&](uint32_t a) { return paths_[a].port == p.port; }))
        ask.push_back(i);
    }
    if (!flushed || ask.size() < 2) return done(std::move(flushed));
    struct Declaring {
      size_t pending;
      IoCallback done;
    };
    auto declaring = std::make_shared<Declaring>(Declaring{ask.size(), std::move(done)});
    for (uint32_t i : ask) {
      SendPathAta(i, FlushArg(), 0, kPortFlushTimeout, Duration::zero(), "FLUSH",
                  [this, declaring](const PathAtaReply&) {
                    if (--declaring->pending > 0) return;
                    owner_.Defer([declaring] { declaring->done({}); });
                  });
    }
  });
}

void Disk::OnPathIdentify(uint32_t path, std::optional<DiskIdentity> identity) {
  Path& p = paths_[path];
  p.identify_pending = false;
  if (!identity) {
    // Silent or refused (a reservation, a busy disk): the path stays unused and is asked again.
    p.next_identify = owner_.clock_.Now() + owner_.options_.probe_interval;
    return;
  }
  p.identity = std::move(identity);
  JudgePaths();
  Pump();
}

void Disk::JudgePaths() {
  const std::optional<DiskIdentity>& ref = paths_[0].identity;
  if (!ref) return;
  const std::string name = info_.address.ToString();
  const std::string first = paths_[0].target_mac.ToString();
  bool changed = false;
  for (uint32_t i = 1; i < paths_.size(); ++i) {
    Path& p = paths_[i];
    if (p.verdict != Path::Verdict::kUnknown || !p.identity) continue;
    const DiskIdentity& id = *p.identity;
    changed = true;
    if (id.sector_count != ref->sector_count || id.model != ref->model) {
      p.verdict = Path::Verdict::kOther;
      Notice(
          fmt::format("{} is also answered by {} with another disk ({} sectors, model \"{}\" "
                      "against {}, \"{}\" from {}); not using it: give each disk its own "
                      "shelf.slot",
                      name, p.target_mac.ToString(), id.sector_count, Printable(id.model),
                      ref->sector_count, Printable(ref->model), first));
      continue;
    }
    p.verdict = Path::Verdict::kSame;
    p.last_reply = owner_.clock_.Now();
    // Its IDENTIFY made aoe serve forget that we flush, if we do.
    Redeclare(i);
    if (id.serial != ref->serial) {
      // aoe serve and vblade put their host's name in the serial: two hosts serving one shared
      // image (Ceph RBD) differ only there, so the path is used; but two different disks of
      // one size and model look just the same.
      Notice(fmt::format(
          "{} is also answered by {} with serial \"{}\" against \"{}\" from {} "
          "(same size and model): using both as paths to one shared disk; if they "
          "are two different disks, give each its own shelf.slot, or a copy "
          "would mix them",
          name, p.target_mac.ToString(), Printable(id.serial), Printable(ref->serial), first));
    }
  }
  if (!changed) return;
  RecomputeSectorsPerFrame();
}

void Disk::Notice(std::string message) {
  if (std::find(noticed_.begin(), noticed_.end(), message) != noticed_.end()) return;
  noticed_.push_back(message);
  if (owner_.options_.on_notice) {
    owner_.Defer([fn = owner_.options_.on_notice, address = info_.address,
                  message = std::move(message)] { fn(address, message); });
  } else if (owner_.options_.logger) {
    owner_.options_.logger->Warn(info_.address.ToString(), "{}", message);
  }
}

uint8_t Disk::PathSectors(const Path& p) const {
  uint8_t n = std::min(p.advertised_sectors, proto::SectorsPerFrame(owner_.FrameMtu(p.port)));
  if (p.refusal_cap != 0) n = std::min(n, p.refusal_cap);
  return n;
}

void Disk::RecomputeSectorsPerFrame() {
  uint8_t n = 255;
  for (const Path& p : paths_) {
    if (p.verdict == Path::Verdict::kOther) continue;
    n = std::min(n, PathSectors(p));
    if (p.size_cap != 0) n = std::min(n, p.size_cap);
  }
  info_.sectors_per_frame = std::max<uint8_t>(n, 1);
  RefreshPathInfo();
}

PathInfo Disk::MakePathInfo(const Path& p) const {
  const Port& port = *owner_.ports_[p.port];
  return PathInfo{port.name(),    port.mac(),           p.target_mac,
                  p.buffer_count, p.advertised_sectors, p.identity};
}

std::vector<PathStats> Disk::path_stats() const {
  std::vector<PathStats> out;
  for (const Path& p : paths_) {
    if (p.verdict == Path::Verdict::kOther) continue;  // not a path of this disk
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
    s.frame_sectors_cap = p.size_cap;
    s.frame_size_probes = p.size_probes;
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
  if (!path || !Usable(paths_[*path])) return;
  paths_[*path].consecutive_timeouts = 0;
  paths_[*path].last_reply = owner_.clock_.Now();
  if (!paths_[*path].up) MarkPathUp(*path);
}

}  // namespace aoe::initiator
