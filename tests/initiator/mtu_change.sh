#!/bin/bash
#
# mtu_change.sh AOE_BINARY
#
# The MTU is lowered from 9000 to 1500 while `aoe cp` copies. The copy must go on in smaller
# frames and end exactly, with exit 0. Two cases, each failing with the aoe before (after
# --timeout, or at once with the target's refusal):
#   - upload, both ends lowered (a segment going back from jumbo frames): the kernel refuses
#     cp's 9000-byte frames as too long, so they go unanswered; cp re-reads its interface and
#     cuts the frames it had built to the new size;
#   - download, the target's end only: `aoe serve` sees its new MTU (it re-reads it every
#     second) and refuses requests for more sectors than a frame now carries with AoE error 2
#     (aoe-protocol.md, section 8); cp asks for fewer and asks the target how many it takes.
# To make each case certain, the target's ATA requests are held (dropped by nftables on its
# interface) from the moment the copy is under way until 1.5 s after the MTU changed.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

ini_init "$1"
ini_require_root nft

IMAGE=$T_TMP/disk.img
ini_make_image "$IMAGE" 256
SOURCE=$T_TMP/source.img
t_make_image "$SOURCE" 256
DEST=$T_TMP/down.img

ini_netns target
ini_netns client
ini_link target vt0 client vc0 9000
ini_serve target -i vt0 "e0.1=$IMAGE"
ini_wait_target client vc0 e0.1

both_ends_1500() {
    ip -n "$(t_ns client)" link set vc0 mtu 1500
    ip -n "$(t_ns target)" link set vt0 mtu 1500
}
target_end_1500() { ip -n "$(t_ns target)" link set vt0 mtu 1500; }

# run_cp NAME LOWER CP_ARGS...: cp in the background (--depth 2, --timeout 10); once the target
# has seen 200 requests, holds them, runs LOWER, waits 1.5 s and lets them pass again
# (t_hold_ata_around).
run_cp() {
    local name=$1 lower=$2 rc
    shift 2
    T_BG_SECONDS=60 t_bg "$T_TMP/$name.log" ip netns exec "$(t_ns client)" "$AOE_BIN" cp \
        -i vc0 --depth 2 --timeout 10 "$@"
    if t_hold_ata_around "$(t_ns target)" vt0 "$(t_child_of "$T_BG_PID")" "$lower"; then
        t_log "$name: requests held around $lower"
    else
        t_fail "$name: the copy did not get under way within 20 s"
    fi
    wait "$T_BG_PID"
    rc=$?
    t_log "$name: cp exit $rc: $(cat "$T_TMP/$name.log")"
    t_check "$name: cp succeeds" test "$rc" -eq 0
    t_check "$name: cp says only what it copied" grep -q "^256 MiB (268435456 bytes) copied" \
        "$T_TMP/$name.log"
}

run_cp upload both_ends_1500 "$SOURCE" e0.1
t_check "upload: the disk holds the source" \
    test "$(t_sha_range "$IMAGE" 0 524288)" = "$(t_sha "$SOURCE")"

ip -n "$(t_ns client)" link set vc0 mtu 9000
ip -n "$(t_ns target)" link set vt0 mtu 9000
# The download must start with 9000-byte frames: once aoe serve has seen its MTU back.
t_wait_log "$SERVE_LOG" 'mtu changed from 1500 to 9000' 1 5 "$SERVE_PID" ||
    t_die "aoe serve did not see its MTU raised again within 5 s"
run_cp download target_end_1500 e0.1 "$DEST"
t_check "download: the copy is exact" test "$(t_sha "$DEST")" = "$(t_sha "$IMAGE")"

t_finish
