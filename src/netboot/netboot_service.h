// NetbootService: the DHCP (full or proxy) and TFTP services that turn PXE clients into
// AoE-booted machines, on one interface, driven by the caller's EventLoop.
//
// It owns no thread: Create registers its sockets (UDP 67, 4011 in proxy mode, 69 and one per
// TFTP transfer) and a timerfd with the loop, and the loop's callbacks do all the work. So the
// same object runs alone under `aoe netboot` or next to the AoE target inside `aoe serve`.
//
// Logs one line per step of each client's progress: DISCOVER/OFFER, REQUEST/ACK (subject "dhcp
// MAC"), and each file sent (subject "tftp IP:PORT").
//
// Ownership: owns its sockets, the lease pool and the TFTP server; the EventLoop, Logger and
// Clock must outlive it, and it must be destroyed before the loop. Thread-safety: none.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/log.h"
#include "base/mac_address.h"
#include "base/result.h"
#include "net/event_loop.h"
#include "netboot/netboot_options.h"

namespace aoe::netboot {

struct NetbootStats {
  uint64_t dhcp_received = 0;
  uint64_t dhcp_malformed = 0;
  uint64_t dhcp_replies = 0;
  uint64_t tftp_files_sent = 0;
};

// Told the MAC of each client that asks to boot (a DHCP DISCOVER or REQUEST from a PXE ROM or
// iPXE that has a boot target here), on the loop's thread; `aoe serve` applies its overlays'
// lifetimes there (docs/overlays.md). One boot sends several such requests (PXE ROM, then
// iPXE): the observer must not mind repeats.
using BootObserver = std::function<void(const MacAddress& client)>;

class NetbootService {
 public:
  // Opens everything or nothing. On failure `why` is one actionable line, e.g. "port 67 is in
  // use (another DHCP server such as dnsmasq?); ..." or "interface br0 has no IPv4 address".
  // The error is std::errc::invalid_argument when the options are at fault, in themselves or
  // for the interface (a range outside its subnet, or holding its broadcast address), so that
  // `aoe netboot` can exit 2 for them; opened nothing then.
  static Result<std::unique_ptr<NetbootService>> Create(const NetbootOptions& options,
                                                        EventLoop& loop, Logger& log, Clock& clock,
                                                        std::string& why,
                                                        BootObserver on_boot = {});
  virtual ~NetbootService() = default;

  // Our IPv4 address on the interface (server identifier, TFTP server).
  virtual Ipv4Address address() const = 0;
  virtual NetbootStats stats() const = 0;
};

}  // namespace aoe::netboot
