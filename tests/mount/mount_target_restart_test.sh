#!/bin/bash
#
# mount_target_restart_test.sh AOE: `aoe mount` rides through a restart of the target.
#
# `aoe serve` is SIGKILLed during a 64 MiB `dd oflag=direct conv=fsync` to the mounted file and
# started again 3 s later (with `ip netns exec`, so it holds a copy of the FUSE mount in its own
# mount namespace, as a restarted service with private mounts does). Then:
#   1. dd finishes and the target's image holds exactly what was written;
#   2. every request completes: `aoe show` reports nothing in flight, on the mount or a path;
#   3. `aoe umount` succeeds within its default 10 s and the daemon exits. Before, the copy of
#      the mount kept /dev/fuse open, the daemon never saw the unmount, `aoe umount` gave up
#      after 60 s and the daemon ran on.
# Also: `aoe mount --dead-timeout` is shown by `aoe show`.
#
# Then a restart that loses nothing must not fail an fsync: `aoe serve` over an overlay export
# is stopped with SIGTERM (it flushes the overlay's block map and records a clean stop) between
# writes and their fsync, and started again. The fsync must succeed (before, the restarted
# target reported another incarnation and it failed with EIO), and all reads back.
#
# Last, a target killed between an fsync's FLUSH reply and the IDENTIFY that checks for a
# restart, and back with the same incarnation (a file export: its page cache survived) while
# the IDENTIFY goes unanswered for 5 s (an nftables rule drops it): the fsync waits for it as a
# request would (the dead-target timeout) and succeeds. Before, the check gave up after 3 s and
# failed the fsync with EIO although nothing was lost (seen as a flake of the first part).
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
truncate -s 128M "$IMAGE"
in_serve "e0.1=$IMAGE"
MNT=$T_TMP/aoe
in_mount e0.1 "$MNT" --dead-timeout 20
PID=$(mt_daemon_pid e0.1)
mt_aoe show | grep "dead timeout 20 s" >/dev/null && t_pass "aoe show reports --dead-timeout 20" \
    || t_fail "aoe show lacks the dead timeout: $(mt_aoe show)"
[[ "$(in_json_field e0.1 dead_timeout_ms)" == 20000 ]] && t_pass "aoe show --json: dead_timeout_ms" \
    || t_fail "aoe show --json lacks dead_timeout_ms 20000"

# --- the restart during dd -----------------------------------------------------------------
head -c 64M /dev/urandom >"$T_TMP/src"
timeout 120 dd if="$T_TMP/src" of="$MNT/e0.1" bs=1M oflag=direct conv=fsync,notrunc \
    status=none 2>"$T_TMP/dd.err" &
DD=$!
t_defer "kill $DD 2>/dev/null"
for (( i = 0; i < 200; i++ )); do
    written=$(in_json_field e0.1 bytes_written)
    [[ ${written:-0} -ge $((8 << 20)) ]] && break
    sleep 0.05
done
in_crash_target
t_log "target killed after ${written:-0} bytes; restarting it in 3 s"
sleep 3
in_serve "e0.1=$IMAGE"
grep -q "fuse.aoe" "/proc/$IN_SERVE_PID/mountinfo" \
    && t_pass "the restarted target holds a copy of the FUSE mount (the case that hung umount)" \
    || t_fail "the restarted target has no copy of the mount: the test no longer covers the case"

wait "$DD"
rc=$?
[[ $rc -eq 0 ]] && t_pass "dd rode through the restart" || t_fail "dd exit $rc: $(cat "$T_TMP/dd.err")"
cmp -s <(head -c 64M "$IMAGE") "$T_TMP/src" && t_pass "the image holds exactly what dd wrote" \
    || t_fail "the image differs from what dd wrote"

# --- every request completed ----------------------------------------------------------------
settled=0
for (( i = 0; i < 50; i++ )); do
    if mt_aoe show --json | python3 -c '
import json, sys
m = json.load(sys.stdin)["mounts"][0]
sys.exit(0 if m["in_flight"] == 0 and all(p["in_flight"] == 0 for p in m["paths"]) else 1)'; then
        settled=1
        break
    fi
    sleep 0.1
done
[[ $settled -eq 1 ]] && t_pass "nothing left in flight after the restart" \
    || t_fail "requests stay in flight: $(mt_aoe show)"

# --- aoe umount finishes and the daemon exits -------------------------------------------------
# aoe umount fails by itself once its 10 s are up; `timeout` only guards against a hang.
if timeout 30 nsenter --net="/run/netns/$MT_NS" "$AOE_BIN" umount "$MNT" 2>"$T_TMP/umount.err"; then
    t_pass "aoe umount succeeded within its 10 s"
else
    t_fail "aoe umount: $(cat "$T_TMP/umount.err")"
fi
in_wait_gone "$PID" 5 && t_pass "daemon $PID exited" || t_fail "daemon $PID still running"
[[ -e "$AOE_RUN_DIR/e0.1.json" ]] && t_fail "status file left after aoe umount"
grep -q 'stopped after' "$T_TMP/mount-e0.1.log" || t_fail "daemon log lacks its final line"
grep -q 'final FLUSH CACHE EXT failed' "$T_TMP/mount-e0.1.log" \
    && t_fail "the final flush failed: $(grep 'final FLUSH' "$T_TMP/mount-e0.1.log")"
mt_no_mount_left "$MNT"

# --- a clean restart of an overlay export between writes and their fsync --------------------
in_stop_target
BASE=$T_TMP/base.img
truncate -s 128M "$BASE"
OVERLAY="e0.2=$BASE,overlay=$T_TMP/overlays"
in_serve "$OVERLAY"
MNT2=$T_TMP/aoe2
in_mount e0.2 "$MNT2"
# One open file across the stop, so that nothing flushes the first half before it (a close
# flushes): it is written and acknowledged from the cache (the mount flushes), and only the
# target's own flush at SIGTERM keeps it. Then the second half, and the fsync that must succeed.
cat >"$T_TMP/writer.py" <<'PY'
import mmap, os, sys, time
path, source, ready, go = sys.argv[1:5]
fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
block = mmap.mmap(-1, 1 << 20)  # page-aligned, as O_DIRECT wants
with open(source, "rb") as src:
    for i in range(64):
        if i == 32:
            open(ready, "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(go):
                if time.monotonic() > deadline:
                    sys.exit("no go within 60 s")
                time.sleep(0.05)
        block[:] = src.read(1 << 20)
        os.pwrite(fd, block, i << 20)
    try:
        os.fsync(fd)
    except OSError as e:
        sys.exit(f"fsync failed: {e}")
os.close(fd)
PY
timeout 120 python3 "$T_TMP/writer.py" "$MNT2/e0.2" "$T_TMP/src" "$T_TMP/ready" "$T_TMP/go" \
    2>"$T_TMP/dd2.err" &
WRITER=$!
t_defer "kill $WRITER 2>/dev/null"
in_wait_file "$WRITER" "$T_TMP/ready" 30 \
    || t_die "the writer did not write its first half: $(cat "$T_TMP/dd2.err")"
in_stop_target
t_log "target stopped (SIGTERM) with 32 MiB written and not flushed; starting it again"
in_serve "$OVERLAY"
touch "$T_TMP/go"
wait "$WRITER"
rc=$?
[[ $rc -eq 0 ]] && t_pass "the fsync after a clean restart of an overlay export succeeded" \
    || t_fail "the writer failed (exit $rc) across a clean restart: $(cat "$T_TMP/dd2.err")"
cmp -s <(dd if="$MNT2/e0.2" iflag=direct bs=1M count=64 status=none) "$T_TMP/src" \
    && t_pass "the overlay export reads back what was written (the stop flushed the first half)" \
    || t_fail "the overlay export reads back something else than was written"
grep -q "restarted" "$T_TMP/mount-e0.2.log" \
    && t_fail "the mount took the clean restart for a lost cache: $(grep restarted "$T_TMP/mount-e0.2.log")"
timeout 30 nsenter --net="/run/netns/$MT_NS" "$AOE_BIN" umount "$MNT2" 2>"$T_TMP/umount2.err" \
    || t_fail "aoe umount of the overlay export: $(cat "$T_TMP/umount2.err")"

# --- a crash between the fsync's FLUSH and its restart check -----------------------------------
in_stop_target
IMAGE3=$T_TMP/disk3.img
truncate -s 128M "$IMAGE3"
in_serve "e0.3=$IMAGE3"
MNT3=$T_TMP/aoe3
in_mount e0.3 "$MNT3"
rm -f "$T_TMP/ready" "$T_TMP/go"
timeout 120 python3 "$T_TMP/writer.py" "$MNT3/e0.3" "$T_TMP/src" "$T_TMP/ready" "$T_TMP/go" \
    2>"$T_TMP/dd3.err" &
WRITER=$!
t_defer "kill $WRITER 2>/dev/null"
in_wait_file "$WRITER" "$T_TMP/ready" 30 \
    || t_die "the writer did not write its first half: $(cat "$T_TMP/dd3.err")"
in_drop_identify
touch "$T_TMP/go"
in_wait_identify_dropped "$WRITER" 30 \
    || t_die "the fsync's restart check sent no IDENTIFY: $(cat "$T_TMP/dd3.err")"
in_crash_target
in_serve "e0.3=$IMAGE3"
sleep 5
t_log "$(in_identifies_dropped) IDENTIFY frames dropped over 5 s; letting them through"
in_pass_identify
wait "$WRITER"
rc=$?
[[ $rc -eq 0 ]] \
    && t_pass "an fsync whose target crashed after the FLUSH and came back with its cache succeeded" \
    || t_fail "the writer failed (exit $rc) although the target kept its cache: $(cat "$T_TMP/dd3.err")"
cmp -s <(head -c 64M "$IMAGE3") "$T_TMP/src" && t_pass "the image holds what was written" \
    || t_fail "the image differs from what was written"
timeout 30 nsenter --net="/run/netns/$MT_NS" "$AOE_BIN" umount "$MNT3" 2>"$T_TMP/umount3.err" \
    || t_fail "aoe umount of e0.3: $(cat "$T_TMP/umount3.err")"
t_finish
