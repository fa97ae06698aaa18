#include "target/client_table.h"

#include <algorithm>

namespace aoe::target {

void ClientTable::Seen(const MacAddress& mac, uint32_t tag, bool ata, int64_t now_unix) {
  auto it = clients_.find(mac);
  if (it == clients_.end()) {
    if (clients_.size() >= kMaxClients) {
      ++unlisted_frames_;
      return;
    }
    it = clients_.emplace(mac, Entry{}).first;
    it->second.stats.mac = mac;
    it->second.stats.first_seen_unix = now_unix;
  }
  Entry& e = it->second;
  e.stats.last_seen_unix = now_unix;
  ++e.stats.frames;
  if (!ata) return;
  const auto recent = e.tags.begin() + static_cast<ptrdiff_t>(e.tag_count);
  if (std::find(e.tags.begin(), recent, tag) != recent) {
    ++e.stats.duplicate_tags;
    return;
  }
  e.tags[e.next_tag] = tag;
  e.next_tag = (e.next_tag + 1) % kRecentTags;
  e.tag_count = std::min(e.tag_count + 1, kRecentTags);
}

void ClientTable::AddRead(const MacAddress& mac, uint64_t bytes) {
  if (auto it = clients_.find(mac); it != clients_.end()) it->second.stats.bytes_read += bytes;
}

void ClientTable::AddWritten(const MacAddress& mac, uint64_t bytes) {
  if (auto it = clients_.find(mac); it != clients_.end()) it->second.stats.bytes_written += bytes;
}

std::vector<ClientStats> ClientTable::List() const {
  std::vector<ClientStats> out;
  out.reserve(clients_.size());
  for (const auto& [mac, e] : clients_) out.push_back(e.stats);
  return out;
}

}  // namespace aoe::target
