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
# address) are the one-line messages documented.
#
# SAFETY: DHCP and TFTP are broadcast protocols. Everything runs inside two namespaces this
# script creates, joined by a veth pair created directly inside them; nothing is sent on any
# other interface. The EXIT trap stops what we started (by pid) and deletes the namespaces.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, or a tool is missing).

set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

AOE_BIN=${1:?usage: $0 AOE_BIN}
readonly UNDIONLY=/usr/lib/ipxe/undionly.kpxe
readonly CLIENT_MAC=02:00:00:4e:42:01
readonly CLIENT_SCRIPT_NAME=aoekit/02-00-00-4e-42-01.ipxe

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; FAILED=1; }
pass() { echo "PASS: $*"; }
log() { printf '[netboot-netns %s] %s\n' "$(date +%T)" "$*" >&2; }
FAILED=0

[[ $EUID -eq 0 ]] || skip "needs root (network namespaces)"
for tool in ip busybox curl timeout cmp; do
  command -v "$tool" >/dev/null || skip "missing $tool"
done
[[ -r $UNDIONLY ]] || skip "no $UNDIONLY (install the ipxe package)"
[[ -x $AOE_BIN ]] || skip "no aoe binary at $AOE_BIN"

NS_S="aoenbs-$$"
NS_C="aoenbc-$$"
TMP=$(mktemp -d /tmp/aoe-netboot-netns.XXXXXX)
PIDS=()

cleanup() {
  local rc=$?
  set +e
  netboot_stop_pids "${PIDS[@]}"
  ip netns del "$NS_S" 2>/dev/null
  ip netns del "$NS_C" 2>/dev/null
  if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
    echo "---- aoe netboot log ----"; cat "$TMP/netboot.log" 2>/dev/null | tail -n 60
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

netboot_veth_pair "$NS_S" "$NS_C" "$CLIENT_MAC" 10.78.0.1/24
in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

# ---------------------------------------------------------------------------
# Startup errors: no IPv4 address (nbc0 has none yet).
# ---------------------------------------------------------------------------
rc=0
out=$(in_c timeout 10 "$AOE_BIN" netboot -i nbc0 --range 10.78.0.100-10.78.0.110 --boot e0.1 \
      --lease-file "$TMP/x.leases" 2>&1) || rc=$?
if [[ $rc -eq 1 && $out == *"interface nbc0 has no IPv4 address"* && $(wc -l <<<"$out") -eq 1 ]]; then
  pass "no IPv4 address: one-line error, exit 1"
else
  fail "no IPv4 address: exit $rc, output: $out"
fi

# ---------------------------------------------------------------------------
# The server.
# ---------------------------------------------------------------------------
LEASES=$TMP/leases
timeout -k 5 120 ip netns exec "$NS_S" "$AOE_BIN" netboot -i nbs0 \
  --range 10.78.0.100-10.78.0.110 --boot e0.1 --client "$CLIENT_MAC=e4.2" \
  --lease-file "$LEASES" --log-level debug >"$TMP/netboot.log" 2>&1 &
PIDS+=($!)
for (( i = 0; i < 50; i++ )); do
  grep -q "full DHCP for" "$TMP/netboot.log" && break
  kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$TMP/netboot.log"; echo "FAIL: aoe netboot exited"; exit 1; }
  sleep 0.1
done
grep -q "full DHCP for" "$TMP/netboot.log" || { echo "FAIL: aoe netboot not ready in 5 s"; exit 1; }
log "aoe netboot is up"

# Port 67 is now taken by the first instance (same device): the second must say so.
rc=0
out=$(in_s timeout 10 "$AOE_BIN" netboot -i nbs0 --range 10.78.0.100-10.78.0.110 --boot e0.1 \
      --lease-file "$TMP/y.leases" 2>&1) || rc=$?
if [[ $rc -eq 1 && $out == *"port 67 is in use (another DHCP server such as dnsmasq?)"* ]]; then
  pass "port 67 in use: one-line error, exit 1"
else
  fail "port 67 in use: exit $rc, output: $out"
fi

# ---------------------------------------------------------------------------
# DHCP as a BIOS PXE client, then as iPXE.
# ---------------------------------------------------------------------------
cat >"$TMP/udhcpc.sh" <<'SCRIPT'
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
chmod +x "$TMP/udhcpc.sh"

# -x 0x5d:0000 is option 93 (client architecture 0 = BIOS), as a PXE ROM sends it.
in_c timeout 30 busybox udhcpc -i nbc0 -n -q -t 5 -T 1 -A 1 -s "$TMP/udhcpc.sh" \
  -V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000 >"$TMP/pxe.env" 2>"$TMP/pxe.err" || true
if grep -qx "ip=10.78.0.100" "$TMP/pxe.env" && grep -qx "boot_file=undionly.kpxe" "$TMP/pxe.env" \
   && grep -qx "siaddr=10.78.0.1" "$TMP/pxe.env" && grep -qx "serverid=10.78.0.1" "$TMP/pxe.env"; then
  pass "PXE client got 10.78.0.100 and boot file undionly.kpxe from 10.78.0.1"
else
  fail "PXE DHCP: $(tr '\n' ' ' <"$TMP/pxe.env") $(tr '\n' ' ' <"$TMP/pxe.err")"
fi

# iPXE: user class "iPXE", feature list with AoE (0x12) in option 175.
in_c timeout 30 busybox udhcpc -i nbc0 -n -q -t 5 -T 1 -A 1 -s "$TMP/udhcpc.sh" \
  -V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000 -x 0x4d:69505845 -x 0xaf:120101 \
  >"$TMP/ipxe.env" 2>"$TMP/ipxe.err" || true
if grep -qx "ip=10.78.0.100" "$TMP/ipxe.env" && grep -qx "boot_file=$CLIENT_SCRIPT_NAME" "$TMP/ipxe.env"; then
  pass "iPXE client kept 10.78.0.100 and got its script $CLIENT_SCRIPT_NAME"
else
  fail "iPXE DHCP: $(tr '\n' ' ' <"$TMP/ipxe.env") $(tr '\n' ' ' <"$TMP/ipxe.err")"
fi

if grep -q "^10.78.0.100 $CLIENT_MAC [0-9]*$" "$LEASES"; then
  pass "lease file records $CLIENT_MAC -> 10.78.0.100"
else
  fail "lease file: $(cat "$LEASES")"
fi
grep -q "DISCOVER from PXE BIOS -> OFFER 10.78.0.100, boot file undionly.kpxe" "$TMP/netboot.log" \
  && grep -q "REQUEST from iPXE -> ACK 10.78.0.100, script $CLIENT_SCRIPT_NAME (sanboot aoe:e4.2)" "$TMP/netboot.log" \
  && pass "log shows each client step" || fail "log lacks the DISCOVER/OFFER or REQUEST/ACK lines"

# ---------------------------------------------------------------------------
# TFTP.
# ---------------------------------------------------------------------------
in_c ip addr show dev nbc0 | grep -q "10.78.0.100/24" || in_c ip addr add 10.78.0.100/24 dev nbc0

fetch_busybox() {  # NAME OUT [BLKSIZE]
  local -a opts=()
  [[ -n ${3:-} ]] && opts=(-b "$3")
  in_c timeout 30 busybox tftp "${opts[@]}" -g -r "$1" -l "$2" 10.78.0.1 2>"$2.err"
}

if fetch_busybox undionly.kpxe "$TMP/u512" && cmp -s "$TMP/u512" "$UNDIONLY"; then
  pass "busybox tftp (512-byte blocks): undionly.kpxe is byte-identical"
else
  fail "busybox tftp 512: $(cat "$TMP/u512.err" 2>/dev/null)"
fi
if fetch_busybox undionly.kpxe "$TMP/u1400" 1400 && cmp -s "$TMP/u1400" "$UNDIONLY"; then
  pass "busybox tftp -b 1400 (blksize option): byte-identical"
else
  fail "busybox tftp blksize: $(cat "$TMP/u1400.err" 2>/dev/null)"
fi
if in_c timeout 30 curl -sS --tftp-blksize 1428 -o "$TMP/ucurl" tftp://10.78.0.1/undionly.kpxe \
   2>"$TMP/ucurl.err" && cmp -s "$TMP/ucurl" "$UNDIONLY"; then
  pass "curl tftp:// (tsize + blksize 1428): byte-identical"
else
  fail "curl tftp: $(cat "$TMP/ucurl.err")"
fi

# Several transfers at once.
cpids=()
for n in 1 2 3 4; do
  fetch_busybox undionly.kpxe "$TMP/par$n" 512 & cpids+=($!)
done
ok=1
for n in 1 2 3 4; do
  wait "${cpids[n-1]}" || ok=0
  cmp -s "$TMP/par$n" "$UNDIONLY" || ok=0
done
[[ $ok -eq 1 ]] && pass "4 simultaneous transfers all byte-identical" || fail "parallel transfers"

if fetch_busybox "$CLIENT_SCRIPT_NAME" "$TMP/script" && grep -q "^sanboot aoe:e4.2 " "$TMP/script" \
   && head -n1 "$TMP/script" | grep -qx '#!ipxe'; then
  pass "per-client script runs sanboot aoe:e4.2"
else
  fail "script: $(cat "$TMP/script" "$TMP/script.err" 2>/dev/null)"
fi
if fetch_busybox aoekit/02-00-00-99-99-99.ipxe "$TMP/other" && grep -q "^sanboot aoe:e0.1 " "$TMP/other"; then
  pass "another client's script boots the default e0.1"
else
  fail "default script: $(cat "$TMP/other" "$TMP/other.err" 2>/dev/null)"
fi

# Confinement: none of these may deliver a byte.
for name in ../../../../etc/passwd /../etc/passwd ..\\..\\etc\\passwd aoekit/../../etc/passwd \
            /etc/passwd ipxe.efi; do
  rm -f "$TMP/trav"
  if fetch_busybox "$name" "$TMP/trav" 2>/dev/null && [[ -s $TMP/trav ]]; then
    fail "'$name' was served"
  else
    pass "'$name' refused ($(tr -d '\n' <"$TMP/trav.err" | cut -c1-60))"
  fi
done
# /usr/lib/ipxe/ipxe.efi is a symlink to /boot/ipxe.efi: out of the root, so refused.
grep -q "refused 'ipxe.efi': it resolves outside the TFTP root" "$TMP/netboot.log" \
  && pass "symlink out of the root logged as such" || fail "no log line for the symlink out"

# Write requests are refused.
echo hello >"$TMP/up"
if in_c timeout 10 busybox tftp -p -l "$TMP/up" -r up 10.78.0.1 2>/dev/null; then
  fail "a write request succeeded"
else
  pass "write request refused"
fi

grep -q "sent undionly.kpxe (74213 bytes, blksize 1400" "$TMP/netboot.log" \
  && grep -q "sent $CLIENT_SCRIPT_NAME \[iPXE script: sanboot aoe:e4.2\]" "$TMP/netboot.log" \
  && pass "log shows each file and script sent" || fail "log lacks the TFTP sent lines"

[[ $FAILED -eq 0 ]] && echo "ALL PASSED" || echo "SOME CHECKS FAILED"
exit "$FAILED"
