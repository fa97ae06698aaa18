#!/usr/bin/env bash
# The power-cut harness itself (README.md): after a cut (SIGKILL of powercut_fs) and a remount,
#   - a write that was never synced is gone, and so is unsynced growth of a file;
#   - a write followed by fsync, one followed by fdatasync, and an O_DSYNC write are there;
#   - the O_DSYNC write was made durable by the write itself (the log says "O_DSYNC write"),
#     not by an FSYNC request;
#   - a descriptor opened before the cut fails afterwards instead of reading cached data;
#   - a clean unmount (SIGTERM) syncs what was written.
# Root only (FUSE mount); no network.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"

t_init
t_require_root "FUSE mounts"
t_require_cmds dd cmp findmnt mountpoint
AOE_POWERCUT_FS=${1:-${AOE_POWERCUT_FS:-}}

backing=$T_TMP/backing
mnt=$T_TMP/mnt
mkdir -p "$backing"
for f in nosync fsync fdatasync dsync grow clean; do
    head -c $((1 << 20)) /dev/zero >"$backing/$f.img"
done
zeros=$(t_sha "$backing/nosync.img")
data=$T_TMP/data
t_random_file "$data" 1
powercut_mount "$mnt" "$backing"

put() {  # put FILE DD_FLAGS...: writes $data over the start of FILE on the mount
    local file=$1
    shift
    dd if="$data" of="$mnt/$file" bs=64k conv=notrunc status=none "$@" || t_die "dd to $file failed"
}
put nosync.img
put fsync.img conv=notrunc,fsync
put fdatasync.img conv=notrunc,fdatasync
put dsync.img oflag=dsync
dd if="$data" of="$mnt/grow.img" bs=64k seek=16 conv=notrunc status=none
t_check "an unsynced write is visible before the cut" cmp -s "$data" "$mnt/nosync.img"
t_check "nothing was synced for nosync.img" [ "$(t_sha "$backing/nosync.img")" == "$zeros" ]

exec 7<"$mnt/nosync.img"
powercut_cut
t_check "a descriptor opened before the cut fails after it" \
    bash -c '! dd bs=4k count=1 status=none <&7 >/dev/null 2>&1'
exec 7<&-

powercut_remount
t_check "write, no sync, cut: gone" [ "$(t_sha "$mnt/nosync.img")" == "$zeros" ]
t_check "growth, no sync, cut: gone" [ "$(stat -c %s "$mnt/grow.img")" -eq $((1 << 20)) ]
t_check "write, fsync, cut: there" cmp -s -n $((1 << 20)) "$data" "$mnt/fsync.img"
t_check "write, fdatasync, cut: there" cmp -s -n $((1 << 20)) "$data" "$mnt/fdatasync.img"
t_check "O_DSYNC write, cut: there" cmp -s -n $((1 << 20)) "$data" "$mnt/dsync.img"
t_check "the remount reads what the backing directory holds" cmp -s "$mnt/dsync.img" "$backing/dsync.img"

# How each file was made durable, from the harness's log.
t_check "fsync arrived as FSYNC" grep -q '^sync fsync.img (fsync)' "$POWERCUT_LOG"
t_check "fdatasync arrived as FSYNC with datasync" \
    grep -q '^sync fdatasync.img (fdatasync)' "$POWERCUT_LOG"
t_check "O_DSYNC writes arrived as WRITEs carrying O_DSYNC" \
    grep -q '^sync dsync.img (O_DSYNC write)' "$POWERCUT_LOG"
t_check "... and not as FSYNC requests" bash -c "! grep -q '^sync dsync.img (f' '$POWERCUT_LOG'"

# A clean stop is not a power cut: SIGTERM unmounts and writes everything back.
put clean.img
t_stop_pid "$POWERCUT_PID"
wait "$POWERCUT_WRAPPER" 2>/dev/null
t_check "a clean unmount syncs unsynced writes" cmp -s -n $((1 << 20)) "$data" "$backing/clean.img"
t_finish
