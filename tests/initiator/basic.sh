#!/bin/bash
#
# basic.sh AOE_BINARY aoekit|vblade
#
# The initiator commands against a real target in a network namespace, over one veth pair
# (MTU 9000):
#   - scan finds e0.1 with the right size (table and --json);
#   - ping gets config and IDENTIFY replies;
#   - cp downloads the 256 MiB image: same SHA-256, zero runs left as holes, full size;
#   - cp downloads a range with --verify over an existing file, and is refused by a reservation
#     without touching the destination;
#   - cp uploads a different, sparse 256 MiB image with --verify: the target's image file
#     then has the same SHA-256, zeros included;
#   - bench reads, and random-writes only inside the region it is given;
#   - config / mask / reserve / release, and the refusals a person sees. Against vblade the
#     mask is only read and added to (vblade 25 aborts on a mask delete), and reservations are
#     checked against aoekit only.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, or vblade missing).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

ini_init "$1"
TARGET=${2:?usage: $0 AOE_BINARY aoekit|vblade}
ini_require_root setpriv losetup
[[ $TARGET == aoekit || $TARGET == vblade ]] || t_die "unknown target '$TARGET'"
[[ $TARGET == vblade ]] && { command -v vblade >/dev/null || t_skip "vblade not installed"; }

readonly MIB=256
readonly SECTORS=$(( MIB * 2048 ))
IMAGE=$T_TMP/disk.img
ini_make_image "$IMAGE" "$MIB"
ORIGINAL_SHA=$(t_sha "$IMAGE")

ini_netns target
ini_netns client
ini_link target vt0 client vc0 9000
if [[ $TARGET == aoekit ]]; then
    ini_serve target -i vt0 "e0.1=$IMAGE"
else
    ini_vblade target 0 1 vt0 "$IMAGE"
fi
ini_wait_target client vc0 e0.1

# --- scan ------------------------------------------------------------------------------------
out=$T_TMP/out
if ini_aoe client scan -i vc0 >"$out" 2>&1; then
    if grep -Eq '^e0\.1 +256 MiB ' "$out"; then t_pass "scan: e0.1 256 MiB"; else t_fail "scan table: $(cat "$out")"; fi
else
    t_fail "scan exit $?: $(cat "$out")"
fi
ini_aoe client scan -i vc0 --json >"$out" 2>&1
t_check "scan --json: sectors $SECTORS" grep -q "\"sectors\": $SECTORS," "$out"

# Without CAP_NET_RAW the packet socket cannot be opened: say so, send nothing.
ip netns exec "$(t_ns client)" setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps=-all "$AOE_BIN" scan -i vc0 >/dev/null 2>"$out"
rc=$?
t_expect "scan without CAP_NET_RAW: exit 1 and a hint" "$rc" 1 'needs root or CAP_NET_RAW' "$out"
ini_aoe client scan -i nosuch0 >/dev/null 2>"$out"
rc=$?
t_expect "scan on a missing interface: exit 1 and a hint" "$rc" 1 \
    "^aoe scan: cannot open interface 'nosuch0': no such interface; list the interfaces with 'ip link'$" "$out"
ini_aoe client scan -i lo >/dev/null 2>"$out"
rc=$?
t_expect "scan on loopback: exit 1, not an Ethernet interface" "$rc" 1 \
    "^aoe scan: cannot open interface 'lo': not an Ethernet interface, which AoE needs" "$out"

# --- ping ------------------------------------------------------------------------------------
if ini_aoe client ping -i vc0 -c 3 --interval 0.1 e0.1 >"$out" 2>&1 &&
    grep -q 'config: 3 sent, 3 answered' "$out" && grep -q 'identify: 3 sent, 3 answered' "$out"; then
    t_pass "ping: 3 config and 3 IDENTIFY replies"
else
    t_fail "ping: $(cat "$out")"
fi
ini_aoe client ping -i vc0 -c 1 e0.9 >"$out" 2>&1
rc=$?
t_check "ping of an absent disk exits 1" test "$rc" -eq 1

# --- cp download -----------------------------------------------------------------------------
DOWN=$T_TMP/down.img
t0=$SECONDS
if ini_aoe client cp -i vc0 e0.1 "$DOWN" 2>"$out"; then
    t_log "download: $(cat "$out")"
    t_check "download: same SHA-256" test "$(t_sha "$DOWN")" == "$ORIGINAL_SHA"
    t_check "download: size $(( MIB << 20 ))" test "$(stat -c %s "$DOWN")" -eq $(( MIB << 20 ))
    # The image has MIB/8 MiB of zeros; they must not take disk space in the copy (1 MiB of
    # slack for file system metadata).
    allocated=$(( $(stat -c %b "$DOWN") * $(stat -c %B "$DOWN") ))
    t_check "download: zeros left as holes ($allocated bytes allocated)" \
        test "$allocated" -le $(( (MIB - MIB / 8 + 1) << 20 ))
else
    t_fail "download: $(cat "$out")"
fi
t_log "download took $(( SECONDS - t0 )) s"

# --- cp download --verify, onto an existing file -------------------------------------------
# The copy is read back from the file it wrote (that file used to be opened write-only, so
# every download --verify failed with EBADF).
VERIFIED=$T_TMP/verified.img
echo "an older file" >"$VERIFIED"
if ini_aoe client cp -i vc0 --count-sectors 65536 e0.1 "$VERIFIED" --verify 2>"$out"; then
    t_check "download --verify reports the SHA-256 of the range" \
        grep -q "verified: both sides have SHA-256 $(t_sha_range "$IMAGE" 0 65536)" "$out"
    t_check "download --verify: the file is the range" \
        test "$(t_sha "$VERIFIED")" == "$(t_sha_range "$IMAGE" 0 65536)"
else
    t_fail "download --verify: $(cat "$out")"
fi
# A disk that changes during the copy fails the verify. The message names the copy it compared
# (which is removed), not the destination, which keeps its bytes; and cp does not say it copied.
echo "an older file" >"$VERIFIED"
(
    for _ in $(seq 5000); do
        dd if=/dev/urandom of="$IMAGE" bs=512 seek=$(( RANDOM % 65536 )) count=1 conv=notrunc \
            status=none
        sleep 0.002
    done
) &
writer=$!
ini_aoe client cp -i vc0 --count-sectors 65536 e0.1 "$VERIFIED" --verify 2>"$out"
rc=$?
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
t_check "download --verify of a changing disk: exit 1" test "$rc" -eq 1
t_check "... the message names the copy and keeps the destination" grep -q \
    "verify failed: the copy of e0.1 has SHA-256 .* (did it change during the copy?); $VERIFIED was left as it was" "$out"
t_check "... which still holds its bytes" test "$(cat "$VERIFIED")" = "an older file"
t_check "... and cp did not say it copied to it" bash -c "! grep -q 'copied from' '$out'"
dd if="$DOWN" of="$IMAGE" conv=notrunc status=none  # the image as it was, for what follows

# --- cp upload (sparse source, --verify) -------------------------------------------------------
UP=$T_TMP/up.img
truncate -s "${MIB}M" "$UP"
# Data at both ends and in the middle; the rest is a hole that must arrive as zeros.
head -c $(( 8 << 20 )) "$DOWN" | dd of="$UP" conv=notrunc status=none
dd if=/dev/urandom of="$UP" bs=1M seek=100 count=20 conv=notrunc status=none
dd if=/dev/urandom of="$UP" bs=512 seek=$(( SECTORS - 3 )) count=3 conv=notrunc status=none
UP_SHA=$(t_sha "$UP")
t0=$SECONDS
if ini_aoe client cp -i vc0 "$UP" e0.1 --verify 2>"$out"; then
    t_log "upload: $(tr '\n' ' ' <"$out")"
    t_check "upload --verify reports the SHA-256" grep -q "SHA-256 $UP_SHA" "$out"
    [[ $TARGET == vblade ]] && sync
    t_check "upload: target image has the same SHA-256" test "$(t_sha "$IMAGE")" == "$UP_SHA"
else
    t_fail "upload: $(cat "$out")"
fi
t_log "upload took $(( SECONDS - t0 )) s"

# --- block devices (aoekit only, to keep the vblade run short) --------------------------
if [[ $TARGET == aoekit ]]; then
    LOOP_FILE=$T_TMP/loop.img
    ini_make_image "$LOOP_FILE" 16
    LOOP=$(losetup --find --show "$LOOP_FILE") || t_die "losetup could not attach $LOOP_FILE"
    t_defer "losetup -d '$LOOP'"
    ini_aoe client cp -i vc0 --count-sectors 32768 e0.1 "$LOOP" 2>"$out"
    t_check "download to a block device" \
        test "$(t_sha "$LOOP")" == "$(t_sha_range "$IMAGE" 0 32768)"
    ini_make_image "$T_TMP/fresh.img" 16
    dd if="$T_TMP/fresh.img" of="$LOOP" bs=1M oflag=direct status=none
    ini_aoe client cp -i vc0 --seek-sectors 65536 "$LOOP" e0.1 2>"$out"
    t_check "upload from a block device" \
        test "$(t_sha_range "$IMAGE" 65536 32768)" == "$(t_sha "$T_TMP/fresh.img")"
    ini_aoe client cp -i vc0 e0.1 "$LOOP" 2>"$out"
    rc=$?
    t_expect "a disk larger than the block device is refused" "$rc" 1 'do not fit on' "$out"
fi

# --- bench -----------------------------------------------------------------------------------
if ini_aoe client bench -i vc0 e0.1 --seconds 1 --json >"$out" 2>&1 &&
    grep -Eq '"mb_per_s": [0-9]*[1-9]' "$out" && grep -q '"p99":' "$out"; then
    t_pass "bench read: throughput and latency reported"
else
    t_fail "bench read: $(cat "$out")"
fi
# A random-write run confined to the last MiB must leave everything before it alone.
before=$(t_sha_range "$IMAGE" 0 $(( SECTORS - 2048 )))
if ini_aoe client bench -i vc0 e0.1 --rw randwrite --yes-destroy-data --bs 4K --seconds 0.5 \
    --offset $(( (MIB - 1) << 20 )) --length 1M >"$out" 2>&1 && grep -q 'throughput' "$out"; then
    t_pass "bench randwrite in a region"
else
    t_fail "bench randwrite: $(cat "$out")"
fi
[[ $TARGET == vblade ]] && sync
t_check "bench randwrite stayed in its region" \
    test "$(t_sha_range "$IMAGE" 0 $(( SECTORS - 2048 )))" == "$before"

# --- admin commands --------------------------------------------------------------------------
ini_aoe client config -i vc0 e0.1 --force "" >/dev/null 2>&1
ini_aoe client config -i vc0 e0.1 --set host-a >"$out" 2>&1
t_check "config --set" grep -q 'e0.1 config string set to "host-a"' "$out"
ini_aoe client config -i vc0 e0.1 >"$out" 2>&1
t_check "config read" grep -q 'e0.1 config string: "host-a"' "$out"
ini_aoe client config -i vc0 e0.1 --set host-b >"$out" 2>&1
rc=$?
t_expect "config --set over another string is refused (exit 1, --force hint)" \
    "$rc" 1 'use --force' "$out"
ini_aoe client config -i vc0 e0.1 --test-prefix host >/dev/null 2>&1
t_check "config --test-prefix matches" test $? -eq 0
ini_aoe client config -i vc0 e0.1 --test host >"$out" 2>&1
rc=$?
t_expect "config --test mismatch exits 1" "$rc" 1 'does not equal' "$out"

ini_aoe client mask -i vc0 e0.1 >"$out" 2>&1
t_check "mask read: empty" grep -q 'mask list: empty' "$out"
MY_MAC=$(ip -n "$(t_ns client)" link show vc0 | awk '/link\/ether/ {print $2}')
ini_aoe client mask -i vc0 e0.1 --add "$MY_MAC" --add 02:00:00:00:00:42 >"$out" 2>&1
t_check "mask --add" grep -q "mask list: .*02:00:00:00:00:42" "$out"
t_check "mask --add with this host on the list: no lock-out note" bash -c "! grep -q 'note:' '$out'"
# vblade 25 dies ("buffer overflow detected") on any mask delete, so only aoekit is asked.
if [[ $TARGET == aoekit ]]; then
    ini_aoe client mask -i vc0 e0.1 --del "$MY_MAC" --del 02:00:00:00:00:42 >"$out" 2>&1
    t_check "mask --del empties the list" grep -q 'mask list: empty' "$out"
fi

if [[ $TARGET == aoekit ]]; then
    ini_aoe client reserve -i vc0 e0.1 >"$out" 2>&1
    t_check "reserve for this host" grep -q "e0.1 reserved for $MY_MAC" "$out"
    ini_aoe client release -i vc0 e0.1 >"$out" 2>&1
    t_check "release" grep -q 'e0.1 released' "$out"
    # Another host's reservation: our reads and our release are refused, with its MAC named. A
    # MAC given twice is listed once, and the command notes that this host is shut out.
    ini_aoe client reserve -i vc0 e0.1 02:00:00:00:00:99 02:00:00:00:00:99 >"$out" 2>&1
    t_check "reserve for another host: listed once" \
        grep -q "e0.1 reserved for 02:00:00:00:00:99$" "$out"
    t_check "... with a note that this host is shut out" grep -q \
        "aoe reserve: note: no MAC of this host ($MY_MAC) is on the list, so e0.1 now refuses its reads and writes" "$out"
    ini_aoe client cp -i vc0 --count-sectors 8 e0.1 "$T_TMP/x.img" 2>"$out"
    rc=$?
    t_expect "cp from a disk reserved by another host fails naming it" \
        "$rc" 1 'target reserved by another host (02:00:00:00:00:99)' "$out"
    # Refused at its first read, a download leaves the destination alone: an existing file keeps
    # its bytes (it used to be emptied first), a new one is not left behind.
    echo precious >"$T_TMP/keep.img"
    ini_aoe client cp -i vc0 --count-sectors 8 e0.1 "$T_TMP/keep.img" 2>"$out"
    t_expect "cp refused by a reservation: exit 1" "$?" 1 'reserved by another host' "$out"
    t_check "the existing destination keeps its bytes" \
        test "$(cat "$T_TMP/keep.img")" == precious
    t_check "no new destination is left behind" test ! -e "$T_TMP/x.img"
    ini_aoe client release -i vc0 e0.1 2>"$out"
    rc=$?
    t_expect "release of another host's reservation is refused" \
        "$rc" 1 'reserved by another host (02:00:00:00:00:99); use --force' "$out"
    ini_aoe client release -i vc0 e0.1 --force >"$out" 2>&1
    t_check "release --force" grep -q 'e0.1 released' "$out"
    ini_aoe client release -i vc0 e0.9 --timeout 0.3 >"$out" 2>&1
    t_check "release of an absent disk says release" grep -q "no reply from e0.9 to release within" "$out"
fi

t_finish
