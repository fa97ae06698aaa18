#!/bin/bash
#
# powercut.sh AOE_BINARY
#
# Power cuts of the target host while clients write to their overlays: the overlay directory
# lives on the power-cut harness (tests/powercut: a FUSE file system that keeps writes in memory
# until fsync/fdatasync and loses them when SIGKILLed), so a cut loses exactly what was not
# synced, as a real power cut loses a disk's volatile cache. Three cuts, after different delays:
#   - c1 and c2 upload round 1 of their own pattern (`aoe cp` ends with FLUSH), then round 2,
#     during which the power is cut (harness, then target, SIGKILLed);
#   - c3 has no overlay before round 2;
#   - after the harness is mounted again from its backing directory and the target restarted,
#     every sector c1 and c2 read is their round 1 (what FLUSH acknowledged) or round 2, never
#     the base, zeroes or the other's data; every sector c3 reads is the base or its round 2;
#   - `aoe overlay check` finds the directory consistent after each cut.
# The rules this proves (a map bit durable only after its data, docs/overlays.md) would fail it:
# without the data file's fdatasync before the map pages, the cut leaves mapped blocks whose
# data never reached the backing directory, which read as zeroes.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, no FUSE, no powercut_fs).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
ov_init "$1"
command -v findmnt >/dev/null || t_skip "findmnt (util-linux) missing"

readonly MIB=32 REGION_MIB=8 SEEK=2048
BASE=$T_TMP/golden.img
ini_make_image "$BASE" "$MIB"
BASE_SHA=$(t_sha "$BASE")
BACKING=$T_TMP/backing
MNT=$T_TMP/mnt
OVERLAY_DIR=$MNT
mkdir -p "$BACKING" "$MNT"
ov_client c1 02:00:00:0f:04:01
ov_client c2 02:00:00:0f:04:02
ov_client c3 02:00:00:0f:04:03
dd if="$BASE" of="$T_TMP/base-region.bin" bs=1M skip=1 count=$REGION_MIB status=none

# The harness is one flat directory of files whose names are durable at once, without rename:
# the overlay directory is the harness itself, and its versions.json (which aoe serve would
# write with a rename) is made in the backing directory before the mount, as an image would be.
make_skeleton() {
    rm -rf "$BACKING"
    mkdir -p "$BACKING"
    printf '{"format": 1, "size_bytes": %d, "current": 1, "next_id": 2, "versions": [{"id": 1, "parent": 0, "file": "", "created_unix": 0, "from_client": ""}]}\n' \
        $(( MIB << 20 )) >"$BACKING/versions.json"
}
pc_mount() { powercut_mount "$MNT" "$BACKING"; }
# The power cut: the harness first (unsynced writes are gone), then the rest of the host.
pc_cut() {
    powercut_cut
    local server
    server=$(t_child_of "$INI_TARGET_PID")
    [[ -n $server ]] && kill -KILL "$server" 2>/dev/null
    t_kill_pid "$INI_TARGET_PID"
}


cut=0
for delay in 0.2 0.5 1.0; do
    cut=$(( cut + 1 ))
    make_skeleton
    pc_mount
    ov_crash_rounds "cut$cut"
    sleep "$delay"
    pc_cut
    for p in "${OV_ROUND2_PIDS[@]}"; do wait "$p"; done
    synced=$(grep -c . "$T_TMP/powercut.log" 2>/dev/null || echo 0)

    pc_mount
    ov_crash_verify "cut $cut (after ${delay}s, $synced syncs so far)"
    t_kill_pid "$POWERCUT_WRAPPER"   # a clean unmount between cuts
    mountpoint -q "$MNT" && umount -l "$MNT"
done
t_check "the base image never changed" test "$(t_sha "$BASE")" = "$BASE_SHA"

t_finish
