#!/bin/sh
# Usage test of the `aoe` binary: help and version exit 0 and document every option; bad
# invocations exit 2 with exactly one line on stderr and nothing on stdout.
#
# Only argument parsing runs: every bad invocation fails before a socket or an image is opened,
# so this needs no root and no network. (The last checks talk to a one-shot server on a Unix
# socket in a temporary directory: what a malformed answer does.)
#
# Usage: cli_usage_test.sh PATH_TO_AOE
set -u

aoe=${1:?usage: $0 PATH_TO_AOE}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect_ok NAME ARGS... : exit 0, output kept in $tmp/out for further checks.
expect_ok() {
  name=$1
  shift
  "$aoe" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 0 ] || fail "$name: exit $rc, want 0; stderr: $(cat "$tmp/err")"
}

# expect_mentions NAME WORD... : every WORD appears in $tmp/out.
expect_mentions() {
  name=$1
  shift
  for word in "$@"; do
    grep -q -F -e "$word" "$tmp/out" || fail "$name: output does not mention '$word'"
  done
}

# expect_usage_error NAME PATTERN ARGS... : exit 2, stdout empty, exactly one stderr line,
# and that line matches the grep pattern. A usage error is immediate: a command still running
# after 20 s (exit 124) has hung, e.g. on a FIFO.
expect_usage_error() {
  name=$1
  pattern=$2
  shift 2
  failures_before=$failures
  timeout 20 "$aoe" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  lines=$(wc -l <"$tmp/err")
  [ "$rc" -eq 2 ] || fail "$name: exit $rc, want 2"
  [ "$lines" -eq 1 ] || fail "$name: $lines lines on stderr, want 1: $(cat "$tmp/err")"
  [ -s "$tmp/out" ] && fail "$name: unexpected stdout: $(cat "$tmp/out")"
  grep -q -e "$pattern" "$tmp/err" || fail "$name: stderr '$(cat "$tmp/err")' lacks '$pattern'"
  [ "$failures" -eq "$failures_before" ] && echo "ok: $name: $(cat "$tmp/err")"
  return 0
}

expect_ok "aoe --help" --help
expect_mentions "aoe --help" serve --help --version
expect_ok "aoe -h" -h
expect_ok "aoe --version" --version
expect_mentions "aoe --version" "aoe (aoekit) "
expect_ok "aoe help serve" help serve
expect_mentions "aoe help serve" "Usage: aoe serve"
expect_usage_error "version with an argument" "--version takes no argument" --version serve

expect_ok "aoe serve --help" serve --help
expect_mentions "aoe serve --help" "Usage: aoe serve" -i --interface --config --sync --direct \
  --state-dir --log-level --bufcnt --no-announce EXPORT ro offset= length= mask= iface= \
  rbd:POOL/IMAGE ceph_conf= ceph_id= keyring= \
  Example
expect_ok "aoe serve -h after other arguments" serve -i vt0 e0.0 -h

cat >"$tmp/netboot.toml" <<'TOML'
interfaces = ["vt0"]
[netboot]
TOML
cat >"$tmp/typo.toml" <<'TOML'
interfaces = ["vt0"]
[[export]]
target = "e0.1"
pth = "/srv/disk.img"
TOML

expect_usage_error "no command" "aoe --help"
expect_usage_error "unknown command" "unknown command 'sevre'" sevre
expect_usage_error "unknown top-level option" "unknown option '--frob'" --frob
expect_usage_error "unknown option" "^aoe serve: unknown option '--frob'" \
  serve -i vt0 --frob e0.1=/srv/disk.img
expect_usage_error "bad export spec" \
  "^aoe serve: bad export 'e0.0'; expected eSHELF.SLOT=PATH, e.g. e0.1=/srv/disk.img$" \
  serve -i vt0 e0.0
expect_usage_error "bad export key" "unknown option 'rw'" serve -i vt0 e0.1=/srv/disk.img,rw
expect_usage_error "bad MAC" "'02:00:00:00:00' is not a MAC address" \
  serve -i vt0 e0.1=/srv/disk.img,mask=02:00:00:00:00
expect_usage_error "broadcast shelf" "shelf 65535 is the broadcast address" \
  serve -i vt0 e65535.0=/srv/disk.img
expect_usage_error "duplicate export" "e0.1 is listed twice" \
  serve -i vt0 e0.1=/srv/a.img e0.1=/srv/b.img
expect_usage_error "--bufcnt 1" "--bufcnt must be at least 2" \
  serve -i vt0 --bufcnt 1 e0.1=/srv/disk.img
expect_usage_error "--bufcnt not a number" "--bufcnt 'many'" \
  serve -i vt0 --bufcnt many e0.1=/srv/disk.img
expect_usage_error "--log-level unknown" "--log-level 'loud'" \
  serve -i vt0 --log-level loud e0.1=/srv/disk.img
expect_usage_error "missing -i" "no interface given; add -i IFACE" serve e0.1=/srv/disk.img
expect_usage_error "option without value" "--bufcnt" serve -i vt0 e0.1=/srv/disk.img --bufcnt
expect_usage_error "export iface not served" "not among the served interfaces" \
  serve -i vt0 e0.1=/srv/disk.img,iface=eth1
expect_usage_error "unreadable config file" "cannot read config file $tmp/missing.toml" \
  serve --config "$tmp/missing.toml"
expect_usage_error "config file is a directory" "cannot read config file" serve --config "$tmp"
# A FIFO nobody writes used to block the open for ever: now an error after 5 s. A device such as
# /dev/zero never ends. A pipe with a writer (/dev/stdin, bash's <(...)) is read.
mkfifo "$tmp/fifo.toml"
for command in serve netboot; do
  expect_usage_error "$command config file is a FIFO nobody writes" \
    "cannot read config file $tmp/fifo.toml: a pipe or FIFO from which nothing came" \
    $command --config "$tmp/fifo.toml"
  expect_usage_error "$command config file is a device" \
    "cannot read config file /dev/zero: not a regular file" $command --config /dev/zero
done
printf 'interfaces = ["vt0"]\npth = 1\n' | timeout 20 "$aoe" serve --config /dev/stdin >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "^aoe serve: /dev/stdin:2: unknown key 'pth'" "$tmp/err"; then
  echo "ok: serve config from a pipe is read: $(cat "$tmp/err")"
else
  fail "serve config from a pipe: exit $rc, want 2 and the file's line 2: $(cat "$tmp/err")"
fi
expect_usage_error "config mixed with -i" "--interface cannot be combined with --config" \
  serve --config "$tmp/typo.toml" -i vt0
expect_usage_error "config key typo" "typo.toml:4: unknown key 'pth'" \
  serve --config "$tmp/typo.toml"
expect_usage_error "config [netboot] without a target" "netboot.toml:2: \[netboot\] boots nothing" \
  serve --config "$tmp/netboot.toml"

# One interface twice: two ports on one link.
expect_usage_error "scan with an interface twice" "-i vc0 is given twice" scan -i vc0 -i vc0
expect_usage_error "ping with an interface twice" "-i vc0 is given twice" ping -i vc0 -i vc1 -i vc0 e0.1
expect_usage_error "netboot with an alias-style interface name" "interface 'v1:v0' has a ':'" \
    netboot -i v1:v0 --proxy --boot e0.1
expect_usage_error "scan with an empty interface name" "-i '' is empty; name an interface" scan -i ''
expect_usage_error "cp with an alias-style interface name" "-i 'v1:v0' has a ':'" \
    cp -i v1:v0 e0.1 /tmp/x.img
expect_usage_error "serve with an interface name with a slash" "interface 'a/b': it has a '/'" \
    serve -i a/b e0.1=/tmp/x.img
# "--" ends the options: what follows is a file even if it starts with '-'. The copy then fails
# on the interface (exit 1), not on the arguments.
(cd "$tmp" && "$aoe" cp -i nosuch0 e0.1 -- -x.img >"$tmp/out" 2>"$tmp/err")
rc=$?
if [ "$rc" -eq 1 ] && ! grep -q "unknown option" "$tmp/err" && [ ! -e "$tmp/-x.img" ]; then
  echo "ok: cp with -- before a file named -x.img: $(cat "$tmp/err")"
else
  fail "cp with -- before a file named -x.img: exit $rc: $(cat "$tmp/err")"
fi
expect_usage_error "bench with a --length below one --bs" "--length 524288 is less than one --bs 1048576" \
    bench -i vc0 e0.1 --bs 1M --length 512K
expect_usage_error "an option given twice says so" "--timeout is given 2 times; give it once" \
    scan -i vc0 --timeout 1 --timeout 2

# aoe netboot: values checked before an interface is opened.
for lease in -5 0 59 abc 99999999999; do
  expect_usage_error "netboot --lease-time $lease" "--lease-time '$lease' is not a number of seconds from 60" \
    netboot -i vt0 --range 10.77.0.100-10.77.0.200 --boot e0.1 --lease-time "$lease"
done
expect_usage_error "netboot --client twice" "--client 52:54:00:12:34:56 is given twice" \
  netboot -i vt0 --proxy --client 52:54:00:12:34:56=e0.1 --client 52:54:00:12:34:56=e0.2
# An explicit proxy mode never becomes a full DHCP server because a range is given too.
printf 'interface = "vt0"\nmode = "proxy"\nboot = "e0.1"\n' >"$tmp/proxy.toml"
printf 'interface = "vt0"\nmode = "proxy"\nboot = "e0.1"\nrange = "10.77.0.100-10.77.0.200"\n' \
  >"$tmp/proxy-range.toml"
printf 'interface = "vt0"\nmode = "full"\nboot = "e0.1"\n' >"$tmp/full.toml"
printf 'interface = "vt0"\nboot = "e0.1"\n' >"$tmp/nomode.toml"
expect_usage_error "netboot mode = proxy and range = in one file" \
  "proxy-range.toml:4: range is for full DHCP mode, but line 2 says mode = \"proxy\"" \
  netboot --config "$tmp/proxy-range.toml"
expect_usage_error "netboot mode = proxy in the file, --range given" \
  "proxy mode (--proxy, mode = \"proxy\") takes no range, netmask, router, lease time or lease file" \
  netboot --config "$tmp/proxy.toml" --range 10.77.0.100-10.77.0.200
# Proxy mode keeps no leases: a lease file or time given with it would be silently ignored.
expect_usage_error "netboot --proxy with --lease-file" \
  "proxy mode (--proxy, mode = \"proxy\") takes no range, netmask, router, lease time or lease file" \
  netboot -i vt0 --proxy --boot e0.1 --lease-file "$tmp/leases"
expect_usage_error "netboot without a range, with --lease-time" \
  "lease time and lease file are for full DHCP mode, which needs a range too" \
  netboot --config "$tmp/nomode.toml" --lease-time 600
expect_usage_error "netboot mode = full without range" \
  "mode = \"full\" needs an address range; add one, e.g. range = " netboot --config "$tmp/full.toml"
# Addresses that are not one client's, checked before an interface is opened when the netmask
# is given (else against the interface's, at start: netboot_netns_test).
expect_usage_error "netboot range with the network address" \
  "range 10.77.0.0-10.77.0.200 includes 10.77.0.0, the network address" \
  netboot -i vt0 --range 10.77.0.0-10.77.0.200 --netmask 255.255.255.0 --boot e0.1
expect_usage_error "netboot range with the broadcast address" "the broadcast address of 10.77.0.0/" \
  netboot -i vt0 --range 10.77.0.100-10.77.0.255 --netmask 255.255.255.0 --boot e0.1
expect_usage_error "netboot range across subnets" "spans more than one subnet" \
  netboot -i vt0 --range 10.77.0.100-10.77.1.20 --netmask 255.255.255.0 --boot e0.1
expect_usage_error "netboot netmask with a hole" "netmask 255.0.255.0 is not a subnet mask" \
  netboot -i vt0 --range 10.77.0.100-10.77.0.200 --netmask 255.0.255.0 --boot e0.1
expect_usage_error "netboot router outside the subnet" "router 10.78.0.1 is not a host" \
  netboot -i vt0 --range 10.77.0.100-10.77.0.200 --netmask 255.255.255.0 --router 10.78.0.1 \
  --boot e0.1
for mac in ff:ff:ff:ff:ff:ff 01:00:5e:00:00:01 00:00:00:00:00:00; do
  expect_usage_error "netboot --client $mac" "--client '$mac=e0.1': $mac is .*; give the client's own MAC" \
    netboot -i vt0 --proxy --client "$mac=e0.1"
done

# The control socket's clients and overlay exports.
expect_ok "aoe ctl --help" ctl --help
expect_mentions "aoe ctl --help" exports clients add remove reload boot send --socket --json
expect_ok "aoe overlay --help" overlay --help
expect_mentions "aoe overlay --help" list show reset commit rollback check --socket
expect_usage_error "ctl without a command" "aoe ctl: no command given" ctl
expect_usage_error "ctl unknown command" "unknown command 'list'" ctl list
expect_usage_error "ctl unknown option" "unknown option '--verbose'" ctl --verbose exports
expect_usage_error "ctl add without a spec" "add takes one SPEC" ctl add
expect_usage_error "ctl send bad JSON" "send needs valid JSON" ctl send '{nope'
expect_usage_error "ctl bad timeout" "--timeout '0' is not a number of seconds" ctl --timeout 0 exports
expect_usage_error "overlay commit without a MAC" "commit takes EXPORT MAC" overlay commit e0.1
expect_usage_error "overlay check without a directory" "check takes the overlay directory" overlay check
expect_usage_error "overlay check of an empty path" "check takes the overlay directory" overlay check ''
expect_usage_error "overlay check of a directory that never held overlays" \
    "$tmp is not an overlay directory (no lock or versions.json)" overlay check "$tmp"
# A path that is no directory at all is as wrong an argument (it was exit 1, "cannot read").
expect_usage_error "overlay check of a path that does not exist" \
    "$tmp/none does not exist; give an export's overlay=DIR" overlay check "$tmp/none"
: >"$tmp/a-file"
expect_usage_error "overlay check of a file" \
    "$tmp/a-file is not a directory; give an export's overlay=DIR" overlay check "$tmp/a-file"
expect_usage_error "overlay check of a path under a file" \
    "$tmp/a-file/x does not exist; give an export's overlay=DIR" overlay check "$tmp/a-file/x"
# One this user cannot read is not called "not an overlay directory": the check says why.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  chmod 711 "$tmp"  # nobody may pass through to it, not read it
  mkdir -m 700 "$tmp/private-overlays"
  setpriv --reuid=65534 --regid=65534 --clear-groups "$aoe" overlay check "$tmp/private-overlays" \
    >"$tmp/out" 2>&1
  rc=$?
  if [ "$rc" -eq 1 ] && grep -q "versions.json cannot be read: Permission denied" "$tmp/out"; then
    echo "ok: overlay check of an unreadable directory: exit 1, says why"
  else
    fail "overlay check of an unreadable directory: exit $rc: $(cat "$tmp/out")"
  fi
fi
# Export names and MACs are checked before anything is sent (no socket exists here).
expect_usage_error "ctl remove bad export" "bad EXPORT: " ctl -S "$tmp/none" remove x.y
expect_usage_error "ctl clients broadcast export" "broadcast address" ctl -S "$tmp/none" clients e0.255
expect_usage_error "ctl reload bad export" "bad EXPORT: " ctl -S "$tmp/none" reload e1
expect_usage_error "ctl boot bad MAC" "'zz' is not a MAC address" ctl -S "$tmp/none" boot zz
expect_usage_error "overlay list bad export" "bad EXPORT: " overlay -S "$tmp/none" list e1.256
expect_usage_error "overlay list with one operand too many" \
  "list takes an EXPORT, e.g. e0.1; 'extra' is one too many" overlay -S "$tmp/none" list e0.1 extra
expect_usage_error "overlay reset bad MAC" "'zz' is not a MAC address" overlay -S "$tmp/none" reset e0.1 zz
expect_usage_error "overlay commit bad export" "bad EXPORT: " \
  overlay -S "$tmp/none" commit x.y 02:00:00:00:00:01
expect_usage_error "overlay rollback bad export" "bad EXPORT: " overlay -S "$tmp/none" rollback e
expect_usage_error "overlay with a bad lifetime" "lifetime 'forever' is not one of persist, discard-on-boot" \
  serve -i vt0 e0.1=/a,overlay=/o,lifetime=forever
expect_usage_error "lifetime without overlay" "lifetime applies to overlays only" \
  serve -i vt0 e0.1=/a,lifetime=persist
# "--" ends the options, in every command: what follows is an operand (an export, a word).
expect_usage_error "serve: an export after --" "lifetime applies to overlays only" \
  serve -i vt0 -- e0.1=/a,lifetime=persist
expect_usage_error "serve: an option after -- is an export" "bad export '--frob'" serve -i vt0 -- --frob
expect_usage_error "netboot: no operands, not even after --" "unexpected argument '--boot'" \
  netboot -i vt0 -- --boot e0.1
expect_usage_error "ctl: words after --" "unknown command '--frob'" ctl -S "$tmp/none" -- --frob
expect_usage_error "overlay with ro" "an overlay export takes writes into its overlays" \
  serve -i vt0 e0.1=/a,ro,overlay=/o
expect_usage_error "an image in its own overlay directory" \
  "export e0.1: the image /o/v2.img is in its own overlay directory /o" \
  serve -i vt0 e0.1=/o/v2.img,overlay=/o
expect_usage_error "control socket without a path" "--control-socket needs a path" \
  serve -i vt0 --control-socket "" e0.1=/a
"$aoe" ctl -S "$tmp/no.sock" exports >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "no aoe serve listens on $tmp/no.sock" "$tmp/err" ||
  fail "ctl without a server: exit $rc, $(cat "$tmp/err")"

# aoe mount / umount: argument checks come before any interface, mount point or daemon.
expect_ok "aoe mount --help" mount --help
expect_mentions "aoe mount --help" "Usage: aoe mount" --dead-timeout --timeout --foreground Example
expect_usage_error "mount --dead-timeout not a number" "--dead-timeout 'soon' is not a number" \
  mount -i vt0 e0.1 "$tmp" --dead-timeout soon
expect_usage_error "mount --dead-timeout negative" "--dead-timeout '-5' is not a number" \
  mount -i vt0 e0.1 "$tmp" --dead-timeout -5
expect_usage_error "mount --dead-timeout too long" "from 0.001 to 86400, or 0" \
  mount -i vt0 e0.1 "$tmp" --dead-timeout 100000
expect_usage_error "mount --dead-timeout without value" "dead-timeout" \
  mount -i vt0 e0.1 "$tmp" --dead-timeout
expect_usage_error "umount --timeout not a number" "--timeout 'later'" umount "$tmp" --timeout later

# A control socket path that names a regular file.
: >"$tmp/plain"
"$aoe" ctl -S "$tmp/plain" exports >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "is not a socket" "$tmp/err"; then
  echo "ok: ctl -S on a regular file: $(cat "$tmp/err")"
else
  fail "ctl -S on a regular file: exit $rc: $(cat "$tmp/err")"
fi

# An answer that is not what aoe serve sends (another program on the socket, another version):
# one line and exit 1, never an uncaught exception. A one-shot server on a Unix socket in $tmp
# answers the first request with REPLY.
answer_once() {
  python3 -c '
import os, socket, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen(1)
server.settimeout(10)
connection, _ = server.accept()
connection.recv(65536)
connection.sendall(sys.argv[2].encode() + b"\n")
connection.close()
' "$tmp/sock" "$1" &
  answer_pid=$!
  i=0
  while [ ! -S "$tmp/sock" ] && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
}
for reply in '{"ok":true}' '{"ok":false,"error":"text"}' '{"ok":"yes","result":{}}' \
  '{"ok":true,"result":42}' '{"ok":true,"result":{}}' '{"ok":true,"result":{"exports":[{}]}}'; do
  rm -f "$tmp/sock"
  answer_once "$reply"
  "$aoe" ctl -S "$tmp/sock" --timeout 5 exports >"$tmp/out" 2>"$tmp/err"
  rc=$?
  wait "$answer_pid"
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 1 ] || [ "$lines" -ne 1 ] ||
    ! grep -q -e 'malformed response\|unexpected answer' "$tmp/err"; then
    fail "answer $reply: exit $rc, $lines stderr line(s): $(cat "$tmp/err")"
  else
    echo "ok: answer $reply: $(cat "$tmp/err")"
  fi
done

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
