#!/bin/bash
#
# tools_test.sh AOE AOE_LOAD AOE_BLAST AOE_PATTERN
#
# Functional test of the benchmark tools (never of timing), against `aoe serve` in a network
# namespace over a veth pair:
#   - aoe_load finds the disk and reads back a known pattern, sequentially and at random,
#     with no errors, at MTU 9000 and 1500; reading with the wrong seed is caught (the check
#     can fail);
#   - aoe_load's writes land in the image: every sector of the file holds the written pattern
#     afterwards (checked by aoe_pattern and, independently, with od), and FLUSH was answered;
#     --flush-first sends (and reports) one FLUSH before the writes;
#   - under 5 % frame loss (nftables on the target's ingress) aoe_load retransmits, counts it,
#     and still reads every sector correctly;
#   - aoe_blast's counter counts exactly the frames its sender sent;
#   - bad arguments get one line and exit 2 (checked first, without root);
#   - bench/durability parses a guest serial log (canned lines among kernel noise) into the
#     right rates and ratios (--report-only; no root, nothing started);
#   - bench/overlay_cells.sh runs end to end (three cells, one short round) and writes its JSON.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, or a tool is missing).
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

AOE=${1:?usage: $0 AOE AOE_LOAD AOE_BLAST AOE_PATTERN}
LOAD=${2:?} BLAST=${3:?} PATTERN=${4:?}
# Bad input: one line naming the problem, exit 2, nothing sent (these need no root).
usage_error() {  # usage_error PATTERN CMD...
    local pattern=$1 out rc
    shift
    out=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [[ $rc -eq 2 && $(wc -l <<<"$out") -eq 1 && $out == *"$pattern"* ]]; then
        printf 'PASS: usage error: %s\n' "$out"
    else
        printf 'FAIL: %s: exit %s, output: %s\n' "$*" "$rc" "$out"
        USAGE_FAILED=1
    fi
}
USAGE_FAILED=0
usage_error "'e0.x' is not a disk name" "$LOAD" -i vc e0.x
usage_error "--window" "$LOAD" -i vc e0.1 --window 0
usage_error "--bytes '12q' is not a size" "$LOAD" -i vc e0.1 --bytes 12q
usage_error "--rw" "$LOAD" -i vc e0.1 --rw readwrite
usage_error "--dst 'nope' is not a MAC address" "$BLAST" send -i vc --dst nope
usage_error "--mib" "$PATTERN" write /nonexistent/x --seed 1
[[ $USAGE_FAILED -eq 0 ]] || exit 1

# bench/durability's parsing: 2 rounds of 64 MiB in 0.5 s / 1 s (134.2 / 67.1 MB/s), so cache's
# median is 100.66 and auto's 50.33 (ratio 0.5); FAIL lines make the report fail.
durability_report_ok() {
    local dir
    dir=$(mktemp -d)
    printf '%s\r\n' "[    1.0] aoe: e0.0: setting 8704 byte data frames" "DURBENCH READY payload=8704" \
        "DURBENCH SEQ round=1 dev=e0.0 bytes=67108864 t0=1000000000 t1=1500000000" \
        "DURBENCH SEQ round=2 dev=e0.0 bytes=67108864 t0=2000000000 t1=3000000000" \
        "DURBENCH SEQ round=1 dev=e0.1 bytes=67108864 t0=1000000000 t1=2000000000" \
        "DURBENCH SEQ round=2 dev=e0.1 bytes=67108864 t0=2000000000 t1=4000000000" \
        "DURBENCH RAND round=1 dev=e0.1 ops=100 t0=0 t1=2000000000" >"$dir/serial.log"
    "$(dirname "$0")/durability" --json "$dir/out.json" --report-only "$dir/serial.log" \
        e0.0=tmpfs-cache,e0.1=tmpfs-auto >"$dir/table" 2>&1 &&
        grep -q '^| seq-1M | tmpfs | MB/s | 100.7 (67-134) | 50.3 (34-67) | 0.50 | - |' "$dir/table" &&
        python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
rows = {(r["test"], r["mode"]): r for r in j["summary"]}
assert rows[("rand-4k-qd1", "auto")]["median"] == 50.0, rows
assert len(j["records"]) == 5, j["records"]' "$dir/out.json" &&
        { echo "DURBENCH FAIL dd e0.0: I/O error" >>"$dir/serial.log"
          ! "$(dirname "$0")/durability" --report-only "$dir/serial.log" e0.0=tmpfs-cache >/dev/null 2>&1; }
    local rc=$?
    rm -rf "$dir"
    return $rc
}
if command -v python3 >/dev/null; then
    if durability_report_ok; then
        echo "PASS: bench/durability parses a guest serial log into rates and ratios"
    else
        echo "FAIL: bench/durability --report-only"; exit 1
    fi
fi

[[ $EUID -eq 0 ]] || { echo "SKIP: must run as root (network namespaces, raw sockets)"; exit 77; }
for tool in ip nft python3 od timeout; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing (scripts/install-deps)"; exit 77; }
done

bench_init tools
FAILED=0
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILED=1; }
# check NAME CONDITION-COMMAND...
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
# check_exit NAME RC WANT LOG: passes if RC is WANT; on failure shows LOG (the tool's stderr).
check_exit() {
    if [[ $2 -eq $3 ]]; then pass "$1: exit $3"; else fail "$1: exit $2, want $3: $(cat "$4")"; fi
}

readonly MIB=64 SECTORS=$((64 * 2048))
IMAGE=$BENCH_TMP/disk.img
"$PATTERN" write "$IMAGE" --mib "$MIB" --seed 5 || bench_die "aoe_pattern write failed"

bench_pair
bench_mtu 9000

start_serve() {
    bench_start t - "$BENCH_TMP/serve.log" "$AOE" serve -i vt --state-dir "$BENCH_TMP/state" \
        --no-announce --log-level warn "e0.1=$IMAGE"
    SERVE_PID=$BENCH_PID
}
# load NAME ARGS...: aoe_load in the client namespace; its JSON in $BENCH_TMP/NAME.json.
load() {
    local name=$1
    shift
    bench_exec c - 120 "$LOAD" -i vc e0.1 "$@" >"$BENCH_TMP/$name.json" 2>"$BENCH_TMP/$name.err"
}
field() { bench_json "$BENCH_TMP/$1.json" "$2"; }

start_serve
load discover --discover-only --discover-seconds 10 || bench_die "no answer: $(cat "$BENCH_TMP/discover.err" "$BENCH_TMP/serve.log")"
check "discover: capacity $SECTORS sectors" [ "$(field discover capacity_sectors)" == "$SECTORS" ]
check "discover: 17 sectors per command at MTU 9000" [ "$(field discover advertised_sectors)" == 17 ]

# --- reads give back the pattern
load seqread --rw read --pattern seq --window 64 --bytes "${MIB}M" --data-seed 5
rc=$?
check_exit "seq read of the whole disk" $rc 0 "$BENCH_TMP/seqread.err"
check "seq read: every sector checked" [ "$(field seqread verified_sectors)" == "$SECTORS" ]
check "seq read: no mismatch, no error" [ "$(field seqread verify_failures)$(field seqread errors)" == 00 ]
check "seq read: the bytes counted are the bytes asked for" [ "$(field seqread bytes)" == $((MIB << 20)) ]

load randread --rw read --pattern rand --window 16 --seconds 1 --data-seed 5
rc=$?
check_exit "rand read" $rc 0 "$BENCH_TMP/randread.err"
check "rand read: sectors checked, none wrong" \
    [ "$(field randread verified_sectors)" -gt 0 -a "$(field randread verify_failures)" == 0 ]
check "rand read: latency percentiles reported" python3 -c '
import json, sys; l = json.load(open(sys.argv[1]))["latency_us"]
sys.exit(0 if 0 < l["p50"] <= l["p99"] <= l["max"] else 1)' "$BENCH_TMP/randread.json"

load wrongseed --rw read --bytes 1M --data-seed 6
rc=$?
check "reading with the wrong seed fails: exit 1, mismatches counted" \
    [ $rc -eq 1 -a "$(field wrongseed verify_failures)" == 2048 ]

# --- writes land in the image
"$PATTERN" check "$IMAGE" --seed 9 >/dev/null
check "before the write the image does not hold seed 9" [ $? -eq 1 ]
load seqwrite --rw write --pattern seq --window 16 --bytes "${MIB}M" --data-seed 9
rc=$?
check_exit "seq write of the whole disk" $rc 0 "$BENCH_TMP/seqwrite.err"
check "seq write: FLUSH answered" [ "$(field seqwrite flush_ok)" == true ]
check "seq write: no FLUSH before the writes unless asked" [ -z "$(field seqwrite flush_first_ok)" ]
load flushfirst --rw write --bytes 1M --data-seed 9 --flush-first
rc=$?
check_exit "write with --flush-first" $rc 0 "$BENCH_TMP/flushfirst.err"
check "--flush-first: the FLUSH before the writes was answered" [ "$(field flushfirst flush_first_ok)" == true ]
"$PATTERN" check "$IMAGE" --seed 9 >"$BENCH_TMP/check.json"
check "every sector of the image holds the written pattern: $(cat "$BENCH_TMP/check.json")" \
    [ "$(bench_json "$BENCH_TMP/check.json" mismatches)" == 0 ]
# Independent of the pattern code: sector 12345 starts with its LBA and the seed (LE 64-bit).
label=$(od -A n -t u8 -j $((12345 * 512)) -N 16 "$IMAGE" | xargs)
check "od: sector 12345 is labelled '12345 9' (got '$label')" [ "$label" == "12345 9" ]

# --- retransmits under loss: 5 % of the frames reaching the target are dropped
ip netns exec "$BENCH_NS_T" nft -f - <<'NFT' || bench_die "nft failed"
table netdev bench_loss {
    chain ingress {
        type filter hook ingress device "vt" priority 0; policy accept;
        ether type 0x88a2 numgen random mod 20 == 0 drop
    }
}
NFT
load lossy --rw read --pattern seq --window 16 --bytes 16M --data-seed 9 --rto-ms 20
rc=$?
check_exit "read under 5 % loss" $rc 0 "$BENCH_TMP/lossy.err"
check "read under loss: retransmits counted ($(field lossy retransmits))" [ "$(field lossy retransmits)" -gt 0 ]
check "read under loss: every sector right" \
    [ "$(field lossy verified_sectors)" == 32768 -a "$(field lossy verify_failures)" == 0 ]
ip netns exec "$BENCH_NS_T" nft delete table netdev bench_loss

# --- the blaster counts every frame
blast() {  # blast SIZE COUNT: counter in the client namespace, sender in the target's
    rm -f "$BENCH_TMP/ready"
    bench_start c - "$BENCH_TMP/count.json" "$BLAST" count -i vc --count "$2" --seconds 20 \
        --idle-ms 2000 --ready-file "$BENCH_TMP/ready"
    local counter=$BENCH_PID i
    for ((i = 0; i < 50; i++)); do [[ -e $BENCH_TMP/ready ]] && break; sleep 0.1; done
    bench_exec t - 30 "$BLAST" send -i vt --size "$1" --count "$2" --dst "$(bench_mac c)" \
        >"$BENCH_TMP/send.json"
    wait "$counter"
    bench_stop "$counter"  # already exited: this only forgets it
}
for size in 1060 8228; do
    blast "$size" 2000
    check "blaster, $size-byte frames: 2000 sent, 2000 counted, none dropped" \
        [ "$(bench_json "$BENCH_TMP/send.json" frames)/$(bench_json "$BENCH_TMP/count.json" frames)/$(bench_json "$BENCH_TMP/count.json" socket_drops)" == 2000/2000/0 ]
    check "blaster, $size-byte frames: the counter saw that size" \
        [ "$(bench_json "$BENCH_TMP/count.json" max_frame_bytes)" == "$size" ]
done

# --- MTU 1500: 2 sectors per command, and the reads are still right
bench_stop "$SERVE_PID"
bench_mtu 1500
start_serve
load discover1500 --discover-only --discover-seconds 10
check "MTU 1500: 2 sectors per command advertised" [ "$(field discover1500 advertised_sectors)" == 2 ]
load seqread1500 --rw read --window 64 --bytes 8M --data-seed 9
rc=$?
check_exit "MTU 1500: seq read" $rc 0 "$BENCH_TMP/seqread1500.err"
check "MTU 1500: every sector checked" [ "$(field seqread1500 verified_sectors)" == 16384 ]

# --- bench/overlay_cells.sh end to end, in a few seconds (its numbers are not judged): one cell
# of each preparation, a cost and target CPU per cell in its JSON, the metadata of the overlays
# (the script itself fails when `aoe overlay check` finds an overlay inconsistent)
bench_stop "$SERVE_PID"
"$(dirname "$0")/overlay_cells.sh" --build-dir "$(dirname "$(dirname "$LOAD")")" --rounds 1 \
    --seconds 0.2 --warmup 0 --image-mib 64 --region-mib 4 --json "$BENCH_TMP/overlay.json" \
    --cells untouched-randread-w64,overlay-randwrite-w16,first-write-w16 >"$BENCH_TMP/overlay.out" 2>&1
rc=$?
check_exit "bench/overlay_cells.sh" $rc 0 "$BENCH_TMP/overlay.out"
check "overlay cells: plain and overlay measured, a cost and CPU per GB for each cell, metadata counted" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
cells = {c["cell"]: c for c in s["cells"]}
assert sorted(cells) == ["first-write-w16", "overlay-randwrite-w16", "untouched-randread-w64"], cells
for c in cells.values():
    assert c["cost"] > 0 and c["overlay"]["target_cpu_s_per_gb"] is not None, c
    assert c["plain"]["errors"] == c["overlay"]["errors"] == 0, c
    assert c["metadata"]["map_bytes"] > 0 and c["metadata"]["written_bytes"] > 0, c
assert cells["untouched-randread-w64"]["metadata"]["data_bytes"] == 1 << 20, "only the tail MiB"
assert 0 < s["metadata_worst_percent_of_written"] < 100, s' "$BENCH_TMP/overlay.json"

exit "$FAILED"
