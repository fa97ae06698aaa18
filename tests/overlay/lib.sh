# shellcheck shell=bash
#
# Helpers of the overlay tests (tests/overlay/*.sh), on top of the initiator tests' library
# (namespaces, veth pairs, background processes, cleanup; see tests/initiator/lib.sh):
#
#   ov_client NAME MAC            a client namespace joined to the target namespace by its own
#                                 veth pair (target side ovt<N>), with the given MAC
#   ov_serve ARGS...              `aoe serve` in the target namespace on every client's link,
#                                 with the control socket $OV_SOCKET; sets INI_TARGET_PID
#   ov_wait_ready                 until every client sees e0.1
#   ov_ctl ARGS... / ov_overlay   `aoe ctl` / `aoe overlay` on $OV_SOCKET
#   ov_pattern FILE KEY MIB       MIB MiB of bytes determined by KEY (AES-CTR keystream)
#
OV_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$OV_LIB_DIR/../initiator/lib.sh"

# ov_bg NS LOG CMD...: CMD in the namespace NS, in the background (t_bg); sets T_BG_PID.
ov_bg() {
    local ns=$1 log=$2
    shift 2
    t_bg "$log" ip netns exec "$(t_ns "$ns")" "$@"
}

OV_CLIENTS=()      # client names, in creation order
OV_TARGET_IFS=()   # the target side of each client's link
OV_SOCKET=""

# ov_init AOE_BINARY: ini_init, the target namespace and the socket path.
ov_init() {
    ini_init "$1"
    ini_require_root python3
    ini_netns target
    OV_SOCKET=$T_TMP/control.sock
}

# ov_client NAME MAC [MTU]
ov_client() {
    local name=$1 mac=$2 mtu=${3:-1500} n
    n=$(( ${#OV_CLIENTS[@]} + 1 ))
    ini_netns "$name"
    ini_link target "ovt$n" "$name" ovc0 "$mtu"
    ip -n "$(t_ns "$name")" link set ovc0 address "$mac"
    OV_CLIENTS+=("$name")
    OV_TARGET_IFS+=("ovt$n")
}

# ov_serve EXPORT_SPEC... : aoe serve on every client link.
ov_serve() {
    local args=() i
    for i in "${OV_TARGET_IFS[@]}"; do args+=(-i "$i"); done
    ini_serve target "${args[@]}" --control-socket "$OV_SOCKET" "$@"
}

ov_wait_ready() {
    local c
    for c in "${OV_CLIENTS[@]}"; do ini_wait_target "$c" ovc0 e0.1; done
    for (( i = 0; i < 50; i++ )); do [[ -S $OV_SOCKET ]] && return 0; sleep 0.1; done
    t_die "no control socket at $OV_SOCKET"
}

ov_ctl() { timeout -k 5 120 "$AOE_BIN" ctl -S "$OV_SOCKET" "$@"; }
ov_overlay() { timeout -k 5 300 "$AOE_BIN" overlay -S "$OV_SOCKET" "$@"; }

# ov_aoe CLIENT ARGS... : `aoe ARGS` in the client's namespace.
ov_aoe() { ini_aoe "$@"; }

ov_pattern() {
    local file=$1 key=$2 mib=$3 hex
    hex=$(printf '%s' "$key" | sha256sum | cut -c1-32)
    head -c "$(( mib << 20 ))" /dev/zero |
        openssl enc -aes-128-ctr -nosalt -K "$hex" -iv 00000000000000000000000000000000 >"$file"
}

# ov_stop_target: SIGTERM, wait (the overlays are flushed on the way out).
ov_stop_target() { t_kill_pid "$INI_TARGET_PID"; }

# ov_json_field JSON_FILE PYTHON_EXPRESSION: evaluates the expression with `r` bound to the
# parsed JSON and prints the result.
ov_json() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

# What the crash tests (sigkill.sh, powercut.sh) share. Three clients c1..c3 write a region of
# REGION_MIB MiB at sector SEEK: c1 and c2 a flushed round 1 ($T_TMP/pN-1.bin) and then a
# round 2 ($T_TMP/pN-2.bin) that the crash cuts; c3 only the round 2, never flushed. The
# golden image's copy of the region is $T_TMP/base-region.bin.
ov_crash_start() { ov_serve "e0.1=$BASE,overlay=$OVERLAY_DIR"; ov_wait_ready; }
ov_crash_upload() {  # CLIENT FILE
    ov_aoe "$1" cp -i ovc0 --no-progress --timeout 3 "$2" e0.1 --seek-sectors "$SEEK"
}
# ov_crash_rounds TAG: new patterns for every client and round (labelled TAG), the target
# started, round 1 of c1 and c2 uploaded, then round 2 of all three started in the background
# (their pids in OV_ROUND2_PIDS) for the caller to crash into and then wait for.
ov_crash_rounds() {
    local tag=$1 n r
    for n in 1 2 3; do
        for r in 1 2; do ov_pattern "$T_TMP/p$n-$r.bin" "$tag-c$n-r$r" "$REGION_MIB"; done
    done
    ov_crash_start
    for n in 1 2; do
        ov_crash_upload "c$n" "$T_TMP/p$n-1.bin" >"$T_TMP/up.log" 2>&1 ||
            t_die "round 1 upload of c$n failed: $(cat "$T_TMP/up.log")"
    done
    OV_ROUND2_PIDS=()
    for n in 1 2 3; do
        ov_crash_upload "c$n" "$T_TMP/p$n-2.bin" >/dev/null 2>&1 &
        OV_ROUND2_PIDS+=($!)
    done
}
ov_crash_download() {  # CLIENT FILE
    rm -f "$2"
    ov_aoe "$1" cp -i ovc0 --no-progress e0.1 "$2" --skip-sectors "$SEEK" \
        --count-sectors $(( REGION_MIB * 2048 ))
}

# ov_crash_verify LABEL: after a crash (the target stopped), checks the overlay directory with
# `aoe overlay check`, starts the target again and checks that every sector each client reads
# is one it wrote there (a flushed round or the cut one) or, for c3, the base; then stops it.
ov_crash_verify() {
    local label=$1 n what
    local -a candidates
    "$AOE_BIN" overlay check "$OVERLAY_DIR" >"$T_TMP/check.log" 2>&1
    t_check "$label: aoe overlay check finds the overlays consistent" \
        grep -qx consistent "$T_TMP/check.log"
    ov_crash_start
    for n in 1 2 3; do
        if ! ov_crash_download "c$n" "$T_TMP/got$n.bin" >"$T_TMP/down.log" 2>&1; then
            t_fail "$label: c$n cannot read back: $(cat "$T_TMP/down.log")"
            continue
        fi
        if [[ $n -lt 3 ]]; then
            candidates=("$T_TMP/p$n-1.bin" "$T_TMP/p$n-2.bin")
            what="its flushed round 1 or its cut round 2"
        else
            candidates=("$T_TMP/base-region.bin" "$T_TMP/p$n-2.bin")
            what="the base or its unflushed writes"
        fi
        if python3 "$OV_LIB_DIR/check_sectors.py" "$T_TMP/got$n.bin" "${candidates[@]}" \
            >"$T_TMP/sectors.log"; then
            t_pass "$label: every sector c$n reads is $what ($(cat "$T_TMP/sectors.log"))"
        else
            t_fail "$label: c$n reads data never written there: $(cat "$T_TMP/sectors.log")"
        fi
    done
    ov_stop_target
}
