#!/bin/bash
#
# netboot_netns.sh AOE_BIN
#
# `aoe netboot` in full DHCP mode, tested with real clients across a veth pair:
#   namespace S: aoe netboot on nbs0 (10.78.0.1/24)
#   namespace C: busybox udhcpc posing as a BIOS PXE client (option 60 + 93), then as iPXE
#                (user class 77), busybox tftp and curl as TFTP clients.
# Checks: the lease and boot file name reach the client, undionly.kpxe arrives byte-identical
# over TFTP (default block size, blksize and tsize options, several transfers at once), the
# per-client iPXE script names the right AoE target, path traversal and symlinks out of the
# root are refused, the lease file is written, and the startup errors (port in use, no IPv4
# address, a range holding the subnet's network address) are the one-line messages documented.
#
# SAFETY: DHCP and TFTP are broadcast protocols. Everything runs inside two namespaces this
# script creates, joined by a veth pair created directly inside them; nothing is sent on any
# other interface. The EXIT trap stops what we started (by pid) and deletes the namespaces.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, or a tool is missing).

set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

readonly UNDIONLY=/usr/lib/ipxe/undionly.kpxe
readonly CLIENT_MAC=02:00:00:4e:42:01
readonly CLIENT_SCRIPT_NAME=aoekit/02-00-00-4e-42-01.ipxe

t_init
t_require_root "network namespaces"
t_require_cmds ip busybox curl timeout cmp
[[ -r $UNDIONLY ]] || t_skip "no $UNDIONLY (install the ipxe package)"
t_find_aoe "${1:-}"

NS_S=$(t_ns nbs)
NS_C=$(t_ns nbc)
# shellcheck disable=SC2016  # expanded at exit, on purpose
t_defer 'if [[ $rc -ne 0 || $T_FAILED -ne 0 ]]; then
    echo "---- aoe netboot log ----"; tail -n 60 "$T_TMP/netboot.log"; fi'

netboot_veth_pair "$NS_S" "$NS_C" "$CLIENT_MAC" 10.78.0.1/24
in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

# ---------------------------------------------------------------------------
# Startup errors: no IPv4 address (nbc0 has none yet).
# ---------------------------------------------------------------------------
rc=0
out=$(in_c timeout 10 "$AOE_BIN" netboot -i nbc0 --range 10.78.0.100-10.78.0.110 --boot e0.1 \
      --lease-file "$T_TMP/x.leases" 2>&1) || rc=$?
if [[ $rc -eq 1 && $out == *"interface nbc0 has no IPv4 address"* && $(wc -l <<<"$out") -eq 1 ]]; then
  t_pass "no IPv4 address: one-line error, exit 1"
else
  t_fail "no IPv4 address: exit $rc, output: $out"
fi

# A range that holds the network address of the interface's subnet (no --netmask: nbs0's /24
# applies) is refused before any socket is opened: 10.78.0.0 was once offered to a client.
rc=0
out=$(in_s timeout 10 "$AOE_BIN" netboot -i nbs0 --range 10.78.0.0-10.78.0.110 --boot e0.1 \
      --lease-file "$T_TMP/x.leases" 2>&1) || rc=$?
if [[ $rc -eq 2 && $out == *"includes 10.78.0.0, the network address of 10.78.0.0/255.255.255.0"* \
      && $(wc -l <<<"$out") -eq 1 ]]; then
  t_pass "range with the interface's network address: one-line error, exit 2"
else
  t_fail "range with the interface's network address: exit $rc, output: $out"
fi

# ---------------------------------------------------------------------------
# The server.
# ---------------------------------------------------------------------------
LEASES=$T_TMP/leases
t_bg "$T_TMP/netboot.log" ip netns exec "$NS_S" "$AOE_BIN" netboot -i nbs0 \
  --range 10.78.0.100-10.78.0.110 --boot e0.1 --client "$CLIENT_MAC=e4.2" \
  --lease-file "$LEASES" --log-level debug
t_wait_log "$T_TMP/netboot.log" "full DHCP for" 1 5 "$T_BG_PID" ||
  { cat "$T_TMP/netboot.log"; t_die "aoe netboot did not start within 5 s"; }
t_log "aoe netboot is up"

# Port 67 is now taken by the first instance (same device): the second must say so.
rc=0
out=$(in_s timeout 10 "$AOE_BIN" netboot -i nbs0 --range 10.78.0.100-10.78.0.110 --boot e0.1 \
      --lease-file "$T_TMP/y.leases" 2>&1) || rc=$?
if [[ $rc -eq 1 && $out == *"port 67 is in use (another DHCP server such as dnsmasq?)"* ]]; then
  t_pass "port 67 in use: one-line error, exit 1"
else
  t_fail "port 67 in use: exit $rc, output: $out"
fi

# ---------------------------------------------------------------------------
# DHCP as a BIOS PXE client, then as iPXE.
# ---------------------------------------------------------------------------
cat >"$T_TMP/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
# udhcpc calls this with the event as $1 and the lease in the environment.
case "$1" in
  bound|renew)
    echo "event=$1"
    for v in ip subnet router siaddr serverid boot_file bootfile lease; do
      eval "val=\${$v:-}"
      echo "$v=$val"
    done
    ip addr flush dev "$interface"
    ip addr add "$ip/24" dev "$interface"
    ;;
esac
exit 0
SCRIPT
chmod +x "$T_TMP/udhcpc.sh"

# -x 0x5d:0000 is option 93 (client architecture 0 = BIOS), as a PXE ROM sends it.
in_c timeout 30 busybox udhcpc -i nbc0 -n -q -t 5 -T 1 -A 1 -s "$T_TMP/udhcpc.sh" \
  -V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000 >"$T_TMP/pxe.env" 2>"$T_TMP/pxe.err" || true
if grep -qx "ip=10.78.0.100" "$T_TMP/pxe.env" && grep -qx "boot_file=undionly.kpxe" "$T_TMP/pxe.env" \
   && grep -qx "siaddr=10.78.0.1" "$T_TMP/pxe.env" && grep -qx "serverid=10.78.0.1" "$T_TMP/pxe.env"; then
  t_pass "PXE client got 10.78.0.100 and boot file undionly.kpxe from 10.78.0.1"
else
  t_fail "PXE DHCP: $(tr '\n' ' ' <"$T_TMP/pxe.env") $(tr '\n' ' ' <"$T_TMP/pxe.err")"
fi

# iPXE: user class "iPXE", feature list with AoE (0x12) in option 175.
in_c timeout 30 busybox udhcpc -i nbc0 -n -q -t 5 -T 1 -A 1 -s "$T_TMP/udhcpc.sh" \
  -V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000 -x 0x4d:69505845 -x 0xaf:120101 \
  >"$T_TMP/ipxe.env" 2>"$T_TMP/ipxe.err" || true
if grep -qx "ip=10.78.0.100" "$T_TMP/ipxe.env" && grep -qx "boot_file=$CLIENT_SCRIPT_NAME" "$T_TMP/ipxe.env"; then
  t_pass "iPXE client kept 10.78.0.100 and got its script $CLIENT_SCRIPT_NAME"
else
  t_fail "iPXE DHCP: $(tr '\n' ' ' <"$T_TMP/ipxe.env") $(tr '\n' ' ' <"$T_TMP/ipxe.err")"
fi

if grep -q "^10.78.0.100 $CLIENT_MAC [0-9]*$" "$LEASES"; then
  t_pass "lease file records $CLIENT_MAC -> 10.78.0.100"
else
  t_fail "lease file: $(cat "$LEASES")"
fi
grep -q "DISCOVER from PXE BIOS -> OFFER 10.78.0.100, boot file undionly.kpxe" "$T_TMP/netboot.log" \
  && grep -q "REQUEST from iPXE -> ACK 10.78.0.100, script $CLIENT_SCRIPT_NAME (sanboot aoe:e4.2)" "$T_TMP/netboot.log" \
  && t_pass "log shows each client step" || t_fail "log lacks the DISCOVER/OFFER or REQUEST/ACK lines"

# ---------------------------------------------------------------------------
# TFTP.
# ---------------------------------------------------------------------------
in_c ip addr show dev nbc0 | grep "10.78.0.100/24" >/dev/null || in_c ip addr add 10.78.0.100/24 dev nbc0

fetch_busybox() {  # NAME OUT [BLKSIZE]
  local -a opts=()
  [[ -n ${3:-} ]] && opts=(-b "$3")
  in_c timeout 30 busybox tftp "${opts[@]}" -g -r "$1" -l "$2" 10.78.0.1 2>"$2.err"
}

if fetch_busybox undionly.kpxe "$T_TMP/u512" && cmp -s "$T_TMP/u512" "$UNDIONLY"; then
  t_pass "busybox tftp (512-byte blocks): undionly.kpxe is byte-identical"
else
  t_fail "busybox tftp 512: $(cat "$T_TMP/u512.err" 2>/dev/null)"
fi
if fetch_busybox undionly.kpxe "$T_TMP/u1400" 1400 && cmp -s "$T_TMP/u1400" "$UNDIONLY"; then
  t_pass "busybox tftp -b 1400 (blksize option): byte-identical"
else
  t_fail "busybox tftp blksize: $(cat "$T_TMP/u1400.err" 2>/dev/null)"
fi
if in_c timeout 30 curl -sS --tftp-blksize 1428 -o "$T_TMP/ucurl" tftp://10.78.0.1/undionly.kpxe \
   2>"$T_TMP/ucurl.err" && cmp -s "$T_TMP/ucurl" "$UNDIONLY"; then
  t_pass "curl tftp:// (tsize + blksize 1428): byte-identical"
else
  t_fail "curl tftp: $(cat "$T_TMP/ucurl.err")"
fi

# Several transfers at once.
cpids=()
for n in 1 2 3 4; do
  fetch_busybox undionly.kpxe "$T_TMP/par$n" 512 & cpids+=($!)
done
ok=1
for n in 1 2 3 4; do
  wait "${cpids[n-1]}" || ok=0
  cmp -s "$T_TMP/par$n" "$UNDIONLY" || ok=0
done
[[ $ok -eq 1 ]] && t_pass "4 simultaneous transfers all byte-identical" || t_fail "parallel transfers"

if fetch_busybox "$CLIENT_SCRIPT_NAME" "$T_TMP/script" && grep -q "^sanboot aoe:e4.2 " "$T_TMP/script" \
   && head -n1 "$T_TMP/script" | grep -x '#!ipxe' >/dev/null; then
  t_pass "per-client script runs sanboot aoe:e4.2"
else
  t_fail "script: $(cat "$T_TMP/script" "$T_TMP/script.err" 2>/dev/null)"
fi
if fetch_busybox aoekit/02-00-00-99-99-99.ipxe "$T_TMP/other" && grep -q "^sanboot aoe:e0.1 " "$T_TMP/other"; then
  t_pass "another client's script boots the default e0.1"
else
  t_fail "default script: $(cat "$T_TMP/other" "$T_TMP/other.err" 2>/dev/null)"
fi

# Confinement: none of these may deliver a byte.
for name in ../../../../etc/passwd /../etc/passwd ..\\..\\etc\\passwd aoekit/../../etc/passwd \
            /etc/passwd ipxe.efi; do
  rm -f "$T_TMP/trav"
  if fetch_busybox "$name" "$T_TMP/trav" 2>/dev/null && [[ -s $T_TMP/trav ]]; then
    t_fail "'$name' was served"
  else
    t_pass "'$name' refused ($(tr -d '\n' <"$T_TMP/trav.err" | cut -c1-60))"
  fi
done
# /usr/lib/ipxe/ipxe.efi is a symlink to /boot/ipxe.efi: out of the root, so refused.
grep -q "refused 'ipxe.efi': it resolves outside the TFTP root" "$T_TMP/netboot.log" \
  && t_pass "symlink out of the root logged as such" || t_fail "no log line for the symlink out"

# Write requests are refused.
echo hello >"$T_TMP/up"
if in_c timeout 10 busybox tftp -p -l "$T_TMP/up" -r up 10.78.0.1 2>/dev/null; then
  t_fail "a write request succeeded"
else
  t_pass "write request refused"
fi

grep -q "sent undionly.kpxe (74213 bytes, blksize 1400" "$T_TMP/netboot.log" \
  && grep -q "sent $CLIENT_SCRIPT_NAME \[iPXE script: sanboot aoe:e4.2\]" "$T_TMP/netboot.log" \
  && t_pass "log shows each file and script sent" || t_fail "log lacks the TFTP sent lines"

# One host cannot take every transfer slot: 10 read requests from 10 ports of one address that
# never acknowledge, each asking for a 255 s timeout (which would hold a slot for 25 minutes).
# 8 transfers start, on the default timeout (the option is not accepted: DATA, not OACK), and
# the rest are refused; once the silent transfers have given up, the host is served again.
in_c timeout 20 python3 - >"$T_TMP/slots.out" 2>&1 <<'PY'
import socket
sockets = []
for _ in range(10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b"\0\1undionly.kpxe\0octet\0timeout\0" + b"255\0", ("10.78.0.1", 69))
    sockets.append(s)
for s in sockets:
    try:
        data, _ = s.recvfrom(2048)
    except socket.timeout:
        print("none")
        continue
    opcode = int.from_bytes(data[:2], "big")
    print({3: "data", 6: "oack"}.get(opcode, "error" if opcode == 5 else str(opcode)))
PY
if [[ $(grep -c '^data$' "$T_TMP/slots.out") -eq 8 && $(grep -c '^error$' "$T_TMP/slots.out") -eq 2 ]]; then
  t_pass "one host gets 8 transfers at once, on the default timeout; more are refused"
else
  t_fail "transfers from one host: $(tr '\n' ' ' <"$T_TMP/slots.out")"
fi
grep -q "transfers from 10.78.0.100 already running" "$T_TMP/netboot.log" \
  && t_pass "the refusal is logged" || t_fail "no log line for the refused transfers"
served_again=0
for _ in $(seq 1 20); do  # the silent transfers give up after 6 timeouts of 1 s
  sleep 1
  if fetch_busybox undionly.kpxe "$T_TMP/after" 2>/dev/null && cmp -s "$T_TMP/after" "$UNDIONLY"; then
    served_again=1
    break
  fi
done
[[ $served_again -eq 1 ]] && t_pass "the host is served again once its silent transfers gave up" \
  || t_fail "the host was not served again within 20 s"

# A first stage missing from the TFTP root is said at start (the default files are there: no
# warning above); the service runs anyway, as the root may be filled later.
grep -q "is not readable in the TFTP root" "$T_TMP/netboot.log" \
  && t_fail "a warning about a boot file that is there" || t_pass "no warning for the default boot files"
t_kill_pid "$T_BG_PID"
out=$(in_s timeout 3 "$AOE_BIN" netboot -i nbs0 --range 10.78.0.100-10.78.0.110 --boot e0.1 \
      --lease-file "$T_TMP/z.leases" --efi-file nosuch.efi 2>&1) || true
[[ $out == *"nosuch.efi is not readable in the TFTP root /usr/lib/ipxe"*"UEFI PXE clients cannot boot"* ]] \
  && t_pass "a missing --efi-file is warned about at start" \
  || t_fail "no warning for a missing --efi-file: $out"

t_finish
