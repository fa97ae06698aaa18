#!/bin/bash
#
# jumbo_dropped.sh AOE_BINARY
#
# Jumbo frames on both hosts (MTU 9000), a link between that carries only standard frames: a
# switch without jumbo frames, played by nftables dropping every AoE frame over 1514 bytes at
# both ends' ingress (`meta length` there leaves out the 14-byte Ethernet header, so
# `gt 1500` is what a 1500-byte switch port drops). Config queries and short replies pass, every
# 17-sector frame is lost.
# `aoe cp` must notice, say so once, go on in 2-sector frames and copy exactly, with exit 0:
#   - a download from `aoe serve` (its long replies are lost);
#   - an upload to `aoe serve` (its long requests are lost);
#   - a download from vblade, which advertises 17 sectors at MTU 9000 too.
# Each fails without the initiator's frame size probe: every long frame times out until
# --timeout ("no reply from e0.1 for 10 s").
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, nft or vblade missing).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

ini_init "$1"
ini_require_root nft vblade

IMAGE=$T_TMP/disk.img
ini_make_image "$IMAGE" 64
SOURCE=$T_TMP/source.img
t_make_image "$SOURCE" 64

ini_netns target
ini_netns client
ini_link target vt0 client vc0 9000
# The switch: frames longer than a 1500-byte MTU carries vanish, both ways.
t_nft_rule "$(t_ns target)" switch ingress vt0 meta length gt 1500 counter drop
t_nft_rule "$(t_ns client)" switch ingress vc0 meta length gt 1500 counter drop

NOTICE='frames get no reply on vc0 .* while 1060-byte ones do: a switch or link between does not carry MTU 9000; using 2-sector frames'

# copy NAME SRC DST: aoe cp with a 10 s dead-target timeout; checks exit 0, the one notice and
# the summary line.
copy() {
    local name=$1 rc
    shift
    ini_aoe client cp -i vc0 --timeout 10 --no-progress "$@" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err"
    rc=$?
    t_log "$name: cp exit $rc: $(cat "$T_TMP/$name.out" "$T_TMP/$name.err")"
    t_check "$name: cp succeeds" test "$rc" -eq 0
    t_check "$name: cp says once that the link drops long frames" \
        test "$(grep -c -- "$NOTICE" "$T_TMP/$name.err")" -eq 1
    t_check "$name: cp copied all of it" \
        grep -q "^64 MiB (67108864 bytes) copied" "$T_TMP/$name.out" "$T_TMP/$name.err"
}

# dropped NS: frames the switch dropped at NS's end so far.
dropped() { t_nft_counted "$(t_ns "$1")" switch in_"$2"; }

ini_serve target -i vt0 "e0.1=$IMAGE"
ini_wait_target client vc0 e0.1

copy download e0.1 "$T_TMP/down.img"
t_check "download: the copy is exact" test "$(t_sha "$T_TMP/down.img")" = "$(t_sha "$IMAGE")"
t_check "download: the switch dropped long replies" test "$(dropped client vc0)" -gt 0

copy upload "$SOURCE" e0.1
t_check "upload: the disk holds the source" test "$(t_sha "$IMAGE")" = "$(t_sha "$SOURCE")"
t_check "upload: the switch dropped long requests" test "$(dropped target vt0)" -gt 0

t_stop_pid "$INI_TARGET_PID"
ini_vblade target 0 2 vt0 "$SOURCE"
ini_wait_target client vc0 e0.2
before=$(dropped client vc0)
copy vblade e0.2 "$T_TMP/vblade.img"
t_check "vblade: the copy is exact" test "$(t_sha "$T_TMP/vblade.img")" = "$(t_sha "$SOURCE")"
t_check "vblade: the switch dropped long replies" test "$(dropped client vc0)" -gt "$before"

t_finish
