// ClientTable: the initiators an export has seen, for `aoe ctl clients`: when each was last
// seen, its frames and bytes, and how many of its requests reused a tag it had used recently
// (retransmissions: iPXE and WinAoE resend with the same tag; Linux and aoekit's initiator
// resend ATA commands with a new one, so their retransmits do not show here).
//
// Bounded: at most kMaxClients entries; a flood of made-up source MACs cannot grow it further
// (later MACs are counted in `unlisted_frames` only). Per frame: one map lookup and a scan of
// kRecentTags tags. Single-threaded.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "base/mac_address.h"

namespace aoe::target {

struct ClientStats {
  MacAddress mac;
  int64_t first_seen_unix = 0;
  int64_t last_seen_unix = 0;
  uint64_t frames = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t duplicate_tags = 0;
};

class ClientTable {
 public:
  static constexpr size_t kMaxClients = 4096;
  static constexpr size_t kRecentTags = 32;

  // A request frame from `mac` arrived at `now_unix`. Only ATA commands' tags are checked for
  // reuse (`ata`): discovery tools send config queries with one constant tag.
  void Seen(const MacAddress& mac, uint32_t tag, bool ata, int64_t now_unix);
  void AddRead(const MacAddress& mac, uint64_t bytes);
  void AddWritten(const MacAddress& mac, uint64_t bytes);

  std::vector<ClientStats> List() const;
  uint64_t unlisted_frames() const { return unlisted_frames_; }

 private:
  struct Entry {
    ClientStats stats;
    std::array<uint32_t, kRecentTags> tags{};
    size_t tag_count = 0;  // valid entries in `tags` (fills up, then wraps)
    size_t next_tag = 0;
  };

  std::map<MacAddress, Entry> clients_;
  uint64_t unlisted_frames_ = 0;
};

// The initiators one export has seen on every event loop that serves it (Server::Clients).
struct ClientList {
  std::vector<ClientStats> clients;  // by MAC
  uint64_t unlisted_frames = 0;
  // Adds what one loop's `table` saw. An initiator seen on several loops (its config queries on
  // loop 0, its ATA commands on the loop its MAC is spread to) stays one entry: its counts are
  // summed, and it was first seen at the earliest and last seen at the latest of them.
  void Add(const ClientTable& table);
};

}  // namespace aoe::target
