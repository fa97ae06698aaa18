// FakeTarget: a tiny in-memory AoE target for initiator tests. It answers Query Config (all
// five ccmds), MAC mask read/edit, reserve/release and ATA IDENTIFY / READ / WRITE (28- and
// 48-bit) / FLUSH from a memory vector, the way vblade and `aoe serve` do (aoe-protocol.md
// §2-4), over any Ports (MemoryPorts on a MemoryWire in unit tests).
//
// It is driven by hand: Serve() answers everything queued on its ports and returns. Test
// controls make a port silent (it keeps receiving but never answers), inject ATA errors, leave
// reads and writes of some sectors unanswered, or count what arrived.
//
// Ownership: borrows its ports. Thread-safety: none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/mac_address.h"
#include "net/port.h"

namespace aoe::initiator::testing {

struct FakeTargetOptions {
  uint16_t shelf = 0;
  uint8_t slot = 1;
  uint64_t sectors = 2048;  // capacity
  uint16_t buffer_count = 16;
  uint8_t max_sectors = 0;  // advertised scnt; 0 = (MTU - 36) / 512 of the port
  // Takes at most this many sectors a command, whatever it advertises (0: what it advertises):
  // a target that advertises more than it takes refuses the rest with AoE error 2.
  uint8_t accepted_sectors = 0;
  uint16_t firmware_version = 0x4019;
  std::string model = "aoekit fake target";
  std::string serial = "fake-serial";
  std::string firmware = "V1";
  // False: FLUSH CACHE EXT (0xEA) is aborted (ERR, ABRT) like vblade does; 0xE7 still works.
  bool flush_ext = true;
  // DATA SET MANAGEMENT / TRIM: advertised in IDENTIFY (reading zeroes after it) and zero-fills
  // the ranges; false: not advertised, and aborted.
  bool trim = true;
  // IDENTIFY words 82/85 bit 5: writes need a FLUSH to be durable.
  bool volatile_write_cache = true;
  // aoe serve's incarnation in IDENTIFY words 130-133; 0: none (vblade, durability=sync).
  uint64_t incarnation = 0;
};

struct FakeTargetStats {
  uint64_t requests = 0;  // every AoE request addressed to us (any port, silent or not)
  uint64_t ata = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t flushes = 0;  // successful FLUSH CACHE and FLUSH CACHE EXT
  uint64_t flush_ext_aborted = 0;
  uint64_t identifies = 0;
  uint64_t trims = 0;  // DSM TRIM commands carried out
  uint64_t trimmed_sectors = 0;
  uint64_t config = 0;
  uint64_t refused_too_long = 0;  // READ/WRITE refused with AoE error 2 for their sector count
  uint64_t replies = 0;
  std::vector<uint64_t> per_port_requests;  // ATA requests per port index
};

class FakeTarget {
 public:
  FakeTarget(FakeTargetOptions options, std::vector<Port*> ports);

  // Answers every request queued on every port. Returns the number of frames received.
  size_t Serve();

  // A silent port receives and counts requests but never replies (a dead path).
  void set_silent(size_t port, bool silent) { silent_.at(port) = silent; }
  // Reads or writes touching this sector fail with ATA status ERR, error UNC.
  void set_bad_sector(std::optional<uint64_t> lba) { bad_sector_ = lba; }
  // Reads or writes reaching this sector or any after it are never answered (stuck storage).
  void set_stuck_from(std::optional<uint64_t> lba) { stuck_from_ = lba; }
  // A restart of the target process, as far as IDENTIFY tells (the data stays).
  void set_incarnation(uint64_t incarnation) { options_.incarnation = incarnation; }

  std::vector<std::byte>& data() { return data_; }
  std::string& config_string() { return config_string_; }
  std::vector<MacAddress>& reserve_list() { return reserve_; }
  std::vector<MacAddress>& mask_list() { return mask_; }
  const FakeTargetStats& stats() const { return stats_; }
  const FakeTargetOptions& options() const { return options_; }
  // Tags of every ATA request seen, in arrival order (for tag-format tests).
  const std::vector<uint32_t>& ata_tags() const { return ata_tags_; }

 private:
  void Handle(size_t port, ConstByteSpan request);
  // Returns the reply length, or 0 to stay silent.
  size_t Ata(size_t port, std::vector<std::byte>& frame, size_t length, const MacAddress& from);
  size_t Config(size_t port, std::vector<std::byte>& frame, size_t length);
  size_t Mask(std::vector<std::byte>& frame, size_t length);
  size_t Reserve(std::vector<std::byte>& frame, size_t length, const MacAddress& from);
  uint8_t MaxSectors(size_t port) const;

  FakeTargetOptions options_;
  std::vector<Port*> ports_;
  std::vector<bool> silent_;
  std::vector<std::byte> data_;
  std::string config_string_;
  std::vector<MacAddress> reserve_;
  std::vector<MacAddress> mask_;
  std::optional<uint64_t> bad_sector_;
  std::optional<uint64_t> stuck_from_;
  FakeTargetStats stats_;
  std::vector<uint32_t> ata_tags_;
  std::vector<std::byte> rx_storage_;
};

}  // namespace aoe::initiator::testing
