// Disk's frame size probes (disk.h; README.md, "Long frames a link drops"): jumbo frames on
// both hosts and a switch between that carries only standard ones. Short frames pass, every
// long one vanishes, and the disk would stall until its dead-target timeout. Two long frames
// lost in a row on a path send it two READs of LBA 0, a long one and a standard-size one: if
// only the short one is answered, the path's frames are capped to the standard size until a
// later probe finds the long ones answered again.
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "base/log.h"
#include "initiator/disk.h"
#include "initiator/initiator.h"

namespace aoe::initiator {

void Disk::NoteFrameLost(uint32_t path, uint8_t sectors) {
  Path& p = paths_[path];
  if (sectors <= kStandardFrameSectors || p.size_cap != 0) return;
  // Two in a row, counted per path: a frame lost on one path of a trunk is resent on another,
  // so its own count of losses would not tell.
  if (++p.long_frame_losses >= 2) ProbeFrameSize(path, sectors);
}

void Disk::NoteFrameAnswered(uint32_t path, uint8_t sectors) {
  if (sectors > kStandardFrameSectors) paths_[path].long_frame_losses = 0;
}

void Disk::ProbeFrameSize(uint32_t path, uint8_t sectors) {
  Path& p = paths_[path];
  if (info_.identify) {  // the READs must stay on the disk
    sectors = static_cast<uint8_t>(std::min<uint64_t>(sectors, info_.identify->sector_count));
  }
  if (p.size_probe_pending || sectors <= kStandardFrameSectors) return;
  // After a probe nobody answered, the path is silent (a dead or restarting target): another
  // one would learn no more until the path answers something.
  if (p.size_probe_unanswered_since && p.last_reply <= *p.size_probe_unanswered_since) return;
  p.size_probe_pending = true;
  p.size_probe_sent_at = owner_.clock_.Now();
  ++p.size_probes;
  struct Replies {
    int waiting = 2;
    ProbeRead short_read, long_read;
  };
  auto replies = std::make_shared<Replies>();
  for (const uint8_t n : {kStandardFrameSectors, sectors}) {
    proto::AtaArg read;
    read.aflags = proto::kAtaFlagExtended;
    read.cmd_status = proto::ata_op::kReadSectorsExt;
    read.sector_count = n;
    // Sent again (same tag) every kSizeProbeResend: an ordinary loss does not pass for a size
    // the link drops.
    SendPathAta(path, read, size_t{n} * proto::kSectorSize, kSizeProbeTimeout, kSizeProbeResend,
                fmt::format("{}-sector size probe", n),
                [this, path, sectors, n, replies](const PathAtaReply& reply) {
                  (n == sectors ? replies->long_read : replies->short_read) =
                      ProbeRead{.answered = reply.answered, .with_data = reply.data.has_value()};
                  if (--replies->waiting == 0) {
                    OnFrameSizeProbe(path, sectors, replies->short_read, replies->long_read);
                  }
                });
  }
}

void Disk::OnFrameSizeProbe(uint32_t path, uint8_t sectors, ProbeRead short_read,
                            ProbeRead long_read) {
  Path& p = paths_[path];
  p.size_probe_pending = false;
  p.long_frame_losses = 0;
  const TimePoint now = owner_.clock_.Now();
  const size_t long_bytes = proto::kAtaHeaderSize + size_t{sectors} * proto::kSectorSize;
  const size_t short_bytes =
      proto::kAtaHeaderSize + size_t{kStandardFrameSectors} * proto::kSectorSize;
  if (long_read.with_data) {
    // Long frames arrive: the losses were ordinary, or the link was mended.
    if (p.size_cap == 0) return;
    p.size_cap = 0;
    if (auto* log = owner_.options_.logger) {
      log->Info(info_.address.ToString(),
                "path {}: {}-byte frames are answered again; frames of {} sectors from now on",
                PathName(path), long_bytes, sectors);
    }
    RecomputeSectorsPerFrame();
    Pump();
    return;
  }
  // Only silence to the long READ while the short one brought its data shows a link that drops
  // long frames. Silence to both is a silent path; a refusal (an error reply is short, and
  // says the request arrived) tells nothing about sizes: a bad sector in the long READ's range,
  // a reservation. Either way nothing changes, and a capped path looks again later.
  if (!short_read.with_data || long_read.answered) {
    if (!short_read.answered && !long_read.answered) {
      p.size_probe_unanswered_since = p.size_probe_sent_at;
    }
    if (p.size_cap != 0) p.next_size_probe = now + p.size_probe_interval;
    return;
  }
  if (p.size_cap == 0) {
    p.size_cap = kStandardFrameSectors;
    p.size_probe_interval = kFirstSizeReprobe;
    // Said once (Notice): `aoe cp` prints it, a mount logs it. The I/O goes on, slower.
    Notice(fmt::format(
        "{}: {}-byte frames get no reply on {} while {}-byte ones do: a switch or link between "
        "does not carry MTU {}; using {}-sector frames (set the MTU to 1500, or enable jumbo "
        "frames on every hop)",
        info_.address.ToString(), long_bytes, PathName(path), short_bytes, owner_.FrameMtu(p.port),
        kStandardFrameSectors));
    RecomputeSectorsPerFrame();
  } else {
    p.size_probe_interval = std::min<Duration>(2 * p.size_probe_interval, kMostSizeReprobe);
  }
  p.next_size_probe = now + p.size_probe_interval;
  Pump();
}

void Disk::ReprobeFrameSizes(TimePoint now) {
  for (uint32_t i = 0; i < paths_.size(); ++i) {
    Path& p = paths_[i];
    if (p.size_cap == 0 || p.size_probe_pending || now < p.next_size_probe) continue;
    p.next_size_probe = now + p.size_probe_interval;  // the next look, should this one not go
    if (PathSectors(p) > kStandardFrameSectors) {
      ProbeFrameSize(i, PathSectors(p));
    } else {
      p.size_cap = 0;  // frames are standard-size anyway now (a lowered MTU, a new count)
    }
  }
}

}  // namespace aoe::initiator
