#!/bin/bash
#
# netboot_privileges.sh AOE_BIN
#
# `aoe netboot --user nobody` and `aoe serve` with `user = "nobody"` and a [netboot] section:
# after binding ports 67 and 69 and opening the TFTP root and the lease file as root, the
# service runs as nobody and still works. Over a veth pair between two namespaces:
#   - /proc/PID/status: uid and gid nobody (real, effective, saved, fs), CapEff = CapPrm = 0
#     for `aoe netboot` (CAP_NET_RAW, 0x2000, on kernels before 5.7) and CAP_NET_RAW alone for
#     `aoe serve`, nothing inheritable or ambient, NoNewPrivs 1;
#   - the lease directory aoekit created belongs to nobody (mode 0750);
#   - busybox udhcpc (full mode) gets a lease, which nobody writes to the lease file;
#   - busybox tftp fetches undionly.kpxe byte-identical (a new ephemeral-port socket per
#     transfer, bound to the interface: no capability) and the per-client iPXE script;
#   - a restart as nobody keeps the lease; SIGTERM ends it with exit 0;
#   - the one-line errors, exit 2: unknown user, root, a lease directory nobody cannot write
#     (an existing shared sticky directory, which is NOT chowned), an unsearchable TFTP root;
#   - `aoe serve`: a SIGHUP that changes [netboot] is not applied (ports 67/69 need root) and
#     the running service keeps answering.
#
# SAFETY: DHCP, TFTP and AoE are broadcast protocols. Everything runs inside two namespaces
# this script creates, joined by a veth pair created directly inside them; nothing is sent on
# any other interface. The EXIT trap stops what we started (by pid) and deletes the namespaces.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, a tool or the user nobody is missing).

set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

AOE_BIN=${1:?usage: $0 AOE_BIN}
readonly UNDIONLY=/usr/lib/ipxe/undionly.kpxe
readonly CLIENT_MAC=02:00:00:4e:50:01
readonly CLIENT_SCRIPT_NAME=aoekit/02-00-00-4e-50-01.ipxe

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; FAILED=1; }
pass() { echo "PASS: $*"; }
check() {  # DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
log() { printf '[netboot-privileges %s] %s\n' "$(date +%T)" "$*" >&2; }
FAILED=0

[[ $EUID -eq 0 ]] || skip "needs root (network namespaces, dropping to nobody)"
for tool in ip busybox timeout cmp awk stat; do
  command -v "$tool" >/dev/null || skip "missing $tool"
done
[[ -r $UNDIONLY ]] || skip "no $UNDIONLY (install the ipxe package)"
[[ -x $AOE_BIN ]] || skip "no aoe binary at $AOE_BIN"
id nobody >/dev/null 2>&1 || skip "no user 'nobody' on this machine"
NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)
# The capabilities `aoe netboot --user` keeps: none; CAP_NET_RAW where SO_BINDTODEVICE on a
# fresh socket still needs it (Linux before 5.7).
IFS=. read -r kmajor kminor _ <<<"$(uname -r)"
if (( kmajor > 5 || (kmajor == 5 && ${kminor%%[!0-9]*} >= 7) )); then
  NETBOOT_CAPS=0000000000000000
else
  NETBOOT_CAPS=0000000000002000
fi

NS_S="aoenbps-$$"
NS_C="aoenbpc-$$"
TMP=$(mktemp -d /tmp/aoe-netboot-priv.XXXXXX)
chmod 755 "$TMP"  # nobody must reach the directories below it
PIDS=()
LOG=$TMP/none.log

cleanup() {
  local rc=$?
  set +e
  netboot_stop_pids "${PIDS[@]}"
  ip netns del "$NS_S" 2>/dev/null
  ip netns del "$NS_C" 2>/dev/null
  if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
    echo "---- last log ($LOG) ----"; tail -n 60 "$LOG" 2>/dev/null
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

netboot_veth_pair "$NS_S" "$NS_C" "$CLIENT_MAC" 10.79.0.1/24
in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

# start LOG READY_REGEX COMMAND...: runs COMMAND in the server namespace in the background
# (under `timeout`, so nothing outlives a killed test), waits for READY_REGEX in LOG, and sets
# PID to the aoe process itself (the child of `timeout`; `ip netns exec` execs it).
start() {
  local ready=$2 wrapper i
  LOG=$1
  shift 2
  timeout -k 5 120 ip netns exec "$NS_S" "$@" >"$LOG" 2>&1 &
  wrapper=$!
  PIDS+=("$wrapper")
  PID=
  for (( i = 0; i < 100; i++ )); do
    if grep -qE "$ready" "$LOG"; then
      PID=$(cat "/proc/$wrapper/task/$wrapper/children" 2>/dev/null | awk '{print $1}')
      [[ -n $PID ]] && return 0
    fi
    kill -0 "$wrapper" 2>/dev/null || { echo "FAIL: $* exited:"; cat "$LOG"; exit 1; }
    sleep 0.1
  done
  echo "FAIL: not ready in 10 s: $*"
  exit 1
}
# stop: SIGTERM to the aoe process; returns its exit status.
stop() {
  local wrapper=${PIDS[-1]} rc=0
  kill -TERM "$PID"
  wait "$wrapper" || rc=$?
  unset 'PIDS[-1]'
  return "$rc"
}
# field NAME: the value of one /proc/$PID/status line, fields joined by single spaces.
field() { awk -v k="$1:" '$1 == k {$1 = ""; sub(/^ /, ""); print}' "/proc/$PID/status"; }
check_status() {  # WHAT EXPECTED_CAPS
  log "$1: Uid $(field Uid) / Gid $(field Gid) / CapEff $(field CapEff) / CapPrm $(field CapPrm)"
  check "$1 runs as nobody (real, effective, saved, fs uid)" \
    [ "$(field Uid)" == "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" ]
  check "$1 runs with nobody's group" \
    [ "$(field Gid)" == "$NOBODY_GID $NOBODY_GID $NOBODY_GID $NOBODY_GID" ]
  check "$1: CapEff is $2" [ "$(field CapEff)" == "$2" ]
  check "$1: CapPrm is $2" [ "$(field CapPrm)" == "$2" ]
  check "$1: no inheritable capabilities" [ "$(field CapInh)" == 0000000000000000 ]
  check "$1: no ambient capabilities" [ "$(field CapAmb)" == 0000000000000000 ]
  check "$1: no_new_privs is set" [ "$(field NoNewPrivs)" == 1 ]
}

cat >"$TMP/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
# udhcpc calls this with the event as $1 and the lease in the environment.
case "$1" in
  bound|renew)
    echo "event=$1"
    for v in ip siaddr serverid boot_file; do
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
# dhcp OUT: a BIOS PXE client (option 60 + 93) asks for a lease; the udhcpc script's output.
dhcp() {
  in_c ip addr flush dev nbc0
  in_c timeout 30 busybox udhcpc -i nbc0 -n -q -t 5 -T 1 -A 1 -s "$TMP/udhcpc.sh" \
    -V PXEClient:Arch:00000:UNDI:002001 -x 0x5d:0000 >"$1" 2>"$1.err" || true
}
got_lease() {  # ENV_FILE
  grep -qx "ip=10.79.0.100" "$1" && grep -qx "boot_file=undionly.kpxe" "$1" \
    && grep -qx "serverid=10.79.0.1" "$1"
}
fetch() {  # NAME OUT
  in_c timeout 30 busybox tftp -b 1400 -g -r "$1" -l "$2" 10.79.0.1 2>"$2.err"
}

# ---------------------------------------------------------------------------
# Bad --user settings: one line, exit 2, nothing given away.
# ---------------------------------------------------------------------------
# The error is one line; log lines before it (the service started, then the check as nobody
# failed) are allowed.
expect_usage_error() {  # DESCRIPTION EXPECTED_SUBSTRING AOE_ARGS...
  local what=$1 want=$2 rc=0 out errors
  shift 2
  out=$(in_s timeout 20 "$AOE_BIN" "$@" 2>&1) || rc=$?
  errors=$(grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+ +(debug|info|warn) ' <<<"$out" || true)
  if [[ $rc -eq 2 && $errors == *"$want"* && $(wc -l <<<"$errors") -eq 1 ]]; then
    pass "$what: one-line error, exit 2"
  else
    fail "$what: exit $rc, output: $out"
  fi
}
full_args=(netboot -i nbs0 --range 10.79.0.100-10.79.0.110 --boot e0.1)
expect_usage_error "unknown user" "aoe netboot: --user aoekit-no-such-user: user 'aoekit-no-such-user' does not exist" \
  "${full_args[@]}" --lease-file "$TMP/x/x.leases" --user aoekit-no-such-user
check "nothing was created for the unknown user" [ ! -e "$TMP/x" ]
expect_usage_error "root as --user" "user root is root (uid 0)" \
  "${full_args[@]}" --lease-file "$TMP/x/x.leases" --user root
expect_usage_error "--user without a name" "--user needs a user name" \
  "${full_args[@]}" --user ""
# An existing shared directory (world-writable, sticky, like /tmp) is never chowned: nobody
# cannot replace root's lease file there, and says so.
printf 'interface = "nbs0"\nmode = "proxy"\nboot = "e0.1"\nuser = ""\n' >"$TMP/empty-user.toml"
expect_usage_error "user = \"\" in the config file" \
  "$TMP/empty-user.toml:4: user must name a user" netboot --config "$TMP/empty-user.toml"
mkdir -m 1777 "$TMP/shared"
expect_usage_error "lease file in a shared sticky directory" \
  "user nobody cannot replace the lease file $TMP/shared/nb.leases: Operation not permitted" \
  "${full_args[@]}" --lease-file "$TMP/shared/nb.leases" --user nobody
check "the shared directory is still root's, mode 1777" \
  [ "$(stat -c '%u %a' "$TMP/shared")" == "0 1777" ]
mkdir -m 755 "$TMP/rootdir"
expect_usage_error "lease file in a directory of root's" \
  "user nobody cannot replace the lease file $TMP/rootdir/nb.leases: Permission denied" \
  "${full_args[@]}" --lease-file "$TMP/rootdir/nb.leases" --user nobody
check "root's directory was not chowned" [ "$(stat -c %u "$TMP/rootdir")" == 0 ]
mkdir -m 700 "$TMP/tftp-private"
cp "$UNDIONLY" "$TMP/tftp-private/"
expect_usage_error "TFTP root nobody cannot search" \
  "user nobody cannot search the TFTP root $TMP/tftp-private: Permission denied" \
  netboot -i nbs0 --proxy --boot e0.1 --tftp-root "$TMP/tftp-private" --user nobody

# ---------------------------------------------------------------------------
# aoe netboot --user nobody, full mode.
# ---------------------------------------------------------------------------
LEASES=$TMP/state/leases/nb.leases  # $TMP/state exists, leases/ does not: aoekit creates it
mkdir -m 755 "$TMP/state"
start "$TMP/netboot.log" "running as user nobody" "$AOE_BIN" "${full_args[@]}" \
  --client "$CLIENT_MAC=e4.2" --lease-file "$LEASES" --user nobody
log "aoe netboot is up as pid $PID"
check "the log says what is kept" \
  grep -qE "running as user nobody \(uid $NOBODY_UID\), keeping (no capabilities|only cap_net_raw)" "$TMP/netboot.log"
check_status "aoe netboot" "$NETBOOT_CAPS"
check "the lease directory aoekit created belongs to nobody, mode 750" \
  [ "$(stat -c '%u %a' "$TMP/state/leases")" == "$NOBODY_UID 750" ]
check "the parent directory was left alone" [ "$(stat -c %u "$TMP/state")" == 0 ]

dhcp "$TMP/pxe.env"
if got_lease "$TMP/pxe.env"; then
  pass "as nobody: PXE client got 10.79.0.100 and boot file undionly.kpxe"
else
  fail "as nobody: DHCP: $(tr '\n' ' ' <"$TMP/pxe.env") $(tr '\n' ' ' <"$TMP/pxe.env.err")"
fi
check "as nobody: the lease is written to the lease file" \
  grep -q "^10.79.0.100 $CLIENT_MAC [0-9]*$" "$LEASES"
check "the lease file was written by nobody" [ "$(stat -c %u "$LEASES")" == "$NOBODY_UID" ]
check "no error in the log" bash -c "! grep -E '^[^ ]+ +error' '$TMP/netboot.log'"

if fetch undionly.kpxe "$TMP/u" && cmp -s "$TMP/u" "$UNDIONLY"; then
  pass "as nobody: busybox tftp fetches undionly.kpxe byte-identical"
else
  fail "as nobody: tftp: $(cat "$TMP/u.err" 2>/dev/null)"
fi
if fetch "$CLIENT_SCRIPT_NAME" "$TMP/script" && grep -q "^sanboot aoe:e4.2 " "$TMP/script"; then
  pass "as nobody: the per-client script runs sanboot aoe:e4.2"
else
  fail "as nobody: script: $(cat "$TMP/script" "$TMP/script.err" 2>/dev/null)"
fi
check "still the same capabilities after serving" [ "$(field CapEff)" == "$NETBOOT_CAPS" ]
rc=0
stop || rc=$?
check "SIGTERM ends aoe netboot --user cleanly (exit $rc)" [ "$rc" -eq 0 ]

# A restart as nobody, with `user` in the config file this time: the directory exists now
# (not created again), the lease is kept.
cat >"$TMP/netboot.toml" <<EOF
interface = "nbs0"
mode = "full"
range = "10.79.0.100-10.79.0.110"
boot = "e0.1"
lease_file = "$LEASES"
user = "nobody"
EOF
start "$TMP/netboot2.log" "running as user nobody" "$AOE_BIN" netboot --config "$TMP/netboot.toml"
dhcp "$TMP/pxe2.env"
check "after a restart as nobody the client keeps 10.79.0.100" got_lease "$TMP/pxe2.env"
check "and the lease file is still nobody's to write" \
  grep -q "^10.79.0.100 $CLIENT_MAC [0-9]*$" "$LEASES"
rc=0
stop || rc=$?
check "SIGTERM after the restart (exit $rc)" [ "$rc" -eq 0 ]

# ---------------------------------------------------------------------------
# aoe serve with user = "nobody" and a [netboot] section: one process.
# ---------------------------------------------------------------------------
truncate -s 16M "$TMP/disk.img"
chmod 600 "$TMP/disk.img"
SERVE_LEASES=$TMP/serve-leases/nb.leases
write_config() {  # BOOT_TARGET
  cat >"$TMP/serve.toml" <<EOF
interfaces = ["nbs0"]
state_dir = "$TMP/serve-state"
user = "nobody"
announce = false

[[export]]
target = "e0.1"
path = "$TMP/disk.img"

[netboot]
range = "10.79.0.100-10.79.0.110"
boot = "$1"
lease_file = "$SERVE_LEASES"
EOF
}
write_config e0.1
in_c ip addr flush dev nbc0
start "$TMP/serve.log" "running as user nobody" "$AOE_BIN" serve --config "$TMP/serve.toml"
log "aoe serve is up as pid $PID"
check_status "aoe serve [netboot]" 0000000000002000
check "the state directory and the lease directory belong to nobody" \
  [ "$(stat -c %u "$TMP/serve-state") $(stat -c %u "$TMP/serve-leases")" == "$NOBODY_UID $NOBODY_UID" ]
dhcp "$TMP/serve.env"
check "aoe serve as nobody: the PXE client gets a lease" got_lease "$TMP/serve.env"
check "aoe serve as nobody: the lease is written to the lease file" \
  grep -q "^10.79.0.100 $CLIENT_MAC [0-9]*$" "$SERVE_LEASES"
if fetch undionly.kpxe "$TMP/su" && cmp -s "$TMP/su" "$UNDIONLY"; then
  pass "aoe serve as nobody: undionly.kpxe over TFTP byte-identical"
else
  fail "aoe serve as nobody: tftp: $(cat "$TMP/su.err" 2>/dev/null)"
fi

# A changed [netboot] would need ports 67 and 69 again: not applied, the service keeps going.
write_config e0.2
kill -HUP "$PID"
for (( i = 0; i < 50; i++ )); do grep -q "SIGHUP: reloaded" "$TMP/serve.log" && break; sleep 0.1; done
check "a changed [netboot] under user is not applied, and the log says why" \
  grep -q "SIGHUP: \[netboot\] changed, but aoe serve runs as user nobody and cannot bind ports 67 and 69 again; the netboot service keeps its previous settings" "$TMP/serve.log"
dhcp "$TMP/serve2.env"
check "after that SIGHUP DHCP still answers" got_lease "$TMP/serve2.env"
if fetch "aoekit/02-00-00-4e-50-01.ipxe" "$TMP/sscript" && grep -q "^sanboot aoe:e0.1 " "$TMP/sscript"; then
  pass "and TFTP still serves the previous settings' script (sanboot aoe:e0.1)"
else
  fail "script after SIGHUP: $(cat "$TMP/sscript" "$TMP/sscript.err" 2>/dev/null)"
fi
rc=0
stop || rc=$?
check "SIGTERM ends aoe serve --user with [netboot] cleanly (exit $rc)" [ "$rc" -eq 0 ]
check "no error in the serve log" bash -c "! grep -E '^[^ ]+ +error' '$TMP/serve.log'"

[[ $FAILED -eq 0 ]] && echo "ALL PASSED" || echo "SOME CHECKS FAILED"
exit "$FAILED"
