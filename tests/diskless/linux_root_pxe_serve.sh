#!/bin/bash
#
# linux_root_pxe_serve.sh
#
# The whole mission in one test: a diskless QEMU guest (no disk, no kernel on the command line)
# PXE-boots from its NIC and ends up running Linux with its root file system on AoE, and ONE
# `aoe serve --config serve.toml` process does all the serving:
#
#   [[export]] e0.0   the image from scripts/make-diskless-image (as linux_root_on_aoe.sh)
#   [netboot]         full DHCP (10.77.0.100-150) and TFTP on the same tap, same event loop
#
# Chain: PXE ROM (ipxe-qemu's pxe-e1000.rom, -boot n) -> DHCP from aoe serve -> (undionly.kpxe
# over TFTP if the ROM's iPXE lacks AoE) -> iPXE script over TFTP -> sanboot aoe:e0.0 -> MBR ->
# extlinux -> kernel + initramfs over INT 13h -> aoe.ko -> root on /dev/etherd/e0.0p1 -> the
# guest writes the token to /root-token.txt and powers off -> the host checks the image.
#
# SAFETY: the tap, its address (10.77.0.1/24), aoe serve and QEMU all live in a private network
# namespace (tests/interop/lib.sh) deleted on exit; nothing is sent on any other interface.
#
# Exit: 0 pass, 1 fail, 77 skipped. Env: AOE_BIN, T_KEEP_TMP=1, INTEROP_PCAP=1,
# INTEROP_QEMU_TIMEOUT (default 240).

set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=../netboot/lib.sh
source "$HERE/../netboot/lib.sh"

readonly ROM=/usr/lib/ipxe/qemu/pxe-e1000.rom
QEMU_TIMEOUT=${INTEROP_QEMU_TIMEOUT:-240}

t_init
interop_require_root_tools qemu-system-x86_64 losetup mount findmnt sfdisk e2fsck
interop_target_check aoekit
[[ -r $ROM ]] || t_skip "no $ROM (install ipxe-qemu)"
[[ -r /usr/lib/ipxe/undionly.kpxe ]] || t_skip "no /usr/lib/ipxe/undionly.kpxe (install ipxe)"
t_start=$SECONDS

diskless_build_image "$T_TMP/diskless.img" 96

interop_netns_create 1500
ip -n "$INTEROP_NS" addr add 10.77.0.1/24 dev "$INTEROP_TAP"
interop_pcap_start "$T_TMP/tap.pcap"

CONFIG=$T_TMP/serve.toml
cat >"$CONFIG" <<EOF
interfaces = ["$INTEROP_TAP"]
state_dir = "$T_TMP/state"

[[export]]
target = "e0.0"
path = "$DISKLESS_IMAGE"

[netboot]
mode = "full"
range = "10.77.0.100-10.77.0.150"
boot = "e0.0"
lease_file = "$T_TMP/leases"
EOF
INTEROP_TARGET_LOG=$T_TMP/target.log
t_log "target: $AOE_BIN serve --config $CONFIG (in netns $INTEROP_NS)"
t_bg "$INTEROP_TARGET_LOG" ip netns exec "$INTEROP_NS" "$AOE_BIN" serve --config "$CONFIG"
INTEROP_TARGET_PID=$T_BG_PID
t_wait_log "$INTEROP_TARGET_LOG" "full DHCP for" 1 10 "$INTEROP_TARGET_PID" \
    || { cat "$INTEROP_TARGET_LOG" >&2; t_die "aoe serve's netboot not up after 10 s"; }
interop_target_wait_ready
t_log "aoe serve is up: e0.0 and [netboot] in one process"

SERIAL=$T_TMP/serial.log     # COM1: extlinux, kernel, initramfs, init
CONSOLE=$T_TMP/console.log   # COM2: SeaBIOS sercon (PXE ROM, iPXE)
printf '\xf8\x02' >"$T_TMP/sercon-port"
diskless_watch_start "$SERIAL" "$CONSOLE" "$QEMU_TIMEOUT"
boot_start=$SECONDS
qemu_rc=0
# Stop early only on failures the guest cannot recover from; on success the guest's own
# `poweroff -f` ends QEMU.
INTEROP_QEMU_DONE_RE='aoekit-initramfs: FATAL|Kernel panic|AOEKIT-DISKLESS: remount ro failed' \
netboot_qemu_run "$SERIAL" "$QEMU_TIMEOUT" "$ROM" \
    -m 256M \
    -serial "file:$CONSOLE" \
    -fw_cfg "name=etc/sercon-port,file=$T_TMP/sercon-port" \
    || qemu_rc=$?
boot_secs=$(( SECONDS - boot_start ))
diskless_watch_stop
t_log "guest ran ${boot_secs}s (qemu exit $qemu_rc)"
t_kill_pid "$INTEROP_TARGET_PID"     # the image is quiescent from here on

check_log() {  # DESCRIPTION REGEX
    if grep -qE -- "$2" "$INTEROP_TARGET_LOG"; then t_pass "$1"; else t_fail "$1"; fi
}
check_log "aoe serve's [netboot] offered an address" "-> OFFER 10\.77\.0\.1[0-9][0-9]"
check_log "aoe serve's [netboot] acknowledged it" "-> ACK 10\.77\.0\.1[0-9][0-9]"
check_log "aoe serve's [netboot] sent the iPXE script" \
    "sent aoekit/52-54-00-a0-e0-01\.ipxe \[iPXE script: sanboot aoe:e0\.0\]"
diskless_check_serial "$SERIAL" "$qemu_rc"
diskless_check_image
diskless_print_milestones

if [[ $T_FAILED -ne 0 ]]; then
    diskless_dump_logs "$SERIAL" "$CONSOLE"
    echo "FAIL: diskless linux_root_pxe_serve"
    exit 1
fi
echo "PASS: diskless linux_root_pxe_serve (guest ${boot_secs}s, total $(( SECONDS - t_start ))s)"
exit 0
