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

readonly UNDIONLY=/usr/lib/ipxe/undionly.kpxe
readonly CLIENT_MAC=02:00:00:4e:50:01
readonly CLIENT_SCRIPT_NAME=aoekit/02-00-00-4e-50-01.ipxe

t_init
t_require_root "network namespaces, dropping to nobody"
t_require_cmds ip busybox timeout cmp awk stat
[[ -r $UNDIONLY ]] || t_skip "no $UNDIONLY (install the ipxe package)"
t_find_aoe "${1:-}"
id nobody >/dev/null 2>&1 || t_skip "no user 'nobody' on this machine"
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

NS_S=$(t_ns nbps)
NS_C=$(t_ns nbpc)
LOG=$T_TMP/none.log
# shellcheck disable=SC2016  # expanded at exit, on purpose
t_defer 'if [[ $rc -ne 0 || $T_FAILED -ne 0 ]]; then
    echo "---- last log ($LOG) ----"; tail -n 60 "$LOG" 2>/dev/null; fi'

netboot_veth_pair "$NS_S" "$NS_C" "$CLIENT_MAC" 10.79.0.1/24
in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

# start LOG READY_REGEX COMMAND...: runs COMMAND in the server namespace in the background
# (under `timeout`, so nothing outlives a killed test), waits for READY_REGEX in LOG, and sets
# PID to the aoe process itself (the child of `timeout`; `ip netns exec` execs it).
start() {
  local ready=$2
  LOG=$1
  shift 2
  t_bg "$LOG" ip netns exec "$NS_S" "$@"
  START_WRAPPER=$T_BG_PID
  t_wait_log "$LOG" "$ready" 1 10 "$START_WRAPPER" || { cat "$LOG"; t_die "not ready: $*"; }
  PID=$(t_child_of "$START_WRAPPER")
}
# stop: SIGTERM to the aoe process; returns its exit status.
stop() {
  local rc=0
  kill -TERM "$PID"
  wait "$START_WRAPPER" || rc=$?
  return "$rc"
}
# field NAME: the value of one /proc/$PID/status line, fields joined by single spaces.
field() { awk -v k="$1:" '$1 == k {$1 = ""; sub(/^ /, ""); print}' "/proc/$PID/status"; }
check_status() {  # WHAT EXPECTED_CAPS
  t_log "$1: Uid $(field Uid) / Gid $(field Gid) / CapEff $(field CapEff) / CapPrm $(field CapPrm)"
  t_check "$1 runs as nobody (real, effective, saved, fs uid)" \
    [ "$(field Uid)" == "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" ]
  t_check "$1 runs with nobody's group" \
    [ "$(field Gid)" == "$NOBODY_GID $NOBODY_GID $NOBODY_GID $NOBODY_GID" ]
  t_check "$1: CapEff is $2" [ "$(field CapEff)" == "$2" ]
  t_check "$1: CapPrm is $2" [ "$(field CapPrm)" == "$2" ]
  t_check "$1: no inheritable capabilities" [ "$(field CapInh)" == 0000000000000000 ]
  t_check "$1: no ambient capabilities" [ "$(field CapAmb)" == 0000000000000000 ]
  t_check "$1: no_new_privs is set" [ "$(field NoNewPrivs)" == 1 ]
}

cat >"$T_TMP/udhcpc.sh" <<'SCRIPT'
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
chmod +x "$T_TMP/udhcpc.sh"
# dhcp OUT: a BIOS PXE client (option 60 + 93) asks for a lease; the udhcpc script's output.
dhcp() {
  in_c ip addr flush dev nbc0
  in_c timeout 30 busybox udhcpc -i nbc0 -n -q -t 5 -T 1 -A 1 -s "$T_TMP/udhcpc.sh" \
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
    t_pass "$what: one-line error, exit 2"
  else
    t_fail "$what: exit $rc, output: $out"
  fi
}
full_args=(netboot -i nbs0 --range 10.79.0.100-10.79.0.110 --boot e0.1)
expect_usage_error "unknown user" "aoe netboot: --user aoekit-no-such-user: user 'aoekit-no-such-user' does not exist" \
  "${full_args[@]}" --lease-file "$T_TMP/x/x.leases" --user aoekit-no-such-user
t_check "nothing was created for the unknown user" [ ! -e "$T_TMP/x" ]
expect_usage_error "root as --user" "user root is root (uid 0)" \
  "${full_args[@]}" --lease-file "$T_TMP/x/x.leases" --user root
expect_usage_error "--user without a name" "--user needs a user name" \
  "${full_args[@]}" --user ""
# An existing shared directory (world-writable, sticky, like /tmp) is never chowned: nobody
# cannot replace root's lease file there, and says so.
printf 'interface = "nbs0"\nmode = "proxy"\nboot = "e0.1"\nuser = ""\n' >"$T_TMP/empty-user.toml"
expect_usage_error "user = \"\" in the config file" \
  "$T_TMP/empty-user.toml:4: user must name a user" netboot --config "$T_TMP/empty-user.toml"
mkdir -m 1777 "$T_TMP/shared"
expect_usage_error "lease file in a shared sticky directory" \
  "user nobody cannot replace the lease file $T_TMP/shared/nb.leases: Operation not permitted" \
  "${full_args[@]}" --lease-file "$T_TMP/shared/nb.leases" --user nobody
t_check "the shared directory is still root's, mode 1777" \
  [ "$(stat -c '%u %a' "$T_TMP/shared")" == "0 1777" ]
mkdir -m 755 "$T_TMP/rootdir"
expect_usage_error "lease file in a directory of root's" \
  "user nobody cannot replace the lease file $T_TMP/rootdir/nb.leases: Permission denied" \
  "${full_args[@]}" --lease-file "$T_TMP/rootdir/nb.leases" --user nobody
t_check "root's directory was not chowned" [ "$(stat -c %u "$T_TMP/rootdir")" == 0 ]
mkdir -m 700 "$T_TMP/tftp-private"
cp "$UNDIONLY" "$T_TMP/tftp-private/"
expect_usage_error "TFTP root nobody cannot search" \
  "user nobody cannot search the TFTP root $T_TMP/tftp-private: Permission denied" \
  netboot -i nbs0 --proxy --boot e0.1 --tftp-root "$T_TMP/tftp-private" --user nobody

# ---------------------------------------------------------------------------
# aoe netboot --user nobody, full mode.
# ---------------------------------------------------------------------------
LEASES=$T_TMP/state/leases/nb.leases  # $T_TMP/state exists, leases/ does not: aoekit creates it
mkdir -m 755 "$T_TMP/state"
start "$T_TMP/netboot.log" "running as user nobody" "$AOE_BIN" "${full_args[@]}" \
  --client "$CLIENT_MAC=e4.2" --lease-file "$LEASES" --user nobody
t_log "aoe netboot is up as pid $PID"
t_check "the log says what is kept" \
  grep -qE "running as user nobody \(uid $NOBODY_UID\), keeping (no capabilities|only cap_net_raw)" "$T_TMP/netboot.log"
check_status "aoe netboot" "$NETBOOT_CAPS"
t_check "the lease directory aoekit created belongs to nobody, mode 750" \
  [ "$(stat -c '%u %a' "$T_TMP/state/leases")" == "$NOBODY_UID 750" ]
t_check "the parent directory was left alone" [ "$(stat -c %u "$T_TMP/state")" == 0 ]

dhcp "$T_TMP/pxe.env"
if got_lease "$T_TMP/pxe.env"; then
  t_pass "as nobody: PXE client got 10.79.0.100 and boot file undionly.kpxe"
else
  t_fail "as nobody: DHCP: $(tr '\n' ' ' <"$T_TMP/pxe.env") $(tr '\n' ' ' <"$T_TMP/pxe.env.err")"
fi
t_check "as nobody: the lease is written to the lease file" \
  grep -q "^10.79.0.100 $CLIENT_MAC [0-9]*$" "$LEASES"
t_check "the lease file was written by nobody" [ "$(stat -c %u "$LEASES")" == "$NOBODY_UID" ]
t_check "no error in the log" bash -c "! grep -E '^[^ ]+ +error' '$T_TMP/netboot.log'"

if fetch undionly.kpxe "$T_TMP/u" && cmp -s "$T_TMP/u" "$UNDIONLY"; then
  t_pass "as nobody: busybox tftp fetches undionly.kpxe byte-identical"
else
  t_fail "as nobody: tftp: $(cat "$T_TMP/u.err" 2>/dev/null)"
fi
if fetch "$CLIENT_SCRIPT_NAME" "$T_TMP/script" && grep -q "^sanboot aoe:e4.2 " "$T_TMP/script"; then
  t_pass "as nobody: the per-client script runs sanboot aoe:e4.2"
else
  t_fail "as nobody: script: $(cat "$T_TMP/script" "$T_TMP/script.err" 2>/dev/null)"
fi
t_check "still the same capabilities after serving" [ "$(field CapEff)" == "$NETBOOT_CAPS" ]
rc=0
stop || rc=$?
t_check "SIGTERM ends aoe netboot --user cleanly (exit $rc)" [ "$rc" -eq 0 ]

# A restart as nobody, with `user` in the config file this time: the directory exists now
# (not created again), the lease is kept.
cat >"$T_TMP/netboot.toml" <<EOF
interface = "nbs0"
mode = "full"
range = "10.79.0.100-10.79.0.110"
boot = "e0.1"
lease_file = "$LEASES"
user = "nobody"
EOF
start "$T_TMP/netboot2.log" "running as user nobody" "$AOE_BIN" netboot --config "$T_TMP/netboot.toml"
dhcp "$T_TMP/pxe2.env"
t_check "after a restart as nobody the client keeps 10.79.0.100" got_lease "$T_TMP/pxe2.env"
t_check "and the lease file is still nobody's to write" \
  grep -q "^10.79.0.100 $CLIENT_MAC [0-9]*$" "$LEASES"
rc=0
stop || rc=$?
t_check "SIGTERM after the restart (exit $rc)" [ "$rc" -eq 0 ]

# ---------------------------------------------------------------------------
# aoe serve with user = "nobody" and a [netboot] section: one process.
# ---------------------------------------------------------------------------
truncate -s 16M "$T_TMP/disk.img"
chmod 600 "$T_TMP/disk.img"
SERVE_LEASES=$T_TMP/serve-leases/nb.leases
write_config() {  # BOOT_TARGET
  cat >"$T_TMP/serve.toml" <<EOF
interfaces = ["nbs0"]
state_dir = "$T_TMP/serve-state"
user = "nobody"
announce = false

[[export]]
target = "e0.1"
path = "$T_TMP/disk.img"

[netboot]
range = "10.79.0.100-10.79.0.110"
boot = "$1"
lease_file = "$SERVE_LEASES"
EOF
}
write_config e0.1
in_c ip addr flush dev nbc0
start "$T_TMP/serve.log" "running as user nobody" "$AOE_BIN" serve --config "$T_TMP/serve.toml"
t_log "aoe serve is up as pid $PID"
check_status "aoe serve [netboot]" 0000000000002000
t_check "the state directory and the lease directory belong to nobody" \
  [ "$(stat -c %u "$T_TMP/serve-state") $(stat -c %u "$T_TMP/serve-leases")" == "$NOBODY_UID $NOBODY_UID" ]
dhcp "$T_TMP/serve.env"
t_check "aoe serve as nobody: the PXE client gets a lease" got_lease "$T_TMP/serve.env"
t_check "aoe serve as nobody: the lease is written to the lease file" \
  grep -q "^10.79.0.100 $CLIENT_MAC [0-9]*$" "$SERVE_LEASES"
if fetch undionly.kpxe "$T_TMP/su" && cmp -s "$T_TMP/su" "$UNDIONLY"; then
  t_pass "aoe serve as nobody: undionly.kpxe over TFTP byte-identical"
else
  t_fail "aoe serve as nobody: tftp: $(cat "$T_TMP/su.err" 2>/dev/null)"
fi

# A changed [netboot] would need ports 67 and 69 again: not applied, the service keeps going.
write_config e0.2
kill -HUP "$PID"
for (( i = 0; i < 50; i++ )); do grep -q "SIGHUP: reloaded" "$T_TMP/serve.log" && break; sleep 0.1; done
t_check "a changed [netboot] under user is not applied, and the log says why" \
  grep -q "SIGHUP: \[netboot\] changed, but aoe serve runs as user nobody and cannot bind ports 67 and 69 again; the netboot service keeps its previous settings" "$T_TMP/serve.log"
dhcp "$T_TMP/serve2.env"
t_check "after that SIGHUP DHCP still answers" got_lease "$T_TMP/serve2.env"
if fetch "aoekit/02-00-00-4e-50-01.ipxe" "$T_TMP/sscript" && grep -q "^sanboot aoe:e0.1 " "$T_TMP/sscript"; then
  t_pass "and TFTP still serves the previous settings' script (sanboot aoe:e0.1)"
else
  t_fail "script after SIGHUP: $(cat "$T_TMP/sscript" "$T_TMP/sscript.err" 2>/dev/null)"
fi
rc=0
stop || rc=$?
t_check "SIGTERM ends aoe serve --user with [netboot] cleanly (exit $rc)" [ "$rc" -eq 0 ]
t_check "no error in the serve log" bash -c "! grep -E '^[^ ]+ +error' '$T_TMP/serve.log'"

t_finish
