// Plain value types shared by the initiator core (initiator.h) and its blocking facade
// (client.h): target addresses, what discovery learned, per-path statistics, IDENTIFY data and
// the decoded replies of the admin commands.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/mac_address.h"
#include "proto/disk_address.h"
#include "proto/header.h"
#include "proto/mask.h"

namespace aoe::initiator {

// Disks are named by the one address type of aoekit.
using proto::DiskAddress;

// The disk identity read with ATA IDENTIFY DEVICE.
struct IdentifyData {
  uint64_t sector_count = 0;  // capacity in 512-byte sectors
  std::string model;          // words 27-46
  std::string serial;         // words 10-19
  std::string firmware;       // words 23-26
  std::array<std::byte, 512> page{};
};

// What the IDENTIFY of one target MAC says about the disk behind it: what tells two disks that
// claim one shelf.slot apart (README.md, "Multipath").
struct DiskIdentity {
  uint64_t sector_count = 0;
  std::string model;
  std::string serial;
  // The target's incarnation (proto::IdentifyFeatures::incarnation): not part of what tells
  // disks apart (two hosts on one image differ in it), but what tells a restart that may have
  // lost acknowledged writes.
  std::optional<uint64_t> incarnation;
};

// An admin exchange in flight (Initiator::AdminExchange), for Initiator::CancelExchange: its
// slot, and its tag (the slot is reused once the exchange ends).
struct ExchangeHandle {
  uint32_t slot = 0;
  uint32_t tag = 0;
};

// A target MAC that may have lost writes it acknowledged (Disk::CheckForRestarts): it
// restarted (another incarnation) or it did not answer.
struct TargetRestart {
  MacAddress target_mac;
  bool answered = false;  // true: it answered with another incarnation
};

// What Disk::CheckForRestarts found.
struct RestartCheck {
  std::vector<TargetRestart> restarts;
  bool asked = false;  // an IDENTIFY was sent (aoe serve then no longer counts us as flushing)
};

// One way to reach a target: a local port and one of the target's MACs.
struct PathInfo {
  std::string port;  // local interface name
  MacAddress local_mac;
  MacAddress target_mac;
  uint16_t buffer_count = 0;       // as advertised in this MAC's config reply
  uint8_t advertised_sectors = 0;  // scnt from the config reply, 0 already mapped to 2
  // From an IDENTIFY sent to this MAC; asked only once the disk has a second path.
  std::optional<DiskIdentity> identity;
};

// Everything discovery knows about one shelf.slot.
struct TargetInfo {
  DiskAddress address;
  uint16_t buffer_count = 0;  // from the latest config reply
  uint16_t firmware_version = 0;
  // Sectors per ATA frame actually used: the minimum over all paths of the advertised count and
  // (port MTU - 36) / 512, so that any frame may be retransmitted on any path.
  uint8_t sectors_per_frame = 0;
  std::string config_string;
  // The paths I/O may use: the first MAC that answered, and every other one whose IDENTIFY
  // gives the same capacity and model (while that IDENTIFY is outstanding the path is listed
  // but not used).
  std::vector<PathInfo> paths;
  // MACs that answer this shelf.slot with another disk (another capacity or model): a second
  // disk given the same address by mistake. Nothing is ever sent to them but config queries
  // and the IDENTIFY that told them apart.
  std::vector<PathInfo> conflicting;
  std::optional<IdentifyData> identify;  // filled by Client::Discover / Open
};

// Live per-path statistics, for `aoe show` and `aoe bench`.
struct PathStats {
  std::string port;
  MacAddress local_mac;
  MacAddress target_mac;
  uint32_t window = 0;        // frames allowed in flight now
  uint32_t window_limit = 0;  // min(target buffer count, max_window)
  uint32_t ssthresh = 0;
  uint32_t in_flight = 0;
  uint64_t sent = 0;         // transmissions, retransmissions included
  uint64_t retransmits = 0;  // transmissions of a frame that had timed out before
  uint64_t timeouts = 0;
  uint64_t spurious_timeouts = 0;  // timeouts whose first reply came after all (late, not lost)
  uint64_t replies = 0;
  Duration rtt_avg{};  // smoothed RTT (0 before the first sample)
  Duration rto{};
  bool up = true;
  // Nonzero: frames are kept at this many sectors because longer ones went unanswered on this
  // path while standard-size ones were answered (a link between without jumbo frames).
  uint8_t frame_sectors_cap = 0;
  uint64_t frame_size_probes = 0;  // frame size probes sent on this path (pairs of READs)
};

// A decoded Query Config reply (any ccmd).
struct ConfigReply {
  MacAddress target_mac;
  DiskAddress address;
  uint16_t buffer_count = 0;
  uint16_t firmware_version = 0;
  uint8_t sector_count = 0;  // raw scnt byte (0 means 2)
  uint8_t command = 0;       // ccmd echoed
  std::string config_string;
};

// A decoded MAC Mask List reply.
struct MaskReply {
  proto::MaskError error = proto::MaskError::kOk;
  uint8_t failed_index = 0;      // with an error: the index of the refused directive
  std::vector<MacAddress> macs;  // the list after the command (on success)
};

// A decoded Reserve/Release reply.
struct ReserveReply {
  std::vector<MacAddress> macs;  // the reserve list after the command
};

}  // namespace aoe::initiator
