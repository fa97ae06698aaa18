#!/bin/bash
#
# trunk.sh AOE_BINARY
#
# Multipath: the target serves one disk on two interfaces, the initiator reaches it over two
# veth pairs (MTU 1500, so a copy takes hundreds of thousands of frames). During a 256 MiB
# download one link is taken down in the target namespace; the copy must still complete with
# the right SHA-256, and its --json summary must report that path as down with its timeouts.
# Then an upload over the one remaining path (the down path stays down) must also arrive whole.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

ini_init "$1"
ini_require_root

readonly MIB=256
IMAGE=$T_TMP/disk.img
ini_make_image "$IMAGE" "$MIB"
ORIGINAL_SHA=$(t_sha "$IMAGE")

ini_netns target
ini_netns client
ini_link target vt0 client vc0 1500
ini_link target vt1 client vc1 1500
# The path must be declared down while the copy still runs, which takes the initiator's
# down_after_silence (500 ms) without a reply on it. At the default 64 buffers this copy moved
# 400 MB/s, and what was left when the link went down could end first (0.5 s; the test then
# failed). Two buffers keep each path's window, and so the copy, slow enough whatever the speed
# of the data path: here the rest took 2.7 s and the path was down after 0.6 s.
ini_serve target --bufcnt 2 -i vt0 -i vt1 "e0.1=$IMAGE"
ini_wait_target client vc0 e0.1
ini_wait_target client vc1 e0.1

out=$T_TMP/out
DOWN=$T_TMP/down.img
ini_aoe client cp -i vc0 -i vc1 --timeout 20 --json -v e0.1 "$DOWN" >"$out" 2>"$T_TMP/err" &
cp_pid=$!
# Take vt1 down once the copy is well under way (32 MiB written), at most 20 s from now.
for (( i = 0; i < 400; i++ )); do
    size=$(t_copied_bytes "$DOWN")
    (( size >= 32 << 20 )) && break
    kill -0 "$cp_pid" 2>/dev/null || break
    sleep 0.05
done
# link_down NS IF: the kernel reports IF without the UP flag.
link_down() { ! ip -n "$1" -o link show "$2" | grep '[<,]UP[,>]' >/dev/null; }
if kill -0 "$cp_pid" 2>/dev/null; then
    ip -n "$(t_ns target)" link set vt1 down
    copied=$(t_copied_bytes "$DOWN")
    t_log "vt1 down with $(( copied >> 20 )) MiB copied"
    t_check "vt1 is down" link_down "$(t_ns target)" vt1
    t_check "the copy was still running when vt1 went down" kill -0 "$cp_pid"
    t_check "it had data left to copy ($(( copied >> 20 )) of $MIB MiB done)" \
        [ "$copied" -lt $(( MIB << 20 )) ]
else
    t_fail "the copy ended before the link could be taken down; make it slower"
fi
wait "$cp_pid"
rc=$?
t_log "cp stderr: $(tr '\n' '|' <"$T_TMP/err")"
if [[ $rc -eq 0 ]]; then
    t_pass "download over two paths with one going down: exit 0"
    t_check "download: same SHA-256" test "$(t_sha "$DOWN")" == "$ORIGINAL_SHA"
    # The summary lists both paths (keys in alphabetical order); vc1 must be the one down.
    t_check "--json reports path vc1 down" grep -Pzq '"interface": "vc1",[^}]*"up": false' "$out"
    t_check "--json reports path vc0 up" grep -Pzq '"interface": "vc0",[^}]*"up": true' "$out"
    t_check "-v reports the path down" grep -q 'path vc1 -> .*: DOWN' "$T_TMP/err"
else
    t_fail "download exit $rc: $(cat "$T_TMP/err")"
fi

# Upload with vt1 still down: the engine must not lose writes sent on the dead path.
UP=$T_TMP/up.img
ini_make_image "$UP" 64
ini_aoe client cp -i vc0 -i vc1 --timeout 20 "$UP" e0.1 2>"$T_TMP/err"
rc=$?
t_check "upload with one path down: exit 0" test "$rc" -eq 0
t_check "upload with one path down: data on the target" \
    test "$(t_sha_range "$IMAGE" 0 $(( 64 * 2048 )))" == "$(t_sha "$UP")"

t_finish
