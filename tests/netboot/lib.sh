# shellcheck shell=bash
#
# What the netboot tests share beyond tests/lib.sh. The QEMU ones source it after
# tests/interop/lib.sh.
#
# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"
#
# netboot_make_token_disk IMAGE TOKEN
#   Writes an 8 MiB disk image whose boot sector (LBA 0) reads LBA 1001-1003 through BIOS
#   INT 13h (AH=42h extended read; in a sanbooted guest that is iPXE's INT 13h emulation over
#   AoE) and prints "MBR: token=<the string at LBA 1003>" to COM1, then exits QEMU through
#   isa-debug-exit (status 33). TOKEN is written only at LBA 1003, so seeing it on the serial
#   console proves the data came over AoE.
#
# tests/interop/ipxe_sanboot.sh assembles a similar boot sector inline (not as a reusable
# function in tests/interop/lib.sh), so this is a separate copy for the netboot tests.
netboot_make_token_disk() {
  local image=$1 token=$2 dir
  dir=$(dirname "$image")
  cat >"$dir/mbr.S" <<'ASM'
    .code16
    .text
    .globl _start
_start:
    cli
    xorw    %ax, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    $0x7c00, %sp
    sti
    movb    %dl, drive
    movw    $msg_hello, %si
    call    puts
    movb    $0x42, %ah              # INT 13h extended read, described by `dap`
    movb    drive, %dl
    movw    $dap, %si
    int     $0x13
    jc      failed
    movw    $0x8000 + 2 * 512, %si  # LBA 1003 = third sector read
    call    puts
    movw    $msg_done, %si
    call    puts
    jmp     stop
failed:
    movw    $msg_fail, %si
    call    puts
stop:
    movb    $0x10, %al              # isa-debug-exit: QEMU exits with status 33
    outb    %al, $0xf4
1:  cli
    hlt
    jmp     1b
puts:                               # NUL-terminated DS:SI to COM1, polling the LSR
    lodsb
    testb   %al, %al
    jz      3f
    movb    %al, %bl
    movw    $0x3fd, %dx
2:  inb     %dx, %al
    testb   $0x20, %al
    jz      2b
    movw    $0x3f8, %dx
    movb    %bl, %al
    outb    %al, %dx
    jmp     puts
3:  ret
    .balign 4
dap:
    .byte   0x10, 0
    .word   3                       # sectors
    .word   0x8000, 0x0000          # buffer offset, segment
    .quad   1001                    # first LBA
drive:
    .byte   0
msg_hello: .asciz "\r\nMBR: booted over AoE via aoe netboot\r\nMBR: token="
msg_done:  .asciz "\r\nMBR: done\r\n"
msg_fail:  .asciz "\r\nMBR: INT13h read FAILED\r\n"
    .org    510
    .byte   0x55, 0xaa
ASM
  as --32 -o "$dir/mbr.o" "$dir/mbr.S"
  ld -m elf_i386 -Ttext 0x7c00 -e _start --oformat binary -o "$dir/mbr.bin" "$dir/mbr.o"
  [[ $(stat -c %s "$dir/mbr.bin") -eq 512 ]] || return 1
  t_make_image "$image" 8
  dd if="$dir/mbr.bin" of="$image" conv=notrunc status=none
  printf '%s\0' "$token" | dd of="$image" bs=512 seek=1003 conv=notrunc status=none
}

# netboot_qemu_run SERIAL_LOG TIMEOUT_SECONDS ROM QEMU_ARGS...
#   Like interop_qemu_run (tests/interop/lib.sh), but the e1000 NIC keeps an option ROM (ROM)
#   so that the guest can PXE boot (-boot n); interop_qemu_run disables the ROM because its
#   guests boot with -kernel. TCG, no disk, serial to SERIAL_LOG, hard timeout, and QEMU is
#   stopped as soon as the log matches INTEROP_QEMU_DONE_RE. Returns QEMU's status (124 on
#   timeout, 0 when stopped early).
netboot_qemu_run() {
  local log=$1 secs=$2 rom=$3 rc=0 done_early=0 pid
  shift 3
  : >"$log"
  t_answer_router_solicitations "$INTEROP_NS" "$INTEROP_TAP" "$secs"
  local ra_pid=$T_RA_PID
  local -a args=(
    -accel tcg -nodefaults -display none -monitor none -no-reboot
    -serial "file:$log"
    -netdev "tap,id=n0,ifname=$INTEROP_TAP,script=no,downscript=no"
    -device "e1000,netdev=n0,mac=52:54:00:a0:e0:01,romfile=$rom"
    -boot n
    "$@"
  )
  t_log "qemu (timeout ${secs}s): qemu-system-x86_64 ${args[*]}"
  timeout -k 5 "$secs" ip netns exec "$INTEROP_NS" \
    qemu-system-x86_64 "${args[@]}" >"$T_TMP/qemu.out" 2>&1 &
  pid=$!
  t_defer "t_kill_pid $pid"
  while kill -0 "$pid" 2>/dev/null; do   # bounded by `timeout` above
    if [[ -n ${INTEROP_QEMU_DONE_RE:-} ]] && grep -aqE "$INTEROP_QEMU_DONE_RE" "$log"; then
      done_early=1
      t_kill_pid "$pid"
      break
    fi
    sleep 0.5
  done
  wait "$pid" 2>/dev/null || rc=$?
  t_kill_pid "$ra_pid"
  [[ $done_early -eq 1 ]] && rc=0
  [[ -s $T_TMP/qemu.out ]] && sed 's/^/  qemu: /' "$T_TMP/qemu.out" >&2
  return "$rc"
}

# netboot_veth_pair SERVER_NS CLIENT_NS CLIENT_MAC SERVER_CIDR
#   Creates the two namespaces, joined by the veth pair nbs0 (server side, address SERVER_CIDR)
#   and nbc0 (client side, MAC CLIENT_MAC), both up. The pair is created inside the namespaces,
#   so it never exists in the host namespace.
netboot_veth_pair() {
  local ns_s=$1 ns_c=$2 mac=$3 cidr=$4
  t_netns_add "$ns_s"
  t_netns_add "$ns_c"
  t_veth "$ns_c" nbc0 "$ns_s" nbs0 1500 "$mac"
  ip -n "$ns_s" addr add "$cidr" dev nbs0
}

# netboot_start_bg LOG READY_REGEX CMD...: runs CMD in $INTEROP_NS (t_bg: bounded, stopped at
#   exit) and waits up to 10 s for READY_REGEX in LOG; dies with the log if CMD exits first.
#   Sets T_BG_PID.
netboot_start_bg() {
  local logfile=$1 ready=$2
  shift 2
  t_bg "$logfile" ip netns exec "$INTEROP_NS" "$@"
  t_wait_log "$logfile" "$ready" 1 10 "$T_BG_PID" ||
    { cat "$logfile" >&2; t_die "not ready after 10 s: $*"; }
}

# netboot_start_address_server: dnsmasq on $INTEROP_TAP handing out 10.77.0.50-60 and no boot
#   options at all, so anything boot-related comes from aoekit (proxy mode). Logs to
#   $DNSMASQ_LOG, which it sets.
netboot_start_address_server() {
  DNSMASQ_LOG=$T_TMP/dnsmasq.log
  netboot_start_bg "$DNSMASQ_LOG" "DHCP, IP range" dnsmasq --no-daemon --conf-file=/dev/null \
    --port=0 --interface="$INTEROP_TAP" --bind-interfaces --dhcp-range=10.77.0.50,10.77.0.60,1h \
    --dhcp-leasefile="$T_TMP/dnsmasq.leases" --pid-file= --log-dhcp
}
