#!/bin/bash
#
# linux_root_on_aoe.sh --target aoekit|vblade
#
# A real diskless Linux: the guest boots a partitioned disk over AoE and runs
# with its root file system on that disk.
#
#   1. scripts/make-diskless-image builds a 96 MiB image: syslinux mbr.bin in
#      the MBR, one active ext4 partition with Debian's kernel, a busybox
#      initramfs (NIC driver, aoe.ko, ext4) and extlinux. A random token goes
#      on the kernel command line (extlinux.conf): aoekit.token=TOKEN.
#   2. The target (aoekit `aoe serve` or vblade) exports it as e0.0 on a tap
#      device in a private network namespace.
#   3. QEMU (TCG) runs iPXE (ipxe.lkrn) with the script `ifopen net0;
#      sanboot aoe:e0.0`. iPXE hooks INT 13h; the BIOS boots mbr.bin, which
#      boots extlinux from the active partition, which loads the kernel and
#      the initramfs through INT 13h: every sector over AoE.
#   4. The initramfs loads e1000 and aoe.ko, waits for /dev/etherd/e0.0p1,
#      mounts it and switch_roots into it. The root's /sbin/init writes the
#      token, the root device and the kernel version to /root-token.txt,
#      syncs, remounts / read-only and powers off.
#   5. The host checks the image: e2fsck finds the file system clean, and a
#      loop mount of the partition shows /root-token.txt with the token and
#      root=/dev/etherd/e0.0p1 (the file did not exist before the boot). If
#      `aoe cp` exists, the disk is also downloaded over AoE (target on one
#      end of a veth pair in the namespace, `aoe cp` on the other), compared
#      with the image, and the token read from the copy with debugfs.
#
# COM1 (extlinux, kernel, initramfs, init) goes to serial.log; the
# SeaBIOS/iPXE console (COM2, SeaBIOS sercon) to console.log. The helpers are
# in tests/diskless/lib.sh (on top of tests/interop/lib.sh).
#
# Exit: 0 pass, 1 fail, 77 skipped (missing prerequisite), 2 usage.
# Env: AOE_BIN, T_KEEP_TMP=1, INTEROP_PCAP=1, INTEROP_QEMU_TIMEOUT
#      (default 240), IPXE_LKRN (default /usr/lib/ipxe/ipxe.lkrn).

set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() { echo "usage: $0 --target vblade|aoekit" >&2; exit 2; }

TARGET=vblade
while [[ $# -gt 0 ]]; do
    case "$1" in
        --target) TARGET=${2:-}; shift 2 ;;
        -h|--help) usage ;;
        *) usage ;;
    esac
done
[[ "$TARGET" == vblade || "$TARGET" == aoekit ]] || usage

IPXE_LKRN=${IPXE_LKRN:-/usr/lib/ipxe/ipxe.lkrn}
QEMU_TIMEOUT=${INTEROP_QEMU_TIMEOUT:-240}

t_init
interop_require_root_tools qemu-system-x86_64 losetup mount findmnt sfdisk e2fsck debugfs sha256sum
interop_target_check "$TARGET"
[[ -r "$IPXE_LKRN" ]] || t_skip "no $IPXE_LKRN (install the ipxe package)"
t_start=$SECONDS

diskless_build_image "$T_TMP/diskless.img" 96
SCRIPT=$T_TMP/boot.ipxe
diskless_ipxe_script "$SCRIPT"

interop_netns_create 1500
interop_pcap_start "$T_TMP/tap.pcap"
interop_target_start "$TARGET" "$DISKLESS_IMAGE"

SERIAL=$T_TMP/serial.log     # COM1
CONSOLE=$T_TMP/console.log   # COM2: SeaBIOS sercon (port 0x2f8)
printf '\xf8\x02' >"$T_TMP/sercon-port"
diskless_watch_start "$SERIAL" "$CONSOLE" "$QEMU_TIMEOUT"

boot_start=$SECONDS
qemu_rc=0
# Stop early only on failures the guest cannot recover from; on success the
# guest's own `poweroff -f` ends QEMU (that it does is one of the checks).
# -m 256M: ipxe.lkrn needs it (see ipxe_sanboot.sh), and so does the kernel.
INTEROP_QEMU_DONE_RE='aoekit-initramfs: FATAL|Kernel panic|AOEKIT-DISKLESS: remount ro failed' \
INTEROP_QEMU_DONE_RE2='Could not open SAN device|No bootable device|Boot failed' \
INTEROP_QEMU_DONE_LOG2=$CONSOLE \
interop_qemu_run "$SERIAL" "$QEMU_TIMEOUT" \
    -m 256M \
    -serial "file:$CONSOLE" \
    -fw_cfg "name=etc/sercon-port,file=$T_TMP/sercon-port" \
    -kernel "$IPXE_LKRN" -initrd "$SCRIPT" \
    || qemu_rc=$?
boot_secs=$(( SECONDS - boot_start ))
diskless_watch_stop
t_log "guest ran ${boot_secs}s (qemu exit $qemu_rc)"
t_kill_pid "$INTEROP_TARGET_PID"     # the image is quiescent from here on

if grep -aq 'AOEKIT-IPXE-SCRIPT-STARTED' "$CONSOLE"; then
    t_pass "iPXE ran the script (sanboot aoe:e0.0)"
else
    t_fail "iPXE did not run the script"
fi
grep -aq 'Could not open SAN device' "$CONSOLE" \
    && t_fail "iPXE: $(grep -a -m1 'Could not open SAN device' "$CONSOLE" | tr -d '\r')"
diskless_check_serial "$SERIAL" "$qemu_rc"
diskless_check_image
diskless_check_aoe_cp "$TARGET"
diskless_print_milestones

if [[ $T_FAILED -ne 0 ]]; then
    diskless_dump_logs "$SERIAL" "$CONSOLE"
    echo "FAIL: diskless linux_root_on_aoe target=$TARGET"
    exit 1
fi
echo "PASS: diskless linux_root_on_aoe target=$TARGET (guest ${boot_secs}s, total $(( SECONDS - t_start ))s)"
exit 0
