#!/bin/bash
#
# ipxe_sanboot.sh --target vblade|aoekit
#
# Interop test against iPXE's AoE initiator: a diskless BIOS boot from an
# AoE disk, the way real machines boot from aoekit.
#
# QEMU (TCG) boots /usr/lib/ipxe/ipxe.lkrn as a "Linux kernel"; the initrd is
# an iPXE script that does `sanboot aoe:e0.0`. iPXE discovers the target,
# hooks the disk as BIOS drive 0x80 and boots its MBR. The MBR is a 512-byte
# boot sector assembled at test time: it reads LBAs 1001..1003 through BIOS
# INT 13h (extended read, AH=42h, drive number from DL) - i.e. through iPXE's
# INT 13h emulation and AoE - and prints the NUL-terminated string found at
# the start of LBA 1003 to COM1. That string is a random token written only
# into the disk image, so seeing it on the serial console proves the data
# came over AoE. The MBR then writes to QEMU's isa-debug-exit port, which
# ends QEMU at once (and halts, should that port be absent).
#
# Exit: 0 pass, 1 fail, 77 skipped (missing prerequisite).
# Env: AOE_BIN, T_KEEP_TMP=1, INTEROP_PCAP=1, INTEROP_QEMU_TIMEOUT,
#      IPXE_LKRN (default /usr/lib/ipxe/ipxe.lkrn).

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

readonly IMAGE_MIB=8
readonly READ_LBA=1001     # MBR reads READ_COUNT sectors from here ...
readonly READ_COUNT=3
readonly TOKEN_LBA=1003    # ... and prints the string at the start of this one
IPXE_LKRN=${IPXE_LKRN:-/usr/lib/ipxe/ipxe.lkrn}

t_init
interop_require_root_tools qemu-system-x86_64 as ld sha256sum
interop_target_check "$TARGET"
[[ -r "$IPXE_LKRN" ]] || t_skip "no $IPXE_LKRN (install the ipxe package)"

# ---------------------------------------------------------------------------
# Boot sector (GNU as, 16-bit real mode, linked flat at 0x7c00)
# ---------------------------------------------------------------------------
MBR_SRC=$T_TMP/mbr.S
cat >"$MBR_SRC" <<EOF
    .code16
    .text
    .globl _start
_start:
    cli
    xorw    %ax, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    \$0x7c00, %sp
    sti
    movb    %dl, drive              # boot drive handed over by iPXE (0x80)

    movw    \$msg_hello, %si
    call    puts

    # INT 13h AH=42h: extended read of ${READ_COUNT} sectors at LBA ${READ_LBA}
    # into 0000:8000, described by the disk address packet below.
    movb    \$0x42, %ah
    movb    drive, %dl
    movw    \$dap, %si
    int     \$0x13
    jc      read_failed

    movw    \$0x8000 + (${TOKEN_LBA} - ${READ_LBA}) * 512, %si
    call    puts                    # the token, read from the AoE disk
    movw    \$msg_done, %si
    call    puts
    jmp     stop

read_failed:
    movw    \$msg_fail, %si
    call    puts

stop:
    movb    \$0x10, %al             # QEMU isa-debug-exit: exit status 33
    outb    %al, \$0xf4
1:  cli
    hlt
    jmp     1b

# puts: print the NUL-terminated string at DS:SI on COM1 (0x3f8) by polling
# the line status register; no BIOS serial services needed.
puts:
    lodsb
    testb   %al, %al
    jz      3f
    movb    %al, %bl
    movw    \$0x3fd, %dx
2:  inb     %dx, %al
    testb   \$0x20, %al             # transmit holding register empty?
    jz      2b
    movw    \$0x3f8, %dx
    movb    %bl, %al
    outb    %al, %dx
    jmp     puts
3:  ret

    .balign 4
dap:
    .byte   0x10, 0                 # packet size, reserved
    .word   ${READ_COUNT}           # sectors
    .word   0x8000, 0x0000          # buffer offset, segment
    .quad   ${READ_LBA}             # starting LBA
drive:
    .byte   0
msg_hello: .asciz "\r\nMBR: booted from AoE, reading LBA ${READ_LBA}+${READ_COUNT} via INT13h\r\nMBR: token="
msg_done:  .asciz "\r\nMBR: done\r\n"
msg_fail:  .asciz "\r\nMBR: INT13h read FAILED\r\n"

    .org    510
    .byte   0x55, 0xaa
EOF
as --32 -o "$T_TMP/mbr.o" "$MBR_SRC"
ld -m elf_i386 -Ttext 0x7c00 -e _start --oformat binary -o "$T_TMP/mbr.bin" "$T_TMP/mbr.o"
[[ $(stat -c %s "$T_TMP/mbr.bin") -eq 512 ]] || t_die "boot sector is not 512 bytes"
[[ $(od -An -tx1 -j510 -N2 "$T_TMP/mbr.bin" | tr -d ' \n') == 55aa ]] || t_die "boot sector lacks 55AA"

# ---------------------------------------------------------------------------
# Disk image: boot sector at LBA 0, token at TOKEN_LBA, pseudo-random rest.
# ---------------------------------------------------------------------------
IMAGE=$T_TMP/disk.img
t_make_image "$IMAGE" "$IMAGE_MIB"
dd if="$T_TMP/mbr.bin" of="$IMAGE" conv=notrunc status=none
TOKEN="AOEKIT-TOKEN-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\0' "$TOKEN" | dd of="$IMAGE" bs=512 seek="$TOKEN_LBA" conv=notrunc status=none
grep -qa "$TOKEN" "$T_TMP/mbr.bin" && t_die "token leaked into the boot sector"

# The iPXE script, handed over as the lkrn's initrd. `ifopen` is required:
# an aoe: URI has no interface, iPXE uses the last opened netdev.
SCRIPT=$T_TMP/boot.ipxe
cat >"$SCRIPT" <<'EOF'
#!ipxe
echo AOEKIT-IPXE-SCRIPT-STARTED
ifopen net0
sanboot aoe:e0.0
echo AOEKIT-IPXE-SANBOOT-RETURNED
EOF

# ---------------------------------------------------------------------------
# Network namespace, target, guest
# ---------------------------------------------------------------------------
interop_netns_create 1500
interop_pcap_start "$T_TMP/tap.pcap"
interop_target_start "$TARGET" "$IMAGE"

SERIAL=$T_TMP/serial.log     # COM1: written only by our MBR
CONSOLE=$T_TMP/console.log   # COM2: SeaBIOS + iPXE text console
# SeaBIOS "sercon": mirror the BIOS text console (and so iPXE's messages) to
# COM2 (port 0x2f8, as a 2-byte little-endian fw_cfg integer). It must not be
# COM1: sercon flushes lazily and would interleave with the MBR's output.
printf '\xf8\x02' >"$T_TMP/sercon-port"
start=$SECONDS
qemu_rc=0
# -m 256M matters: with little RAM (64M) this ipxe.lkrn relocates itself over
# the initrd that QEMU placed at the top of RAM, and the script is then
# mis-detected as a PXE NBP and never runs.
# Stop QEMU as soon as the MBR has spoken (in case the debug-exit is missing).
INTEROP_QEMU_DONE_RE='MBR: (done|INT13h read FAILED)' \
INTEROP_QEMU_DONE_RE2='Could not open SAN device|No bootable device' \
INTEROP_QEMU_DONE_LOG2=$CONSOLE \
interop_qemu_run "$SERIAL" "${INTEROP_QEMU_TIMEOUT:-120}" \
    -m 256M \
    -serial "file:$CONSOLE" \
    -fw_cfg "name=etc/sercon-port,file=$T_TMP/sercon-port" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -kernel "$IPXE_LKRN" -initrd "$SCRIPT" \
    || qemu_rc=$?
t_log "guest ran $(( SECONDS - start ))s (qemu exit $qemu_rc; 33 = MBR debug-exit)"

# ---------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------
# Strip CRs and ANSI escapes (SeaBIOS/iPXE console) for readable matching.
clean() { tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\x08//g'; }
LOG=$(clean "$SERIAL")
CONSOLE_LOG=$(clean "$CONSOLE")

if grep -q 'AOEKIT-IPXE-SCRIPT-STARTED' <<<"$CONSOLE_LOG"; then
    t_pass "iPXE ran the initrd script"
else
    t_fail "iPXE did not run the initrd script"
fi
if grep -q 'MBR: booted from AoE' <<<"$LOG"; then
    t_pass "iPXE sanbooted the MBR from the AoE disk"
else
    t_fail "the MBR never ran (sanboot failed?)"
    grep -q 'Could not open SAN device' <<<"$CONSOLE_LOG" \
        && echo "  iPXE: $(grep -m1 'Could not open SAN device' <<<"$CONSOLE_LOG")"
fi
grep -q 'MBR: INT13h read FAILED' <<<"$LOG" && t_fail "INT 13h extended read failed"
if grep -q "MBR: token=$TOKEN" <<<"$LOG"; then
    t_pass "MBR read the token from LBA $TOKEN_LBA over AoE ($TOKEN)"
else
    t_fail "token $TOKEN not seen on the serial console"
fi
[[ $qemu_rc -eq 124 ]] && t_fail "guest did not finish within the timeout"

if [[ $T_FAILED -ne 0 ]]; then
    echo "---- BIOS/iPXE console tail ($CONSOLE) ----"
    tail -n 25 <<<"$CONSOLE_LOG"
    echo "---- MBR serial output ($SERIAL) ----"
    tail -n 10 <<<"$LOG"
    echo "---- target log ----"
    cat "$INTEROP_TARGET_LOG" || true
    echo "FAIL: ipxe_sanboot target=$TARGET"
    exit 1
fi
echo "PASS: ipxe_sanboot target=$TARGET ($(( SECONDS - start ))s guest)"
exit 0
