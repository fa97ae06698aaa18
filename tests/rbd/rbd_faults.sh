#!/usr/bin/env bash
# rbd_faults: what an RBD export does when its cluster goes away while it serves, and when it
# comes back (docs/ceph.md, "Failures"). Two outages, one after the other, against one target:
# 1. The OSD stops (SIGSTOP): every I/O request goes unanswered, as in a network partition.
# 2. The whole cluster restarts: the monitor is killed (SIGKILL) and the OSD stopped; then the
#    monitor is started again from its store on disk, on the same address, and the OSD
#    continued. (memstore keeps the objects in the OSD's memory, so a killed OSD would come back
#    empty: SIGSTOP/SIGCONT is the only way to take it away and get the data back.)
# In each outage, reads and writes fail with ATA errors after rados_osd_op_timeout (3 s here):
# `aoe cp` ends with an error instead of hanging (a copy already running too, within 30 s), and
# the target still answers. After it, the same target process serves the data written before the
# outage, and accepts writes, without a restart (librados reconnects). (Unreachable at start,
# exit 2: rbd_serve.sh.)
#
# RBD_FAULTS_HOLD=SECONDS keeps the cluster of outage 2 down that much longer, with writes
# retried through the target all the while (for exploring long outages; default 0).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rbd_init "${1:-}" 1

rbd_cli create --size 16 rbd/disk || t_die "rbd create failed"
# Short operation timeouts for the target (ceph.conf wins over aoekit's defaults).
printf 'rados osd op timeout = 3\nrados mon op timeout = 3\n' >>"$CEPH_CONF"
t_serve "$RBD_T" -i vt0 --state-dir "$T_TMP/state" "e1.1=$(rbd_spec rbd/disk)"
t_wait_target "$RBD_C" vc0 e1.1 "$SERVE_WRAPPER"
t_make_image "$T_TMP/data.img" 4
rbd_aoe cp -i vc0 --no-progress "$T_TMP/data.img" e1.1 >/dev/null 2>&1 || t_die "upload failed"
t_defer "kill -CONT \$CEPH_OSD_PID 2>/dev/null"

# fails_during WHAT: a read and a write through the target fail (no hang); the target answers.
fails_during() {
    local what=$1 start rc
    start=$SECONDS
    rbd_aoe cp -i vc0 --no-progress --timeout 120 --count-sectors 64 e1.1 "$T_TMP/during.img" \
        >"$T_TMP/read.err" 2>&1
    rc=$?
    t_log "$what: read: exit $rc after $((SECONDS - start)) s: $(tr '\n' '|' <"$T_TMP/read.err")"
    t_check "$what: a read fails (no hang)" test "$rc" -ne 0
    t_check "$what: the read fails with an ATA error from the target" \
        grep -qiE 'error|failed' "$T_TMP/read.err"
    start=$SECONDS
    rbd_aoe cp -i vc0 --no-progress --timeout 120 --count-sectors 64 "$T_TMP/data.img" e1.1 \
        >"$T_TMP/write.err" 2>&1
    rc=$?
    t_log "$what: write: exit $rc after $((SECONDS - start)) s: $(tr '\n' '|' <"$T_TMP/write.err")"
    t_check "$what: a write fails (no hang)" test "$rc" -ne 0
    t_check "$what: the target still answers" t_in "$RBD_C" "$AOE_BIN" config -i vc0 e1.1 --timeout 2
    t_check "$what: the target is still running" t_serve_alive
}

# osd_diagnostics: what the OSD says about the requests it holds, and the PG state.
osd_diagnostics() {
    local asok
    asok=$(ls "$CEPH_DIR"/run/ceph-osd.0.*.asok 2>/dev/null | head -n 1)
    ceph_in "$RBD_T" timeout 10 ceph -s >&2
    grep -E 'slow|laggy|lease' "$CEPH_DIR/log/osd.0.log" | tail -n 4 >&2
    [[ -n $asok ]] || return 0
    timeout 10 ip netns exec "$RBD_T" ceph --admin-daemon "$asok" dump_ops_in_flight \
        >"$T_TMP/ops.json" 2>&1
    python3 -c 'import json, sys, collections
ops = json.load(sys.stdin).get("ops", [])
print("OSD ops in flight:", len(ops), file=sys.stderr)
seen = collections.Counter()
for op in ops:
    td = op.get("type_data", {})
    seen[(td.get("flag_point"), " > ".join(e["event"] for e in td.get("events", [])[-3:]))] += 1
for (flag, events), n in seen.most_common(5):
    print(f"  {n} x {flag}: ... {events}", file=sys.stderr)' <"$T_TMP/ops.json" 2>&1 >&2
    for pg in $(grep -oE 'osd_op\(client[^ ]* [0-9]+\.[0-9a-f]+' "$T_TMP/ops.json" | awk '{print $2}' | sort -u | head -n 2); do
        ceph_in "$RBD_T" timeout 10 ceph pg "$pg" query 2>/dev/null |
            python3 -c 'import json, sys; j = json.load(sys.stdin); print("  pg", j.get("info", {}).get("pgid"), "state", j.get("state"))' >&2
    done
}

# serves_again WHAT DATA: within 60 s the same target reads DATA back and accepts a write.
serves_again() {
    local what=$1 data=$2 start=$SECONDS ok=0
    while (( SECONDS - start < 60 )); do
        if rbd_aoe cp -i vc0 --no-progress --timeout 10 --count-sectors $((4 * 2048)) e1.1 \
            "$T_TMP/after.img" >/dev/null 2>&1 && cmp -s "$T_TMP/after.img" "$data"; then
            ok=1
            break
        fi
        sleep 1
    done
    t_log "$what: served again after $((SECONDS - start)) s"
    (( ok )) || osd_diagnostics
    t_check "$what: the same target serves the data written before, within 60 s" test "$ok" -eq 1
    t_make_image "$T_TMP/next.img" 4
    rbd_aoe cp -i vc0 --no-progress --timeout 30 "$T_TMP/next.img" e1.1 >/dev/null 2>&1
    t_check "$what: and accepts writes again" test $? -eq 0
    cp "$T_TMP/next.img" "$T_TMP/data.img"
    t_check "$what: no restart: the same process" t_serve_alive
}

# --- 1. The OSD goes away and comes back -----------------------------------------------------
kill -STOP "$CEPH_OSD_PID"
t_log "OSD stopped (SIGSTOP)"
fails_during "OSD stopped"
kill -CONT "$CEPH_OSD_PID"
t_log "OSD continued (SIGCONT)"
serves_again "OSD back" "$T_TMP/data.img"

# --- 2. The cluster restarts: monitor killed and started again, OSD stopped and continued -----
# Downloads one after the other, until one fails; the cluster goes down under them.
(
    for (( i = 0; i < 1000; i++ )); do
        rbd_aoe cp -i vc0 --no-progress --timeout 120 e1.1 "$T_TMP/busy.img" >"$T_TMP/busy.err" 2>&1 ||
            { echo "$i" >"$T_TMP/busy.failed"; exit 0; }
    done
) &
busy=$!
sleep 1
ceph_kill_mon
kill -STOP "$CEPH_OSD_PID"
down=$SECONDS
t_log "monitor killed, OSD stopped"
# As promptly as a new request: the target fails what it has in flight after the op timeout
# (3 s), and aoe cp cancels the rest of its queue at the first error instead of waiting for each
# request to fail in turn (it took 70 to 100 s then). 30 s leaves room for a loaded machine.
for (( i = 0; i < 300; i++ )); do
    [[ -e $T_TMP/busy.failed ]] && break
    sleep 0.1
done
t_log "cluster down: the download running then failed after $((SECONDS - down)) s" \
    "(download $(cat "$T_TMP/busy.failed" 2>/dev/null)): $(tr '\n' '|' <"$T_TMP/busy.err")"
t_check "cluster down: the download running then fails within 30 s" test -e "$T_TMP/busy.failed"
wait "$busy"
t_log "cluster down: the download ended after $((SECONDS - down)) s"
fails_during "cluster down"
hold_until=$((SECONDS + ${RBD_FAULTS_HOLD:-0}))
while (( SECONDS < hold_until )); do
    start=$SECONDS
    rbd_aoe cp -i vc0 --no-progress --timeout 20 "$T_TMP/data.img" e1.1 >/dev/null 2>&1
    t_log "hold: a write failed after $((SECONDS - start)) s"
done
ceph_start_mon
kill -CONT "$CEPH_OSD_PID"
t_log "monitor started again, OSD continued"
serves_again "cluster restarted" "$T_TMP/data.img"
t_check "cluster restarted: the monitor answers again" ceph_in "$RBD_T" ceph mon stat

t_finish
