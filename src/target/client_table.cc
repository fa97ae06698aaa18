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

void ClientList::Add(const ClientTable& table) {
  unlisted_frames += table.unlisted_frames();
  for (const ClientStats& seen : table.List()) {
    auto at =
        std::lower_bound(clients.begin(), clients.end(), seen.mac,
                         [](const ClientStats& c, const MacAddress& mac) { return c.mac < mac; });
    if (at == clients.end() || at->mac != seen.mac) {
      clients.insert(at, seen);
      continue;
    }
    at->first_seen_unix = std::min(at->first_seen_unix, seen.first_seen_unix);
    at->last_seen_unix = std::max(at->last_seen_unix, seen.last_seen_unix);
    at->frames += seen.frames;
    at->bytes_read += seen.bytes_read;
    at->bytes_written += seen.bytes_written;
    at->duplicate_tags += seen.duplicate_tags;
  }
}

}  // namespace aoe::target
