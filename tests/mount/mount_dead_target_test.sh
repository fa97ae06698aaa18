#!/bin/bash
#
# mount_dead_target_test.sh AOE: a target that never comes back does not hold anything up.
#   1. `aoe umount` with the target gone: returns within its 10 s (the flush it cannot get is
#      given up after 5 s, with one line saying so and exit 1), the mount is gone and the daemon
#      exits, logging the request it failed with EIO. Before, umount's flush waited the 30 s
#      dead timeout, and the daemon's final flush 30 s more.
#   2. SIGTERM to the daemon while a writer waits for the gone target: the writer gets EIO
#      (not a hang), the daemon logs it and exits within a few seconds. Before, SIGTERM was
#      refused because the file was in use, and ignored while stopping.
#   3. `aoe mount --dead-timeout 2`: a write to the gone target fails with EIO by itself.
#   4. The target dies between an fsync's FLUSH reply and the IDENTIFY of its restart check
#      (nftables drops the IDENTIFY), so the check waits out the dead-target timeout (30 s):
#      a forced stop (SIGTERM twice) ends the wait after its 3 s grace, the fsync fails with
#      EIO and the daemon exits. Before, the stop aborted only requests, not the check, and
#      waited for it.
#
# Exit: 0 pass, 1 fail, 77 skipped.
set -u
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=target_restart.sh
source "$(dirname "$0")/target_restart.sh"
mt_init "$@"
command -v python3 >/dev/null || t_skip "missing prerequisite: python3"
t_require_cmds nft

mt_netns
IMAGE=$T_TMP/disk.img
truncate -s 64M "$IMAGE"
MNT=$T_TMP/aoe
LOG=$T_TMP/mount-e0.1.log

# --- 1. aoe umount ---------------------------------------------------------------------------
in_serve "e0.1=$IMAGE"
in_mount e0.1 "$MNT"
PID=$(mt_daemon_pid e0.1)
dd if=/dev/urandom of="$MNT/e0.1" bs=1M count=4 oflag=direct status=none || t_fail "dd failed"
in_crash_target
# aoe umount ends by itself after its 10 s; `timeout` only guards against a hang.
mt_expect_one_line_error "aoe umount with the target gone" 1 "did not answer FLUSH CACHE EXT" \
    timeout 30 nsenter --net="/run/netns/$MT_NS" "$AOE_BIN" umount "$MNT"
mt_no_mount_left "$MNT"
in_wait_gone "$PID" 5 && t_pass "daemon $PID exited" || t_fail "daemon $PID still running"
[[ -e "$AOE_RUN_DIR/e0.1.json" ]] && t_fail "status file left after aoe umount"
grep -q 'failing 1 pending request(s) with EIO' "$LOG" \
    && t_pass "the daemon logged the flush it failed" || t_fail "no EIO line in $LOG"

# --- 2. SIGTERM with a writer waiting -------------------------------------------------------
in_serve "e0.1=$IMAGE"
in_mount e0.1 "$MNT"
PID=$(mt_daemon_pid e0.1)
in_crash_target
timeout 60 dd if=/dev/zero of="$MNT/e0.1" bs=1M count=64 oflag=direct status=none \
    2>"$T_TMP/dd.err" &
DD=$!
t_defer "kill $DD 2>/dev/null"
# The initiator calls the target gone once every path is down (a second or so of silence).
for (( i = 0; i < 100; i++ )); do
    in_paths_down e0.1 && break
    sleep 0.1
done
in_paths_down e0.1 || t_fail "the paths never went down: $(mt_aoe show)"
kill -TERM "$PID"
in_wait_gone "$PID" 5 && t_pass "SIGTERM ended the daemon" \
    || t_fail "daemon $PID still running 5 s after SIGTERM"
wait "$DD"
rc=$?
if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "Input/output error" "$T_TMP/dd.err"; then
    t_pass "the writer got EIO: $(head -n1 "$T_TMP/dd.err")"
else
    t_fail "the writer: exit $rc, $(cat "$T_TMP/dd.err")"
fi
grep -q 'SIGTERM: .* does not answer on any path: failing 1 pending request(s) with EIO' "$LOG" \
    && t_pass "the daemon logged the write it failed" || t_fail "no EIO line in $LOG"
# Nothing is waited for when no path answers; the stop line says so rather than "at most 0 s".
if grep '; the target does not answer: failing' "$LOG" >/dev/null &&
    ! grep 'at most 0 s' "$LOG" >/dev/null; then
    t_pass "the stop line says nothing is waited for"
else
    t_fail "the stop line: $(grep -E 'in flight' "$LOG")"
fi
mt_no_mount_left "$MNT"

# --- 3. --dead-timeout -----------------------------------------------------------------------
in_serve "e0.1=$IMAGE"
in_mount e0.1 "$MNT" --dead-timeout 2
in_crash_target
if timeout 30 dd if=/dev/zero of="$MNT/e0.1" bs=4k count=1 oflag=direct status=none \
    2>"$T_TMP/dd3.err"; then
    t_fail "a write to a gone target succeeded"
else
    grep -q "Input/output error" "$T_TMP/dd3.err" \
        && t_pass "--dead-timeout 2: the write failed with EIO by itself" \
        || t_fail "--dead-timeout 2: $(cat "$T_TMP/dd3.err")"
fi
grep -q 'no reply from e0.1 for 2 s' "$LOG" && t_pass "the log names the 2 s dead timeout" \
    || t_fail "no dead-timeout line in $LOG"
mt_aoe umount "$MNT" >/dev/null 2>&1  # the target is gone: exit 1 is expected here
mt_no_mount_left "$MNT"

# --- 4. a forced stop during an fsync's restart check ------------------------------------------
in_serve "e0.1=$IMAGE"
in_mount e0.1 "$MNT"
PID=$(mt_daemon_pid e0.1)
in_drop_identify
# Writes (acknowledged from the target's cache), then fsync on the same descriptor: a close
# would flush and check first.
timeout 60 python3 -c 'import mmap, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
block = mmap.mmap(-1, 1 << 20)  # page-aligned, as O_DIRECT wants
for i in range(4):
    os.pwrite(fd, block, i << 20)
try:
    os.fsync(fd)
except OSError as e:
    sys.exit(f"fsync: {e}")' "$MNT/e0.1" 2>"$T_TMP/fsync.err" &
SYNC=$!
t_defer "kill $SYNC 2>/dev/null"
in_wait_identify_dropped "$SYNC" 10 || t_die "the fsync's restart check sent no IDENTIFY"
in_crash_target
kill -TERM "$PID"  # refused: the file is in use and the target still looks alive
sleep 0.5
kill -TERM "$PID"  # forced: detach, and abort what is pending after the 3 s grace
in_wait_gone "$PID" 10 && t_pass "a forced stop during a restart check ended the daemon" \
    || t_fail "daemon $PID still running 10 s after the forced stop (waiting for the check)"
wait "$SYNC"
rc=$?
[[ $rc -ne 0 ]] && grep -E "Input/output error|connection abort|not connected" "$T_TMP/fsync.err" >/dev/null \
    && t_pass "the fsync failed: $(cat "$T_TMP/fsync.err")" \
    || t_fail "the fsync: exit $rc, $(cat "$T_TMP/fsync.err")"
in_pass_identify
mt_no_mount_left "$MNT"
t_finish
