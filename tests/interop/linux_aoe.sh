#!/bin/bash
#
# linux_aoe.sh --target vblade|aoekit --mtu 1500|9000 [--backing file|rbd] [--loops N]
#
# Interop test against the real Linux AoE initiator (Debian's aoe.ko).
#
# Boots the host's Debian kernel in QEMU (TCG) with a tiny busybox initramfs.
# The guest's e1000 NIC sits on a tap device inside a private network
# namespace, where the AoE target under test exports a 64 MiB image as e0.0.
# The guest discovers the target, checks its size, reads the whole disk and
# hashes it, writes a 3-sector pattern at an unaligned sector, reads it back,
# and reports everything on the serial console. The host then checks:
#   - size (sectors) seen by the guest == image size
#   - guest's whole-disk sha256 == host's sha256 of the image
#   - read-back pattern sha256 == pattern sha256
#   - the image file on the host contains the pattern at the right offset,
#     and nothing else changed
#   - the negotiated payload (sysfs "payload"): > 1024 bytes at MTU 9000
#
# With --backing rbd (aoekit only), the image is imported into a Ceph RBD image of a throwaway
# cluster in the target's namespace (tests/rbd/cluster.sh) and served as rbd:rbd/disk; the host's
# checks then read it back with `rbd export` after the target stopped.
#
# Exit: 0 pass, 1 fail, 77 skipped (missing prerequisite).
# Env: AOE_BIN (aoekit binary), T_KEEP_TMP=1 (keep logs),
#      INTEROP_PCAP=1 (capture the tap with tshark), INTEROP_QEMU_TIMEOUT.

set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() { echo "usage: $0 --target vblade|aoekit --mtu 1500|9000 [--backing file|rbd] [--loops N]" >&2; exit 2; }

TARGET=vblade
MTU=1500
BACKING=file
LOOPS=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --target) TARGET=${2:-}; shift 2 ;;
        --mtu)    MTU=${2:-}; shift 2 ;;
        --backing) BACKING=${2:-}; shift 2 ;;
        --loops)  LOOPS=${2:-}; shift 2 ;;
        -h|--help) usage ;;
        *) usage ;;
    esac
done
[[ "$TARGET" == vblade || "$TARGET" == aoekit ]] || usage
[[ "$BACKING" == file || ( "$BACKING" == rbd && "$TARGET" == aoekit ) ]] || usage
[[ "$MTU" =~ ^[0-9]+$ ]] || usage
[[ "$LOOPS" =~ ^[0-9]+$ && ( "$LOOPS" == 1 || "$TARGET" == aoekit ) ]] || usage
(( MTU >= 576 && MTU <= 9000 )) || usage

readonly IMAGE_MIB=64
readonly PATTERN_SECTOR=12345      # deliberately not 8-sector (4 KiB) aligned
readonly PATTERN_SECTORS=3

t_init
interop_require_root_tools qemu-system-x86_64 sha256sum cpio gzip
interop_target_check "$TARGET"
interop_find_kernel
t_log "guest kernel $INTEROP_KVER, target $TARGET, mtu $MTU"

# ---------------------------------------------------------------------------
# Test data
# ---------------------------------------------------------------------------
IMAGE=$T_TMP/disk.img
t_make_image "$IMAGE" "$IMAGE_MIB"
IMAGE_SECTORS=$(( $(stat -c %s "$IMAGE") / 512 ))
IMAGE_SHA=$(sha256sum "$IMAGE" | cut -d' ' -f1)

# A recognisable, run-specific pattern: each sector says which one it is.
RUN_ID=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
PATTERN=$T_TMP/pattern.bin
for (( s = 0; s < PATTERN_SECTORS; s++ )); do
    sector_text=""
    while (( ${#sector_text} < 512 )); do
        sector_text+="AOEKIT-PATTERN run=$RUN_ID sector=$(( PATTERN_SECTOR + s )) "
    done
    printf '%s' "${sector_text:0:512}"
done >"$PATTERN"
PATTERN_SHA=$(sha256sum "$PATTERN" | cut -d' ' -f1)

# What the image must look like after the guest's write.
EXPECTED=$T_TMP/expected.img
cp "$IMAGE" "$EXPECTED"
dd if="$PATTERN" of="$EXPECTED" bs=512 seek="$PATTERN_SECTOR" conv=notrunc status=none
EXPECTED_SHA=$(sha256sum "$EXPECTED" | cut -d' ' -f1)
rm -f "$EXPECTED"

# ---------------------------------------------------------------------------
# Guest initramfs
# ---------------------------------------------------------------------------
# /init runs as PID 1 under busybox sh. Every result line starts with
# "AOETEST " so the host can grep it out of the serial log (kernel messages
# are interleaved there). It always ends with poweroff; with panic=-1 and
# QEMU's -no-reboot even a crash of /init ends the VM promptly.
GUEST_INIT=$T_TMP/init
cat >"$GUEST_INIT" <<'GUEST_EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# devtmpfs: aoe.ko's /dev/etherd/* nodes (discover, e0.0) appear by themselves.
mount -t devtmpfs devtmpfs /dev

say() { echo "AOETEST $*"; }
finish() {
    dmesg | grep -E 'aoe:|e1000' | sed 's/^/AOEDMESG /'
    say "END"
    sync
    poweroff -f
    sleep 10
    echo o >/proc/sysrq-trigger
}
fail() { say "FAIL $*"; finish; }
# Centiseconds since boot, for rough timings.
now_cs() { cut -d' ' -f1 /proc/uptime | tr -d '.'; }

MTU=1500; SEEK=0; COUNT=0
for w in $(cat /proc/cmdline); do
    case "$w" in
        aoetest_mtu=*)   MTU=${w#*=} ;;
        aoetest_seek=*)  SEEK=${w#*=} ;;
        aoetest_count=*) COUNT=${w#*=} ;;
    esac
done
say "START mtu=$MTU kernel=$(uname -r)"

# insmod MODULE and its dependencies in the order the host computed.
load() {
    while read -r ko; do
        name=$(basename "$ko" .ko | tr - _)
        grep -q "^$name " /proc/modules && continue
        insmod "$ko" || fail "insmod $ko"
    done <"/lib/modules/$1.load"
}

# No IPv6 autoconfiguration chatter from the guest (keeps captures to AoE).
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
load e1000

# The NIC: the first interface backed by a device (never hard-code its name).
nic=""
i=0
while [ -z "$nic" ] && [ $i -lt 50 ]; do
    for d in /sys/class/net/*; do
        [ -e "$d/device" ] && { nic=${d##*/}; break; }
    done
    [ -n "$nic" ] || sleep 0.1
    i=$((i + 1))
done
[ -n "$nic" ] || fail "no NIC appeared"

# MTU and link first: aoe.ko broadcasts its config query at module load on
# every interface that is up, and computes the payload from the MTU it sees.
ip link set "$nic" mtu "$MTU" || fail "cannot set mtu $MTU on $nic"
ip link set "$nic" up
i=0
while [ "$(cat /sys/class/net/$nic/carrier 2>/dev/null)" != 1 ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1))
done
say "NIC $nic mtu=$(cat /sys/class/net/$nic/mtu) carrier=$(cat /sys/class/net/$nic/carrier 2>/dev/null) after_ms=$((i * 100))"

t0=$(now_cs)
load aoe

# Wait (max 30 s) for the disk. The module-load discovery is normally enough;
# if nothing shows up within 3 s, re-trigger discovery every 2 s (the driver
# by itself would only retry after 60 s).
pokes=0
i=0
while [ ! -b /dev/etherd/e0.0 ] && [ $i -lt 300 ]; do
    if [ $i -ge 30 ] && [ $((i % 20)) -eq 10 ] && [ -e /dev/etherd/discover ]; then
        echo >/dev/etherd/discover
        pokes=$((pokes + 1))
    fi
    sleep 0.1
    i=$((i + 1))
done
[ -b /dev/etherd/e0.0 ] || fail "no /dev/etherd/e0.0 after 30 s (discover pokes: $pokes)"
say "DISCOVERED after_ms=$(( ($(now_cs) - t0) * 10 )) discover_pokes=$pokes"

sys=/sys/block/etherd!e0.0
say "SIZE $(cat $sys/size)"
[ -r $sys/payload ] && say "PAYLOAD $(cat $sys/payload)"
for a in state mac netif firmware-version; do
    [ -r $sys/$a ] && say "SYSFS $a=$(cat $sys/$a | tr '\n' ' ')"
done

# Whole-disk read, bypassing the page cache so every byte crosses the wire.
t0=$(now_cs)
sum=$(dd if=/dev/etherd/e0.0 bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
say "DISK_SHA256 $sum read_ms=$(( ($(now_cs) - t0) * 10 ))"

# Unaligned 3-sector write with O_DIRECT, then flush and forget caches, then
# read it back with O_DIRECT.
dd if=/pattern.bin of=/dev/etherd/e0.0 bs=512 seek="$SEEK" count="$COUNT" \
    oflag=direct conv=notrunc,fsync 2>/tmp/dd.err || fail "pattern write: $(cat /tmp/dd.err)"
sync
echo 3 >/proc/sys/vm/drop_caches
sum=$(dd if=/dev/etherd/e0.0 bs=512 skip="$SEEK" count="$COUNT" iflag=direct 2>/dev/null \
      | sha256sum | cut -d' ' -f1)
say "PATTERN_SHA256 $sum"
say "DONE"
finish
GUEST_EOF

ROOT=$T_TMP/initramfs
interop_initramfs_new "$ROOT" "$GUEST_INIT"
interop_initramfs_add_module "$ROOT" e1000
interop_initramfs_add_module "$ROOT" aoe
cp "$PATTERN" "$ROOT/pattern.bin"
INITRD=$T_TMP/initrd.gz
interop_initramfs_pack "$ROOT" "$INITRD"

# ---------------------------------------------------------------------------
# Network namespace, target, guest
# ---------------------------------------------------------------------------
interop_netns_create "$MTU"
interop_pcap_start "$T_TMP/tap.pcap"
if [[ "$BACKING" == rbd ]]; then
    # shellcheck source=../rbd/cluster.sh
    source "$(dirname "$0")/../rbd/cluster.sh"
    ceph_start "$INTEROP_NS" "$T_TMP/ceph"
    ceph_in "$INTEROP_NS" rbd import "$IMAGE" rbd/disk >/dev/null 2>&1 || t_die "rbd import failed"
    interop_target_start "$TARGET" "rbd:rbd/disk,ceph_conf=$CEPH_CONF"
else
    serve_options=()
    # The guest's MAC (52:54:00:a0:e0:01) is odd: with two loops its reads and writes are loop
    # 1's, on a copy of the export, and its discovery loop 0's.
    [[ "$LOOPS" != 1 ]] && serve_options=(--loops "$LOOPS" --control-socket "$T_TMP/ctl.sock")
    interop_target_start "$TARGET" "$IMAGE" "${serve_options[@]}"
fi

SERIAL=$T_TMP/serial.log
start=$SECONDS
qemu_rc=0
interop_qemu_run "$SERIAL" "${INTEROP_QEMU_TIMEOUT:-240}" \
    -m 256M -smp 1 \
    -kernel "$INTEROP_VMLINUZ" -initrd "$INITRD" \
    -append "console=ttyS0 panic=-1 loglevel=4 aoetest_mtu=$MTU aoetest_seek=$PATTERN_SECTOR aoetest_count=$PATTERN_SECTORS" \
    || qemu_rc=$?
t_log "guest ran $(( SECONDS - start ))s (qemu exit $qemu_rc)"

# With several loops: the guest's I/O was loop 1's (its MAC is odd), its discovery loop 0's.
loops_served=""
if [[ "$LOOPS" != 1 ]]; then
    loops_served=$("$AOE_BIN" ctl -S "$T_TMP/ctl.sock" --json stats | python3 -c '
import json, sys
loops = json.load(sys.stdin)["loops"]
print(loops[0]["config_commands"] > 0 and loops[1]["ata_commands"] > 1000
      and loops[0]["ata_commands"] == 0)')
fi

# Stop the target before inspecting the image, so every write it accepted
# has reached the file (vblade writes synchronously per request anyway).
t_kill_pid "$INTEROP_TARGET_PID"
if [[ "$BACKING" == rbd ]]; then
    # What the cluster holds is what the checks below read as "the image".
    rm -f "$IMAGE"
    ceph_in "$INTEROP_NS" rbd export rbd/disk "$IMAGE" >/dev/null 2>&1 || t_die "rbd export failed"
fi

# ---------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------
# Result lines without the serial console's carriage returns.
RESULTS=$(tr -d '\r' <"$SERIAL" | grep -aE '^(AOETEST|AOEDMESG) ' || true)
field() { awk -v k="$1" '$1 == "AOETEST" && $2 == k { print $3; exit }' <<<"$RESULTS"; }

echo "---- guest report ----"
printf '%s\n' "$RESULTS"
echo "----------------------"

[[ $qemu_rc -eq 124 ]] && t_fail "guest did not finish within the timeout"
grep -q '^AOETEST FAIL' <<<"$RESULTS" && t_fail "guest: $(sed -n 's/^AOETEST FAIL //p' <<<"$RESULTS")"
grep -q '^AOETEST DONE' <<<"$RESULTS" || t_fail "guest did not reach the DONE marker"

size=$(field SIZE)
if [[ "$size" == "$IMAGE_SECTORS" ]]; then
    t_pass "size: guest sees $size sectors"
else
    t_fail "size: guest sees '${size}' sectors, image has $IMAGE_SECTORS"
fi

disk_sha=$(field DISK_SHA256)
if [[ "$disk_sha" == "$IMAGE_SHA" ]]; then
    t_pass "whole-disk read: sha256 matches ($IMAGE_MIB MiB)"
else
    t_fail "whole-disk read: guest sha256 '${disk_sha}' != host $IMAGE_SHA"
fi

pat_sha=$(field PATTERN_SHA256)
if [[ "$pat_sha" == "$PATTERN_SHA" ]]; then
    t_pass "pattern read-back: sha256 matches"
else
    t_fail "pattern read-back: guest sha256 '${pat_sha}' != $PATTERN_SHA"
fi

img_pat_sha=$(dd if="$IMAGE" bs=512 skip="$PATTERN_SECTOR" count="$PATTERN_SECTORS" status=none | sha256sum | cut -d' ' -f1)
if [[ "$img_pat_sha" == "$PATTERN_SHA" ]]; then
    t_pass "pattern landed in the image at sector $PATTERN_SECTOR"
else
    t_fail "image bytes at sector $PATTERN_SECTOR are not the pattern"
fi
if [[ "$(sha256sum "$IMAGE" | cut -d' ' -f1)" == "$EXPECTED_SHA" ]]; then
    t_pass "rest of the image unchanged"
else
    t_fail "image differs from original+pattern (stray writes?)"
fi

if [[ "$LOOPS" != 1 ]]; then
    if [[ "$loops_served" == True ]]; then
        t_pass "loops: discovery served by loop 0, every read and write by loop 1"
    else
        t_fail "loops: the guest's commands were not spread as its MAC says ($loops_served)"
    fi
fi

payload=$(field PAYLOAD)
if [[ -z "$payload" ]]; then
    t_fail "no payload reported (sysfs payload missing?)"
elif (( MTU >= 9000 )); then
    if (( payload > 1024 )); then
        t_pass "jumbo: payload $payload bytes/frame at MTU $MTU"
    else
        t_fail "jumbo: payload only $payload bytes/frame at MTU $MTU (want > 1024)"
    fi
else
    # (MTU-36)/512 sectors: 1024 bytes at MTU 1500.
    max=$(( (MTU - 36) / 512 * 512 ))
    if (( payload >= 512 && payload <= max )); then
        t_pass "payload $payload bytes/frame at MTU $MTU"
    else
        t_fail "payload $payload bytes/frame at MTU $MTU (want 512..$max)"
    fi
fi

if [[ $T_FAILED -ne 0 ]]; then
    echo "---- serial log tail ($SERIAL) ----"
    tr -d '\r' <"$SERIAL" | tail -n 40
    echo "---- target log ----"
    cat "$INTEROP_TARGET_LOG" || true
    echo "FAIL: linux_aoe target=$TARGET mtu=$MTU"
    exit 1
fi
echo "PASS: linux_aoe target=$TARGET mtu=$MTU ($(( SECONDS - start ))s guest)"
exit 0
