#!/usr/bin/env bash
# bench/rbd_cells.sh: the RBD cells of the benchmark (docs/PERFORMANCE.md, "RBD").
#
# Load cells, with the suite's independent load client (bench/aoe_load: a fixed window of
# outstanding ATA commands, as in bench/run), sequential read and write at window WINDOW for
# SECONDS each, against
#   file      aoe serve on a file in the namespace's tmpfs (the reference),
#   rbd       aoe serve on an RBD image of a 1-mon/1-OSD memstore cluster (tests/rbd/cluster.sh);
# each also prints the CPU seconds per GB moved of the target and of the OSD (/proc/PID/stat), to
# show where the time goes.
#
# Copy cells, with `aoe cp` (the initiator that trunks over several paths):
#   rbd       one target on the image, one path,
#   rbd-2     two aoe serve processes on the same image, the initiator trunked over both;
#   file      the file export, one path (the reference).
#
# Each cell runs ROUNDS times (median printed). Same namespaces and veth pairs as
# tests/rbd/lib.sh; the cluster runs on the target namespace's loopback. Memstore keeps data in
# RAM: keep MIB small (writes wrap inside the image, so it bounds what the OSD holds).
#
#   bench/rbd_cells.sh [AOE_BIN] [MIB (default 64)] [ROUNDS (default 3)]
#   environment: LOAD_BIN (default: bench/aoe_load next to AOE_BIN's build), WINDOW (16),
#                SECONDS_PER_CELL (4)
#
# Prints one line per cell. No goal figure: the point is where the time goes (file vs RBD:
# librbd and the OSD; one vs two targets: whether the cluster or one target process is the limit).
set -uo pipefail
T_NAME=rbd_cells
source "$(dirname "$0")/../tests/rbd/lib.sh"
source "$(dirname "$0")/lib.sh"  # bench_cpu_ticks, bench_ticks_to_s
rbd_init "${1:-}" 2
MIB=${2:-64}
ROUNDS=${3:-3}
WINDOW=${WINDOW:-16}
CELL_SECONDS=${SECONDS_PER_CELL:-4}
LOAD_BIN=${LOAD_BIN:-$(dirname "$AOE_BIN")/../../bench/aoe_load}
[[ -x $LOAD_BIN ]] || t_die "no aoe_load at $LOAD_BIN (build the aoe_load target or set LOAD_BIN)"

t_make_image "$T_TMP/src.img" "$MIB"
t_make_image "$T_TMP/file.img" "$MIB"
# Imported, not just created: reads of objects never written are answered by librbd itself
# (the object map says they do not exist) and would not measure the OSD at all.
rbd_cli import "$T_TMP/file.img" rbd/bench >/dev/null 2>&1 || t_die "rbd import failed"

median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

# load LABEL DISK TARGET_PID OSD_PID: aoe_load seq read and write at WINDOW through vc0; prints
# the median MB/s, p50/p99 latency and the CPU s/GB of the target and the OSD of each direction.
load() {
    local label=$1 disk=$2 target=$3 osd=$4 rw r
    for rw in read write; do
        local -a mbs=() lines=()
        for (( r = 0; r < ROUNDS; r++ )); do
            local t0 o0 t1 o1
            t0=$(bench_cpu_ticks "$target") o0=$(bench_cpu_ticks "$osd")
            t_in "$RBD_C" "$LOAD_BIN" -i vc0 "$disk" --rw "$rw" --pattern seq --window "$WINDOW" \
                --seconds "$CELL_SECONDS" --warmup 0.5 --flush-first >"$T_TMP/load.json" \
                2>"$T_TMP/load.err" || t_log "$label $rw: aoe_load failed: $(head -c 300 "$T_TMP/load.err")"
            t1=$(bench_cpu_ticks "$target") o1=$(bench_cpu_ticks "$osd")
            lines+=("$(python3 - "$T_TMP/load.json" "$(bench_ticks_to_s $((t1 - t0)))" \
                "$(bench_ticks_to_s $((o1 - o0)))" "$osd" <<'PY' 2>/dev/null || echo "0 failed"
import json, sys
j = json.load(open(sys.argv[1]))
gb = j["bytes_total"] / 1e9
per = lambda s: float(s) / gb if gb else 0
osd = "%.1f" % per(sys.argv[3]) if sys.argv[4] else "-"
print("%.1f MB/s, p50 %.0f us, p99 %.0f us, rexmit %d, CPU s/GB: target %.1f, OSD %s" % (
    j["mb_per_s"], j["latency_us"]["p50"], j["latency_us"]["p99"], j["retransmits"],
    per(sys.argv[2]), osd))
PY
)")
            mbs+=("${lines[-1]%% *}")
        done
        local m i
        m=$(median "${mbs[@]}")
        for i in "${lines[@]}"; do [[ ${i%% *} == "$m" ]] && break; done
        printf 'load %-6s seq%-5s w%-3s %s (MB/s runs: %s)\n' "$label" "$rw" "$WINDOW" "$i" "${mbs[*]}"
    done
}

# copy LABEL DISK IFACES...: `aoe cp` upload and download over IFACES, median MB/s.
copy() {
    local label=$1 disk=$2 r dir
    shift 2
    local -a paths=()
    for i in "$@"; do paths+=(-i "$i"); done
    for dir in upload download; do
        local -a rates=()
        for (( r = 0; r < ROUNDS; r++ )); do
            if [[ $dir == upload ]]; then
                rbd_aoe cp "${paths[@]}" --no-progress --json "$T_TMP/src.img" "$disk" >"$T_TMP/j" 2>/dev/null
            else
                rbd_aoe cp "${paths[@]}" --no-progress --json "$disk" "$T_TMP/down.img" >"$T_TMP/j" 2>/dev/null
            fi
            rates+=("$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.1f" % (j["bytes"] / j["seconds"] / 1e6))' "$T_TMP/j" 2>/dev/null || echo 0)")
        done
        printf 'cp   %-6s %-9s %s MB/s (runs: %s)\n' "$label" "$dir" "$(median "${rates[@]}")" "${rates[*]}"
    done
}

t_serve "$RBD_T" -i vt0 --state-dir "$T_TMP/s0" "e1.1=$T_TMP/file.img"
t_wait_target "$RBD_C" vc0 e1.1 "$SERVE_WRAPPER"
load file e1.1 "$SERVE_PID" ""
copy file e1.1 vc0
t_stop_pid "$SERVE_PID"

t_serve "$RBD_T" -i vt0 --state-dir "$T_TMP/s1" "e1.2=$(rbd_spec rbd/bench)"
A=$SERVE_PID
t_wait_target "$RBD_C" vc0 e1.2 "$SERVE_WRAPPER"
load rbd e1.2 "$A" "$CEPH_OSD_PID"
copy rbd e1.2 vc0
t_serve "$RBD_T" -i vt1 --state-dir "$T_TMP/s2" "e1.2=$(rbd_spec rbd/bench)"
t_wait_target "$RBD_C" vc1 e1.2 "$SERVE_WRAPPER"
copy rbd-2 e1.2 vc0 vc1
t_stop_pid "$SERVE_PID"
t_stop_pid "$A"
t_finish
