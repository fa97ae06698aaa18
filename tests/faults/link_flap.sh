#!/usr/bin/env bash
# A link goes down and up during I/O, then its interface disappears (the veth is deleted) and
# comes back (re-created with the same name and MAC, as a re-plugged NIC would). The client
# and the target sit on either side of a bridge (vc===bc-[br0]-bt===vt), so that one end's
# interface goes while the other's stays.
#
# --side target (the default): the target's interface. `aoe serve` must keep running, re-bind
# to the re-created interface and serve again.
# --side client: the initiator's. Its engine re-reads its interfaces when frames go unanswered
# and re-binds its socket to the re-created one; then an `aoe cp` is made to ride through the
# same (its link deleted while the target holds its requests), and must copy exactly.
# Throughout, faults_soak_client runs random reads and writes checking every byte: nothing
# written may be lost or corrupted. The outages are far shorter than the initiator's dead
# timeout.
#
# --new-mac (target side): the interface comes back with a new MAC (a replaced NIC), and later
# its MAC changes while its link stays up (`ip link set address`). A port takes no frame sent to
# another host's MAC, so the initiator must learn the new one: the target announces its exports
# on each.
#
# --loops 2 (target side): the same over two event loops, with the client's MAC made odd so
# that its I/O is served by loop 1 (its discovery by loop 0). Their sockets are members of a
# fanout group, which the kernel will not let bind again: the re-created interface gets new
# sockets on every loop.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

loops=1
side=target
new_mac=0
while [ $# -gt 0 ]; do
    case $1 in
        --loops) loops=$2; shift 2 ;;
        --side) side=$2; shift 2 ;;
        --new-mac) new_mac=1; shift ;;  # target side
        *) t_die "usage: $0 [--side target|client] [--new-mac] [--loops N]" ;;
    esac
done
end=${side:0:1}   # t or c: faults_link_create's name for that end
iface=v$end

faults_init
faults_netns_bridged
if [ "$loops" -gt 1 ]; then
    FAULTS_MAC_c=02:ae:0f:00:00:0b
    ip -n "$FC" link set vc address "$FAULTS_MAC_c"
fi

image=$T_TMP/disk.img
truncate -s 64M "$image"
t_serve "$FT" -i vt --state-dir "$T_TMP/state" --loops "$loops" \
    --control-socket "$T_TMP/ctl.sock" e1.1="$image"

# The interface is back some 11 s after the soak is under way (13 s with --new-mac, whose live
# change comes 3 s later): 20 s leaves the I/O running for several seconds after the last fault.
soak_seconds=$(( new_mac ? 26 : 20 ))
faults_soak_client -i vc -t e1.1 --seconds "$soak_seconds" --depth 16 --dead-timeout 30 \
    >"$T_TMP/soak.out" 2>&1 &
soak_pid=$!
t_defer "t_kill_pid $soak_pid"
t_wait_log "$T_TMP/soak.out" 'prepared' 1 60 || t_die "the soak client did not start"

sleep 2
t_log "$side link down for 3 s"
ip -n "$(t_ns "$end")" link set "$iface" down
sleep 3
ip -n "$(t_ns "$end")" link set "$iface" up
if [ "$side" = target ]; then
    t_check "the target noticed the link going down" \
        t_wait_log "$SERVE_LOG" 'link down or interface gone' 1 5
    t_check "and coming back" t_wait_log "$SERVE_LOG" 'link up; announcing' 1 5
fi

sleep 3
t_log "$side interface deleted for 3 s"
faults_link_delete "$end"
sleep 3
t_check "the target is still running" t_serve_alive
# shellcheck disable=SC2034  # read by faults_link_create
[ "$new_mac" = 1 ] && FAULTS_MAC_t=02:ae:0f:00:01:01  # a replaced NIC
faults_link_create "$end"
if [ "$side" = target ]; then
    t_check "the target re-bound to the re-created interface" \
        t_wait_log "$SERVE_LOG" 'link up; announcing' 2 5
    if [ "$loops" -gt 1 ]; then
        t_check "with new sockets on every loop" t_wait_log "$SERVE_LOG" 'was re-created' 1 1
    fi
fi

t_check "the I/O is still running after the re-creation" t_alive "$soak_pid"

if [ "$new_mac" = 1 ]; then
    sleep 3
    t_log "the target's MAC changed while its link stays up"
    t_check "the I/O is still running when the MAC changes" t_alive "$soak_pid"
    ip -n "$FT" link set vt address 02:ae:0f:00:02:01
    t_check "the target announced its new MAC" \
        t_wait_log "$SERVE_LOG" 'new mac; announcing exports' 1 5
fi

wait "$soak_pid"
rc=$?
cat "$T_TMP/soak.out"
t_check "the I/O rode through both outages (exit $rc)" [ "$rc" -eq 0 ]
t_check "no byte was lost or corrupted" grep -q '^soak: [0-9]* ops.*, 0 mismatched sectors' "$T_TMP/soak.out"
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

if [ "$side" = client ]; then
    # aoe cp: the target's ATA requests are held (dropped on vt) from the moment the upload is
    # under way, the client's interface is deleted and re-created, and 1.5 s later they pass.
    source=$T_TMP/source.img
    t_make_image "$source" 64
    recreate_client_link() {
        faults_link_delete c
        faults_link_create c
    }
    T_BG_SECONDS=60 t_bg "$T_TMP/cp.log" ip netns exec "$FC" "$AOE_BIN" cp -i vc --depth 2 \
        --timeout 20 "$source" e1.1
    if t_hold_ata_around "$FT" vt "$(t_child_of "$T_BG_PID")" recreate_client_link; then
        t_log "cp: requests held while the client's interface was deleted and re-created"
    else
        t_fail "the upload did not get under way within 20 s"
    fi
    wait "$T_BG_PID"
    rc=$?
    t_log "cp exit $rc: $(cat "$T_TMP/cp.log")"
    t_check "aoe cp rode through the re-created interface (exit $rc)" [ "$rc" -eq 0 ]
    t_check "the disk holds the source" \
        test "$(t_sha_range "$image" 0 131072)" = "$(t_sha "$source")"
fi
t_finish
