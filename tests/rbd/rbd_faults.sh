#!/usr/bin/env bash
# rbd_faults: what an RBD export does when its cluster goes away while it serves (docs/ceph.md,
# "Failures"). The cluster's storage "goes away" by SIGSTOP of its one OSD: every I/O request
# then goes unanswered, as in a network partition, and SIGCONT brings it back with its data
# (memstore would lose everything to a SIGKILL).
# - During the outage, reads and writes fail with ATA errors after rados_osd_op_timeout (3 s
#   here): `aoe cp` ends with an error instead of hanging, and the target still answers.
# - After SIGCONT, the same target serves again without a restart (librados reconnects).
# (Unreachable at start, exit 2: rbd_serve.sh.)
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

kill -STOP "$CEPH_OSD_PID"
t_defer "kill -CONT $CEPH_OSD_PID 2>/dev/null"
t_log "OSD stopped (SIGSTOP)"
start=$SECONDS
rbd_aoe cp -i vc0 --no-progress --timeout 120 --count-sectors 64 e1.1 "$T_TMP/during.img" \
    >"$T_TMP/read.err" 2>&1
rc=$?
t_log "read during the outage: exit $rc after $((SECONDS - start)) s: $(tr '\n' '|' <"$T_TMP/read.err")"
t_check "a read during the outage fails (no hang)" test "$rc" -ne 0
t_check "it fails with an ATA error from the target" grep -qiE 'error|failed' "$T_TMP/read.err"
start=$SECONDS
rbd_aoe cp -i vc0 --no-progress --timeout 120 --count-sectors 64 "$T_TMP/data.img" e1.1 \
    >"$T_TMP/write.err" 2>&1
rc=$?
t_log "write during the outage: exit $rc after $((SECONDS - start)) s: $(tr '\n' '|' <"$T_TMP/write.err")"
t_check "a write during the outage fails (no hang)" test "$rc" -ne 0
t_check "the target still answers during the outage" \
    t_in "$RBD_C" "$AOE_BIN" config -i vc0 e1.1 --timeout 2
t_check "the target is still running" t_serve_alive

kill -CONT "$CEPH_OSD_PID"
t_log "OSD continued (SIGCONT)"
resumed() {
    local i
    for (( i = 0; i < 30; i++ )); do
        rbd_aoe cp -i vc0 --no-progress --timeout 10 e1.1 "$T_TMP/after.img" >/dev/null 2>&1 &&
            cmp -s <(head -c $((4 << 20)) "$T_TMP/after.img") "$T_TMP/data.img" && return 0
        sleep 1
    done
    return 1
}
t_check "after the cluster is back, the same target serves the data again" resumed
t_make_image "$T_TMP/later.img" 2
rbd_aoe cp -i vc0 --no-progress "$T_TMP/later.img" e1.1 >/dev/null 2>&1
t_check "and accepts writes again" test $? -eq 0
t_check "no restart: the same process" t_serve_alive

t_finish
