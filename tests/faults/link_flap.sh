#!/usr/bin/env bash
# The target's link goes down and up during I/O, then its interface disappears (the veth is
# deleted) and comes back (re-created with the same name and MAC, as a re-plugged NIC would).
# The client sits behind a bridge (vc===bc-[br0]-bt===vt) so that its own interface stays.
# Throughout, faults_soak_client runs random reads and writes checking every byte: the target
# must keep running, re-bind to the re-created interface, serve again, and nothing written may
# be lost or corrupted. The outages are far shorter than the initiator's dead timeout.
#
# --loops 2: the same over two event loops, with the client's MAC made odd so that its I/O is
# served by loop 1 (its discovery by loop 0). Their sockets are members of a fanout group, which
# the kernel will not let bind again: the re-created interface gets new sockets on every loop.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

loops=1
[ "${1:-}" = --loops ] && loops=$2

faults_init
faults_netns_bridged
[ "$loops" -gt 1 ] && ip -n "$FC" link set vc address 02:ae:0f:00:00:0b

image=$T_TMP/disk.img
truncate -s 64M "$image"
t_serve "$FT" -i vt --state-dir "$T_TMP/state" --loops "$loops" \
    --control-socket "$T_TMP/ctl.sock" e1.1="$image"

faults_soak_client -i vc -t e1.1 --seconds 24 --depth 16 --dead-timeout 30 \
    >"$T_TMP/soak.out" 2>&1 &
soak_pid=$!
t_defer "t_kill_pid $soak_pid"
t_wait_log "$T_TMP/soak.out" 'prepared' 1 60 || t_die "the soak client did not start"

sleep 3
t_log "link down for 3 s"
ip -n "$FT" link set vt down
sleep 3
ip -n "$FT" link set vt up
t_check "the target noticed the link going down" \
    t_wait_log "$SERVE_LOG" 'link down or interface gone' 1 5
t_check "and coming back" t_wait_log "$SERVE_LOG" 'link up; announcing' 1 5

sleep 3
t_log "interface deleted for 3 s"
faults_target_link_delete
sleep 3
t_check "the target is still running without its interface" t_serve_alive
faults_target_link_create
t_check "the target re-bound to the re-created interface" \
    t_wait_log "$SERVE_LOG" 'link up; announcing' 2 5
if [ "$loops" -gt 1 ]; then
    t_check "with new sockets on every loop" t_wait_log "$SERVE_LOG" 'was re-created' 1 1
fi

wait "$soak_pid"
rc=$?
cat "$T_TMP/soak.out"
t_check "the I/O rode through both outages (exit $rc)" [ "$rc" -eq 0 ]
t_check "no byte was lost or corrupted" grep -q '^soak: .* 0 mismatched sectors' "$T_TMP/soak.out"
rexmit=$(sed -n 's/^soak: .* \([0-9]*\) retransmits.*/\1/p' "$T_TMP/soak.out")
t_check "the outages really hit the I/O (${rexmit:-0} retransmits)" [ "${rexmit:-0}" -gt 0 ]
t_check "the target is the same process" t_serve_alive
if [ "$loops" -gt 1 ]; then
    served=$("$AOE_BIN" ctl -S "$T_TMP/ctl.sock" --json stats |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["loops"][1]["ata_commands"])')
    t_check "loop 1 served the client's I/O (${served:-0} commands)" [ "${served:-0}" -gt 1000 ]
fi
t_check "a new client is served on the re-created interface" \
    faults_soak_client -i vc -t e1.1 --seconds 2 --depth 8
t_finish
