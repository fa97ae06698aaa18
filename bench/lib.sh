# shellcheck shell=bash
#
# Helpers shared by bench/run and bench/tools_test.sh: a pair of network namespaces joined by
# one veth pair, processes started in them (optionally pinned to a CPU) and stopped by pid, and
# cleanup of all of it on any exit.
#
# SAFETY: AoE is raw broadcast Ethernet. The veth pair is created directly inside namespaces
# this script created (it never exists in the host's namespace); nothing is sent on a host
# interface. Processes are stopped by the pid recorded when they were started, never by name.
#
#   source bench/lib.sh
#   bench_init NAME                     # cleanup trap, $BENCH_TMP, namespace prefix bench-NAME-PID
#   bench_pair                          # namespaces $BENCH_NS_T / $BENCH_NS_C, veth vt <-> vc
#   bench_mtu 9000                      # both ends, waits for carrier
#   bench_start t 0 LOG CMD...          # CMD in the target namespace on CPU 0; sets BENCH_PID
#   bench_stop "$BENCH_PID"
#   bench_cpu_ticks PID                 # utime + stime so far, in clock ticks

BENCH_CLEANUP=()
BENCH_PIDS=()

bench_log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%T)" "$*" >&2; }
bench_die() { printf '%s: %s\n' "$BENCH_NAME" "$1" >&2; exit "${2:-1}"; }  # MESSAGE [STATUS]
bench_defer() { BENCH_CLEANUP+=("$1"); }

bench_run_cleanup() {
    local rc=$? i pid
    set +e
    trap - EXIT INT TERM HUP
    for pid in "${BENCH_PIDS[@]}"; do bench_stop "$pid"; done
    for ((i = ${#BENCH_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${BENCH_CLEANUP[i]}"; done
    exit "$rc"
}

# bench_init NAME: installs the cleanup trap and makes $BENCH_TMP (deleted on exit unless
# BENCH_KEEP_TMP=1).
bench_init() {
    BENCH_NAME=$1
    trap bench_run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    # shellcheck disable=SC2034  # used by the scripts that source this file
    BENCH_TMP=$(mktemp -d "/tmp/bench-$BENCH_NAME.XXXXXX")
    # shellcheck disable=SC2016  # expanded when the cleanup runs
    bench_defer 'if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then bench_log "kept $BENCH_TMP"; else rm -rf "$BENCH_TMP"; fi'
    BENCH_NS_T=bench-$BENCH_NAME-$$-t
    BENCH_NS_C=bench-$BENCH_NAME-$$-c
}

# bench_ns t|c: the namespace of the target or of the client.
bench_ns() { [[ $1 == t ]] && printf '%s' "$BENCH_NS_T" || printf '%s' "$BENCH_NS_C"; }

# bench_pair: two namespaces, veth vt (target side) <-> vc (client side), IPv6 off so that
# nothing but the benchmark's frames crosses the pair.
bench_pair() {
    local ns dev
    ip netns add "$BENCH_NS_T" || bench_die "ip netns add $BENCH_NS_T failed"
    bench_defer "ip netns del '$BENCH_NS_T' 2>/dev/null"
    ip netns add "$BENCH_NS_C" || bench_die "ip netns add $BENCH_NS_C failed"
    bench_defer "ip netns del '$BENCH_NS_C' 2>/dev/null"
    ip link add vt netns "$BENCH_NS_T" type veth peer name vc netns "$BENCH_NS_C" \
        || bench_die "cannot create the veth pair"
    for ns in "$BENCH_NS_T:vt" "$BENCH_NS_C:vc"; do
        dev=${ns#*:} ns=${ns%%:*}
        ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" 2>/dev/null || true
        ip -n "$ns" link set lo up
    done
}

# bench_mtu MTU: sets the MTU on both ends (down, set, up) and waits for carrier (5 s at most).
bench_mtu() {
    local i
    ip -n "$BENCH_NS_T" link set vt down && ip -n "$BENCH_NS_C" link set vc down
    if ! ip -n "$BENCH_NS_T" link set vt mtu "$1" || ! ip -n "$BENCH_NS_C" link set vc mtu "$1"; then
        bench_die "cannot set MTU $1"
    fi
    ip -n "$BENCH_NS_T" link set vt up && ip -n "$BENCH_NS_C" link set vc up
    for ((i = 0; i < 50; i++)); do
        ip -n "$BENCH_NS_T" link show vt | grep LOWER_UP >/dev/null &&
            ip -n "$BENCH_NS_C" link show vc | grep LOWER_UP >/dev/null && return 0
        sleep 0.1
    done
    bench_die "the veth pair did not come up at MTU $1"
}

# bench_mac t|c: the MAC of vt or vc.
bench_mac() {
    local dev=vt
    [[ $1 == c ]] && dev=vc
    ip -n "$(bench_ns "$1")" link show "$dev" | awk '/link\/ether/ {print $2}'
}

# bench_start t|c CPU LOG CMD...: CMD in that namespace, pinned to CPU unless CPU is "-", in
# the background. `ip netns exec` and `taskset` exec the command, so BENCH_PID is its own pid
# (what /proc/PID/stat must describe). Stopped on exit.
bench_start() {
    local ns cpu=$2 log=$3
    ns=$(bench_ns "$1")
    shift 3
    if [[ $cpu == - ]]; then
        ip netns exec "$ns" "$@" >"$log" 2>&1 &
    else
        ip netns exec "$ns" taskset -c "$cpu" "$@" >"$log" 2>&1 &
    fi
    BENCH_PID=$!
    BENCH_PIDS+=("$BENCH_PID")
}

# bench_exec t|c CPU SECONDS CMD...: CMD in that namespace (pinned unless CPU is "-") in the
# foreground, killed after SECONDS; returns its status.
bench_exec() {
    local ns cpu=$2 limit=$3
    ns=$(bench_ns "$1")
    shift 3
    if [[ $cpu == - ]]; then
        timeout -k 5 "$limit" ip netns exec "$ns" "$@"
    else
        timeout -k 5 "$limit" ip netns exec "$ns" taskset -c "$cpu" "$@"
    fi
}

# bench_stop PID: TERM, then KILL after 3 s; only a pid bench_start recorded.
bench_stop() {
    local pid=$1 i keep=() p
    [[ -n $pid ]] || return 0
    for p in "${BENCH_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    if ((${#keep[@]} == ${#BENCH_PIDS[@]})); then
        bench_log "not stopping pid $pid: not started here"
        return 0
    fi
    BENCH_PIDS=("${keep[@]}")
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 0
}

# bench_cpu_ticks PID: the process's user + system time so far (all its threads), in clock
# ticks (getconf CLK_TCK); fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends
# the command name.
bench_cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }
    awk '{print $12 + $13}' <<<"$stat"
}

# bench_children_ticks VAR: user + system clock ticks of every child this shell has waited for
# (cutime + cstime of /proc/$BASHPID/stat), stored in VAR. The difference around a bench_exec is
# that command's own CPU time (the client's, not its CPU's busy time). Runs no command itself, so
# call it directly, never inside $(...) (a subshell would read its own, empty, counts).
bench_children_ticks() {
    local stat
    read -r stat <"/proc/$BASHPID/stat"
    stat=${stat##*) }
    local -a f
    read -r -a f <<<"$stat"
    printf -v "$1" '%d' $((f[13] + f[14]))
}

# bench_ticks_to_s TICKS: clock ticks (bench_cpu_ticks) as seconds, with 3 decimals.
bench_ticks_to_s() { awk -v t="$1" -v h="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", t / h}'; }

# bench_one_line FILE: the JSON object in FILE on one line, or null when FILE holds none.
bench_one_line() {
    python3 -c 'import json, sys
try: print(json.dumps(json.load(open(sys.argv[1]))))
except Exception: print("null")' "$1"
}

# bench_wait_quiet SECONDS: wait up to SECONDS for a 1-minute load average below 0.5.
bench_wait_quiet() {
    local waited=0
    ((${1:-0} > 0)) || return 0
    bench_log "waiting up to $1 s for a 1-minute load average below 0.5"
    until awk '{exit !($1 < 0.5)}' /proc/loadavg || ((waited >= $1)); do
        sleep 10
        waited=$((waited + 10))
    done
}

# bench_note_stale BUILD_DIR TARGET...: a note when the binaries of TARGETs are older than their
# sources. Stale binaries are reported, never rebuilt: ninja's dry run says whether anything
# would build.
bench_note_stale() {
    local build=$1
    shift
    if command -v ninja >/dev/null && [[ -f $build/build.ninja ]] &&
        ninja -C "$build" -n "$@" 2>/dev/null | grep '^\[1/' >/dev/null; then
        bench_log "note: the binaries in $build are older than their sources (rebuild: cmake --build $build --target $*); measuring them anyway"
    fi
}

# bench_json FILE KEY: a top-level field of the one-line JSON object in FILE ("" if absent).
bench_json() {
    python3 -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$1" "$2" 2>/dev/null
}
