#!/bin/bash
#
# netboot_uefi.sh --mode full|proxy
#
# The UEFI side of the diskless chain, in QEMU (TCG) with OVMF: the firmware's own PXE client
# (EDK2's PXE Base Code over OVMF's virtio-net SNP driver; the NIC has no option ROM, so no iPXE
# is involved until we send one) boots through `aoe netboot` and `aoe serve`:
#   OVMF PXE  --DHCP, option 93 = 7 (x64 UEFI), no iPXE user class-->  boot file snponly.efi
#   OVMF PXE  --TFTP snponly.efi (EDK2 asks tsize first, then downloads with blksize)
#   iPXE      --DHCP again, user class iPXE-->  script aoekit/<mac>.ipxe over TFTP
#   iPXE      sanboot aoe:e0.0: an EFI block device over AoE; iPXE starts its
#             \EFI\BOOT\BOOTX64.EFI, a standalone GRUB (grub-mkstandalone) read over AoE
#   GRUB      finds /aoekit-token.txt on the AoE disk's EFI system partition, prints it to the
#             console (which OVMF mirrors to the serial port) and powers the guest off.
# The token is random per run and exists only in that file on the disk image, so seeing it on
# the serial port proves that GRUB read it from the AoE disk.
#   full:  aoe netboot is the DHCP server (--range)
#   proxy: dnsmasq hands out addresses (no boot options at all); aoe netboot --proxy adds them
#
# SAFETY: the tap, its address (10.77.0.1/24), dnsmasq, aoe serve, aoe netboot and QEMU all
# live in the namespace created by tests/interop/lib.sh and deleted on exit (trap).
#
# Exit: 0 pass, 1 fail, 77 skipped. Env: AOE_BIN (required), T_KEEP_TMP=1, INTEROP_PCAP=1,
# INTEROP_QEMU_TIMEOUT (seconds, default 150).

set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../interop/lib.sh
source "$HERE/../interop/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

MODE=full
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mode) MODE=${2:-}; shift 2 ;;
    *) echo "usage: $0 --mode full|proxy" >&2; exit 2 ;;
  esac
done
[[ $MODE == full || $MODE == proxy ]] || { echo "usage: $0 --mode full|proxy" >&2; exit 2; }

readonly OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
readonly OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
readonly EFI_FILE=snponly.efi
readonly GUEST_MAC=52:54:00:a0:e0:02

t_init
interop_require_root_tools qemu-system-x86_64 grub-mkstandalone mkfs.vfat mmd mcopy sfdisk
t_find_aoe
[[ -r $OVMF_CODE && -r $OVMF_VARS ]] || t_skip "no $OVMF_CODE / $OVMF_VARS (install ovmf)"
[[ -r /usr/lib/ipxe/$EFI_FILE ]] || t_skip "no /usr/lib/ipxe/$EFI_FILE (install ipxe)"
[[ -d /usr/lib/grub/x86_64-efi ]] || t_skip "no /usr/lib/grub/x86_64-efi (install grub-efi-amd64-bin)"
if [[ $MODE == proxy ]]; then
  command -v dnsmasq >/dev/null || t_skip "dnsmasq not installed (apt-get install dnsmasq)"
fi

# ---------------------------------------------------------------------------
# The disk: GPT, one EFI system partition (FAT) with a standalone GRUB and the token file.
# ---------------------------------------------------------------------------
TOKEN="UEFI-TOKEN-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
IMAGE=$T_TMP/disk.img
make_uefi_disk() {
  local dir=$T_TMP esp=$T_TMP/esp.img
  # Built into GRUB's memdisk; runs without any menu. Everything it prints goes to the EFI
  # console, which OVMF copies to the serial port.
  cat >"$dir/grub.cfg" <<'EOF'
echo "GRUB: booted over AoE"
search --no-floppy --file --set=tokdisk /aoekit-token.txt
if [ -n "$tokdisk" ]; then
  echo "GRUB: token file found on ($tokdisk)"
  cat ($tokdisk)/aoekit-token.txt
else
  echo "GRUB: token file NOT FOUND"
fi
echo "GRUB: done"
halt
EOF
  # Only the modules the config needs (~600 KiB): iPXE reads the file 1 KiB per AoE round trip.
  grub-mkstandalone -O x86_64-efi -o "$dir/BOOTX64.EFI" --locales= --fonts= --themes= \
    --install-modules="normal search search_fs_file cat echo halt test part_gpt fat" \
    --modules="part_gpt fat" "boot/grub/grub.cfg=$dir/grub.cfg" || return 1
  printf 'GRUB: token=%s\n' "$TOKEN" >"$dir/token.txt"
  mkfs.vfat -C -n AOEKIT-ESP "$esp" 6144 >/dev/null || return 1          # 6 MiB, FAT12/16
  mmd -i "$esp" ::/EFI ::/EFI/BOOT || return 1
  mcopy -i "$esp" "$dir/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI || return 1
  mcopy -i "$esp" "$dir/token.txt" ::/aoekit-token.txt || return 1
  truncate -s 8M "$IMAGE"
  printf 'label: gpt\nstart=2048, size=12288, type=U, name="EFI system"\n' \
    | sfdisk -q "$IMAGE" || return 1
  dd if="$esp" of="$IMAGE" bs=512 seek=2048 conv=notrunc status=none
}
make_uefi_disk || t_die "cannot build the UEFI boot disk"
grep -qa "$TOKEN" "$T_TMP/BOOTX64.EFI" && t_die "token leaked into the boot loader"

# ---------------------------------------------------------------------------
# The boot network: namespace, tap, aoe serve, (dnsmasq,) aoe netboot.
# ---------------------------------------------------------------------------
interop_netns_create 1500
ip -n "$INTEROP_NS" addr add 10.77.0.1/24 dev "$INTEROP_TAP"
interop_pcap_start "$T_TMP/tap.pcap"
interop_target_start aoekit "$IMAGE"   # aoe serve -i aoetap0 e0.0=IMAGE

NETBOOT_LOG=$T_TMP/netboot.log
if [[ $MODE == proxy ]]; then
  netboot_start_address_server
  netboot_start_bg "$NETBOOT_LOG" "proxy DHCP" "$AOE_BIN" netboot -i "$INTEROP_TAP" --proxy \
    --boot e0.0 \
    --efi-file "$EFI_FILE" --log-level debug
else
  netboot_start_bg "$NETBOOT_LOG" "full DHCP for" "$AOE_BIN" netboot -i "$INTEROP_TAP" \
    --range 10.77.0.100-10.77.0.150 --boot e0.0 --efi-file "$EFI_FILE" \
    --lease-file "$T_TMP/leases" --log-level debug
fi
t_log "netboot ($MODE) is up"

# ---------------------------------------------------------------------------
# The guest: OVMF, no disk, one virtio NIC without option ROM (OVMF's own VirtioNetDxe), first
# in the boot order, so the first boot option is "UEFI PXEv4" on it.
# ---------------------------------------------------------------------------
SERIAL=$T_TMP/serial.log
cp "$OVMF_VARS" "$T_TMP/OVMF_VARS.fd"
: >"$SERIAL"
QEMU_ARGS=(
  -accel tcg -machine q35 -m 256M -nodefaults -display none -monitor none -no-reboot
  -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE"
  -drive "if=pflash,format=raw,unit=1,file=$T_TMP/OVMF_VARS.fd"
  -serial "file:$SERIAL"
  -netdev "tap,id=n0,ifname=$INTEROP_TAP,script=no,downscript=no"
  -device "virtio-net-pci,netdev=n0,mac=$GUEST_MAC,romfile=,bootindex=1"
)
# Stop as soon as the outcome is known: GRUB's last line, a failed sanboot, or the firmware
# giving up on the network (it would go on to PXEv6, HTTP boot and the shell).
DONE_RE='GRUB: done|aoekit: sanboot aoe:e0\.0 failed|Shell> |PXEv6'
secs=${INTEROP_QEMU_TIMEOUT:-150}
start=$SECONDS
qemu_rc=0
t_answer_router_solicitations "$INTEROP_NS" "$INTEROP_TAP" "$secs"
t_log "qemu (timeout ${secs}s): qemu-system-x86_64 ${QEMU_ARGS[*]}"
timeout -k 5 "$secs" ip netns exec "$INTEROP_NS" \
  qemu-system-x86_64 "${QEMU_ARGS[@]}" >"$T_TMP/qemu.out" 2>&1 &
QEMU_PID=$!
t_defer "t_kill_pid $QEMU_PID"
while kill -0 "$QEMU_PID" 2>/dev/null; do   # bounded by `timeout` above
  if grep -aqE "$DONE_RE" "$SERIAL"; then
    sleep 1   # let GRUB's halt power the guest off by itself
    t_kill_pid "$QEMU_PID"
    break
  fi
  sleep 0.5
done
wait "$QEMU_PID" 2>/dev/null || qemu_rc=$?
[[ -s $T_TMP/qemu.out ]] && sed 's/^/  qemu: /' "$T_TMP/qemu.out" >&2
t_log "guest ran $(( SECONDS - start ))s (qemu exit $qemu_rc)"

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
LOG=$(tr -d '\r' <"$SERIAL" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\x08//g')
check() {  # DESCRIPTION FILE-OR-- REGEX
  local text
  if [[ $2 == - ]]; then text=$LOG; else text=$(cat "$2"); fi
  if grep -qE -- "$3" <<<"$text"; then t_pass "$1"; else t_fail "$1"; fi
}
SCRIPT=aoekit/${GUEST_MAC//:/-}.ipxe
# The UEFI firmware's own PXE client: arch 7 (x64 UEFI) chose the EFI file.
UEFI_RE="PXE UEFI -> .*boot file ${EFI_FILE//./\\.} \\(client arch 7\\)"
if [[ $MODE == proxy ]]; then
  check "dnsmasq handed out the address" "$DNSMASQ_LOG" "DHCPACK\(aoetap0\) 10\.77\.0\.(5[0-9]|60) $GUEST_MAC"
  check "the UEFI PXE client (arch 7) got $EFI_FILE in a proxy offer" "$NETBOOT_LOG" \
    "dhcp $GUEST_MAC: DISCOVER from PXE UEFI -> proxy OFFER \(no address\), boot file ${EFI_FILE//./\\.} \(client arch 7\)"
  check "iPXE got the script from the proxy" "$NETBOOT_LOG" \
    "dhcp $GUEST_MAC: .* from iPXE .*-> proxy (OFFER|ACK).*, script ${SCRIPT//./\\.}"
  if grep -q "on port 4011" "$NETBOOT_LOG"; then
    t_log "a client used the port 4011 ProxyDHCP request"
  fi
else
  check "the UEFI PXE client (arch 7) was offered $EFI_FILE" "$NETBOOT_LOG" \
    "dhcp $GUEST_MAC: DISCOVER from $UEFI_RE"
  check "the UEFI PXE client's lease and $EFI_FILE were acknowledged" "$NETBOOT_LOG" \
    "dhcp $GUEST_MAC: REQUEST from PXE UEFI -> ACK 10\.77\.0\.1[0-9][0-9], boot file ${EFI_FILE//./\\.}"
  check "iPXE (UEFI) was acknowledged with the script" "$NETBOOT_LOG" \
    "dhcp $GUEST_MAC: REQUEST from iPXE -> ACK 10\.77\.0\.1[0-9][0-9], script ${SCRIPT//./\\.}"
fi
EFI_SIZE=$(stat -L -c %s "/usr/lib/ipxe/$EFI_FILE")
check "$EFI_FILE sent over TFTP, whole" "$NETBOOT_LOG" "sent ${EFI_FILE//./\\.} \($EFI_SIZE bytes"
# EDK2 reads the size first (RRQ with tsize, then ERROR 8 after our OACK): not a failure.
if grep -qE "transfer of .* failed" "$NETBOOT_LOG"; then
  t_fail "aoe netboot logged no failed transfer"
else
  t_pass "aoe netboot logged no failed transfer"
fi
check "the iPXE script was sent" "$NETBOOT_LOG" "sent ${SCRIPT//./\\.} \[iPXE script: sanboot aoe:e0\.0\]"
check "the guest ran the script" - "aoekit: booting $GUEST_MAC from AoE target e0\.0"
check "GRUB started from the AoE disk's EFI system partition" - "GRUB: booted over AoE"
check "GRUB read the token file from the AoE disk" - "GRUB: token=$TOKEN"
[[ $qemu_rc -eq 124 ]] && t_fail "guest did not finish within ${secs}s"

if [[ $T_FAILED -ne 0 ]]; then
  echo "---- serial log tail ----"; tail -n 40 <<<"$LOG"
  echo "---- aoe netboot log ----"; tail -n 40 "$NETBOOT_LOG"
  [[ $MODE == proxy ]] && { echo "---- dnsmasq log ----"; tail -n 30 "$DNSMASQ_LOG"; }
  exit 1
fi
echo "ALL PASSED (UEFI, $MODE mode)"
