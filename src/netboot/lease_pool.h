// LeasePool: address allocation for full-DHCP mode. Pure: time is passed in as wall-clock
// seconds (leases outlive the process, so they are stored against the real clock), and
// persistence is text in, text out (lease_file.h writes it).
//
// Policy, in order: a client keeps the address it already holds (bound or offered); else it
// gets the address it asks for (option 50) if that is in the range and free; else the lowest
// free address; else the address whose lease expired longest ago; else the declined address
// parked longest ago. An OFFER reserves an address for kOfferHoldSeconds so that two clients
// discovering together get different ones. A DECLINE parks the address (another host uses it)
// for a lease time, owned by no client: so a host that declines every address it is offered
// can hold the range only until it runs out, and then gets its own declines back.
//
// Thread-safety: none; the DHCP service uses it from its loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/mac_address.h"
#include "netboot/ipv4.h"

namespace aoe::netboot {

struct Lease {
  MacAddress mac;  // the zero MAC for a parked (declined) address
  Ipv4Address address;
  int64_t expires_unix = 0;  // wall-clock seconds
  bool bound = false;        // ACKed (or parked); unbound leases are OFFERs held briefly
  bool operator==(const Lease&) const = default;

  bool parked() const { return mac.is_zero(); }
};

class LeasePool {
 public:
  static constexpr int64_t kOfferHoldSeconds = 60;

  // `first`..`last` inclusive; `excluded` (the server's own address) is never handed out.
  LeasePool(Ipv4Address first, Ipv4Address last, Ipv4Address excluded, uint32_t lease_seconds);

  // Picks an address for a DISCOVER and holds it; nullopt when the range is exhausted.
  std::optional<Ipv4Address> Offer(const MacAddress& mac, std::optional<Ipv4Address> requested,
                                   int64_t now_unix);
  // Binds `address` to `mac` for a REQUEST. False (send a NAK) when the address is outside the
  // range or held by another client.
  bool Bind(const MacAddress& mac, Ipv4Address address, int64_t now_unix);
  // RELEASE: the client gives its address back. Whether a lease was dropped.
  bool Release(const MacAddress& mac, Ipv4Address address);
  // DECLINE: someone else uses `address` (ARP conflict); keep it out of use for a lease time.
  // Whether the address was the client's and is parked now.
  bool Decline(const MacAddress& mac, Ipv4Address address, int64_t now_unix);

  bool InRange(Ipv4Address address) const;
  // The lease or offer of a client (never a parked address: the zero MAC is no client).
  const Lease* Find(const MacAddress& mac) const;
  uint32_t lease_seconds() const { return lease_seconds_; }
  const std::map<Ipv4Address, Lease>& leases() const { return by_address_; }

  // One bound lease per line: "ADDRESS MAC EXPIRES_UNIX". Offers are not saved.
  std::string Serialize() const;
  // Loads leases saved by Serialize, skipping malformed lines and addresses outside the range
  // (the range may have changed since). Returns the number of lines skipped.
  size_t Load(std::string_view text);

 private:
  bool Free(Ipv4Address address, const MacAddress& mac, int64_t now_unix) const;
  void Hold(const MacAddress& mac, Ipv4Address address, int64_t expires_unix, bool bound);

  Ipv4Address first_;
  Ipv4Address last_;
  Ipv4Address excluded_;
  uint32_t lease_seconds_;
  std::map<Ipv4Address, Lease> by_address_;
};

}  // namespace aoe::netboot
