#!/usr/bin/env bash
# stuck_storage_signals: `aoe serve` whose event loop is stuck in a system call on storage that
# hangs still quits at the second SIGTERM (docs/configuration.md, "Signals").
#
# The images live on a FUSE file system (the power-cut harness, tests/powercut/README.md, which
# caches no names or attributes), and the harness is SIGSTOPped: every operation on those files
# now waits for it. `aoe ctl add` of a second image there makes the target's loop wait in the
# kernel for the file's lookup. A first SIGTERM cannot be taken by that loop (checked: the
# target is still there a second later, so the test cannot pass because the loop was free), and
# 5 s later the log says the stop signal waits for a stuck loop (SlowStopNotice); the second must
# end the process at once: within 5 s it is exiting (it finishes once the harness
# continues, as after SIGKILL: closing a file on a stopped FUSE server waits for the server),
# with SIGTERM's exit status (143). Before the signal thread, both merged into one pending
# signal, the process went on waiting, and once the storage answered it stopped cleanly
# (exit 0) as the first SIGTERM asked.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

faults_init findmnt
faults_netns_pair
backing=$T_TMP/backing
mkdir -p "$backing"
truncate -s 8M "$backing/a.img" "$backing/b.img"
powercut_mount "$T_TMP/mnt" "$backing"

t_serve "$FT" -i vt --state-dir "$T_TMP/state" --control-socket "$T_TMP/ctl.sock" \
    "e1.1=$T_TMP/mnt/a.img"
# On any way out the harness continues first (cleanups run last registered first): the target's
# stop and the harness's own SIGTERM need it running.
t_defer "kill -CONT $POWERCUT_PID 2>/dev/null"
t_check "the target serves an image on the FUSE mount" \
    faults_aoe config -i vc e1.1 --timeout 2

kill -STOP "$POWERCUT_PID"
t_log "power-cut harness pid $POWERCUT_PID stopped: its files hang"
timeout -k 2 60 "$AOE_BIN" ctl -S "$T_TMP/ctl.sock" add "e1.2=$T_TMP/mnt/b.img" \
    >"$T_TMP/add.log" 2>&1 &
add_pid=$!
t_defer "t_kill_pid $add_pid"
# still_there SECONDS: the target is alive after SECONDS.
still_there() { sleep "$1"; t_serve_alive; }
t_check "the add is stuck in the target (no answer after 1 s)" still_there 1
# stats_times_out: `aoe ctl stats` gets no answer in 2 s (timeout's 124, not another failure).
stats_times_out() {
    timeout 2 "$AOE_BIN" ctl -S "$T_TMP/ctl.sock" stats >/dev/null 2>&1
    [ $? -eq 124 ]
}
t_check "(its control socket does not answer: the loop is stuck)" stats_times_out

kill -TERM "$SERVE_PID"
t_check "after a first SIGTERM the stuck target is still there" still_there 1
t_check "and its loop has not taken the SIGTERM (no stop logged)" \
    bash -c "! grep -q 'SIGTERM: stopping' '$SERVE_LOG'"
# logged_within SECONDS PATTERN: the target's log matches PATTERN within SECONDS.
logged_within() {
    local i
    for (( i = 0; i < $1 * 10; i++ )); do
        grep -q -- "$2" "$SERVE_LOG" && return 0
        sleep 0.1
    done
    return 1
}
t_check "5 s after the SIGTERM the log says the loop is stuck and has not taken it" \
    logged_within 8 'the SIGTERM of 5 s ago is not taken yet: aoe serve is stuck'
kill -TERM "$SERVE_PID"
# exiting: within 5 s the process is on its way out (the kernel's PF_EXITING, /proc/PID/stat
# field 9). It cannot be gone yet: closing its files on the stopped FUSE server waits for that
# server, as it would after SIGKILL.
exiting() {
    local i flags
    for (( i = 0; i < 50; i++ )); do
        flags=$(awk '{print $9}' "/proc/$SERVE_PID/stat" 2>/dev/null) || return 0
        [ -z "$flags" ] && return 0
        (( flags & 0x4 )) && return 0
        sleep 0.1
    done
    return 1
}
t_check "a second SIGTERM ends it within 5 s, storage still hanging" exiting

kill -CONT "$POWERCUT_PID"
gone() {
    local i
    for (( i = 0; i < 100; i++ )); do
        t_serve_alive || return 0
        sleep 0.1
    done
    return 1
}
if gone; then
    wait "$SERVE_WRAPPER"
    rc=$?
    t_check "it ended by SIGTERM's default action, not a clean stop (exit $rc)" [ "$rc" -eq 143 ]
else
    t_fail "the target was still there 10 s after its storage answered again"
fi
t_finish
