// Fanout: one interface's AoE requests spread over several packet sockets, one per event loop
// (docs/architecture.md, "More cores"), with the kernel's PACKET_FANOUT and a classic-BPF
// selector.
//
// The rule (FanoutMember, and the same rule compiled for the kernel by JoinSourceMacFanout):
// - An ATA request goes to member (last four bytes of its source MAC, big-endian) mod members.
//   Every initiator's reads, writes, flushes and retransmits land on one socket for good, so
//   they keep their order and a loop's per-initiator state needs no lock.
// - An ATA request addressed to one of the group's first-member disks (FanoutDisk, set by
//   SetFanoutFirstDisks) goes to member 0 too, whatever its source: an export only the first
//   loop serves (an overlay export, whose directory has one owner) gets all its requests there.
// - So does an ATA request to a wildcard shelf or slot (WinAoE discovers disks with a broadcast
//   IDENTIFY): member 0's loop holds every export, so it answers for each, the first-member
//   ones included. (Wildcard reads and writes are refused anyway.)
// - Every other command (config, mask, reserve, and any unknown one) goes to member 0. Those
//   commands read and change the export state every loop reads (config string, mask list,
//   reservation); with them all on one loop, that state has a single writer. A command is only
//   ordered after a state change its initiator has seen answered, and a change is applied
//   before its reply is sent, so an initiator never sees an ATA command served by the old state
//   after its own change was answered.
// - Why not PACKET_FANOUT_HASH: the kernel's flow hash knows nothing of AoE and puts every AoE
//   frame in one bucket.
// - PACKET_FANOUT_FLAG_ROLLOVER is not set: a member whose queue is full drops, as a single
//   socket would, and the initiator retransmits; rolling over would break the stickiness.
//
// Limits the kernel sets (fanout_netns_test.cc shows them): every member must be bound to the
// same interface and protocol before it joins, and a member cannot be bound again (EINVAL). So
// when an interface is deleted and re-created, its loops open new sockets and a new group
// (PacketSocket::Refresh re-binds, which a member cannot).
//
// Thread-safety: FanoutMember is a pure function; JoinSourceMacFanout and SetFanoutFirstDisks
// touch only `fd` (and its group).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/bytes.h"
#include "base/result.h"

namespace aoe {

// Wire facts the selector relies on (offsets from the start of the Ethernet frame; duplicated
// from proto/ like role_filter.h's, as net/ may depend only on base/):
//   6..11  source MAC; the selector reads bytes 8..11.
//   16..17 AoE major (shelf), 18 minor (slot); 0xffff and 0xff are the wildcards.
//   19     AoE command; 0 is ATA.
inline constexpr size_t kSourceMacLowWordOffset = 8;
inline constexpr size_t kAoeMajorOffset = 16;
inline constexpr size_t kAoeMinorOffset = 18;
inline constexpr size_t kAoeCommandOffset = 19;
inline constexpr uint8_t kAoeAtaCommand = 0;
inline constexpr uint16_t kAoeWildcardMajor = 0xffff;
inline constexpr uint8_t kAoeWildcardMinor = 0xff;

// A disk by its AoE address, whose ATA requests go to member 0.
struct FanoutDisk {
  uint16_t major = 0;
  uint8_t minor = 0;
  bool operator==(const FanoutDisk&) const = default;
};
// The most first-member disks a selector holds: two instructions each, with the rest of the
// program (12 instructions) within the kernel's limit of 4096.
inline constexpr size_t kMaxFanoutFirstDisks = 2000;

// Which of `members` sockets (0 .. members-1) the kernel hands `frame` to, in a group whose
// first-member disks are `first`. A frame too short to hold the command byte goes to member 0
// (whose role filter then drops it).
size_t FanoutMember(ConstByteSpan frame, size_t members, std::span<const FanoutDisk> first = {});

// Joins the packet socket `fd` (bound already) to fanout group `group_id` with the selector
// above, or, with `group_id` 0, creates a new group (with no first-member disks) with an id
// unique in the network namespace. Returns the group's id, for the other members to join.
// Errors: EINVAL for a socket not bound, bound to another interface than the group's, or in a
// group already; else setsockopt's errno.
Result<uint16_t> JoinSourceMacFanout(int fd, uint16_t group_id);

// Gives the group the packet socket `fd` is a member of a new selector, with `first` (at most
// kMaxFanoutFirstDisks) as its first-member disks; frames already spread stay where they went.
// Errors: EINVAL for a socket in no group or too many disks; else setsockopt's errno.
Result<void> SetFanoutFirstDisks(int fd, std::span<const FanoutDisk> first);

}  // namespace aoe
