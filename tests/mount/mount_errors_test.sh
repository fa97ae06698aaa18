#!/bin/bash
#
# mount_errors_test.sh AOE: what `aoe mount`, `aoe umount` and `aoe show` do when things are
# wrong: exactly one line on stderr, exit 2 for bad arguments and 1 for runtime failures, and
# nothing left mounted or running afterwards. Also: --foreground stops cleanly on SIGTERM.
#
# Exit: 0 pass, 1 fail, 77 skipped.
set -u
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
mt_init "$@"

mt_netns
MNT=$T_TMP/aoe
mkdir -p "$MNT"

# --- bad arguments: exit 2, nothing started ----------------------------------------------------
mt_expect_one_line_error "mount without arguments" 2 "aoe mount:" mt_aoe mount
mt_expect_one_line_error "mount without -i" 2 "no interface" mt_aoe mount e0.1 "$MNT"
mt_expect_one_line_error "mount with a bad disk name" 2 "aoe mount:" mt_aoe mount -i vi0 e0.x "$MNT"
mt_expect_one_line_error "mount without a mount point" 2 "mount point" mt_aoe mount -i vi0 e0.1
mt_expect_one_line_error "mount with an unknown option" 2 "unknown option" \
    mt_aoe mount -i vi0 e0.1 "$MNT" --bogus
mt_expect_one_line_error "mount with a bad --timeout" 2 "timeout" \
    mt_aoe mount -i vi0 e0.1 "$MNT" --timeout soon
mt_expect_one_line_error "mount with a bad --dead-timeout" 2 "dead-timeout" \
    mt_aoe mount -i vi0 e0.1 "$MNT" --dead-timeout -1
mt_expect_one_line_error "mount with a --log in a missing directory" 2 "cannot open the log file" \
    mt_aoe mount -i vi0 e0.1 "$MNT" --log "$T_TMP/no/such/dir/e0.1.log"
t_check "a --log in a missing directory creates no directory" test ! -e "$T_TMP/no"
mt_expect_one_line_error "umount without arguments" 2 "aoe umount:" mt_aoe umount
mt_expect_one_line_error "show with an unknown option" 2 "unknown option" mt_aoe show --bogus
for cmd in mount umount show; do
    mt_aoe "$cmd" --help >"$T_TMP/help" 2>&1 && grep -q "Examples:" "$T_TMP/help" \
        && t_pass "aoe $cmd --help has examples" || t_fail "aoe $cmd --help"
done

# --- runtime failures: exit 1, nothing left behind -------------------------------------------
# no_lock_files: nothing in the run directory's locks. A refused mount used to leave the lock
# files it made there (and every mount one per disk and mount point, for good).
no_lock_files() { ! compgen -G "$AOE_RUN_DIR/locks/*" >/dev/null; }
mt_expect_one_line_error "mount with no target answering" 1 "did not answer" \
    mt_aoe mount -i vi0 e0.9 "$MNT" --timeout 1 --log "$T_TMP/e0.9.log"
mt_no_mount_left "$MNT"
compgen -G "$AOE_RUN_DIR/*.json" >/dev/null && t_fail "status file left: $(ls "$AOE_RUN_DIR")"
t_check "a refused mount leaves no lock file" no_lock_files
t_check "but keeps the --log FILE it was given, the failure logged in it" \
    grep -q "not mounted: .*did not answer" "$T_TMP/e0.9.log"
echo "earlier line" >"$T_TMP/kept.log"
mt_aoe mount -i vi0 e0.9 "$MNT" --timeout 1 --log "$T_TMP/kept.log" 2>/dev/null
t_check "a log file that was there before is kept, the failure logged in it" \
    grep -q "not mounted: .*did not answer" "$T_TMP/kept.log"
mt_expect_one_line_error "mount on a missing directory" 1 "create the directory" \
    mt_aoe mount -i vi0 e0.1 "$T_TMP/nowhere"
t_check "(no lock file left)" no_lock_files
mt_expect_one_line_error "mount on an interface that does not exist" 1 "aoe mount:" \
    mt_aoe mount -i nosuch0 e0.1 "$MNT"

mkdir -p "$T_TMP/tmpfs" "$T_TMP/plain"
mount -t tmpfs none "$T_TMP/tmpfs" || t_die "cannot mount a tmpfs"
t_defer "umount '$T_TMP/tmpfs'"
mt_expect_one_line_error "umount of a tmpfs" 1 "not an AoE disk" mt_aoe umount "$T_TMP/tmpfs"
mountpoint -q "$T_TMP/tmpfs" || t_fail "aoe umount unmounted the tmpfs"
mt_expect_one_line_error "umount of a plain directory" 1 "not a mount point" \
    mt_aoe umount "$T_TMP/plain"
mt_expect_one_line_error "umount of a path that does not exist" 2 "does not exist; 'aoe show'" \
    mt_aoe umount "$T_TMP/no-such-dir"

# --- with a target: double mounts refused, --foreground and SIGTERM ----------------------------
IMAGE=$T_TMP/disk.img
truncate -s 8M "$IMAGE"
RO_IMAGE=$T_TMP/ro.img
t_random_file "$RO_IMAGE" 1
truncate -s 8M "$RO_IMAGE"
mt_serve "e0.1=$IMAGE" "e0.2=$RO_IMAGE,ro"
mt_mount e0.1 "$MNT"
mkdir -p "$T_TMP/other"
mt_expect_one_line_error "mount of a disk already mounted" 1 "already mounted" \
    mt_aoe mount -i vi0 e0.1 "$T_TMP/other"
lock_files=$(compgen -G "$AOE_RUN_DIR/locks/*" | wc -l)
t_check "the refused mount left only the mounted one's 2 lock files ($lock_files)" \
    test "$lock_files" -eq 2
mt_aoe umount "$MNT" || t_fail "aoe umount $MNT failed"
t_check "a daemon that exits removes its lock files" no_lock_files

# Two mounts given one --log FILE: the first (of a disk no target serves) creates it, the second
# mounts and writes to it, then the first gives up. It used to remove the file as "the log it
# created", from under the running daemon; now it leaves it, with its failure logged in it.
SHARED_LOG=$T_TMP/shared.log
mkdir -p "$T_TMP/shared1" "$T_TMP/shared2"
mt_aoe mount -i vi0 e0.9 "$T_TMP/shared1" --timeout 5 --log "$SHARED_LOG" \
    2>"$T_TMP/shared1.err" &
refused=$!
for (( i = 0; i < 50; i++ )); do
    [[ -e "$SHARED_LOG" ]] && break
    sleep 0.1
done
t_check "(the mount of e0.9 has created the shared log)" test -e "$SHARED_LOG"
mt_aoe mount -i vi0 e0.1 "$T_TMP/shared2" --log "$SHARED_LOG" >/dev/null \
    || t_fail "aoe mount e0.1 with the shared log failed"
t_defer "mountpoint -q '$T_TMP/shared2' && umount -l '$T_TMP/shared2'; t_stop_pid $(mt_daemon_pid e0.1)"
wait "$refused"
t_expect "(the mount of e0.9 is refused)" "$?" 1 "did not answer" "$T_TMP/shared1.err"
t_check "a refused mount leaves the log file another mount writes to" \
    grep -q "not mounted: .*did not answer" "$SHARED_LOG"
mt_aoe umount "$T_TMP/shared2" || t_fail "aoe umount $T_TMP/shared2 failed"
t_check "and the running mount's lines still reach it" grep -q "e0.1.*stopped after" "$SHARED_LOG"

# Two mounts of one disk started together: the status files show neither yet (a daemon writes
# its own once it serves), so only the run directory's lock keeps the second out.
mkdir -p "$T_TMP/race1" "$T_TMP/race2"
mt_aoe mount -i vi0 e0.1 "$T_TMP/race1" --log "$T_TMP/race1.log" 2>"$T_TMP/race1.err" &
race1=$!
mt_aoe mount -i vi0 e0.1 "$T_TMP/race2" --log "$T_TMP/race2.log" 2>"$T_TMP/race2.err" &
race2=$!
wait "$race1"; rc1=$?
wait "$race2"; rc2=$?
mounted=0
for dir in "$T_TMP/race1" "$T_TMP/race2"; do mountpoint -q "$dir" && mounted=$((mounted + 1)); done
if [[ $mounted -eq 1 && $((rc1 + rc2)) -eq 1 ]] \
    && grep -q "is being mounted or is mounted already" "$T_TMP/race1.err" "$T_TMP/race2.err"; then
  t_pass "two mounts of one disk started together: one mounts, the other is refused"
else
  t_fail "two mounts at once: exits $rc1 $rc2, $mounted mounted: $(cat "$T_TMP"/race*.err)"
fi
for dir in "$T_TMP/race1" "$T_TMP/race2"; do
  mountpoint -q "$dir" && { mt_aoe umount "$dir" || t_fail "aoe umount $dir failed"; }
done
t_check "(no lock files accumulate over mounts)" no_lock_files

# Unaligned writes through the file: read-modify-write of partial sectors.
mt_mount e0.1 "$MNT"
printf 'hello' | dd of="$MNT/e0.1" bs=1 seek=1000 conv=notrunc status=none \
    || t_fail "unaligned write failed"
head -c 300 /dev/urandom >"$T_TMP/chunk"
dd if="$T_TMP/chunk" of="$MNT/e0.1" bs=300 seek=7 conv=notrunc status=none \
    || t_fail "unaligned write failed"
sync "$MNT/e0.1"
[[ "$(dd if="$IMAGE" bs=1 skip=1000 count=5 status=none)" == hello ]] \
    && cmp -s <(dd if="$IMAGE" bs=300 skip=7 count=1 status=none) "$T_TMP/chunk" \
    && t_pass "unaligned writes land on the target" || t_fail "unaligned writes did not land"
mt_expect_one_line_error "truncate of the disk file" 1 "truncate" truncate -s 1M "$MNT/e0.1"
mt_aoe umount "$MNT" || t_fail "aoe umount $MNT failed"

# A read-only export (",ro"): the file has no write bits, and opening it for writing (even as
# root, whom the mode does not stop) or writing fails with EROFS, so losetup attaches it
# read-only. Before, it looked writable and every write failed with EIO.
RO_MNT=$T_TMP/ro
ro_sha=$(t_sha "$RO_IMAGE")
mt_mount e0.2 "$RO_MNT"
mode=$(stat -c %a "$RO_MNT/e0.2")
t_check "the file of a read-only export has no write bits (mode $mode)" \
    test $(( 8#$mode & 8#222 )) -eq 0
t_check "the mount is read-only" grep -q " $RO_MNT fuse.aoe ro," /proc/mounts
opens_for_writing_fail_erofs() {
    python3 - "$1" <<'PY'
import errno, os, sys
for flags in (os.O_WRONLY, os.O_RDWR):
    try:
        os.close(os.open(sys.argv[1], flags))
        sys.exit("opened for writing")
    except OSError as e:
        if e.errno != errno.EROFS:
            sys.exit(f"{e}, not EROFS")
PY
}
t_check "opening it for writing as root fails with EROFS" opens_for_writing_fail_erofs "$RO_MNT/e0.2"
dd if=/dev/zero of="$RO_MNT/e0.2" bs=512 count=1 conv=notrunc status=none 2>"$T_TMP/ro-dd.err"
t_expect "dd to it fails with 'Read-only file system'" "$?" 1 "Read-only file system" \
    "$T_TMP/ro-dd.err"
t_check "it reads the export" cmp -s -n 1048576 "$RO_MNT/e0.2" "$RO_IMAGE"
ro_loop=$(losetup --find --show "$RO_MNT/e0.2") || t_fail "losetup of the read-only file failed"
t_defer "losetup -d '$ro_loop' 2>/dev/null"
t_check "losetup attaches it read-only" test "$(blockdev --getro "$ro_loop")" = 1
losetup -d "$ro_loop"
mt_aoe show >"$T_TMP/ro-show.out" 2>&1
t_check "aoe show says read-only" grep -q "^  pid [0-9]*, serving, read-only," "$T_TMP/ro-show.out"
mt_aoe umount "$RO_MNT" || t_fail "aoe umount $RO_MNT failed"
t_check "the read-only export is unchanged" test "$(t_sha "$RO_IMAGE")" = "$ro_sha"

# A plain umount of a file in use is refused, also while the target does not answer: it used to
# flush first, and when the flush went unanswered for half of --timeout, detach the file from
# under its user.
mt_mount e0.1 "$MNT"
exec {held}<>"$MNT/e0.1"
ip -n "$MT_NS" link set vi0 down
mt_aoe umount --timeout 2 "$MNT" >"$T_TMP/busy.out" 2>&1
rc=$?
ip -n "$MT_NS" link set vi0 up
t_expect "aoe umount of a file in use while the target is silent: refused" "$rc" 1 \
    "is busy: a process has a file open there" "$T_TMP/busy.out"
t_check "the mount stays" mountpoint -q "$MNT"
t_check "and its user can still write" \
    dd if=/dev/zero bs=512 count=1 conv=notrunc status=none of="/proc/self/fd/$held"
exec {held}>&-
mt_aoe umount "$MNT" || t_fail "aoe umount $MNT failed once the file was closed"

# A lazy unmount while another mount namespace holds a copy of the mount (a process that entered
# one after the mount: `ip netns exec`, a service with private mounts). The daemon ends once
# nothing has the file open; before, it lived (the disk locked, `aoe show` listing it, a new
# `aoe mount` refused) as long as the copy did.
mt_mount e0.1 "$MNT"
daemon=$(mt_daemon_pid e0.1)
unshare --mount --propagation private sleep 120 &
holder=$!
t_defer "t_stop_pid $holder"
for (( i = 0; i < 50; i++ )); do
    [[ "$(readlink "/proc/$holder/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]] && break
    sleep 0.1
done
t_check "(a process in another mount namespace holds a copy of the mount)" \
    grep -q " $MNT fuse.aoe" "/proc/$holder/mounts"
mt_aoe umount --lazy "$MNT" || t_fail "aoe umount --lazy $MNT failed"
# daemon_ends_within SECONDS: the daemon has exited.
daemon_ends_within() {
    local i
    for (( i = 0; i < $1 * 10; i++ )); do
        t_alive "$daemon" || return 0
        sleep 0.1
    done
    return 1
}
t_check "after aoe umount --lazy the daemon ends although the copy lives on" daemon_ends_within 5
t_check "and aoe show lists nothing" bash -c "'$AOE_BIN' show | grep '^no AoE disks mounted$' >/dev/null"
t_stop_pid "$holder"

# A frozen daemon (SIGSTOP) under aoe umount: the flush is never answered and the daemon is still
# there at the timeout. The one line says both; before, it said only that the daemon was still
# running, and not that data since the last fsync may not be on stable storage. The file is
# not looked at first: umount's busy check then looks it up through the frozen daemon, and
# before, it waited for ever there (timeout 20 stands in for "for ever").
mt_mount e0.1 "$MNT"
daemon=$(mt_daemon_pid e0.1)
kill -STOP "$daemon"
t_defer "kill -CONT $daemon 2>/dev/null"
timeout -k 2 20 nsenter --net="/run/netns/$MT_NS" "$AOE_BIN" umount --timeout 2 "$MNT" \
    >"$T_TMP/frozen.out" 2>&1
rc=$?
kill -CONT "$daemon"
t_expect "aoe umount of a frozen daemon says the flush went unanswered and the daemon runs on" \
    "$rc" 1 "did not answer FLUSH CACHE EXT within 1 s; .*may not be on the target's stable storage, and its daemon (pid $daemon) is still running after 2 s" \
    "$T_TMP/frozen.out"
t_check "(the frozen daemon ends once it runs again)" daemon_ends_within 5
mt_no_mount_left "$MNT"

# A daemon killed outright: its status file is stale, the mount is dead; both get cleaned up.
# The mount point and the file were looked at first, so the kernel holds their attributes
# (for a minute): aoe show must ask the connection, not that cache.
mt_mount e0.1 "$MNT"
stat "$MNT" "$MNT/e0.1" >/dev/null
dd if="$MNT/e0.1" of=/dev/null bs=4k count=1 status=none
kill -KILL "$(mt_daemon_pid e0.1)"
for (( i = 0; i < 50; i++ )); do
    t_alive "$(mt_daemon_pid e0.1)" || break
    sleep 0.1
done
mt_aoe show >"$T_TMP/show.out" 2>&1
t_check "aoe show lists the dead mount and how to remove it" \
    grep -q "^e0.1  $MNT  dead: its aoe mount daemon is gone; remove it with 'aoe umount $MNT'$" \
    "$T_TMP/show.out"
mt_aoe show --json >"$T_TMP/show.json" 2>&1
t_check "aoe show --json lists it under dead_mounts" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit({"disk": "e0.1", "mountpoint": sys.argv[2]} not in r["dead_mounts"])
' "$T_TMP/show.json" "$MNT"
mt_expect_one_line_error "mount onto the dead mount" 1 \
    "$MNT is a dead mount (its FUSE daemon is gone); remove it with 'aoe umount $MNT' first" \
    mt_aoe mount -i vi0 e0.1 "$MNT"
mt_aoe umount "$MNT" >"$T_TMP/dead-umount.out" 2>&1
t_expect "aoe umount cleans up after a killed daemon, and says no flush reached the target" \
    "$?" 1 "but its daemon was gone, so no FLUSH CACHE EXT reached the target" \
    "$T_TMP/dead-umount.out"
t_check "(the dead mount is gone)" mt_unmounted "$MNT"
mt_aoe show | grep "^no AoE disks mounted$" >/dev/null && t_pass "then aoe show lists nothing" \
    || t_fail "aoe show still lists something after the umount"

# A status file whose pid names a live process that is no daemon (a daemon killed a minute ago,
# its pid reused): the daemon said it holds its disk's lock, no lock file is there, and the
# status is not fresh, so nobody holds it. aoe show lists nothing and removes the file; before, the live pid alone made it a mount.
sleep 60 &
unrelated=$!
t_defer "t_kill_pid $unrelated"
mkdir -p "$AOE_RUN_DIR"
printf '{"version": 1, "pid": %d, "holds_lock": true, "disk": "e7.7", "mountpoint": "%s", "state": "serving", "updated_unix": %d}\n' \
    "$unrelated" "$T_TMP/e7.7" "$(( $(date +%s) - 60 ))" >"$AOE_RUN_DIR/e7.7.json"
mt_aoe show >"$T_TMP/unrelated.out" 2>&1
t_check "aoe show does not list a status whose pid is an unrelated live process" \
    grep -q "^no AoE disks mounted$" "$T_TMP/unrelated.out"
t_check "and removes that status file" test ! -e "$AOE_RUN_DIR/e7.7.json"
t_kill_pid "$unrelated"

# A daemon whose new parent is a subreaper that does not reap it (a service manager, a
# container's init): once it exits it is a zombie, and aoe umount's wait ends there rather
# than at its --timeout.
python3 -c '
import ctypes, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the daemon becomes ours
rc = subprocess.run(sys.argv[1:]).returncode
sys.stdout.flush()
if rc == 0:
    time.sleep(120)  # and is never reaped
sys.exit(rc)
' nsenter --net="/run/netns/$MT_NS" "$AOE_BIN" mount -i vi0 e0.1 "$MNT" \
    --log "$T_TMP/mount-e0.1.log" >"$T_TMP/reaper.out" 2>&1 &
reaper=$!
t_defer "mountpoint -q '$MNT' && umount -l '$MNT'; t_kill_pid $reaper"
for (( i = 0; i < 50; i++ )); do
    [[ -n "$(mt_daemon_pid e0.1)" ]] && break
    sleep 0.1
done
daemon=$(mt_daemon_pid e0.1)
[[ -n "$daemon" ]] || t_fail "no daemon under the subreaper: $(cat "$T_TMP/reaper.out")"
started=$(date +%s%N)
mt_aoe umount --timeout 30 "$MNT" >"$T_TMP/zombie-umount.out" 2>&1
rc=$?
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
t_check "aoe umount of a daemon left a zombie by its subreaper succeeds (exit $rc$(
    tr '\n' ' ' <"$T_TMP/zombie-umount.out"))" test "$rc" -eq 0
t_check "(the daemon is a zombie)" test "$(awk '{print $3}' "/proc/$daemon/stat" 2>/dev/null)" = Z
t_check "and aoe umount did not wait for the zombie (${elapsed_ms} ms)" test "$elapsed_ms" -lt 15000
t_kill_pid "$reaper"

# nsenter execs aoe, so $! is aoe's own pid (a shell function would put a subshell between).
nsenter --net="/run/netns/$MT_NS" "$AOE_BIN" mount -i vi0 e0.1 "$MNT" --foreground \
    >"$T_TMP/fg.out" 2>"$T_TMP/fg.err" &
FG=$!
t_defer "mountpoint -q '$MNT' && umount -l '$MNT'; t_stop_pid $FG"
for (( i = 0; i < 50; i++ )); do
    [[ -e "$AOE_RUN_DIR/e0.1.json" ]] && break
    sleep 0.1
done
mountpoint -q "$MNT" || t_fail "--foreground did not mount"
kill -TERM "$FG"
wait "$FG"
rc=$?
[[ $rc -eq 0 ]] && t_pass "--foreground: SIGTERM unmounts and exits 0" \
    || t_fail "--foreground exit $rc: $(cat "$T_TMP/fg.err")"
mt_no_mount_left "$MNT"
t_finish
