#!/usr/bin/env bash
# A trunked upload (`aoe cp -i vc0 -i vc1`: two local ports, each with its own MAC) is a
# flushing client on every link. `aoe serve` (durability auto) acknowledges a host's writes
# from its page cache only once that MAC has sent a FLUSH, and syncs the writes of any other
# MAC one group commit at a time. cp's FLUSH went down one path, so before the fix about half
# of a two-link upload was synced write by write.
#
# The image lives on the power-cut harness (README.md), which logs every sync it is asked for.
# Checks: the upload arrives whole; the target synced it in few, large syncs (the FLUSHes)
# rather than many small ones; and a power cut right after cp's exit loses nothing.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"

t_init
t_require_root "network namespaces, FUSE mounts"
t_require_cmds ip timeout findmnt cmp awk
t_find_aoe

readonly MIB=64
NT=$(t_ns t)
NC=$(t_ns c)
t_netns_pair "$NT" vt0 "$NC" vc0
t_veth "$NT" vt1 "$NC" vc1 1500
backing=$T_TMP/backing
mnt=$T_TMP/mnt
mkdir -p "$backing"
truncate -s "${MIB}M" "$backing/disk.img"
powercut_mount "$mnt" "$backing"
src=$T_TMP/src.img
t_random_file "$src" "$MIB"

t_serve "$NT" -i vt0 -i vt1 --state-dir "$T_TMP/state" "e1.1=$mnt/disk.img"
t_wait_target "$NC" vc0 e1.1 "$SERVE_WRAPPER"
t_wait_target "$NC" vc1 e1.1 "$SERVE_WRAPPER"

syncs_before=$(wc -l <"$POWERCUT_LOG")
t_in "$NC" "$AOE_BIN" cp -i vc0 -i vc1 --no-progress --json "$src" e1.1 >"$T_TMP/cp.json" \
    2>"$T_TMP/cp.err" || { cat "$T_TMP/cp.err" >&2; t_die "the upload failed"; }
# Both links carried writes, or the test shows nothing about trunking.
t_check "the upload used both paths" python3 -c '
import json, sys
paths = json.load(open(sys.argv[1]))["paths"]
sys.exit(0 if len(paths) == 2 and all(p["sent"] > 0 for p in paths) else 1)' \
    "$T_TMP/cp.json"
syncs=$(tail -n +"$((syncs_before + 1))" "$POWERCUT_LOG" | grep -c "^sync disk.img")
t_log "the target synced the upload in $syncs syncs"
# A FLUSH per 128 MiB segment to declare, one to end it, and a sync per link's declaration:
# a handful. Write by write it was hundreds.
t_check "the target synced the upload at cp's FLUSHes only ($syncs syncs, at most 8)" \
    [ "$syncs" -le 8 ]
t_serve_kill9
powercut_cut
powercut_remount
t_check "what cp reported flushed survives a power cut" cmp -s "$src" "$mnt/disk.img"
t_finish
