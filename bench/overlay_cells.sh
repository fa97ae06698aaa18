#!/usr/bin/env bash
# bench/overlay_cells.sh: the overlay cells of the benchmark (docs/PERFORMANCE.md, "Overlays";
# issue 10). What an overlay export (`overlay=DIR`, docs/overlays.md) costs against a plain
# export of the same image, in the same run, measured with the suite's independent load client
# (bench/aoe_load: a FIXED window of outstanding commands, no adaptation to the target) over a
# veth pair between two network namespaces (bench/lib.sh), as bench/run measures targets:
#   - every cell runs once on each side per round, plain and overlay alternated (the order
#     swapped every round), a fresh `aoe serve` per run, the target pinned to one CPU and the
#     client to the other; tables show medians, the cost the median of the per-round costs;
#   - an overlay run gets a fresh overlay directory; the cell's preparation (unmeasured, done on
#     both sides alike) decides what the client's overlay holds when the measured load starts.
#
# Cells: NAME|PREP|RW|PATTERN|WINDOW|GOAL
#   PREP   tail   the client writes the image's last MiB first: it HAS an overlay, and the
#                 measured region (the first --region-mib) is untouched by it
#          fill   the client writes the whole measured region first: its overlay holds it
#          fresh  nothing: every measured write is a first write (copy-up where a command
#                 covers part of a 4 KiB block; at MTU 9000 a command is 17 sectors, so most
#                 do); the region is written once (--bytes), not for --seconds
#   GOAL   the most the cost may be (plain rate / overlay rate), or - for none
#
#   bench/overlay_cells.sh [options]
#
#   --quick            development: 1 round of 2 s (default: 5 rounds of 4 s + 1 s warmup)
#   --seconds S        measured seconds per run               --warmup S    unmeasured lead-in
#   --rounds N         rounds (1-50)                          --mtu M       1500 or 9000 (9000)
#   --cells LIST       comma-separated cell names (see CELLS below; default all)
#   --image-dir DIR    where both images and the overlay directories live (default /dev/shm:
#                      the page cache, as in bench/run; a disk directory measures the disk too)
#   --image-mib N      image size (default 1024)           --region-mib N  measured region (256)
#   --build-dir DIR    binaries (default build/release; never rebuilt behind your back)
#   --json FILE        result JSON (default BUILD_DIR/bench-results/overlay-DATE.json)
#   --cpus T,C         CPUs of the target and the client (default 0,1)   --no-pin
#   --wait-quiet S     first wait up to S seconds for a 1-minute load average below 0.5
#   --profile DIR      also `perf record` the target during every measured load and write
#                      DIR/CELL-SIDE-rROUND.symbols.txt (perf costs time: read the profiles,
#                      not that run's rates)
#
# Prints a table per cell (MB/s, IOPS, p50, target CPU s/GB for both sides, the cost and its
# goal) and the overlay's metadata (allocated bytes of the map file) against the bytes the client
# wrote; never a pass/fail: timings on a shared machine are noisy. Needs root, 2 CPUs (or
# --no-pin) and python3. Everything is sent on a veth pair inside namespaces this script creates
# and deletes on exit; processes are stopped by pid.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/lib.sh"

CELLS=(
    "untouched-seqread-w64|tail|read|seq|64|1.1"
    "untouched-randread-w64|tail|read|rand|64|1.1"
    "untouched-randread-w1|tail|read|rand|1|1.1"
    "overlay-seqread-w64|fill|read|seq|64|1.3"
    "overlay-randread-w64|fill|read|rand|64|1.3"
    "overlay-randread-w1|fill|read|rand|1|1.3"
    "overlay-seqwrite-w16|fill|write|seq|16|1.3"
    "overlay-randwrite-w16|fill|write|rand|16|1.3"
    "overlay-randwrite-w1|fill|write|rand|1|1.3"
    "first-write-w16|fresh|write|seq|16|-"
)
readonly METADATA_GOAL_PERCENT=1

mode=full seconds="" warmup="" rounds="" mtu=9000 only_cells="" image_dir=/dev/shm
image_mib=1024 region_mib=256 build=$root/build/release json="" cpus=0,1 pin=1 wait_quiet=0
profile=""
BENCH_NAME=overlay
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
need_value() { [[ $# -ge 2 && -n $2 ]] || bench_die "$1 needs a value; see --help" 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) mode=quick; shift ;;
        --seconds|--warmup|--rounds|--mtu|--cells|--image-dir|--image-mib|--region-mib|\
        --build-dir|--json|--cpus|--wait-quiet|--profile)
            need_value "$@"
            case $1 in
                --seconds) seconds=$2 ;; --warmup) warmup=$2 ;; --rounds) rounds=$2 ;;
                --mtu) mtu=$2 ;; --cells) only_cells=$2 ;; --image-dir) image_dir=$2 ;;
                --image-mib) image_mib=$2 ;; --region-mib) region_mib=$2 ;;
                --build-dir) build=$(realpath -m "$2") ;; --json) json=$(realpath -m "$2") ;;
                --cpus) cpus=$2 ;; --wait-quiet) wait_quiet=$2 ;;
                --profile) profile=$(realpath -m "$2") ;;
            esac
            shift 2 ;;
        --no-pin) pin=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) bench_die "unknown argument '$1'; see --help" 2 ;;
    esac
done
if [[ $mode == quick ]]; then
    : "${seconds:=2}" "${warmup:=0.5}" "${rounds:=1}"
else
    : "${seconds:=4}" "${warmup:=1}" "${rounds:=5}"
fi
is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
if ! is_number "$seconds" || ! is_number "$warmup"; then
    bench_die "--seconds and --warmup take seconds, e.g. --seconds 4" 2
fi
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 && $rounds -le 50 ]] || bench_die "--rounds takes 1-50, e.g. --rounds 5" 2
[[ $mtu == 1500 || $mtu == 9000 ]] || bench_die "--mtu $mtu: 1500 or 9000" 2
[[ $image_mib =~ ^[0-9]+$ && $region_mib =~ ^[0-9]+$ && $region_mib -ge 1 && $image_mib -gt $region_mib ]] ||
    bench_die "--image-mib and --region-mib take MiB, the image larger than the region, e.g. --image-mib 1024 --region-mib 256" 2
[[ $cpus =~ ^([0-9]+),([0-9]+)$ ]] || bench_die "--cpus takes TARGET,CLIENT, e.g. --cpus 0,1" 2
cpu_t=${BASH_REMATCH[1]} cpu_c=${BASH_REMATCH[2]}
((pin)) || cpu_t=- cpu_c=-
[[ $wait_quiet =~ ^[0-9]+$ ]] || bench_die "--wait-quiet takes whole seconds" 2
if [[ -n $only_cells ]]; then
    picked=()
    for c in "${CELLS[@]}"; do [[ ,$only_cells, == *",${c%%|*},"* ]] && picked+=("$c"); done
    ((${#picked[@]})) || bench_die "--cells '$only_cells' names no cell; see CELLS in $0" 2
    CELLS=("${picked[@]}")
fi

[[ $(id -u) -eq 0 ]] || bench_die "needs root (network namespaces, raw sockets)" 2
for tool in ip taskset python3 timeout; do
    command -v "$tool" >/dev/null || bench_die "$tool is missing; run scripts/install-deps" 2
done
[[ $pin == 0 ]] || (($(nproc) >= 2)) || bench_die "pinning needs 2 CPUs; use --no-pin" 2
if [[ -n $profile ]]; then
    command -v perf >/dev/null || bench_die "perf is missing; run scripts/install-deps" 2
    mkdir -p "$profile"
fi
AOE=$build/src/cli/aoe LOAD=$build/bench/aoe_load PATTERN=$build/bench/aoe_pattern
for b in "$AOE" "$LOAD" "$PATTERN"; do
    [[ -x $b ]] || bench_die "no $b; build it (cmake --build --preset release --target aoe aoe_load aoe_pattern) or pass --build-dir" 2
done
bench_note_stale "$build" aoe aoe_load aoe_pattern

stamp=$(date -u +%Y%m%dT%H%M%SZ)
[[ -n $json ]] || json=$build/bench-results/overlay-$stamp.json
mkdir -p "$(dirname "$json")"

bench_init overlay
records=$BENCH_TMP/records.jsonl
: >"$records"
allocated_bytes() { echo $(($(stat -c %b "$1") * 512)); }  # what the file holds on disk

# --- images: the same pattern in two files; the overlay export's is its read-only base ---------
work=$(mktemp -d "$image_dir/bench-overlay.XXXXXX") || bench_die "cannot write in $image_dir" 2
bench_defer "rm -rf '$work'"
bench_log "writing two $image_mib MiB images in $work"
"$PATTERN" write "$work/plain.img" --mib "$image_mib" --seed 1 >/dev/null || bench_die "cannot write $work/plain.img"
cp "$work/plain.img" "$work/golden.img"
readonly region_sectors=$((region_mib * 2048)) tail_sectors=2048
readonly tail_offset=$((image_mib * 2048 - tail_sectors))

bench_wait_quiet "$wait_quiet"
loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS
bench_pair
bench_mtu "$mtu"

# start_target SIDE OVERLAY_DIR: a fresh `aoe serve` for e0.1 on the target CPU (plain image, or
# the golden image with overlay=OVERLAY_DIR); sets TARGET_PID once the disk answers.
start_target() {
    local spec="e0.1=$work/plain.img"
    [[ $1 == overlay ]] && spec="e0.1=$work/golden.img,overlay=$2"
    rm -rf "$BENCH_TMP/state"
    bench_start t "$cpu_t" "$BENCH_TMP/target.log" "$AOE" serve -i vt --state-dir "$BENCH_TMP/state" \
        --control-socket none --no-announce --log-level warn "$spec"
    TARGET_PID=$BENCH_PID
    bench_exec c "$cpu_c" 30 "$LOAD" -i vc e0.1 --discover-only --discover-seconds 10 \
        >"$BENCH_TMP/discover.json" 2>&1 ||
        bench_die "$1 target did not answer: $(cat "$BENCH_TMP/discover.json") $(tail -5 "$BENCH_TMP/target.log")"
}

# load OUT ARGS...: aoe_load on the client CPU; exits the script on failure (a broken cell
# measures nothing).
load() {
    local out=$1
    shift
    bench_exec c "$cpu_c" 600 "$LOAD" -i vc e0.1 "$@" >"$out" 2>"$out.err" ||
        bench_die "aoe_load $* failed: $(head -c 300 "$out.err") $(tail -3 "$BENCH_TMP/target.log")"
}

# prepare PREP: the cell's unmeasured writes; sets PREP_BYTES to the bytes written.
prepare() {
    local out=$BENCH_TMP/prep.json
    PREP_BYTES=0
    case $1 in
        tail) load "$out" --rw write --window 16 --offset-sectors "$tail_offset" \
                  --region-sectors "$tail_sectors" --bytes "$((tail_sectors * 512))" ;;
        fill) load "$out" --rw write --window 64 --region-sectors "$region_sectors" \
                  --bytes "$((region_sectors * 512))" ;;
        fresh) return ;;
    esac
    PREP_BYTES=$(bench_json "$out" bytes_total)
}

# run_cell ROUND SIDE CELL
run_cell() {
    local round=$1 side=$2 name prep rw order window goal dir="" t0 t1 out i
    IFS='|' read -r name prep rw order window goal <<<"$3"
    [[ $side == overlay ]] && dir=$work/overlay-$name-$round
    start_target "$side" "$dir"
    prepare "$prep"
    local -a args=(--rw "$rw" --pattern "$order" --window "$window" --region-sectors "$region_sectors")
    if [[ $prep == fresh ]]; then
        args+=(--bytes "$((region_sectors * 512))")
    else
        args+=(--seconds "$seconds" --warmup "$warmup")
    fi
    out=$BENCH_TMP/load.json
    local perf_data=$profile/$name-$side-r$round.perf.data perf_pid=""
    if [[ -n $profile ]]; then
        bench_start t - "$perf_data.log" perf record -F 4999 -g -p "$TARGET_PID" -o "$perf_data"
        perf_pid=$BENCH_PID
        sleep 0.5
    fi
    t0=$(bench_cpu_ticks "$TARGET_PID")
    load "$out" "${args[@]}"
    t1=$(bench_cpu_ticks "$TARGET_PID")
    if [[ -n $perf_pid ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$perf_pid" 2>/dev/null || break; sleep 0.1; done
        bench_stop "$perf_pid"
        perf report -i "$perf_data" --stdio --no-children --sort symbol --percent-limit 0.5 -g none \
            >"${perf_data%.perf.data}.symbols.txt" 2>/dev/null || true
    fi
    bench_stop "$TARGET_PID"
    local metadata=null
    if [[ $side == overlay ]]; then
        local map data
        map=$(compgen -G "$dir/*.map" | head -1) || bench_die "$name: no overlay map in $dir"
        data=${map%.map}.data
        "$AOE" overlay check "$dir" >"$BENCH_TMP/check.log" 2>&1 ||
            bench_die "$name: aoe overlay check $dir failed: $(tail -3 "$BENCH_TMP/check.log")"
        local written=$PREP_BYTES
        [[ $rw == write ]] && written=$((written + $(bench_json "$out" bytes_total)))
        metadata=$(printf '{"map_bytes":%d,"data_bytes":%d,"written_bytes":%d}' \
            "$(allocated_bytes "$map")" "$(allocated_bytes "$data")" "$written")
        rm -rf "$dir"
    fi
    printf '{"round":%d,"cell":"%s","side":"%s","prep":"%s","goal":"%s","target_cpu_s":%s,"metadata":%s,"client":%s}\n' \
        "$round" "$name" "$side" "$prep" "$goal" "$(bench_ticks_to_s $((t1 - t0)))" "$metadata" \
        "$(bench_one_line "$out")" >>"$records"
    python3 - "$out" "$(bench_ticks_to_s $((t1 - t0)))" <<EOF >&2
import json, sys
j = json.load(open(sys.argv[1])); gb = j["bytes_total"] / 1e9
print(f"  r$round $name $side: {j['mb_per_s']:8.1f} MB/s {j['iops']:8.0f} IOPS p50 {j['latency_us']['p50']:7.1f} us "
      f"rexmit {j['retransmits']} CPU {float(sys.argv[2]) / gb if gb else 0:5.2f} s/GB")
EOF
}

bench_log "$mode: ${#CELLS[@]} cells x plain/overlay x $rounds rounds, $seconds s + $warmup s each, MTU $mtu, region $region_mib MiB of $image_mib MiB in $image_dir; results: $json"
for ((round = 1; round <= rounds; round++)); do
    for cell in "${CELLS[@]}"; do
        if ((round % 2)); then sides=(plain overlay); else sides=(overlay plain); fi
        for side in "${sides[@]}"; do run_cell "$round" "$side" "$cell"; done
    done
done

python3 - "$BENCH_TMP/meta.json" <<EOF
import json, sys
json.dump({
    "mode": "$mode", "date": "$stamp", "duration_s": $((SECONDS - started)),
    "kernel": "$(uname -r)", "cpus": $(nproc), "loadavg_before": "$loadavg_before",
    "loadavg_after": "$(cut -d' ' -f1-3 /proc/loadavg)",
    "git_commit": "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo -dirty)",
    "seconds": $seconds, "warmup": $warmup, "rounds": $rounds, "mtu": $mtu,
    "pinned": $( ((pin)) && echo "{\"target_cpu\": $cpu_t, \"client_cpu\": $cpu_c}" || echo None),
    "image": {"dir": "$image_dir", "fs": "$(stat -f -c %T "$image_dir")", "mib": $image_mib},
    "region_mib": $region_mib, "metadata_goal_percent": $METADATA_GOAL_PERCENT,
    "cells": $(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "${CELLS[@]}"),
}, open(sys.argv[1], "w"), indent=1)
EOF
python3 "$root/bench/overlay_report.py" --records "$records" --meta "$BENCH_TMP/meta.json" --json "$json"
echo
echo "results: $json"
