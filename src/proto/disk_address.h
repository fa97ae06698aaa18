// DiskAddress: one AoE disk's shelf.slot (the spec's major.minor), written "e<shelf>.<slot>" as
// the Linux driver names its devices (/dev/etherd/e0.1). The one address type of aoekit: the
// target's exports, the initiator's disks, netboot's boot targets and every command line use it.
//
// Shelf 0xFFFF and slot 0xFF are wildcards on the wire (aoe-protocol.md §1.2). Parsing accepts
// them, because only the caller knows whether a wildcard makes sense there (discovery: yes; an
// export or a disk to copy: no, with a message that says why).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "proto/header.h"

namespace aoe::proto {

struct DiskAddress {
  uint16_t shelf = kWildcardShelf;
  uint8_t slot = kWildcardSlot;

  bool is_wildcard() const { return shelf == kWildcardShelf || slot == kWildcardSlot; }
  // "e0.1"; wildcards print as '*': "e*.*", "e5.*".
  std::string ToString() const;
  auto operator<=>(const DiskAddress&) const = default;
};

// Every disk, every shelf: what a discovery broadcast addresses.
inline constexpr DiskAddress kAnyDisk{};

// Parses "e<shelf>.<slot>" in decimal, e.g. "e1.2" (no sign, spaces or '*'). Errors:
// std::errc::invalid_argument when the text is not of that form, std::errc::result_out_of_range
// when the shelf is above 65535 or the slot above 255. DescribeDiskAddressError() turns them
// into one line for a person.
Result<DiskAddress> ParseDiskAddress(std::string_view text);

// "'x' is not a target name; expected eSHELF.SLOT such as e0.1", "shelf 70000 in 'e70000.1'
// is out of range; use 0-65534", ...: what is wrong with `text`, which failed to parse.
std::string DescribeDiskAddressError(std::string_view text);

}  // namespace aoe::proto
