#!/usr/bin/env bash
# bench/rbd_cells.sh: the RBD cells of the benchmark (docs/PERFORMANCE.md, "RBD"): `aoe cp`
# download and upload of one image through
#   file      aoe serve on a file in the namespace's tmpfs (the reference),
#   rbd       aoe serve on an RBD image of a 1-mon/1-OSD memstore cluster (tests/rbd/cluster.sh),
#   rbd-2     two aoe serve processes on the same image, the initiator trunked over both,
# each run ROUNDS times (median printed). Same namespaces and veth pairs as tests/rbd/lib.sh; the
# cluster runs on the target namespace's loopback. Memstore keeps data in RAM: keep MIB small.
#
#   bench/rbd_cells.sh [AOE_BIN] [MIB (default 64)] [ROUNDS (default 3)]
#
# Prints one line per cell: "cell direction MB/s". No goal figure: the point is where the time
# goes (file vs RBD: librbd and the OSD; one vs two targets: whether the cluster or one target
# process is the limit).
set -uo pipefail
T_NAME=rbd_cells
source "$(dirname "$0")/../tests/rbd/lib.sh"
rbd_init "${1:-}" 2
MIB=${2:-64}
ROUNDS=${3:-3}

rbd_cli create --size "$MIB" rbd/bench || t_die "rbd create failed"
t_make_image "$T_TMP/src.img" "$MIB"
t_make_image "$T_TMP/file.img" "$MIB"

# measure LABEL DISK IFACES...: prints LABEL's median download and upload MB/s.
measure() {
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
        printf '%-8s %-9s %s MB/s (runs: %s)\n' "$label" "$dir" \
            "$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")" "${rates[*]}"
    done
}

t_serve "$RBD_T" -i vt0 --state-dir "$T_TMP/s0" "e1.1=$T_TMP/file.img"
t_wait_target "$RBD_C" vc0 e1.1 "$SERVE_WRAPPER"
measure file e1.1 vc0
t_stop_pid "$SERVE_PID"

t_serve "$RBD_T" -i vt0 --state-dir "$T_TMP/s1" "e1.2=$(rbd_spec rbd/bench)"
A=$SERVE_PID
t_wait_target "$RBD_C" vc0 e1.2 "$SERVE_WRAPPER"
measure rbd e1.2 vc0
t_serve "$RBD_T" -i vt1 --state-dir "$T_TMP/s2" "e1.2=$(rbd_spec rbd/bench)"
t_wait_target "$RBD_C" vc1 e1.2 "$SERVE_WRAPPER"
measure rbd-2 e1.2 vc0 vc1
t_stop_pid "$SERVE_PID"
t_stop_pid "$A"
t_finish
