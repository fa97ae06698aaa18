#!/bin/bash
#
# service_notify.sh AOE_BIN
#
# Type=notify without systemd: `aoe serve` and `aoe netboot` run in a private network namespace
# with $NOTIFY_SOCKET pointing at a datagram socket this test reads (notify_listen.py), the way
# systemd runs aoe-serve.service and aoe-netboot.service. Checks:
#   aoe serve   READY=1 with STATUS "serving 2 exports on 2 interfaces" once both are up (the
#               disks answer `aoe scan` then); WATCHDOG=1 every WatchdogSec/2; SIGHUP gives
#               RELOADING=1 then READY=1 with the new counts, and a broken config READY=1 with
#               "reload failed"; SIGTERM gives STOPPING=1 and exit 0; a failed start-up sends
#               no READY=1; with `user = "nobody"` READY=1 and the pings still come after the
#               switch.
#   aoe netboot READY=1 with STATUS "full DHCP and TFTP on IFACE", WATCHDOG=1, STOPPING=1.
#
# SAFETY: everything runs in the namespace pkg-notify-PID (veth pairs created inside it),
# deleted on exit. Exit: 0 pass, 1 fail, 77 skipped (not root, no python3).

set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../interop/lib.sh
source "$HERE/../interop/lib.sh"

AOE=${1:?usage: service_notify.sh AOE_BIN}
t_init
interop_require_root_tools python3
[[ -x $AOE ]] || t_die "no aoe binary at $AOE"

NS=$(t_ns notify)
t_netns_add "$NS"
for pair in 0 1; do
  ip -n "$NS" link add "pkgs$pair" type veth peer name "pkgc$pair"
  for dev in "pkgs$pair" "pkgc$pair"; do
    ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
    ip -n "$NS" link set "$dev" up
  done
done
ip -n "$NS" addr add 10.78.0.1/24 dev pkgs0
chmod 755 "$T_TMP"
for i in 1 2 3; do truncate -s 4M "$T_TMP/disk$i.img"; done
chmod 666 "$T_TMP"/disk*.img   # the --user run opens them as nobody

SOCKET=$T_TMP/notify.sock
MESSAGES=$T_TMP/notify.log

# listen SECONDS: (re)starts the notification socket reader with an empty log.
listen() {
  rm -f "$SOCKET"
  : >"$MESSAGES"
  python3 "$HERE/notify_listen.py" "$SOCKET" "$MESSAGES" "$1" &
  LISTENER=$!
  t_defer "t_kill_pid $LISTENER"
  for (( i = 0; i < 50; i++ )); do [[ -S $SOCKET ]] && return 0; sleep 0.1; done
  t_die "notify_listen.py did not create $SOCKET"
}

# start LOG CMD...: runs CMD in the namespace as systemd would (NOTIFY_SOCKET, WATCHDOG_USEC
# for a 200 ms WatchdogSec); sets DAEMON.
start() {
  local log=$1
  shift
  NOTIFY_SOCKET=$SOCKET WATCHDOG_USEC=200000 timeout -k 5 120 \
    ip netns exec "$NS" "$@" >"$log" 2>&1 &
  DAEMON=$!
  t_defer "t_kill_pid $DAEMON"
}

# wait_message REGEX [SECONDS]: waits (bounded, default 10 s) for a message line matching REGEX.
wait_message() {
  local i
  for (( i = 0; i < ${2:-10} * 10; i++ )); do
    grep -qE -- "$1" "$MESSAGES" && return 0
    sleep 0.1
  done
  return 1
}

check() {  # DESCRIPTION REGEX [SECONDS]
  if wait_message "$2" "${3:-10}"; then t_pass "$1"; else t_fail "$1"; fi
}

count() { grep -cE -- "$1" "$MESSAGES" || true; }

write_config() {  # FILE EXPORT_COUNT [EXTRA TOP-LEVEL LINES]
  local file=$1 n=$2 i
  {
    echo "interfaces = [\"pkgs0\", \"pkgs1\"]"
    echo "state_dir = \"$T_TMP/state\""
    [[ -n ${3:-} ]] && echo "$3"
    for (( i = 1; i <= n; i++ )); do
      printf '[[export]]\ntarget = "e7.%d"\npath = "%s/disk%d.img"\n' "$i" "$T_TMP" "$i"
    done
  } >"$file"
}

# ---------------------------------------------------------------------------
# aoe serve
# ---------------------------------------------------------------------------
CONFIG=$T_TMP/serve.toml
write_config "$CONFIG" 2
listen 60
start "$T_TMP/serve.log" "$AOE" serve --config "$CONFIG"
check "aoe serve: READY=1 with the export and interface counts" \
  '^READY=1\|STATUS=serving 2 exports on 2 interfaces$'
# READY means serving: both disks answer at once (no retry needed after READY).
if ip netns exec "$NS" "$AOE" scan -i pkgc0 --timeout 0.5 2>&1 | grep 'e7\.2' >/dev/null; then
  t_pass "aoe serve: the exports answer as soon as READY=1 is sent"
else
  t_fail "aoe serve: the exports answer as soon as READY=1 is sent"
fi
sleep 1
pings=$(count '^WATCHDOG=1$')
if (( pings >= 4 )); then
  t_pass "aoe serve: WATCHDOG=1 every 100 ms ($pings pings in about 1 s)"
else
  t_fail "aoe serve: WATCHDOG=1 every 100 ms (only $pings pings)"
fi

write_config "$CONFIG" 3
kill -HUP "$(pgrep -P "$DAEMON" | head -n1)"
check "aoe serve: SIGHUP sends RELOADING=1 with MONOTONIC_USEC" \
  '^RELOADING=1\|MONOTONIC_USEC=[0-9]+\|STATUS=reloading '
check "aoe serve: then READY=1 with the new counts" \
  '^READY=1\|STATUS=serving 3 exports on 2 interfaces$'
if [[ $(grep -nE '^RELOADING=1' "$MESSAGES" | head -n1 | cut -d: -f1) -lt \
      $(grep -nE 'STATUS=serving 3 exports' "$MESSAGES" | head -n1 | cut -d: -f1) ]]; then
  t_pass "aoe serve: RELOADING=1 comes before the READY=1 that ends the reload"
else
  t_fail "aoe serve: RELOADING=1 comes before the READY=1 that ends the reload"
fi
echo 'interfaces = 7' >"$CONFIG"
kill -HUP "$(pgrep -P "$DAEMON" | head -n1)"
check "aoe serve: a broken config ends the reload with READY=1 and says it failed" \
  '^READY=1\|STATUS=serving 3 exports on 2 interfaces \(reload failed: .*interfaces'
kill -TERM "$(pgrep -P "$DAEMON" | head -n1)"
check "aoe serve: SIGTERM sends STOPPING=1" '^STOPPING=1\|'
rc=0
wait "$DAEMON" || rc=$?
if [[ $rc -eq 0 ]]; then t_pass "aoe serve: exit 0 after SIGTERM"
else t_fail "aoe serve: exit 0 after SIGTERM (got $rc)"; fi

# A start-up that fails (the image does not exist) never says READY=1.
write_config "$CONFIG" 2
sed -i 's/disk2\.img/missing.img/' "$CONFIG"
listen 30
start "$T_TMP/serve-fail.log" "$AOE" serve --config "$CONFIG"
rc=0
wait "$DAEMON" || rc=$?
sleep 0.3
if [[ $rc -eq 1 ]] && ! grep -q 'READY=1' "$MESSAGES"; then
  t_pass "aoe serve: a failed start-up exits 1 without READY=1"
else
  t_fail "aoe serve: a failed start-up exits 1 without READY=1 (exit $rc, messages: $(tr '\n' ' ' <"$MESSAGES"))"
fi

# With `user`: READY=1 and the pings still reach the socket after the switch to nobody.
write_config "$CONFIG" 2 'user = "nobody"'
listen 60
start "$T_TMP/serve-user.log" "$AOE" serve --config "$CONFIG"
check "aoe serve with user = \"nobody\": READY=1 after the switch" \
  '^READY=1\|STATUS=serving 2 exports on 2 interfaces$'
before=$(count '^WATCHDOG=1$')
sleep 0.6
if (( $(count '^WATCHDOG=1$') > before + 2 )) \
   && grep -q 'running as user nobody' "$T_TMP/serve-user.log"; then
  t_pass "aoe serve with user = \"nobody\": WATCHDOG=1 keeps coming as nobody"
else
  t_fail "aoe serve with user = \"nobody\": WATCHDOG=1 keeps coming as nobody"
fi
t_kill_pid "$DAEMON"

# ---------------------------------------------------------------------------
# aoe netboot
# ---------------------------------------------------------------------------
listen 60
start "$T_TMP/netboot.log" "$AOE" netboot -i pkgs0 --range 10.78.0.100-10.78.0.120 \
  --boot e7.1 --lease-file "$T_TMP/netboot/leases" --user nobody
check "aoe netboot: READY=1 with the mode and interface" \
  '^READY=1\|STATUS=full DHCP and TFTP on pkgs0$'
sleep 0.6
pings=$(count '^WATCHDOG=1$')
if (( pings >= 3 )); then t_pass "aoe netboot: WATCHDOG=1 ($pings pings)"
else t_fail "aoe netboot: WATCHDOG=1 (only $pings pings)"; fi
kill -TERM "$(pgrep -P "$DAEMON" | head -n1)"
check "aoe netboot: SIGTERM sends STOPPING=1" '^STOPPING=1\|'
rc=0
wait "$DAEMON" || rc=$?
[[ $rc -eq 0 ]] && t_pass "aoe netboot: exit 0 after SIGTERM" \
  || t_fail "aoe netboot: exit 0 after SIGTERM (got $rc)"

if [[ $T_FAILED -ne 0 ]]; then
  echo "---- last notification messages ----"; tail -n 20 "$MESSAGES"
  for f in "$T_TMP"/*.log; do echo "---- $f ----"; tail -n 15 "$f"; done
  exit 1
fi
echo "PASS: service notification"
