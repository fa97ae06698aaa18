#!/bin/bash
#
# dead_target.sh AOE_BINARY
#
# The target is killed for good (SIGKILL) during a download. `aoe cp --timeout 5` must fail
# with exit 1 and one clear line naming the disk, the sectors in flight and the path, about
# 5 s after the last reply, and never hang (the whole cp runs under `timeout 60`). Then scan
# and ping must say that nothing answered, with the interface named, and, once the link has no
# carrier (the target's end taken down), that the interface has no link and what to do.
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
serve_pid=$SERVE_PID

DOWN=$T_TMP/down.img
err=$T_TMP/err
start=$(date +%s.%N)
timeout -k 5 60 ip netns exec "$(t_ns client)" "$AOE_BIN" cp -i vc0 --timeout 5 --depth 4 \
    e0.1 "$DOWN" 2>"$err" &
cp_pid=$!
for (( i = 0; i < 400; i++ )); do
    size=$(t_copied_bytes "$DOWN")
    (( size >= 8 << 20 )) && break
    kill -0 "$cp_pid" 2>/dev/null || break
    sleep 0.02
done
if kill -0 "$cp_pid" 2>/dev/null; then
    kill -KILL "$serve_pid"
    killed=$(date +%s.%N)
    t_log "target killed with $(( $(t_copied_bytes "$DOWN") >> 20 )) MiB copied"
else
    t_fail "the copy ended before the target could be killed"
    killed=$start
fi
wait "$cp_pid"
rc=$?
ended=$(date +%s.%N)
took=$(awk -v a="$killed" -v b="$ended" 'BEGIN { printf "%.1f", b - a }')
t_log "cp exit $rc after $took s: $(cat "$err")"
t_check "cp did not hang (timeout 60 not reached)" test "$rc" -ne 124
t_check "cp fails with exit 1" test "$rc" -eq 1
t_check "the failed download leaves neither down.img nor its partial copy" \
    test -z "$(find "$T_TMP" -maxdepth 1 -name '*down.img*')"
t_check "one line on stderr" test "$(wc -l <"$err")" -eq 1
t_check "the error names the disk, the timeout and the path" \
    grep -q '^aoe cp: reading e0.1 sectors [0-9]*-[0-9]*: no reply from e0.1 for 5 s on vc0' "$err"
t_check "cp gave up between 4 and 12 s after the kill ($took s)" \
    awk -v t="$took" 'BEGIN { exit !(t >= 4 && t <= 12) }'

ini_aoe client scan -i vc0 --timeout 0.5 >/dev/null 2>"$err"
rc=$?
t_expect "scan with no target: exit 1 and the interface named" "$rc" 1 '^aoe scan: no AoE target answered on vc0 within 0.5 s$' "$err"
ini_aoe client ping -i vc0 -c 2 --interval 0.1 --timeout 0.3 e0.1 >"$T_TMP/ping.out" 2>"$err"
rc=$?
t_expect "ping with no target: exit 1" "$rc" 1 'e0.1 did not answer on vc0' "$err"
t_check "ping counts no IDENTIFY it could not send" grep -q '^identify: 0 sent, 0 answered$' \
    "$T_TMP/ping.out"
ini_aoe client cp -i vc0 e0.1 "$DOWN" 2>"$err"
rc=$?
t_expect "cp with no target: exit 1 naming the interface" "$rc" 1 'e0.1 did not answer on vc0' "$err"

# A copy that never starts changes nothing on the local side: an existing destination keeps its
# bytes (it used to be emptied as it was opened), and one that did not exist is not left behind.
KEEP=$T_TMP/keep.img
ini_make_image "$KEEP" 1
keep_sha=$(t_sha "$KEEP")
ini_aoe client cp -i vc0 --timeout 0.5 e0.1 "$KEEP" 2>"$err"
t_expect "cp to an existing file with no target: exit 1" "$?" 1 'e0.1 did not answer on vc0' "$err"
t_check "the existing destination keeps its bytes" test "$(t_sha "$KEEP")" == "$keep_sha"
ini_aoe client cp -i vc0 --timeout 0.5 e0.1 "$T_TMP/new.img" 2>"$err"
t_expect "cp to a new file with no target: exit 1" "$?" 1 'e0.1 did not answer on vc0' "$err"
t_check "no destination file is left behind" test ! -e "$T_TMP/new.img"

# With the link up (above), nothing is said about links. Once the peer's end is down, vc0 has no
# carrier: the no-answer messages say so, as the likelier cause than a dead target.
ip -n "$(t_ns target)" link set vt0 down
# The kernel tells vc0 of its lost carrier asynchronously (linkwatch, up to a second later
# under load): wait for it, bounded, or the first check may still see the link up.
for (( i = 0; i < 50; i++ )); do
    ip -n "$(t_ns client)" link show vc0 | grep NO-CARRIER >/dev/null && break
    sleep 0.1
done
no_link='(no link on vc0: bring it up with `ip link set vc0 up` if it is down, else check its cable or peer)$'
ini_aoe client scan -i vc0 --timeout 0.5 >/dev/null 2>"$err"
t_expect "scan on a link without carrier says so" "$?" 1 "within 0.5 s $no_link" "$err"
ini_aoe client ping -i vc0 -c 1 --timeout 0.3 e0.1 >/dev/null 2>"$err"
t_expect "ping on a link without carrier says so" "$?" 1 "did not answer on vc0 $no_link" "$err"
ini_aoe client cp -i vc0 --timeout 0.5 e0.1 "$T_TMP/new.img" 2>"$err"
t_expect "cp on a link without carrier says so" "$?" 1 "ms $no_link" "$err"
for admin in config mask reserve; do
    ini_aoe client "$admin" -i vc0 --timeout 0.3 e0.1 >/dev/null 2>"$err"
    t_expect "$admin on a link without carrier says so" "$?" 1 "$no_link" "$err"
done

# A mask edit or reserve list longer than one frame on the link (MTU 1500: 185 directives, 248
# MACs) is refused before it is sent, as a bad argument: the kernel would refuse the frame
# (EMSGSIZE) and it would look like a target that does not answer.
dels=() macs=()
for (( i = 0; i < 186; i++ )); do dels+=(--del "02:00:00:00:01:$(printf %02x "$i")"); done
for (( i = 0; i < 249; i++ )); do macs+=("02:00:00:00:02:$(printf %02x "$i")"); done
ini_aoe client mask -i vc0 e0.1 "${dels[@]}" >/dev/null 2>"$err"
t_expect "a mask edit too long for the link: exit 2, naming the MTU" "$?" 2 \
    '^aoe mask: the mask edit needs a 1516-byte frame, more than vc0 carries (MTU 1500); send fewer entries per request$' "$err"
ini_aoe client reserve -i vc0 e0.1 "${macs[@]}" >/dev/null 2>"$err"
t_expect "a reserve list too long for the link: exit 2" "$?" 2 \
    'the reserve set needs a 1520-byte frame, more than vc0 carries (MTU 1500)' "$err"

t_finish
