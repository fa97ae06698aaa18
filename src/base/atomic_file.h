// WriteFileAtomically: replaces a small file (state, leases, status) so that neither a reader
// nor a crash ever sees a mix of old and new contents.
//
// The steps, in this order:
//   1. create a temporary file next to `path` (same directory, so the rename below stays in one
//      file system) with a unique name `<path>.XXXXXX.tmp` and the given mode;
//   2. write all of `contents` to it and fsync it;
//   3. rename it over `path`;
//   4. fsync the directory, so the rename itself is on disk.
//
// What it promises, on storage that honours fsync:
//   - Success: `path` holds `contents`, and still does after a crash or power cut of this host.
//   - Failure (an error returned): `path` is untouched unless only step 4 failed, in which case
//     it holds `contents` but a power cut may bring back the old file. The temporary file is
//     removed.
//   - A crash at any point (the process killed, the host losing power): `path` holds either the
//     old contents or the new ones in full, never a torn file. A crash before step 3 may leave a
//     `<path>.XXXXXX.tmp` file behind; it is never read, and may be deleted.
// Readers that open `path` at any time see one complete version.
//
// The caller creates the directory. Concurrent writers of one path are safe (each has its own
// temporary file; the last rename wins). Blocking: call it where waiting for the disk is fine
// (start-up, a writer thread, a once-a-second status file), never on a path that moves frames.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/result.h"

namespace aoe {

Result<void> WriteFileAtomically(const std::string& path, std::string_view contents,
                                 mode_t mode = 0644);

}  // namespace aoe
