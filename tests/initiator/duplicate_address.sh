#!/bin/bash
#
# duplicate_address.sh AOE_BINARY
#
# Two different disks given one address by mistake: `aoe serve` exports a 64 MiB image as e0.1
# and vblade a 32 MiB image with other bytes, also as e0.1, on one bridged segment with the
# client. The initiator must use only the disk of the first MAC that answered and say that the
# other MAC serves another disk (before the fix it made the two MACs one multipath disk, and a
# download took some frames from each image):
#   - scan: a warning on stderr, and --json lists the other MAC under "conflicting";
#   - ping: a config reply from each MAC, and both MACs named in the summary;
#   - cp download, three times: exactly the bytes and size of the disk it used, a warning once;
#   - cp upload: refused (exit 1): which disk it would write to can change from run to run; both
#     images keep their bytes. Also when vblade answers 0.3 s late (stopped, then continued):
#     an upload listens for other answers before writing (the first version checked only what
#     had answered when the first IDENTIFY was done, and a busy CI machine wrote the upload).
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, or vblade missing).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

ini_init "$1"
ini_require_root cmp jq
command -v vblade >/dev/null || t_skip "vblade not installed"

readonly MAC_SERVE=02:00:00:00:aa:01 MAC_VBLADE=02:00:00:00:bb:01
IMG_SERVE=$T_TMP/serve.img
IMG_VBLADE=$T_TMP/vblade.img
t_random_file "$IMG_SERVE" 64
t_random_file "$IMG_VBLADE" 32
VBLADE_SHA=$(t_sha "$IMG_VBLADE")
SERVE_SHA=$(t_sha "$IMG_SERVE")

# One switch: a bridge in namespace "sw" with a port to each target and to the client.
ini_netns sw
ini_netns t1
ini_netns t2
ini_netns client
SW=$(t_ns sw)
ip -n "$SW" link add br0 type bridge stp_state 0 forward_delay 0
ip -n "$SW" link set br0 up
t_veth "$(t_ns t1)" vt0 "$SW" p1 1500 "$MAC_SERVE"
t_veth "$(t_ns t2)" vt0 "$SW" p2 1500 "$MAC_VBLADE"
t_veth "$(t_ns client)" vc0 "$SW" pc 1500
for port in p1 p2 pc; do ip -n "$SW" link set "$port" master br0; done

ini_serve t1 -i vt0 "e0.1=$IMG_SERVE"
ini_vblade t2 0 1 vt0 "$IMG_VBLADE"
VBLADE_PID=$(t_child_of "$INI_TARGET_PID")  # vblade itself, not its `timeout`
t_check "vblade runs (pid ${VBLADE_PID:-none})" test -n "$VBLADE_PID"
ini_wait_target client vc0 e0.1
# Both answer (scan --json names every MAC it heard from, whichever list it is in).
both_answer() {
    ini_aoe client scan -i vc0 --timeout 0.3 --json 2>/dev/null >"$T_TMP/wait.json" &&
        grep -q "$MAC_SERVE" "$T_TMP/wait.json" && grep -q "$MAC_VBLADE" "$T_TMP/wait.json"
}
for (( i = 0; i < 20; i++ )); do both_answer && break; done
t_check "both targets answer e0.1" both_answer

err=$T_TMP/err
warning='is also answered by .* with another disk (.*); not using it: give each disk its own shelf.slot'

# --- scan ------------------------------------------------------------------------------------
ini_aoe client scan -i vc0 --timeout 0.5 --json >"$T_TMP/scan.json" 2>"$err"
t_expect "scan: exit 0 and a warning about the other disk" "$?" 0 "^aoe scan: e0.1 $warning" "$err"
conflicting=$(jq -r '.[0].conflicting | length' "$T_TMP/scan.json")
paths=$(jq -r '.[0].paths | length' "$T_TMP/scan.json")
t_check "scan --json: one path and one conflicting MAC (got $paths and $conflicting)" \
    test "$paths/$conflicting" == 1/1

# --- ping ------------------------------------------------------------------------------------
ini_aoe client ping -i vc0 -c 2 --interval 0.2 e0.1 >"$T_TMP/ping.out" 2>"$err"
t_expect "ping: exit 0" "$?" 0 "" "$T_TMP/ping.out"
t_check "ping: a config reply from aoe serve's MAC" grep -q "config reply from e0.1 ($MAC_SERVE)" \
    "$T_TMP/ping.out"
t_check "ping: a config reply from vblade's MAC" grep -q "config reply from e0.1 ($MAC_VBLADE)" \
    "$T_TMP/ping.out"
t_check "ping: the summary names both MACs" grep -q "^e0.1 answered from 2 MACs" "$T_TMP/ping.out"

# used_image ERRFILE: the image of the disk the initiator used, from the MAC its warning names.
used_image() {
    if grep -q "answered by $MAC_VBLADE with another disk" "$1"; then
        echo "$IMG_SERVE"
    elif grep -q "answered by $MAC_SERVE with another disk" "$1"; then
        echo "$IMG_VBLADE"
    fi
}

# --- cp download -----------------------------------------------------------------------------
# Which target answers first varies from run to run; each copy must be one whole disk.
for run in 1 2 3; do
    DOWN=$T_TMP/down.$run.img
    ini_aoe client cp -i vc0 --no-progress e0.1 "$DOWN" 2>"$err"
    rc=$?
    t_expect "download $run: exit 0 with the warning" "$rc" 0 "^aoe cp: e0.1 $warning" "$err"
    t_check "download $run: the warning is said once" test "$(grep -c "$warning" "$err")" -eq 1
    used=$(used_image "$err")
    if [[ -n "$used" ]] && cmp -s "$DOWN" "$used"; then
        t_pass "download $run: exactly the bytes of $(basename "$used")"
    else
        t_fail "download $run: not one disk's bytes ($(stat -c %s "$DOWN" 2>/dev/null) bytes; $(cat "$err"))"
    fi
done

# --- cp upload -------------------------------------------------------------------------------
UP=$T_TMP/up.img
t_random_file "$UP" 8
ini_aoe client cp -i vc0 --no-progress "$UP" e0.1 2>"$err"
t_expect "upload: refused, exit 1" "$?" 1 \
    "^aoe cp: e0.1 is answered by another disk too (.*), so which one this copy would write to can change from run to run; nothing was written" "$err"
t_check "upload: vblade's image keeps its bytes" test "$(t_sha "$IMG_VBLADE")" == "$VBLADE_SHA"
t_check "upload: aoe serve's image keeps its bytes" test "$(t_sha "$IMG_SERVE")" == "$SERVE_SHA"

# vblade answers late: aoe serve's answer and IDENTIFY come first, vblade's 0.3 s later.
kill -STOP "$VBLADE_PID"
ini_aoe client cp -i vc0 --no-progress "$UP" e0.1 2>"$err" &
cp_pid=$!
sleep 0.3
kill -CONT "$VBLADE_PID"
wait "$cp_pid"
t_expect "upload with vblade 0.3 s late: refused, exit 1" "$?" 1 \
    "^aoe cp: e0.1 is answered by another disk too ($MAC_VBLADE)" "$err"
t_check "upload with vblade late: aoe serve's image keeps its bytes" \
    test "$(t_sha "$IMG_SERVE")" == "$SERVE_SHA"
t_check "upload with vblade late: vblade's image keeps its bytes" \
    test "$(t_sha "$IMG_VBLADE")" == "$VBLADE_SHA"

t_finish
