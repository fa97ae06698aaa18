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
IMAGE=$INI_TMP/disk.img
ini_make_image "$IMAGE" "$MIB"
ORIGINAL_SHA=$(ini_sha "$IMAGE")

ini_netns target
ini_netns client
ini_link target vt0 client vc0 1500
ini_link target vt1 client vc1 1500
ini_serve target -i vt0 -i vt1 "e0.1=$IMAGE"
ini_wait_target client vc0 e0.1
ini_wait_target client vc1 e0.1

out=$INI_TMP/out
DOWN=$INI_TMP/down.img
ini_aoe client cp -i vc0 -i vc1 --timeout 20 --json -v e0.1 "$DOWN" >"$out" 2>"$INI_TMP/err" &
cp_pid=$!
# Take vt1 down once the copy is well under way (32 MiB written), at most 20 s from now.
for (( i = 0; i < 400; i++ )); do
    size=$(stat -c %s "$DOWN" 2>/dev/null || echo 0)
    (( size >= 32 << 20 )) && break
    kill -0 "$cp_pid" 2>/dev/null || break
    sleep 0.05
done
if kill -0 "$cp_pid" 2>/dev/null; then
    ip -n "$(ini_ns target)" link set vt1 down
    ini_log "vt1 down with $(( $(stat -c %s "$DOWN") >> 20 )) MiB copied"
    ini_pass "link went down during the copy"
else
    ini_fail "the copy ended before the link could be taken down; make it slower"
fi
wait "$cp_pid"
rc=$?
ini_log "cp stderr: $(tr '\n' '|' <"$INI_TMP/err")"
if [[ $rc -eq 0 ]]; then
    ini_pass "download over two paths with one going down: exit 0"
    ini_check "download: same SHA-256" test "$(ini_sha "$DOWN")" == "$ORIGINAL_SHA"
    # The summary lists both paths (keys in alphabetical order); vc1 must be the one down.
    ini_check "--json reports path vc1 down" grep -Pzq '"interface": "vc1",[^}]*"up": false' "$out"
    ini_check "--json reports path vc0 up" grep -Pzq '"interface": "vc0",[^}]*"up": true' "$out"
    ini_check "-v reports the path down" grep -q 'path vc1 -> .*: DOWN' "$INI_TMP/err"
else
    ini_fail "download exit $rc: $(cat "$INI_TMP/err")"
fi

# Upload with vt1 still down: the engine must not lose writes sent on the dead path.
UP=$INI_TMP/up.img
ini_make_image "$UP" 64
ini_aoe client cp -i vc0 -i vc1 --timeout 20 "$UP" e0.1 2>"$INI_TMP/err"
rc=$?
ini_check "upload with one path down: exit 0" test "$rc" -eq 0
ini_check "upload with one path down: data on the target" \
    test "$(ini_sha_range "$IMAGE" 0 $(( 64 * 2048 )))" == "$(ini_sha "$UP")"

ini_finish
