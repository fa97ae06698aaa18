#include "netboot/lease_pool.h"

#include <fmt/format.h>

#include <charconv>
#include <sstream>

namespace aoe::netboot {

LeasePool::LeasePool(Ipv4Address first, Ipv4Address last, Ipv4Address excluded,
                     uint32_t lease_seconds)
    : first_(first), last_(last), excluded_(excluded), lease_seconds_(lease_seconds) {}

bool LeasePool::InRange(Ipv4Address a) const { return a >= first_ && a <= last_ && a != excluded_; }

const Lease* LeasePool::Find(const MacAddress& mac) const {
  if (mac.is_zero()) return nullptr;
  for (const auto& [address, lease] : by_address_) {
    if (lease.mac == mac) return &lease;
  }
  return nullptr;
}

bool LeasePool::Free(Ipv4Address a, const MacAddress& mac, int64_t now_unix) const {
  if (!InRange(a)) return false;
  auto it = by_address_.find(a);
  return it == by_address_.end() || (it->second.mac == mac && !it->second.parked()) ||
         it->second.expires_unix <= now_unix;
}

void LeasePool::Hold(const MacAddress& mac, Ipv4Address a, int64_t expires_unix, bool bound) {
  // One address per client: drop whatever else it held (parked addresses belong to no one).
  if (!mac.is_zero()) {
    std::erase_if(by_address_,
                  [&](const auto& entry) { return entry.second.mac == mac && entry.first != a; });
  }
  by_address_[a] = Lease{mac, a, expires_unix, bound};
}

std::optional<Ipv4Address> LeasePool::Offer(const MacAddress& mac,
                                            std::optional<Ipv4Address> requested,
                                            int64_t now_unix) {
  std::optional<Ipv4Address> pick;
  if (const Lease* held = Find(mac); held != nullptr && InRange(held->address)) {
    pick = held->address;
  } else if (requested && Free(*requested, mac, now_unix)) {
    pick = requested;
  } else {
    for (uint64_t v = first_.value(); v <= last_.value(); ++v) {
      Ipv4Address a(static_cast<uint32_t>(v));
      if (InRange(a) && !by_address_.contains(a)) {
        pick = a;
        break;
      }
    }
  }
  if (!pick) {
    // Range full: reuse the lease that expired longest ago; failing that, the address parked
    // longest ago (a declined address may well be free by now, and a client that declines
    // whatever it gets must not hold the range for a lease time).
    const Lease* oldest = nullptr;
    const Lease* oldest_parked = nullptr;
    for (const auto& [address, lease] : by_address_) {
      if (lease.expires_unix <= now_unix &&
          (oldest == nullptr || lease.expires_unix < oldest->expires_unix)) {
        oldest = &lease;
      }
      if (lease.parked() &&
          (oldest_parked == nullptr || lease.expires_unix < oldest_parked->expires_unix)) {
        oldest_parked = &lease;
      }
    }
    if (oldest == nullptr) oldest = oldest_parked;
    if (oldest == nullptr) return std::nullopt;
    pick = oldest->address;
  }
  const Lease* current = Find(mac);
  bool bound = current != nullptr && current->address == *pick && current->bound &&
               current->expires_unix > now_unix;
  int64_t expires = bound ? current->expires_unix : now_unix + kOfferHoldSeconds;
  Hold(mac, *pick, expires, bound);
  return pick;
}

bool LeasePool::Bind(const MacAddress& mac, Ipv4Address address, int64_t now_unix) {
  if (!Free(address, mac, now_unix)) return false;
  Hold(mac, address, now_unix + lease_seconds_, true);
  return true;
}

bool LeasePool::Release(const MacAddress& mac, Ipv4Address address) {
  auto it = by_address_.find(address);
  if (it == by_address_.end() || it->second.mac != mac || it->second.parked()) return false;
  by_address_.erase(it);
  return true;
}

bool LeasePool::Decline(const MacAddress& mac, Ipv4Address address, int64_t now_unix) {
  auto it = by_address_.find(address);
  if (it == by_address_.end() || it->second.mac != mac || it->second.parked()) return false;
  // Park the address under the zero MAC so no client is offered it until the hold runs out.
  it->second = Lease{MacAddress(), address, now_unix + lease_seconds_, true};
  return true;
}

std::string LeasePool::Serialize() const {
  std::string out;
  for (const auto& [address, lease] : by_address_) {
    if (!lease.bound) continue;
    out += fmt::format("{} {} {}\n", address.ToString(), lease.mac.ToString(), lease.expires_unix);
  }
  return out;
}

size_t LeasePool::Load(std::string_view text) {
  size_t skipped = 0;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line.starts_with('#')) continue;
    std::istringstream fields(line);
    std::string address_text, mac_text, expires_text, extra;
    fields >> address_text >> mac_text >> expires_text;
    std::optional<Ipv4Address> address = Ipv4Address::Parse(address_text);
    std::optional<MacAddress> mac = MacAddress::Parse(mac_text);
    int64_t expires = 0;
    auto [end, ec] =
        std::from_chars(expires_text.data(), expires_text.data() + expires_text.size(), expires);
    if (!address || !mac || ec != std::errc() || end != expires_text.data() + expires_text.size() ||
        (fields >> extra) || !InRange(*address)) {
      ++skipped;
      continue;
    }
    Hold(*mac, *address, expires, true);
  }
  return skipped;
}

}  // namespace aoe::netboot
