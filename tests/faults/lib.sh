# shellcheck shell=bash
# Shared helpers for the fault-tolerance tests (tests/faults/*.sh) and scripts/soak.
#
# SAFETY: AoE is a raw broadcast protocol. Everything here happens inside network namespaces
# that the script creates itself ("aoef-<pid>-t", "-c", "-b"), joined by veth pairs created
# directly inside them; `aoe serve`, the clients and every nftables table live in those
# namespaces. Nothing is ever sent on a host interface. Everything created is undone on any
# exit (a LIFO stack of cleanup steps run from the EXIT trap), and every process started is
# wrapped in `timeout`, so even a SIGKILLed test leaves nothing running for long.
#
# Usage:
#   source "$(dirname "$0")/lib.sh"
#   faults_init                       # trap, temp dir, prerequisites (exit 77 if missing)
#   faults_netns_pair                 # FT (target ns) --vt===vc-- FC (client ns)
#   faults_serve -i vt e1.1="$img"    # aoe serve in FT; sets SERVE_PID, SERVE_LOG
#   faults_aoe cp -i vc "$src" e1.1   # the aoe CLI in FC
#   faults_loss 5                     # 5 % ingress drop on vt and on vc

readonly FAULTS_SKIP=77
FAULTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FAULTS_REPO_ROOT="$(cd "$FAULTS_DIR/../.." && pwd)"
FAULTS_FAILED=0
FAULTS_CLEANUP=()
SERVE_COUNT=0

faults_log()  { printf '[faults %s] %s\n' "$(date +%T)" "$*" >&2; }
faults_pass() { printf 'PASS: %s\n' "$*"; }
faults_fail() { printf 'FAIL: %s\n' "$*"; FAULTS_FAILED=1; }
faults_skip() { printf 'SKIP: %s\n' "$*"; exit "$FAULTS_SKIP"; }
faults_die()  { printf 'FAIL: %s\n' "$*"; exit 1; }

# faults_check DESCRIPTION CMD...: runs CMD, records PASS or FAIL.
faults_check() {
    local what=$1; shift
    if "$@"; then faults_pass "$what"; else faults_fail "$what"; fi
}

# faults_finish: the script's exit status from the checks so far.
faults_finish() {
    if [[ $FAULTS_FAILED -ne 0 ]]; then
        faults_log "failed; last lines of the target logs:"
        tail -n 30 "$FAULTS_TMP"/serve.*.log >&2 2>/dev/null || true
        exit 1
    fi
    exit 0
}

# ---------------------------------------------------------------------------------------------
# Cleanup: each resource registers its undo step right after it is created.
# ---------------------------------------------------------------------------------------------

faults_defer() { FAULTS_CLEANUP+=("$1"); }

faults_run_cleanup() {
    local rc=$? i
    set +e
    trap - EXIT INT TERM HUP
    for (( i = ${#FAULTS_CLEANUP[@]} - 1; i >= 0; i-- )); do
        eval "${FAULTS_CLEANUP[i]}"
    done
    FAULTS_CLEANUP=()
    exit "$rc"
}

# faults_kill_pid PID: stops a process this shell started (checked through its parent pid),
# TERM then KILL, bounded to ~5 s. Never touches anything else.
faults_kill_pid() {
    local pid=$1 i ppid
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    ppid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null)
    if [[ "$ppid" != "$$" && "$ppid" != "${BASHPID:-$$}" ]]; then
        faults_log "not killing pid $pid: not our child (ppid=$ppid)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    for (( i = 0; i < 50; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# Namespaces of an earlier run of these scripts that was killed before its cleanup ran
# ("aoef-<pid>-x" whose pid is gone): their leftover processes were started by that run.
faults_delete_stale_namespaces() {
    local ns pid p
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^aoef-[0-9]+-[a-z]$'); do
        pid=${ns#aoef-}; pid=${pid%-*}
        kill -0 "$pid" 2>/dev/null && continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
}

faults_aoe_bin() {
    if [[ -n "${AOE_BIN:-}" ]]; then echo "$AOE_BIN"; return; fi
    echo "$FAULTS_REPO_ROOT/build/src/cli/aoe"
}

# faults_init [TOOL...]: installs the cleanup trap, makes $FAULTS_TMP, and exits 77 unless
# root, ip, nft, timeout, sha256sum and the aoe binary (and any TOOL named) are available.
faults_init() {
    local c
    trap faults_run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    [[ $EUID -eq 0 ]] || faults_skip "must run as root (network namespaces, nftables)"
    for c in ip nft timeout sha256sum awk "$@"; do
        command -v "$c" >/dev/null 2>&1 || faults_skip "missing prerequisite: $c"
    done
    AOE_BIN=$(faults_aoe_bin)
    [[ -x "$AOE_BIN" ]] || faults_skip "aoe binary not found at $AOE_BIN (build it or set AOE_BIN)"
    faults_delete_stale_namespaces
    FAULTS_TMP="$(mktemp -d /tmp/aoekit-faults.XXXXXX)"
    # Searchable by everyone, so that `aoe serve --user` can reach its state dir inside.
    chmod 755 "$FAULTS_TMP"
    # shellcheck disable=SC2016  # expanded at cleanup time, on purpose
    faults_defer 'if [[ "${FAULTS_KEEP_TMP:-0}" == 1 ]]; then faults_log "kept $FAULTS_TMP"; else rm -rf "$FAULTS_TMP"; fi'
}

# faults_require_aoe SUBCOMMAND...: exit 77 unless `aoe SUBCOMMAND --help` works (the
# initiator subcommands arrive separately from the target).
faults_require_aoe() {
    local c
    for c in "$@"; do
        "$AOE_BIN" "$c" --help >/dev/null 2>&1 || faults_skip "this aoe has no '$c' subcommand yet"
    done
}

# ---------------------------------------------------------------------------------------------
# Topologies
# ---------------------------------------------------------------------------------------------

faults_netns_add() {  # NAME
    ip netns add "$1" || faults_die "ip netns add $1 failed"
    faults_defer "faults_netns_del '$1'"
    ip -n "$1" link set lo up
}

# Stops whatever still runs in the namespace (only our own processes run there), then deletes
# it with its interfaces and nftables tables.
faults_netns_del() {
    local p
    for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$1" 2>/dev/null
}

# faults_veth NS_A NAME_A NS_B NAME_B [MTU] [MAC_A]: a veth pair created inside the namespaces
# (it never exists in the host's), both ends up, IPv6 off to keep the link quiet.
faults_veth() {
    local ns_a=$1 a=$2 ns_b=$3 b=$4 mtu=${5:-1500} mac=${6:-}
    ip -n "$ns_a" link add "$a" ${mac:+address "$mac"} mtu "$mtu" type veth \
        peer name "$b" netns "$ns_b" mtu "$mtu" || faults_die "cannot create veth $a/$b"
    ip netns exec "$ns_a" sysctl -qw "net.ipv6.conf.$a.disable_ipv6=1" 2>/dev/null
    ip netns exec "$ns_b" sysctl -qw "net.ipv6.conf.$b.disable_ipv6=1" 2>/dev/null
    ip -n "$ns_a" link set "$a" up
    ip -n "$ns_b" link set "$b" up
}

# faults_netns_pair [MTU]: target namespace $FT with vt, client namespace $FC with vc.
faults_netns_pair() {
    FT="aoef-$$-t"; FC="aoef-$$-c"
    faults_netns_add "$FT"
    faults_netns_add "$FC"
    faults_veth "$FT" vt "$FC" vc "${1:-1500}"
}

# faults_netns_bridged: $FT (vt) and $FC (vc) joined through a bridge in a third namespace $FB
# (vt===bt-[br0]-bc===vc), so the target's interface can be deleted and re-created while the
# client's stays. FAULTS_VT_MAC is the target interface's MAC, kept across re-creation.
faults_netns_bridged() {
    FT="aoef-$$-t"; FC="aoef-$$-c"; FB="aoef-$$-b"
    FAULTS_VT_MAC=02:ae:0f:00:00:01
    faults_netns_add "$FT"
    faults_netns_add "$FC"
    faults_netns_add "$FB"
    ip -n "$FB" link add br0 type bridge stp_state 0 forward_delay 0
    ip -n "$FB" link set br0 up
    faults_veth "$FC" vc "$FB" bc
    ip -n "$FB" link set bc master br0
    faults_target_link_create
}

# The target's end of the bridged topology (again after faults_target_link_delete).
faults_target_link_create() {
    faults_veth "$FT" vt "$FB" bt 1500 "$FAULTS_VT_MAC"
    ip -n "$FB" link set bt master br0
}

faults_target_link_delete() { ip -n "$FT" link del vt; }

# ---------------------------------------------------------------------------------------------
# Link faults with nftables netdev ingress rules (inside the namespaces)
# ---------------------------------------------------------------------------------------------

# faults_nft_rule NS DEV RULE...: adds RULE to an ingress chain on DEV, creating table
# "netdev faults" and chain "in_DEV" on first use. Only AoE frames (ethertype 0x88a2) are hit.
faults_nft_rule() {
    local ns=$1 dev=$2; shift 2
    ip netns exec "$ns" nft add table netdev faults || faults_die "nft: cannot add a table in $ns"
    ip netns exec "$ns" nft add chain netdev faults "in_$dev" \
        "{ type filter hook ingress device $dev priority 0; }" ||
        faults_die "nft: cannot hook ingress on $dev in $ns"
    ip netns exec "$ns" nft add rule netdev faults "in_$dev" ether type 0x88a2 "$@" ||
        faults_die "nft: rule '$*' refused"
}

# faults_loss PERCENT: drops PERCENT % of AoE frames in each direction (ingress of vt and vc).
faults_loss() {
    faults_nft_rule "$FT" vt numgen random mod 100 "<" "$1" counter drop
    faults_nft_rule "$FC" vc numgen random mod 100 "<" "$1" counter drop
}

# faults_dup PERCENT: sends PERCENT % of AoE frames twice, in each direction. The copy is made
# on the sender's egress (`dup to` the sending device itself), so the receiver really gets two
# frames; `dup to` on the receiver's ingress would send the copy back out towards the sender.
faults_dup() {
    faults_nft_egress_dup "$FT" vt "$1"
    faults_nft_egress_dup "$FC" vc "$1"
}

faults_nft_egress_dup() {
    faults_nft_egress_rule "$1" "$2" numgen random mod 100 "<" "$3" counter dup to "$2"
}

# faults_nft_egress_rule NS DEV RULE...: like faults_nft_rule, on egress (chain "out_DEV").
faults_nft_egress_rule() {
    local ns=$1 dev=$2; shift 2
    ip netns exec "$ns" nft add table netdev faults || faults_die "nft: cannot add a table in $ns"
    ip netns exec "$ns" nft add chain netdev faults "out_$dev" \
        "{ type filter hook egress device $dev priority 0; }" ||
        faults_die "nft: cannot hook egress on $dev in $ns"
    ip netns exec "$ns" nft add rule netdev faults "out_$dev" ether type 0x88a2 "$@" ||
        faults_die "nft: rule '$*' refused"
}

faults_nft_clear() {  # removes every link fault
    ip netns exec "$FT" nft delete table netdev faults 2>/dev/null
    ip netns exec "$FC" nft delete table netdev faults 2>/dev/null
    return 0
}

# faults_nft_counters: the packets counted by the fault rules, one number per rule.
faults_nft_counters() {
    local ns
    for ns in "$FT" "$FC"; do
        ip netns exec "$ns" nft list table netdev faults 2>/dev/null |
            sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
    done
}

# ---------------------------------------------------------------------------------------------
# The target and the clients
# ---------------------------------------------------------------------------------------------

# faults_serve ARGS...: starts `aoe serve ARGS...` in $FT and waits until it serves (every
# export logged and, with --user, the switch done). Sets SERVE_PID (the aoe process itself)
# and SERVE_LOG. Each start gets its own log file.
faults_serve() {
    local wrapper i exports=0 a
    for a in "$@"; do [[ "$a" == e[0-9]*.[0-9]*=* ]] && exports=$((exports + 1)); done
    SERVE_COUNT=$((SERVE_COUNT + 1))
    SERVE_LOG=$FAULTS_TMP/serve.$SERVE_COUNT.log
    timeout -k 5 "${FAULTS_MAX_SECONDS:-900}" \
        ip netns exec "$FT" "$AOE_BIN" serve "$@" >"$SERVE_LOG" 2>&1 &
    wrapper=$!
    faults_defer "faults_kill_pid $wrapper"
    # `ip netns exec` execs aoe in place, so aoe is timeout's only child.
    SERVE_PID=""
    for (( i = 0; i < 100; i++ )); do
        SERVE_PID=$(cat "/proc/$wrapper/task/$wrapper/children" 2>/dev/null | awk '{print $1}')
        [[ -n "$SERVE_PID" ]] && [[ "$(readlink "/proc/$SERVE_PID/exe")" == "$(readlink -f "$AOE_BIN")" ]] && break
        sleep 0.05
    done
    SERVE_WRAPPER=$wrapper
    if [[ " $* " == *" --config "* ]]; then exports=1; fi
    faults_wait_log "$SERVE_LOG" 'exporting ' "$exports" 10 ||
        { cat "$SERVE_LOG" >&2; faults_die "aoe serve did not start"; }
    if [[ " $* " == *" --user "* ]]; then
        faults_wait_log "$SERVE_LOG" 'running as user' 1 10 ||
            { cat "$SERVE_LOG" >&2; faults_die "aoe serve did not switch user"; }
    fi
    faults_log "aoe serve pid $SERVE_PID: $*"
}

# faults_wait_log FILE REGEX COUNT SECONDS: waits until FILE has COUNT lines matching REGEX.
faults_wait_log() {
    local file=$1 regex=$2 count=$3 seconds=$4 i
    for (( i = 0; i < seconds * 20; i++ )); do
        [[ $(grep -cE -- "$regex" "$file" 2>/dev/null) -ge $count ]] && return 0
        sleep 0.05
    done
    return 1
}

# faults_serve_kill9: SIGKILL the target (no shutdown, no flush) and reap it.
faults_serve_kill9() {
    kill -KILL "$SERVE_PID" 2>/dev/null
    wait "$SERVE_WRAPPER" 2>/dev/null
    faults_log "aoe serve pid $SERVE_PID killed with SIGKILL"
}

faults_serve_alive() { kill -0 "$SERVE_PID" 2>/dev/null; }

# faults_in_client CMD...: runs CMD in the client namespace, bounded in time.
faults_in_client() {
    timeout -k 5 "${FAULTS_CLIENT_SECONDS:-600}" ip netns exec "$FC" "$@"
}

# faults_aoe ARGS...: `aoe ARGS...` in the client namespace.
faults_aoe() { faults_in_client "$AOE_BIN" "$@"; }

# faults_soak_client ARGS...: the verifying I/O generator (soak_client.cc) in the client
# namespace.
faults_soak_client() {
    local bin=${AOE_SOAK_CLIENT:-$FAULTS_REPO_ROOT/build/tests/faults/faults_soak_client}
    [[ -x "$bin" ]] || faults_die "faults_soak_client not found at $bin (set AOE_SOAK_CLIENT)"
    faults_in_client "$bin" "$@"
}

# faults_random_image PATH MIB: a file of MIB MiB of random bytes.
faults_random_image() {
    head -c "$(( $2 * 1048576 ))" /dev/urandom >"$1" || faults_die "cannot write $1"
}

faults_sha() { sha256sum "$1" | awk '{print $1}'; }

# faults_json_sum FILE KEY: the sum of every "KEY": NUMBER in a JSON file (e.g. the
# retransmits of each path in `aoe cp --json`); no jq needed.
faults_json_sum() {
    grep -oE "\"$2\": *[0-9]+" "$1" | awk -F: '{s += $2} END {print s + 0}'
}
