// What `aoe serve` is asked to do: interfaces, exports and per-export options. Filled from the
// command line or a TOML file by the CLI; consumed by Server. Plain values, no behaviour
// beyond naming and validation helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/mac_address.h"
#include "net/packet_io.h"
#include "proto/disk_address.h"
#include "storage/backend_spec.h"
#include "storage/chain.h"

namespace aoe::target {

// A sector range whose I/O the target fails on purpose with EIO (`fail=` in the export spec,
// `fail = [...]` in TOML): a testing and drill aid for initiators' error handling, never for
// production. Sectors are the export's own LBAs (after offset=).
struct InjectedFault {
  uint64_t first_sector = 0;
  uint64_t last_sector = 0;  // inclusive
  bool on_read = true;
  bool on_write = true;

  // "100-199", "100-199:read" or "100-199:write", as written in the spec.
  std::string ToString() const;
  bool operator==(const InjectedFault&) const = default;
};

// When `aoe serve` acknowledges a write (docs/configuration.md, "Durability").
enum class Durability {
  // Once the backing store has it (the page cache, or the device with `direct`). It survives a
  // crash of `aoe serve` but needs the initiator's FLUSH to survive a crash or power loss of the
  // target host. IDENTIFY reports a volatile write cache.
  kCache,
  // kCache for initiators that have sent FLUSH since their last IDENTIFY (aoekit, iPXE, WinAoE),
  // kSync for the others (Linux's aoe driver never flushes). The default.
  kAuto,
  // Once it is durable, for every initiator. IDENTIFY reports no volatile write cache.
  kSync,
};
// "cache", "auto", "sync"; ParseDurability is its inverse (nullopt for anything else).
std::string_view DurabilityName(Durability durability);
std::optional<Durability> ParseDurability(std::string_view text);

struct ExportOptions {
  proto::DiskAddress address{0, 0};  // never a wildcard (ValidateOptions)
  BackendSpec backend;               // where the data lives: image file, block device, ...
  bool read_only = false;
  uint64_t offset_sectors = 0;  // start of the export inside the image, in 512-byte sectors
  uint64_t length_sectors = 0;  // 0: to the end of the image
  Durability durability = Durability::kAuto;
  bool direct = false;           // O_DIRECT where the backing store allows it
  std::vector<MacAddress> mask;  // initial MAC mask list; persisted state takes precedence
  // Interfaces this export answers on; empty means every interface of the server.
  std::vector<std::string> interfaces;
  // Sector ranges that fail with EIO (testing only); empty in production.
  std::vector<InjectedFault> fail;
  // overlay=DIR: every initiator gets its own copy-on-write overlay in DIR and the image is
  // never written (docs/overlays.md). Empty: no overlay.
  std::string overlay_dir;
  // lifetime=: what a client's boot does to its overlay (default persist); only with overlay.
  std::optional<overlay::Lifetime> lifetime;
  // lifetime.MAC=: per-client overrides of `lifetime`.
  std::map<MacAddress, overlay::Lifetime> client_lifetimes;

  bool has_overlay() const { return !overlay_dir.empty(); }
  // "e<shelf>.<slot>", the name used in logs and state files.
  std::string name() const;
  // The settings its storage chain is built from (storage/chain.h).
  ChainOptions Storage() const;
  bool operator==(const ExportOptions&) const = default;
};

// The longest --busy-poll: a longer poll saves nothing more (a link quiet for 10 ms is idle), it
// only burns the CPU.
inline constexpr std::chrono::microseconds kMaxBusyPoll{10000};

// The most event loops (--loops): one per core of a large server is well below it.
inline constexpr size_t kMaxLoops = 64;

struct ServerOptions {
  std::vector<std::string> interfaces;
  std::vector<ExportOptions> exports;
  std::string state_dir = "/var/lib/aoekit";  // config strings, mask lists, reservations
  // Advertised buffer count (Query Config) and the number of commands the server keeps in
  // flight per interface. Never below 2: Linux starts at bufcnt/2 outstanding frames.
  uint16_t buffer_count = 64;
  // Whether to broadcast an unsolicited config announcement for each export on start.
  bool announce = true;
  // How frames cross the kernel boundary (net/packet_io.h): PACKET_MMAP rings, the socket path,
  // or (the default) rings with the socket path as fallback. Applies to interfaces as they are
  // opened.
  PacketIo packet_io = PacketIo::kAuto;
  // How long the loop watches the receive rings for the next frame after handling some, before
  // it sleeps (--busy-poll). 0 turns it off. 50 us is the value Linux's own busy polling
  // (net.core.busy_poll) suggests; measured in docs/PERFORMANCE.md, "Busy polling".
  std::chrono::microseconds busy_poll{50};
  // Event loops, each on its own thread with its own packet sockets and io_uring, over which
  // the kernel spreads the initiators by source MAC (--loops; docs/architecture.md, "More
  // cores"). 1, the default, is one thread for everything. Read at start only.
  size_t loops = 1;
};

// Checks the options for mistakes a person can make (duplicate shelf.slot, wildcard address,
// buffer count < 2, export interface not among the server's, no interface, an export writing
// another's overlay base, ...). Returns an empty string when fine, else one line saying what is
// wrong and how to fix it. Stats the image files of overlay exports and of the read-write
// exports beside them (to find one file under two names); nothing else touches the disk.
std::string ValidateOptions(const ServerOptions& options);

// Warnings, one line per pair of read-write exports that write the same sectors of one image
// (a file by inode, an RBD image by pool and name): allowed, as one export shared by two
// initiators is, but seldom meant. Only pairs with at least one export named in `involving`.
// Stats the image files of the read-write exports, once each.
std::vector<std::string> SharedWritableImages(const ServerOptions& options,
                                              const std::set<std::string>& involving);

// The part of ValidateOptions that looks at one export alone, served on `interfaces`: a
// wildcard address, an overlay export with ro, lifetime without overlay=, a bad mask entry or
// fail= range, an interface not among those served, ... The control socket answers these
// with bad-argument (the spec itself is wrong), the rest of ValidateOptions with refused.
std::string CheckExport(const ExportOptions& e, const std::vector<std::string>& interfaces);

}  // namespace aoe::target
