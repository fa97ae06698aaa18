#!/bin/bash
#
# netboot_notify.sh AOE_BINARY
#
# A separate `aoe netboot --notify-socket` tells `aoe serve` when a client asks to boot, and
# the overlay lifetimes apply (docs/overlays.md, "Lifetimes"):
#   - c1 (discard-on-boot) and c2 (persist, a per-client override) write to their overlays;
#   - each then sends the DHCP DISCOVER/REQUEST of a PXE ROM (busybox udhcpc with the PXE
#     vendor class) to aoe netboot on the target's link;
#   - c1's overlay is gone (it reads the base again), c2's stays; aoe serve logs the discard;
#   - a plain DHCP client (no PXE vendor class) on c2 changes nothing.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, no busybox).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
ov_init "$1"
command -v busybox >/dev/null || t_skip "busybox missing (udhcpc plays the PXE client)"

BASE=$T_TMP/golden.img
ini_make_image "$BASE" 16
OVERLAY_DIR=$T_TMP/e0.1
C1=02:00:00:0f:05:01
C2=02:00:00:0f:05:02
ov_client c1 "$C1"
ov_client c2 "$C2"
ip -n "$(t_ns target)" addr add 10.79.1.1/24 dev ovt1
ip -n "$(t_ns target)" addr add 10.79.2.1/24 dev ovt2
ov_serve "e0.1=$BASE,overlay=$OVERLAY_DIR,lifetime=discard-on-boot,lifetime.$C2=persist"
ov_wait_ready
for n in 1 2; do
    ov_bg target "$T_TMP/netboot$n.log" "$AOE_BIN" netboot -i "ovt$n" \
        --range "10.79.$n.100-10.79.$n.110" --boot e0.1 --lease-file "$T_TMP/leases$n" \
        --notify-socket "$OV_SOCKET"
    for (( i = 0; i < 50; i++ )); do
        grep -q "full DHCP for" "$T_TMP/netboot$n.log" && break
        sleep 0.1
    done
    grep -q "full DHCP for" "$T_TMP/netboot$n.log" ||
        t_die "aoe netboot $n did not start: $(cat "$T_TMP/netboot$n.log")"
done

ov_pattern "$T_TMP/w.bin" notify 1
W_SHA=$(sha256sum <"$T_TMP/w.bin" | cut -d' ' -f1)
for n in 1 2; do
    ov_aoe "c$n" cp -i ovc0 --no-progress "$T_TMP/w.bin" e0.1 --seek-sectors 64 >/dev/null 2>&1 ||
        t_fail "upload from c$n"
done
read_at() {
    rm -f "$T_TMP/r.bin"
    ov_aoe "$1" cp -i ovc0 --no-progress e0.1 "$T_TMP/r.bin" --skip-sectors 64 \
        --count-sectors 2048 >/dev/null 2>&1 && sha256sum <"$T_TMP/r.bin" | cut -d' ' -f1
}
BASE_AT=$(dd if="$BASE" bs=512 skip=64 count=2048 status=none | sha256sum | cut -d' ' -f1)
dhcp() {  # CLIENT [udhcpc options]
    local c=$1
    shift
    ip netns exec "$(t_ns "$c")" timeout 30 busybox udhcpc -i ovc0 -n -q -t 3 -T 1 -A 1 \
        -s /bin/true "$@" >/dev/null 2>&1 || true
}

dhcp c2   # an ordinary DHCP client, not a PXE ROM
t_check "a plain DHCP request changes nothing" test "$(read_at c2)" = "$W_SHA"
dhcp c1 -V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000
dhcp c2 -V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000
t_check "c1 (discard-on-boot) booted: its overlay is gone, it reads the base" \
    test "$(read_at c1)" = "$BASE_AT"
t_check "c2 (persist) booted: its overlay stays" test "$(read_at c2)" = "$W_SHA"
t_check "aoe serve logged the discard" grep -q "$C1 boots: overlay discarded" "$INI_TARGET_LOG"
if grep -q "cannot tell aoe serve\|refused the boot notice" "$T_TMP"/netboot*.log; then
    t_fail "aoe netboot could not notify: $(grep -h 'aoe serve' "$T_TMP"/netboot*.log)"
else
    t_pass "aoe netboot notified aoe serve without errors"
fi

t_finish
