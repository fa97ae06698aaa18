#!/usr/bin/env bash
# rbd_loops: one `aoe serve --loops 2` exporting an RBD image (docs/ceph.md, "Several event
# loops") to two initiator interfaces whose MACs the fanout gives to different loops (vc0's is
# even: loop 0; vc1's is odd: loop 1):
# - one handle: the cluster sees one watcher of the image, not one per loop (each loop opening
#   the image itself would pass its exclusive lock to and fro on every write);
# - both loops serve it: uploads through both interfaces at once, each read back through the
#   other one and found in the cluster (rbd export); `aoe ctl stats` shows each loop's commands;
# - resize + SIGHUP under reads from vc1: the new size is served by both loops, still through one
#   handle, the old handle is closed, and loop 1 dropped none of vc1's frames meanwhile;
# - an export added and reloaded with `aoe ctl` is served by both loops through one handle.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rbd_init "${1:-}" 2
t_require_cmds python3

# The fanout rule (net/fanout.h): an ATA request goes to loop (source MAC's last four bytes)
# mod loops.
ip -n "$RBD_C" link set vc0 address 02:ae:0f:00:00:0a || t_die "cannot set vc0's MAC"
ip -n "$RBD_C" link set vc1 address 02:ae:0f:00:00:0b || t_die "cannot set vc1's MAC"

readonly MIB=32
rbd_cli create --size "$MIB" rbd/disk || t_die "rbd create failed"
cat >"$T_TMP/serve.toml" <<TOML
interfaces = ["vt0", "vt1"]
loops = 2
state_dir = "$T_TMP/state"
control_socket = "$T_TMP/ctl.sock"
[[export]]
target = "e1.1"
path = "rbd:rbd/disk"
ceph_conf = "$CEPH_CONF"
TOML
t_serve "$RBD_T" --config "$T_TMP/serve.toml"
t_wait_target "$RBD_C" vc0 e1.1 "$SERVE_WRAPPER"
t_wait_target "$RBD_C" vc1 e1.1 "$SERVE_WRAPPER"

# watchers [IMAGE]: how many handles of IMAGE (rbd/disk) the cluster sees open (`rbd status`);
# -1 if it cannot say.
watchers() {
    local out
    if ! out=$(rbd_cli status "${1:-rbd/disk}" 2>&1); then
        t_log "rbd status failed: $out"
        echo -1
        return
    fi
    grep -c 'watcher=' <<<"$out"
}
# one_watcher [IMAGE]: exactly one (a handle closed a moment ago may linger briefly).
one_watcher() {
    local i n image=${1:-rbd/disk}
    for (( i = 0; i < 50; i++ )); do
        n=$(watchers "$image")
        [ "$n" -eq 1 ] && return 0
        sleep 0.2
    done
    t_log "rbd status $image: $n watchers: $(rbd_cli status "$image" 2>&1 | tr '\n' '|')"
    return 1
}
t_check "the two loops serve the image through one handle (one watcher)" one_watcher

# loop_commands K: ATA commands loop K has served.
loop_commands() {
    "$AOE_BIN" ctl -S "$T_TMP/ctl.sock" --json stats |
        python3 -c "import json, sys; print(json.load(sys.stdin)['loops'][$1]['ata_commands'])"
}

# Both loops at once: vc0 (loop 0) writes the first half, vc1 (loop 1) the second.
readonly HALF_SECTORS=$((MIB * 2048 / 2))
t_make_image "$T_TMP/a.img" $((MIB / 2))
t_make_image "$T_TMP/b.img" $((MIB / 2))
rbd_aoe cp -i vc0 --no-progress "$T_TMP/a.img" e1.1 >"$T_TMP/up-a.log" 2>&1 &
up_a=$!
t_defer "t_kill_pid $up_a"
rbd_aoe cp -i vc1 --no-progress "$T_TMP/b.img" e1.1 --seek-sectors "$HALF_SECTORS" \
    >"$T_TMP/up-b.log" 2>&1 || t_fail "the upload through vc1 (loop 1) failed: $(cat "$T_TMP/up-b.log")"
wait "$up_a" || t_fail "the upload through vc0 (loop 0) failed: $(cat "$T_TMP/up-a.log")"

# Each half read back through the other loop.
rbd_aoe cp -i vc1 --no-progress --count-sectors "$HALF_SECTORS" e1.1 "$T_TMP/a.down" ||
    t_fail "the download through vc1 failed"
rbd_aoe cp -i vc0 --no-progress --skip-sectors "$HALF_SECTORS" --count-sectors "$HALF_SECTORS" \
    e1.1 "$T_TMP/b.down" || t_fail "the download through vc0 failed"
t_check "what loop 0 wrote, loop 1 reads back" cmp -s "$T_TMP/a.img" "$T_TMP/a.down"
t_check "what loop 1 wrote, loop 0 reads back" cmp -s "$T_TMP/b.img" "$T_TMP/b.down"
rbd_cli export rbd/disk "$T_TMP/exported.img" >/dev/null 2>&1 || t_die "rbd export failed"
cat "$T_TMP/a.img" "$T_TMP/b.img" >"$T_TMP/both.img"
t_check "both loops' writes are in the cluster (rbd export)" \
    cmp -s "$T_TMP/both.img" "$T_TMP/exported.img"
served0=$(loop_commands 0)
served1=$(loop_commands 1)
t_log "ATA commands: loop 0 ${served0:-?}, loop 1 ${served1:-?}"
t_check "loop 0 served vc0's I/O (${served0:-0} commands)" [ "${served0:-0}" -gt 1000 ]
t_check "loop 1 served vc1's I/O (${served1:-0} commands)" [ "${served1:-0}" -gt 1000 ]
t_check "still one handle after I/O on both loops" one_watcher
rbd_cli lock ls rbd/disk >"$T_TMP/locks.txt" 2>&1 || t_die "rbd lock ls failed: $(cat "$T_TMP/locks.txt")"
t_log "rbd lock ls: $(tr '\n' '|' <"$T_TMP/locks.txt")"
t_check "one holder of the exclusive lock (rbd lock ls)" \
    test "$(grep -c '^client\.' "$T_TMP/locks.txt")" -eq 1

# Resize and reload: both loops serve the new size from a new handle; the old one is closed.
# A reload re-opens every rbd: export; vc1's reads go on meanwhile, and loop 1 must keep them
# waiting while the export is swapped, not drop them (the initiator would wait for its
# retransmit timer, about 2 s).
loop_dropped() {
    "$AOE_BIN" ctl -S "$T_TMP/ctl.sock" --json stats |
        python3 -c "import json, sys; print(json.load(sys.stdin)['loops'][$1]['dropped_not_for_us'])"
}
dropped_before=$(loop_dropped 1)
rbd_aoe bench -i vc1 e1.1 --rw randread --bs 4K --depth 8 --seconds 4 --timeout 10 \
    >"$T_TMP/bench.log" 2>&1 &
bench_pid=$!
t_defer "t_kill_pid $bench_pid"
sleep 1
rbd_cli resize --size $((MIB * 2)) rbd/disk >/dev/null 2>&1 || t_die "rbd resize failed"
kill -HUP "$SERVE_PID"
t_check "after rbd resize and SIGHUP the export has $((MIB * 2)) MiB" \
    t_wait_log "$SERVE_LOG" "e1.1.*exporting .*[(]$((MIB * 2 * 2048)) sectors" 1 10
wait "$bench_pid" || t_fail "reads through vc1 during the reload failed: $(cat "$T_TMP/bench.log")"
dropped_after=$(loop_dropped 1)
t_log "loop 1 dropped ${dropped_before:-?} then ${dropped_after:-?} frames not for it; bench: $(tr '\n' '|' <"$T_TMP/bench.log")"
t_check "loop 1 dropped none of vc1's frames while the export was re-opened" \
    [ "${dropped_after:-after}" = "${dropped_before:-before}" ]
t_make_image "$T_TMP/tail.img" 4
rbd_aoe cp -i vc1 --no-progress "$T_TMP/tail.img" e1.1 --seek-sectors $((MIB * 2048)) ||
    t_fail "an upload past the old end through vc1 (loop 1) failed"
rbd_aoe cp -i vc0 --no-progress --skip-sectors $((MIB * 2048)) --count-sectors $((4 * 2048)) \
    e1.1 "$T_TMP/tail.down" || t_fail "a download past the old end through vc0 (loop 0) failed"
t_check "past the old end, loop 1 writes and loop 0 reads back" \
    cmp -s "$T_TMP/tail.img" "$T_TMP/tail.down"
t_check "after the reload, one handle again (the old one closed)" one_watcher

# An export added and reloaded through the control socket is shared the same way.
rbd_cli create --size 8 rbd/disk2 || t_die "rbd create failed"
"$AOE_BIN" ctl -S "$T_TMP/ctl.sock" add "e1.2=$(rbd_spec rbd/disk2)" >"$T_TMP/ctl.log" 2>&1 ||
    t_fail "aoe ctl add of an rbd: export failed: $(cat "$T_TMP/ctl.log")"
t_make_image "$T_TMP/two.img" 8
rbd_aoe cp -i vc1 --no-progress "$T_TMP/two.img" e1.2 || t_fail "an upload to e1.2 through vc1 failed"
rbd_aoe cp -i vc0 --no-progress e1.2 "$T_TMP/two.down" || t_fail "a download of e1.2 through vc0 failed"
t_check "aoe ctl add: what loop 1 wrote, loop 0 reads back" cmp -s "$T_TMP/two.img" "$T_TMP/two.down"
t_check "aoe ctl add: one handle for both loops" one_watcher rbd/disk2
"$AOE_BIN" ctl -S "$T_TMP/ctl.sock" reload e1.2 >"$T_TMP/ctl.log" 2>&1 ||
    t_fail "aoe ctl reload e1.2 failed: $(cat "$T_TMP/ctl.log")"
t_check "aoe ctl reload: one handle again" one_watcher rbd/disk2

kill -TERM "$SERVE_PID"
wait "$SERVE_WRAPPER"
rc=$?
t_check "SIGTERM ends it cleanly (exit $rc)" [ "$rc" -eq 0 ]
t_check "no handle is left open after the stop" test "$(watchers)" -eq 0
t_finish
