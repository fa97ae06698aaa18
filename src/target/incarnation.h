// The incarnation an export puts in its IDENTIFY page (proto::IdentifyInfo::incarnation): a
// number that changes whenever writes it acknowledged and had not flushed can have been lost.
//
// Why: an export acknowledges a flushing initiator's writes from a volatile cache and makes
// them durable at its FLUSH. If that cache is lost before the FLUSH, the next FLUSH is answered
// without error all the same. An initiator that reads the incarnation before its writes and
// again after its FLUSH knows whether one cache held them all along (Disk::CheckForRestarts;
// docs/initiator.md, "Across a target restart").
//
// Where the cache lives decides what changes it:
//   - the host's page cache (a file or block device export): the host's boot. A crash or
//     SIGKILL of aoe serve loses nothing there, so a mount's fsync rides through a restart.
//     (The initiator cannot tell a clean reboot from a power cut: both change it.)
//   - this process (BackendCapabilities::UnflushedWrites::kProcess: an overlay's block map,
//     made durable at FLUSH): each start of aoe serve;
//   - nowhere (kNone, or an export under durability=sync, which reports no volatile cache):
//     no incarnation at all, and initiators do not check.
#pragma once

#include <cstdint>

#include "storage/block_backend.h"

namespace aoe::target {

// The incarnation of the host's caches: derived from the kernel's boot id, read once. Test
// seam: AOE_BOOT_ID_FILE names another file to read it from, so that a test that cuts the
// power of simulated storage (tests/powercut) can also make the "host" boot again. Falls back
// to ProcessIncarnation() when the boot id cannot be read (the safe side: more rewrites).
uint64_t HostIncarnation();

// A random number picked once per process.
uint64_t ProcessIncarnation();

// Both are never 0 (0 means "none" in the page), and the same for every export and loop.
// IncarnationFor: the one for where a backend keeps unflushed writes; 0 (none) where nothing
// acknowledged can be lost, so that initiators do not ask.
uint64_t IncarnationFor(BackendCapabilities::UnflushedWrites where);

}  // namespace aoe::target
