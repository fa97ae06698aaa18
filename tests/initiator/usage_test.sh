#!/bin/sh
# Usage test of the initiator subcommands of `aoe` (scan, ping, cp, bench, config, mask,
# reserve, release): --help exits 0 and shows examples; every bad invocation exits 2 with
# exactly one line on stderr and nothing on stdout, before any socket is opened (so this needs
# no root and sends nothing). Mirrors src/cli/cli_usage_test.sh.
#
# Usage: usage_test.sh PATH_TO_AOE
set -u

aoe=${1:?usage: $0 PATH_TO_AOE}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

expect_help() {
  cmd=$1
  shift
  "$aoe" "$cmd" --help >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 0 ] || fail "aoe $cmd --help: exit $rc"
  [ -s "$tmp/err" ] && fail "aoe $cmd --help: stderr $(cat "$tmp/err")"
  for word in "Usage: aoe $cmd" Example "$@"; do
    grep -q -F -e "$word" "$tmp/out" || fail "aoe $cmd --help does not mention '$word'"
  done
}

# expect_usage_error NAME PATTERN ARGS... A usage error is immediate: a command still running
# after 20 s (exit 124) has hung, e.g. opening a FIFO.
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

expect_help scan -i --timeout --json
expect_help ping -i -c --interval --timeout
expect_help cp -i --verify --depth --no-progress --timeout --skip-sectors --seek-sectors \
  --count-sectors --sparse-upload --json
expect_help bench -i --rw --bs --depth --seconds --offset --length --yes-destroy-data --json
expect_help config -i --set --force --test --test-prefix
expect_help mask -i --add --del
expect_help reserve -i --force --list
expect_help release -i --force
"$aoe" --help >"$tmp/out"
for cmd in scan ping cp bench config mask reserve release; do
  grep -q "^  $cmd " "$tmp/out" || fail "aoe --help does not list $cmd"
done

# scan
expect_usage_error "scan without -i" "^aoe scan: no interface given; add -i IFACE" scan
expect_usage_error "scan bad timeout" "^aoe scan: --timeout 'soon' is not a number of seconds" \
  scan -i vc0 --timeout soon
expect_usage_error "scan zero timeout" "--timeout '0'" scan -i vc0 --timeout 0
expect_usage_error "scan unknown option" "^aoe scan: unknown option '--all'" scan --all
expect_usage_error "scan stray argument" "unexpected argument 'e0.1'" scan -i vc0 e0.1
expect_usage_error "scan -i without value" "^aoe scan: .*interface" scan -i

# ping
expect_usage_error "ping without disk" "^aoe ping: no disk given" ping -i vc0
expect_usage_error "ping without -i" "^aoe ping: no interface given" ping e0.1
expect_usage_error "ping bad disk" "'disk1' is not a target name" ping -i vc0 disk1
expect_usage_error "ping broadcast shelf" "shelf 65535 .* broadcast" ping -i vc0 e65535.1
expect_usage_error "ping broadcast slot" "slot 255 .* broadcast" ping -i vc0 e0.255
expect_usage_error "ping slot out of range" "slot 300 .* out of range" ping -i vc0 e0.300
expect_usage_error "ping -c 0" "^aoe ping: -c '0' is not a number of rounds" ping -i vc0 -c 0 e0.1
expect_usage_error "ping bad interval" "--interval '-1'" ping -i vc0 --interval -1 e0.1
expect_usage_error "ping two disks" "unexpected argument 'e0.2'" ping -i vc0 e0.1 e0.2

# cp
expect_usage_error "cp one argument" "^aoe cp: expected SRC and DST, got 1" cp -i vc0 e0.1
expect_usage_error "cp three arguments" "expected SRC and DST, got 3" cp -i vc0 e0.1 a b
expect_usage_error "cp two files" "neither 'a.img' nor 'b.img' is an AoE disk" cp -i vc0 a.img b.img
expect_usage_error "cp two disks" "both SRC and DST are AoE disks" cp -i vc0 e0.1 e0.2
expect_usage_error "cp to stdout" "^aoe cp: '-' (standard output) is not supported" cp -i vc0 e0.1 -
expect_usage_error "cp from stdin" "^aoe cp: '-' (standard input) is not supported" cp -i vc0 - e0.1
# A FIFO no process has open would make the open wait for ever (and a pipe takes no offsets).
mkfifo "$tmp/fifo"
expect_usage_error "cp to a FIFO" "fifo is a FIFO (a named pipe), which cannot take cp.s writes at offsets" \
    cp -i vc0 e0.1 "$tmp/fifo"
expect_usage_error "cp from a FIFO" "fifo is a FIFO (a named pipe), which cannot take cp.s reads at offsets" \
    cp -i vc0 "$tmp/fifo" e0.1
expect_usage_error "cp without -i" "^aoe cp: no interface given" cp e0.1 disk.img
expect_usage_error "cp --sparse-upload on a download" "sparse-upload is for uploads" \
    cp -i vc0 --sparse-upload e0.1 disk.img
expect_usage_error "cp broadcast disk" "broadcast" cp -i vc0 e0.255 disk.img
expect_usage_error "cp depth 0" "--depth '0' is not a number from 1 to 1024" cp -i vc0 --depth 0 e0.1 x
expect_usage_error "cp depth huge" "--depth '5000'" cp -i vc0 --depth 5000 e0.1 x
expect_usage_error "cp bad timeout" "--timeout 'x'" cp -i vc0 --timeout x e0.1 disk.img
expect_usage_error "cp bad skip" "--skip-sectors '1k' is not a number of sectors" \
  cp -i vc0 --skip-sectors 1k e0.1 disk.img
expect_usage_error "cp count 0" "--count-sectors 0 copies nothing" \
  cp -i vc0 --count-sectors 0 e0.1 disk.img
expect_usage_error "cp unknown option" "unknown option '--sparse'" cp -i vc0 --sparse e0.1 x

# bench
expect_usage_error "bench write without consent" \
  "^aoe bench: --rw write overwrites data on e0.1; add --yes-destroy-data" bench -i vc0 --rw write e0.1
expect_usage_error "bench randwrite without consent" "--yes-destroy-data" \
  bench -i vc0 --rw randwrite e0.1
expect_usage_error "bench consent without write" "--yes-destroy-data goes with --rw write" \
  bench -i vc0 --yes-destroy-data e0.1
expect_usage_error "bench bad mode" "--rw 'readwrite' is not one of" bench -i vc0 --rw readwrite e0.1
expect_usage_error "bench unaligned bs" "--bs 1000 must be a multiple of 512" bench -i vc0 --bs 1000 e0.1
expect_usage_error "bench bad bs" "--bs '4q' is not a size" bench -i vc0 --bs 4q e0.1
expect_usage_error "bench depth" "--depth 'lots'" bench -i vc0 --depth lots e0.1
expect_usage_error "bench seconds" "--seconds '0'" bench -i vc0 --seconds 0 e0.1
expect_usage_error "bench unaligned offset" \
  "^aoe bench: --offset 513 must be a multiple of 512 bytes; e.g. --offset 512$" \
  bench -i vc0 --offset 513 e0.1
expect_usage_error "bench unaligned length" \
  "^aoe bench: --length 1000 must be a multiple of 512 bytes; e.g. --length 512$" \
  bench -i vc0 --offset 512 --length 1000 e0.1
expect_usage_error "bench zero length" "^aoe bench: --length 0 selects nothing; give at least 512" \
  bench -i vc0 --length 0 e0.1
expect_usage_error "bench without disk" "^aoe bench: no disk given" bench -i vc0
expect_usage_error "bench without -i" "^aoe bench: no interface given" bench e0.1

# config
expect_usage_error "config two actions" "exclude each other" config -i vc0 e0.1 --set a --force b
expect_usage_error "config without disk" "^aoe config: no disk given" config -i vc0
expect_usage_error "config without -i" "^aoe config: no interface given" config e0.1
expect_usage_error "config too long" "AoE allows at most 1024" \
  config -i vc0 e0.1 --force "$(head -c 1025 /dev/zero | tr '\0' x)"
expect_usage_error "config bad timeout" "--timeout 'x'" config -i vc0 e0.1 --timeout x

# mask
expect_usage_error "mask bad MAC" "^aoe mask: --add '02:00' is not a MAC address" \
  mask -i vc0 e0.1 --add 02:00
expect_usage_error "mask broadcast MAC" "not a host's MAC address" \
  mask -i vc0 e0.1 --del ff:ff:ff:ff:ff:ff
expect_usage_error "mask without -i" "^aoe mask: no interface given" mask e0.1

# reserve / release
expect_usage_error "reserve bad MAC" "^aoe reserve: MAC 'host1' is not a MAC address" \
  reserve -i vc0 e0.1 host1
expect_usage_error "reserve --list with MACs" "--list only reads the list" \
  reserve -i vc0 e0.1 --list 02:00:00:00:00:01
expect_usage_error "reserve without disk" "^aoe reserve: no disk given" reserve -i vc0
expect_usage_error "release without -i" "^aoe release: no interface given" release e0.1
expect_usage_error "release extra argument" "unexpected argument '02:00:00:00:00:01'" \
  release -i vc0 e0.1 02:00:00:00:00:01

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
