#!/bin/bash
#
# killed_download.sh AOE_BINARY
#
# A download killed outright (SIGKILL: no handler runs, as with the OOM killer or a power cut)
# leaves its partial copy, .NAME.aoe-cp-XXXXXX, beside the destination. The next download to
# the same destination must remove it and say so in one line, copy the disk exactly, and leave
# no partial copy behind. (That a partial copy a running download holds is not touched is
# LocalFileTest.TheNextDownloadRemovesThePartialCopyOfOneThatWasKilled.) Before this, every
# killed download left its partial copy for good.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

ini_init "$1"
ini_require_root

IMAGE=$T_TMP/disk.img
ini_make_image "$IMAGE" 256

ini_netns target
ini_netns client
ini_link target vt0 client vc0 1500
ini_serve target -i vt0 "e0.1=$IMAGE"
ini_wait_target client vc0 e0.1

DEST=$T_TMP/down/disk.img
mkdir -p "$(dirname "$DEST")"
echo "the old contents" >"$DEST"
leftovers() { find "$(dirname "$DEST")" -maxdepth 1 -name '.disk.img.aoe-cp-*' | wc -l; }

# One download, killed with SIGKILL once 8 MiB are written.
T_BG_SECONDS=60 t_bg "$T_TMP/first.log" ip netns exec "$(t_ns client)" "$AOE_BIN" cp -i vc0 \
    --depth 1 e0.1 "$DEST"
first=$(t_child_of "$T_BG_PID")
copied_8mib() { (( $(t_copied_bytes "$DEST") >= 8 << 20 )); }
t_wait_for "$first" 20 copied_8mib || t_die "the first download did not get 8 MiB far"
kill -KILL "$first"
wait "$T_BG_PID" 2>/dev/null
t_check "the killed download left its partial copy" test "$(leftovers)" -eq 1
t_check "the destination kept its old contents" grep -qx "the old contents" "$DEST"
left=$(find "$(dirname "$DEST")" -maxdepth 1 -name '.disk.img.aoe-cp-*')

# The next download removes it, says so, and copies the disk.
err=$T_TMP/err
ini_aoe client cp -i vc0 e0.1 "$DEST" 2>"$err"
rc=$?
t_log "second cp exit $rc: $(cat "$err")"
t_check "the next download succeeds" test "$rc" -eq 0
t_check "it says it removed the partial copy, naming it" \
    grep -qF "aoe cp: removed $left, the partial copy of an earlier download to $DEST that was killed" "$err"
t_check "no partial copy is left" test "$(leftovers)" -eq 0
t_check "the copy is exact" test "$(t_sha "$DEST")" = "$(t_sha "$IMAGE")"

t_finish
