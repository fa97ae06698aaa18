#!/bin/bash
#
# trim.sh AOE_BINARY
#
# TRIM end to end (ATA DATA SET MANAGEMENT), from aoekit's initiator to the target's storage:
#   plain export (e0.1 on an image file):
#     - `aoe cp --sparse-upload` trims the source's zero runs instead of sending them: the
#       image's allocated blocks (st_blocks) drop by at least the zero run, and the disk reads
#       back exactly the source;
#     - `aoe mount` + fallocate --punch-hole on the disk file: TRIM of the whole sectors, zeroes
#       at the edges; st_blocks drops again and the range reads as zeroes;
#   read-only export (e0.2,ro): IDENTIFY offers no TRIM and a TRIM is refused with an ATA error
#     (ABRT); the image does not change;
#   overlay export (e0.3,overlay=DIR):
#     - IDENTIFY offers TRIM but not "reads zeroes after TRIM";
#     - a TRIM drops the client's overlay blocks: they read the base again, the rest of its
#       writes stay, `aoe overlay show` counts fewer mapped bytes, and after the flush the data
#       file's allocated bytes drop;
#     - fallocate --punch-hole on a mounted overlay disk fails with EOPNOTSUPP (a trim there
#       would not read back as zeroes), and --sparse-upload writes zeroes instead of trimming.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, no FUSE).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
ov_init "$1"
TRIM_CLIENT=${AOE_TRIM_CLIENT:-$(dirname "$AOE_BIN")/../../tests/overlay/overlay_trim_client}
[[ -x $TRIM_CLIENT ]] || t_skip "overlay_trim_client not found: build it or set AOE_TRIM_CLIENT"
[[ -c /dev/fuse ]] || t_skip "no /dev/fuse"
command -v fallocate >/dev/null || t_skip "fallocate (util-linux) missing"
export AOE_RUN_DIR=$T_TMP/run

readonly MIB=64
PLAIN=$T_TMP/plain.img
RO=$T_TMP/ro.img
GOLDEN=$T_TMP/golden.img
OVERLAY_DIR=$T_TMP/e0.3
ov_pattern "$PLAIN" plain $MIB
ov_pattern "$RO" ro 8
ov_pattern "$GOLDEN" golden 16
RO_SHA=$(t_sha "$RO")
GOLDEN_SHA=$(t_sha "$GOLDEN")
ov_client c1 02:00:00:0f:03:01
ov_serve "e0.1=$PLAIN" "e0.2=$RO,ro" "e0.3=$GOLDEN,overlay=$OVERLAY_DIR"
ov_wait_ready
out=$T_TMP/out
allocated() { echo $(( $(stat -c %b "$1") * 512 )); }
trim() { ip netns exec "$(t_ns c1)" "$TRIM_CLIENT" ovc0 "$@"; }
read_range() {  # DISK SECTOR COUNT -> sha256
    rm -f "$T_TMP/r.bin"
    ov_aoe c1 cp -i ovc0 --no-progress "$1" "$T_TMP/r.bin" --skip-sectors "$2" \
        --count-sectors "$3" >/dev/null 2>&1 && sha256sum <"$T_TMP/r.bin" | cut -d' ' -f1
}
zeros_sha() { head -c $(( $1 * 512 )) /dev/zero | sha256sum | cut -d' ' -f1; }

# --- plain export: aoe cp --sparse-upload ------------------------------------------------------------
SOURCE=$T_TMP/source.img
ov_pattern "$SOURCE" source $MIB
dd if=/dev/zero of="$SOURCE" bs=1M seek=16 count=24 conv=notrunc status=none   # 24 MiB of zeros
before=$(allocated "$PLAIN")
ov_aoe c1 cp -i ovc0 --no-progress --sparse-upload --json "$SOURCE" e0.1 >"$out" 2>&1 ||
    t_fail "cp --sparse-upload: $(cat "$out")"
after=$(allocated "$PLAIN")
t_check "cp --sparse-upload: the target trimmed the 24 MiB zero run" \
    test "$(ov_json "$out" "r['trimmed_bytes']")" -ge $(( 24 << 20 ))
# (less a block or two: the file system's extent tree grows with the holes)
t_check "cp --sparse-upload: the image's allocated bytes drop by about 24 MiB ($before -> $after)" \
    test $(( before - after )) -ge $(( 23 << 20 ))
t_check "cp --sparse-upload: the disk reads back exactly the source" \
    test "$(read_range e0.1 0 $(( MIB * 2048 )))" = "$(t_sha "$SOURCE")"

# --- plain export: fallocate --punch-hole through aoe mount ----------------------------------------
MNT=$T_TMP/mnt
mkdir -p "$MNT"
nsenter --net="/run/netns/$(t_ns c1)" "$AOE_BIN" mount -i ovc0 e0.1 "$MNT" --log "$T_TMP/mount.log" ||
    t_die "aoe mount: $(cat "$T_TMP/mount.log")"
t_defer "mountpoint -q '$MNT' && umount -l '$MNT'"
t_defer "timeout 20 '$AOE_BIN' umount '$MNT' >/dev/null 2>&1"
before=$(allocated "$PLAIN")
# 4 MiB from byte 1 MiB + 100: TRIM of the whole sectors, zeroes written at both edges.
if fallocate --punch-hole --offset $(( (1 << 20) + 100 )) --length $(( 4 << 20 )) "$MNT/e0.1" 2>"$out"; then
    t_pass "fallocate --punch-hole on the mounted plain disk succeeds"
else
    t_fail "fallocate --punch-hole on the mounted plain disk: $(cat "$out")"
fi
after=$(allocated "$PLAIN")
t_check "fallocate: the image's allocated bytes drop by at least 3 MiB ($before -> $after)" \
    test $(( before - after )) -ge $(( 3 << 20 ))
t_check "fallocate: the punched bytes read as zeroes" \
    test "$(dd if="$MNT/e0.1" bs=64K skip=$(( (1 << 20) + 100 )) count=$(( 4 << 20 )) iflag=skip_bytes,count_bytes status=none | tr -d '\0' | wc -c)" -eq 0
t_check "fallocate: the bytes just outside are the source's" \
    test "$(dd if="$MNT/e0.1" bs=100 skip=$(( (1 << 20) / 100 )) count=1 iflag=skip_bytes status=none 2>/dev/null | sha256sum)" = \
         "$(dd if="$SOURCE" bs=100 skip=$(( (1 << 20) / 100 )) count=1 iflag=skip_bytes status=none | sha256sum)"
timeout 20 "$AOE_BIN" umount "$MNT" >/dev/null 2>&1

# --- read-only export --------------------------------------------------------------------------------
trim e0.2 0 64 >"$out" 2>&1
rc=$?
t_expect "read-only export: TRIM refused with an ATA error" "$rc" 1 "ABRT: command aborted" "$out"
t_check "read-only export: IDENTIFY offers no TRIM" grep -q "identify: trim=false" "$out"
t_check "read-only export: the image did not change" test "$(t_sha "$RO")" = "$RO_SHA"

# --- overlay export ------------------------------------------------------------------------------------
ov_pattern "$T_TMP/w.bin" overlay-writes 4
ov_aoe c1 cp -i ovc0 --no-progress "$T_TMP/w.bin" e0.3 --seek-sectors 2048 >/dev/null 2>&1 ||
    t_fail "upload to the overlay export"
MAC=02:00:00:0f:03:01
show() { ov_overlay show e0.3 "$MAC" --json; }
show >"$out"
mapped_before=$(ov_json "$out" "r['mapped_bytes']")
data_before=$(ov_json "$out" "r['data_allocated_bytes']")
trim e0.3 $(( 2048 + 2048 )) 4096 >"$out" 2>&1 || t_fail "overlay TRIM: $(cat "$out")"
t_check "overlay export: IDENTIFY offers TRIM but not zeroes after it" \
    grep -q "identify: trim=true trim_reads_zeroes=false" "$out"
show >"$out"
t_check "overlay TRIM: 2 MiB fewer mapped bytes ($mapped_before -> $(ov_json "$out" "r['mapped_bytes']"))" \
    test $(( mapped_before - $(ov_json "$out" "r['mapped_bytes']") )) -eq $(( 2 << 20 ))
t_check "overlay TRIM: the trimmed sectors read the base again" \
    test "$(read_range e0.3 4096 4096)" = "$(dd if="$GOLDEN" bs=512 skip=4096 count=4096 status=none | sha256sum | cut -d' ' -f1)"
t_check "overlay TRIM: the client's other writes stay" \
    test "$(read_range e0.3 2048 2048)" = "$(head -c $(( 1 << 20 )) "$T_TMP/w.bin" | sha256sum | cut -d' ' -f1)"
data_after=$data_before
for (( i = 0; i < 50; i++ )); do   # the hole is punched once the flush made the map durable
    show >"$out"
    data_after=$(ov_json "$out" "r['data_allocated_bytes']")
    (( data_before - data_after >= (2 << 20) )) && break
    sleep 0.1
done
t_check "overlay TRIM: the data file gives back the 2 MiB ($data_before -> $data_after)" \
    test $(( data_before - data_after )) -ge $(( 2 << 20 ))

nsenter --net="/run/netns/$(t_ns c1)" "$AOE_BIN" mount -i ovc0 e0.3 "$MNT" --log "$T_TMP/mount3.log" ||
    t_die "aoe mount e0.3: $(cat "$T_TMP/mount3.log")"
if fallocate --punch-hole --offset 0 --length $(( 1 << 20 )) "$MNT/e0.3" 2>"$out"; then
    t_fail "fallocate --punch-hole on a mounted overlay disk succeeded"
else
    # EOPNOTSUPP; util-linux words it "keep size mode is unsupported".
    t_check "fallocate --punch-hole on a mounted overlay disk: not supported" \
        grep -qiE "not supported|unsupported" "$out"
fi
timeout 20 "$AOE_BIN" umount "$MNT" >/dev/null 2>&1
head -c $(( 1 << 20 )) /dev/zero >"$T_TMP/z.bin"
ov_aoe c1 cp -i ovc0 --no-progress --sparse-upload --json "$T_TMP/z.bin" e0.3 >"$out" 2>"$T_TMP/err" ||
    t_fail "cp --sparse-upload to the overlay export: $(cat "$T_TMP/err")"
t_check "cp --sparse-upload to an overlay export writes the zeros (nothing trimmed)" \
    test "$(ov_json "$out" "r['trimmed_bytes']")" -eq 0
t_check "... and the disk then reads them as zeroes" test "$(read_range e0.3 0 2048)" = "$(zeros_sha 2048)"
t_check "the overlay export's base never changed" test "$(t_sha "$GOLDEN")" = "$GOLDEN_SHA"

t_finish
