#!/bin/bash
#
# mount_losetup_test.sh AOE: a filesystem on a partition of an AoE disk survives unmount and
# remount: the whole stack is aoe mount -> losetup --partscan -> sfdisk -> mkfs.ext4 -> mount.
#
#   1. aoe mount e0.1, attach the file with losetup --partscan, partition it with sfdisk,
#      mkfs.ext4 the partition, mount it, write files, record their checksums;
#   2. aoe umount must refuse while the loop device is attached (and say losetup -d);
#   3. unmount, losetup -d, aoe umount (which flushes), aoe mount again, attach again;
#   4. e2fsck -fn on the partition is clean and every file has its checksum; then unmount and
#      `losetup -d` while something still holds the loop device for 0.7 s (as udev may): the
#      kernel detaches it at that last close, and aoe umount waits for it instead of refusing;
#   5. the target's image itself, read without AoE, holds the same clean filesystem.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, missing tool).
set -u
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
mt_init "$@"

IMAGE=$T_TMP/disk.img
truncate -s 96M "$IMAGE"
mt_netns
mt_serve "e0.1=$IMAGE"

MNT=$T_TMP/aoe
FS=$T_TMP/fs
mkdir -p "$FS"

# --- 1. build the stack and write files --------------------------------------------------
mt_mount e0.1 "$MNT"
[[ $(stat -c %s "$MNT/e0.1") -eq $((96 * 1024 * 1024)) ]] || t_fail "file size is not the disk size"
mt_losetup "$MNT/e0.1"
LOOP=$MT_LOOP
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$LOOP" >/dev/null 2>&1 \
    || t_die "sfdisk on $LOOP failed"
mt_partitions "$LOOP"
mkfs.ext4 -q -F "${LOOP}p1" || t_die "mkfs.ext4 ${LOOP}p1 failed"
mount "${LOOP}p1" "$FS" || t_die "mount ${LOOP}p1 failed"
t_defer "mountpoint -q '$FS' && umount '$FS'"
mkdir -p "$FS/dir"
for i in 1 2 3 4 5; do
    head -c $(( i * 700 * 1024 + i * 17 )) /dev/urandom >"$FS/dir/file$i"
done
echo "a small file" >"$FS/small.txt"
(cd "$FS" && sha256sum dir/file* small.txt) >"$T_TMP/sums"
umount "$FS" || t_die "umount $FS failed"

# --- 2. aoe umount refuses while the loop device holds the file ------------------------------
mt_expect_one_line_error "umount with a loop device attached" 1 "losetup -d" mt_aoe umount "$MNT"
mountpoint -q "$MNT" || t_fail "the refused aoe umount unmounted anyway"

# --- 3. detach everything, remount --------------------------------------------------------
partx -d "$LOOP" 2>/dev/null
losetup -d "$LOOP" || t_die "losetup -d $LOOP failed"
PID=$(mt_daemon_pid e0.1)
mt_aoe umount "$MNT" || t_die "aoe umount $MNT failed"
t_check "aoe umount detached $MNT" mt_unmounted "$MNT"
t_check "aoe umount stopped the daemon $PID" mt_gone "$PID"
t_check "aoe umount removed the status file" test ! -e "$AOE_RUN_DIR/e0.1.json"
t_check "the daemon logged its final line" grep -q 'stopped after' "$T_TMP/mount-e0.1.log"

mt_mount e0.1 "$MNT"
mt_losetup "$MNT/e0.1"
LOOP=$MT_LOOP
mt_partitions "$LOOP"

# --- 4. fsck clean, files intact -----------------------------------------------------------
if e2fsck -fn "${LOOP}p1" >"$T_TMP/fsck.out" 2>&1; then
    t_pass "e2fsck -fn ${LOOP}p1 is clean after remount"
else
    cat "$T_TMP/fsck.out"
    t_fail "e2fsck -fn ${LOOP}p1 found problems after remount"
fi
mount -o ro "${LOOP}p1" "$FS" || t_die "mount ${LOOP}p1 after remount failed"
if (cd "$FS" && sha256sum --quiet -c "$T_TMP/sums"); then
    t_pass "all file checksums equal after remount"
else
    t_fail "file checksums differ after remount"
fi
umount "$FS"
partx -d "$LOOP" 2>/dev/null
# Something still has the device open for a moment, as udev does after an umount (CI once caught
# exactly that): `losetup -d` then detaches it only at its last close, which aoe umount waits for.
sleep 0.7 <"$LOOP" &
holder=$!
losetup -d "$LOOP"
mt_aoe umount "$MNT" || t_fail "second aoe umount failed (the loop device detached 0.7 s after losetup -d)"
wait "$holder"

# --- 5. the target's own copy ---------------------------------------------------------------
RAW=$(losetup --find --show --read-only --offset $((2048 * 512)) "$IMAGE") || t_die "losetup of the image failed"
t_defer "losetup -d '$RAW' 2>/dev/null"
if e2fsck -fn "$RAW" >"$T_TMP/fsck2.out" 2>&1; then
    t_pass "the target's image holds the same clean filesystem"
else
    cat "$T_TMP/fsck2.out"
    t_fail "e2fsck on the target's image failed"
fi
losetup -d "$RAW"

mt_no_mount_left "$MNT" "$FS"
t_finish
