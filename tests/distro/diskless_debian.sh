#!/bin/bash
#
# diskless_debian.sh --firmware bios|uefi
#
# Stock Debian, diskless, end to end, as docs/diskless-boot.md tells an administrator to do it:
#   1. `aoe mkimage IMG --debootstrap bookworm`: debootstrap (cached in /var/cache/aoekit-tests
#      between runs), the Debian kernel, an initramfs built in the image with aoekit's
#      initramfs-tools hook, extlinux (BIOS) and GRUB on an ESP (UEFI); plus a test unit that,
#      once multi-user.target is reached, writes a token file to the root and powers off;
#   2. ONE `aoe serve --config` process with an [[export]] e0.0 and a [netboot] section;
#   3. a QEMU guest without a disk (TCG) PXE-boots: BIOS (SeaBIOS + the e1000's PXE ROM) or UEFI
#      (OVMF's own PXE over virtio-net) -> iPXE -> sanboot aoe:e0.0 -> extlinux or GRUB from the
#      AoE disk -> Debian's kernel and initramfs -> aoekit's local-top script brings the NIC up,
#      loads aoe.ko, finds /dev/etherd/e0.0p1 -> systemd -> multi-user.target -> the unit;
#   4. the host reads the token file from the image (debugfs; nothing mounted) and e2fsck finds
#      the file system clean.
# The same image boots both ways; each firmware is its own ctest test. The BIOS test then boots
# the same kernel and initramfs against a disk served under the wrong address, and checks that
# aoekit's script uses the NIC BOOTIF= names, gives up after aoe.wait= and says what it saw.
#
# SAFETY: the tap, aoe serve and QEMU live in the namespace pkg-distro-PID, deleted on exit.
# Exit: 0 pass, 1 fail, 77 skipped (not root, a tool is missing). Env: AOE_BIN,
# AOEKIT_TEST_CACHE (default /var/cache/aoekit-tests), T_KEEP_TMP=1,
# INTEROP_QEMU_TIMEOUT (default 600).

set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

FIRMWARE=""
while (($#)); do
  case "$1" in
    --firmware) FIRMWARE=${2:-}; shift 2 ;;
    *) echo "usage: $0 --firmware bios|uefi" >&2; exit 2 ;;
  esac
done
[[ $FIRMWARE == bios || $FIRMWARE == uefi ]] || { echo "usage: $0 --firmware bios|uefi" >&2; exit 2; }

readonly ROM=/usr/lib/ipxe/qemu/pxe-e1000.rom
readonly OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
readonly OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
readonly GUEST_MAC=52:54:00:a0:e0:01
QEMU_TIMEOUT=${INTEROP_QEMU_TIMEOUT:-600}

t_init
distro_require
if [[ $FIRMWARE == bios ]]; then
  [[ -r $ROM ]] || t_skip "no $ROM (install ipxe-qemu)"
  [[ -r /usr/lib/ipxe/undionly.kpxe ]] || t_skip "no undionly.kpxe (install ipxe)"
else
  [[ -r $OVMF_CODE && -r $OVMF_VARS ]] || t_skip "no OVMF (install ovmf)"
  [[ -r /usr/lib/ipxe/snponly.efi ]] || t_skip "no snponly.efi (install ipxe)"
fi
t_start=$SECONDS

IMAGE=$T_TMP/debian.img
distro_build_image "$IMAGE"
t_log "image built in ${DISTRO_MKIMAGE_SECONDS}s"
[[ -z $(distro_read_file "$IMAGE" "/var/lib/aoekit-e2e/$FIRMWARE.txt") ]] \
  || t_die "the token file exists before the boot"

distro_netns_create
distro_serve "$IMAGE"
t_log "aoe serve is up: e0.0 and [netboot] in one process"

SERIAL=$T_TMP/serial.log
: >"$SERIAL"
# Stop early on failures the guest cannot recover from; on success its own poweroff ends QEMU.
INTEROP_QEMU_DONE_RE='aoekit: cannot mount the root|Kernel panic|sanboot aoe:e0\.0 failed|Shell> |PXEv6|emergency mode'
boot_start=$SECONDS
qemu_rc=0
if [[ $FIRMWARE == bios ]]; then
  netboot_qemu_run "$SERIAL" "$QEMU_TIMEOUT" "$ROM" -m 1024 || qemu_rc=$?
else
  cp "$OVMF_VARS" "$T_TMP/OVMF_VARS.fd"
  # netboot_qemu_run's e1000 has a PXE ROM; OVMF needs none (its own VirtioNetDxe and PXE).
  args=(
    -accel tcg -machine q35 -m 1024 -nodefaults -display none -monitor none -no-reboot
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE"
    -drive "if=pflash,format=raw,unit=1,file=$T_TMP/OVMF_VARS.fd"
    -serial "file:$SERIAL"
    -netdev "tap,id=n0,ifname=$INTEROP_TAP,script=no,downscript=no"
    -device "virtio-net-pci,netdev=n0,mac=$GUEST_MAC,romfile=,bootindex=1"
  )
  t_answer_router_solicitations "$INTEROP_NS" "$INTEROP_TAP" "$QEMU_TIMEOUT"
  t_log "qemu (timeout ${QEMU_TIMEOUT}s): qemu-system-x86_64 ${args[*]}"
  timeout -k 5 "$QEMU_TIMEOUT" ip netns exec "$INTEROP_NS" qemu-system-x86_64 "${args[@]}" \
    >"$T_TMP/qemu.out" 2>&1 &
  qemu_pid=$!
  t_defer "t_kill_pid $qemu_pid"
  while kill -0 "$qemu_pid" 2>/dev/null; do   # bounded by `timeout`
    if grep -aqE "$INTEROP_QEMU_DONE_RE" "$SERIAL"; then t_kill_pid "$qemu_pid"; break; fi
    sleep 0.5
  done
  wait "$qemu_pid" 2>/dev/null || qemu_rc=$?
fi
boot_seconds=$((SECONDS - boot_start))
t_log "guest ran ${boot_seconds}s (qemu exit $qemu_rc)"
t_kill_pid "$DISTRO_SERVE_PID"    # the image is quiescent from here on

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
LOG=$(tr -d '\r' <"$SERIAL" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\x08//g')
check() {  # DESCRIPTION REGEX [TEXT]
  if grep -qE -- "$2" <<<"${3-$LOG}"; then t_pass "$1"; else t_fail "$1"; fi
}
SERVE=$(cat "$DISTRO_SERVE_LOG")
if [[ $FIRMWARE == bios ]]; then
  check "aoe serve's [netboot] gave the BIOS PXE client its address" '-> ACK 10\.79\.0\.1[0-9][0-9]' "$SERVE"
else
  check "aoe serve's [netboot] gave the UEFI PXE client (arch 7) snponly.efi" \
    'PXE UEFI -> ACK 10\.79\.0\.1[0-9][0-9], boot file snponly\.efi' "$SERVE"
  check "GRUB started from the AoE disk's EFI system partition" 'GRUB: loading Linux' 
fi
check "aoe serve's [netboot] sent the iPXE script" 'sent aoekit/52-54-00-a0-e0-01\.ipxe \[iPXE script: sanboot aoe:e0\.0\]' "$SERVE"
check "the kernel got its command line from the boot loader on the AoE disk" \
  "Command line: .*root=/dev/etherd/e0\\.0p1 .*aoekit\\.token=$DISTRO_TOKEN"
check "aoekit's initramfs script found the root device" 'aoekit: found /dev/etherd/e0\.0p1 after'
check "the test unit wrote the token" "AOEKIT-E2E-TOKEN-WRITTEN $DISTRO_TOKEN $FIRMWARE"
if [[ $qemu_rc -eq 0 ]]; then t_pass "the guest powered itself off"
else t_fail "the guest powered itself off (qemu exit $qemu_rc)"; fi

RECORD=$(distro_read_file "$IMAGE" "/var/lib/aoekit-e2e/$FIRMWARE.txt" || true)
t_log "the guest's record: $(tr '\n' ' ' <<<"$RECORD")"
check "the image holds the token the guest wrote" "^token=$DISTRO_TOKEN\$" "$RECORD"
check "... written under $FIRMWARE" "^firmware=$FIRMWARE\$" "$RECORD"
check "... from a root on /dev/etherd/e0.0p1, mounted read-write" \
  '^root=/dev/etherd/e0\.0p1$' "$RECORD"
check "... once systemd had reached multi-user.target" '^multi_user=active$' "$RECORD"
check "... and the boot NIC marked unmanaged for systemd-networkd" \
  '^networkd_files=.*10-aoekit-[a-z0-9]+\.network' "$RECORD"
if [[ -n $DISTRO_DEB ]]; then
  # The package's services, run by the guest's systemd (PID 1 is not systemd on the host).
  check "aoe-serve.service starts (Type=notify: systemctl start returned after READY=1)" \
    '^serve_start=0$' "$RECORD"
  check "... and runs, hardened as shipped" '^serve_state=active/running$' "$RECORD"
  check "... systemctl shows its STATUS= line" '^serve_status=serving 1 export on 1 interface$' "$RECORD"
  check "... with the watchdog on (WatchdogSec=30s)" '^serve_watchdog=30s$' "$RECORD"
  check "... keeping only the capabilities of CapabilityBoundingSet" \
    '^serve_CapEff:00000000000034c1$' "$RECORD"
  check "systemctl reload aoe-serve waits for the reload (RELOADING=1, READY=1)" \
    '^serve_reload=0$' "$RECORD"
  check "... and the new STATUS= counts the added export" \
    '^serve_status_reloaded=serving 2 exports on 1 interface$' "$RECORD"
  check "systemctl stop aoe-serve: a clean exit" '^serve_stop=0 success$' "$RECORD"
  check "aoe-netboot.service starts and runs" '^netboot_state=active/running$' "$RECORD"
  check "... STATUS= with mode and interface" '^netboot_status=proxy DHCP and TFTP on aoekit-e2e0$' "$RECORD"
  check "... as the package's aoekit user with no capability (--user aoekit)" \
    '^netboot_user=aoekit$' "$RECORD"
  check "... (CapEff)" '^netboot_CapEff:0000000000000000$' "$RECORD"
  check "systemctl stop aoe-netboot: a clean exit" '^netboot_stop=0 success$' "$RECORD"
fi
start=$(interop_image_partition "$IMAGE" 1 | cut -d' ' -f1)
if e2fsck -fn "$IMAGE?offset=$((start * 512))" >"$T_TMP/e2fsck.log" 2>&1; then
  t_pass "e2fsck: the root file system is clean after the guest's shutdown"
else
  t_fail "e2fsck: the root file system is clean ($(tail -n 3 "$T_TMP/e2fsck.log" | tr '\n' ' '))"
fi

# ---------------------------------------------------------------------------
# The failure path (BIOS run only): the same kernel and initramfs, but the disk is served as
# e0.1 while root= wants e0.0. Two NICs; BOOTIF= names the one on the AoE segment (the other is
# on QEMU's user-mode network, which carries no AoE). aoekit's script must use that NIC alone,
# give up after aoe.wait= seconds and say what it saw.
# ---------------------------------------------------------------------------
if [[ $FIRMWARE == bios ]]; then
  distro_extract_boot "$IMAGE" "$T_TMP"
  FAIL_LOG=$T_TMP/serve-e0.1.log
  netboot_start_bg "$FAIL_LOG" "e0.1: exporting" "$AOE" serve -i "$INTEROP_TAP" "e0.1=$IMAGE,ro"
  SERIAL2=$T_TMP/serial-timeout.log
  qemu_rc=0
  INTEROP_QEMU_DONE_RE='aoekit: cannot mount the root|Kernel panic|reboot: Restarting' \
  interop_qemu_run "$SERIAL2" 180 -m 1024 -kernel "$T_TMP/vmlinuz" -initrd "$T_TMP/initrd.img" \
    -append "root=/dev/etherd/e0.0p1 ro console=ttyS0,115200 aoe.wait=8 panic=-1 BOOTIF=01-52-54-00-a0-e0-01" \
    -netdev user,id=u0,restrict=on -device e1000,netdev=u0,mac=52:54:00:a0:e0:99,romfile= \
    || qemu_rc=$?
  t_kill_pid "$T_BG_PID"
  LOG2=$(tr -d '\r' <"$SERIAL2")
  nics=$(grep -oE 'aoekit: boot interfaces: [^(]*' <<<"$LOG2" | head -n1 | sed 's/.*: //; s/ *$//')
  if [[ -n $nics && $nics != *" "* ]]; then
    t_pass "BOOTIF= chose one of the two NICs ($nics)"
  else
    t_fail "BOOTIF= chose one of the two NICs (boot interfaces: '${nics}')"
  fi
  check "after aoe.wait=8 the script says which disk it saw instead" \
    "aoekit: no /dev/etherd/e0\\.0p1 after 8s; AoE disks seen: e0\\.1 \\(up, via $nics, partitions: p1 p2\\)" "$LOG2"
  check "... with the interfaces" "aoekit: interfaces: .*$nics \\(52:54:00:a0:e0:01, up, carrier 1" "$LOG2"
  check "... and stops the boot (initramfs-tools' panic)" "aoekit: cannot mount the root file system from /dev/etherd/e0\\.0p1" "$LOG2"
fi

if [[ $T_FAILED -ne 0 ]]; then
  [[ -n ${LOG2:-} ]] && { echo "---- serial console tail (timeout boot) ----"; tail -n 30 <<<"$LOG2"; }
  echo "---- serial console tail ----"; tail -n 60 <<<"$LOG"
  echo "---- aoe serve log tail ----"; tail -n 30 "$DISTRO_SERVE_LOG"
  exit 1
fi
echo "PASS: stock Debian diskless over $FIRMWARE (image ${DISTRO_MKIMAGE_SECONDS}s, guest ${boot_seconds}s, total $((SECONDS - t_start))s)"
