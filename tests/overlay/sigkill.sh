#!/bin/bash
#
# sigkill.sh AOE_BINARY
#
# SIGKILL of the target while clients write to their overlays must never make an overlay return
# data that was not written, nor lose what a FLUSH acknowledged. Three kills, each after a
# different delay into the writes:
#   - c1 and c2 first upload round 1 of their own pattern (acknowledged by FLUSH), then round 2,
#     during which the target is killed;
#   - c3 has no overlay before round 2: its overlay is created during the writes the kill cuts;
#   - after the restart every sector c1 and c2 read is its round 1 or round 2 (never the base,
#     never zeroes, never the other client's), every sector c3 reads is the base or its round 2;
#   - `aoe overlay check` finds the directory consistent right after each kill.
# A kill only stops the process; the power-cut test (powercut.sh) cuts the host's storage too.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
ov_init "$1"

readonly MIB=32 REGION_MIB=16 SEEK=2048
BASE=$T_TMP/golden.img
ini_make_image "$BASE" "$MIB"
BASE_SHA=$(t_sha "$BASE")
OVERLAY_DIR=$T_TMP/e0.1
ov_client c1 02:00:00:0f:02:01
ov_client c2 02:00:00:0f:02:02
ov_client c3 02:00:00:0f:02:03
dd if="$BASE" of="$T_TMP/base-region.bin" bs=1M skip=1 count=$REGION_MIB status=none

iteration=0
for delay in 0.2 0.6 1.2; do
    iteration=$(( iteration + 1 ))
    rm -rf "$OVERLAY_DIR"
    ov_crash_rounds "kill$iteration"
    sleep "$delay"
    server=$(t_child_of "$INI_TARGET_PID")
    [[ -n $server ]] && kill -KILL "$server"
    for p in "${OV_ROUND2_PIDS[@]}"; do wait "$p"; done
    t_kill_pid "$INI_TARGET_PID"

    ov_crash_verify "kill $iteration (after ${delay}s)"
done
t_check "the base image never changed" test "$(t_sha "$BASE")" = "$BASE_SHA"

t_finish
