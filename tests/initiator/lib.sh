# shellcheck shell=bash
#
# Shared helpers of the initiator tests (tests/initiator/*.sh): network namespaces joined by
# veth pairs, a target (aoe serve or vblade) in one namespace, the `aoe` initiator commands in
# another, and cleanup of all of it on any exit.
#
# SAFETY: AoE is raw broadcast Ethernet. Every interface used here is a veth created by the
# test inside namespaces it created; nothing is sent on a host interface. Processes are
# stopped by pid, namespaces deleted by name, both recorded when created.
#
# Usage:
#   source "$(dirname "$0")/lib.sh"
#   ini_init "$@"                      # AOE binary from $1, cleanup trap, $INI_TMP
#   ini_require_root
#   ini_netns target; ini_netns client # namespaces "aoei-<pid>-target", ...
#   ini_link target vt0 client vc0 9000
#   ini_serve target -i vt0 e0.1="$INI_TMP/disk.img"
#   ini_wait_target client vc0 e0.1
#   ini_aoe client cp -i vc0 e0.1 "$INI_TMP/out.img"

readonly INI_SKIP=77
INI_FAILED=0
INI_CLEANUP=()

ini_log()  { printf '[%s %s] %s\n' "$(basename "$0" .sh)" "$(date +%T.%3N)" "$*" >&2; }
ini_pass() { printf 'PASS: %s\n' "$*"; }
ini_fail() { printf 'FAIL: %s\n' "$*"; INI_FAILED=1; }
ini_skip() { printf 'SKIP: %s\n' "$*"; exit "$INI_SKIP"; }
ini_die()  { printf 'FAIL: %s\n' "$*"; exit 1; }

ini_defer() { INI_CLEANUP+=("$1"); }

ini_run_cleanup() {
    local rc=$? i
    set +e
    trap - EXIT INT TERM HUP
    for (( i = ${#INI_CLEANUP[@]} - 1; i >= 0; i-- )); do
        eval "${INI_CLEANUP[i]}"
    done
    INI_CLEANUP=()
    if [[ $rc -eq 0 && $INI_FAILED -ne 0 ]]; then rc=1; fi
    exit "$rc"
}

# ini_init AOE_BINARY: installs the cleanup trap and makes $INI_TMP.
ini_init() {
    AOE=${1:?usage: $0 PATH_TO_AOE}
    [[ -x "$AOE" ]] || ini_die "$AOE is not an executable"
    trap ini_run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    INI_TMP=$(mktemp -d /tmp/aoekit-initiator.XXXXXX)
    ini_defer 'if [[ "${INI_KEEP_TMP:-0}" == 1 ]]; then ini_log "kept $INI_TMP"; else rm -rf "$INI_TMP"; fi'
    INI_START=$SECONDS
}

ini_require_root() {
    [[ $EUID -eq 0 ]] || ini_skip "must run as root (network namespaces, raw sockets)"
    local c
    for c in ip timeout sha256sum "$@"; do
        command -v "$c" >/dev/null 2>&1 || ini_skip "missing prerequisite: $c"
    done
}

# ini_ns NAME: the full namespace name for a short one.
ini_ns() { printf 'aoei-%s-%s' "$$" "$1"; }

# ini_netns NAME: a fresh namespace with lo up, deleted on exit.
ini_netns() {
    local ns
    ns=$(ini_ns "$1")
    ip netns add "$ns" || ini_die "ip netns add $ns failed"
    ini_defer "ip netns del '$ns' 2>/dev/null"
    ip -n "$ns" link set lo up
}

# ini_link NS_A IF_A NS_B IF_B MTU: a veth pair with one end in each namespace, both up.
# IPv6 is off on both ends so that only our AoE frames cross the link.
ini_link() {
    local na nb
    na=$(ini_ns "$1")
    nb=$(ini_ns "$3")
    ip link add "ini$$a" type veth peer name "ini$$b" || ini_die "cannot create a veth pair"
    # Until both ends are moved, the pair lives in our namespace: delete it on failure.
    ini_defer "ip link del 'ini$$a' 2>/dev/null"
    ip link set "ini$$a" netns "$na" name "$2" || ini_die "cannot move veth to $na"
    ip link set "ini$$b" netns "$nb" name "$4" || ini_die "cannot move veth to $nb"
    local ns dev
    for pair in "$na:$2" "$nb:$4"; do
        ns=${pair%%:*}
        dev=${pair#*:}
        ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" 2>/dev/null || true
        ip -n "$ns" link set "$dev" mtu "$5"
        ip -n "$ns" link set "$dev" up
    done
}

# ini_kill_pid PID: stops a process this shell started (checked by parent pid), TERM then KILL,
# bounded to about 5 s.
ini_kill_pid() {
    local pid=$1 i ppid
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    ppid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null || true)
    if [[ "$ppid" != "$$" && "$ppid" != "${BASHPID:-$$}" ]]; then
        ini_log "not killing pid $pid: not our child (ppid=$ppid)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 0
}

# ini_bg NS LOG CMD...: runs CMD in namespace NS in the background, stopped on exit. `timeout`
# bounds its life to 600 s even if this script is killed without running its cleanup; it
# passes our SIGTERM on. $INI_BG_PID is the `timeout` process (see ini_child_of).
ini_bg() {
    local ns log=$2
    ns=$(ini_ns "$1")
    shift 2
    timeout -k 5 600 ip netns exec "$ns" "$@" >"$log" 2>&1 &
    INI_BG_PID=$!
    ini_defer "ini_kill_pid $INI_BG_PID"
}

# ini_child_of PID: the process that `timeout` PID runs (ip netns exec execs the command).
ini_child_of() {
    local i child=""
    for (( i = 0; i < 50; i++ )); do
        child=$(pgrep -P "$1" | head -n1 || true)
        [[ -n "$child" ]] && break
        sleep 0.1
    done
    printf '%s' "$child"
}

# ini_serve NS ARGS...: `aoe serve ARGS` in NS; sets INI_TARGET_PID and INI_TARGET_LOG.
ini_serve() {
    local ns=$1
    shift
    INI_TARGET_LOG=$INI_TMP/serve-$ns.log
    ini_bg "$ns" "$INI_TARGET_LOG" "$AOE" serve --state-dir "$INI_TMP/state-$ns" --no-announce "$@"
    INI_TARGET_PID=$INI_BG_PID
}

# ini_vblade NS SHELF SLOT IFACE FILE: vblade in NS; sets INI_TARGET_PID and INI_TARGET_LOG.
ini_vblade() {
    local ns=$1
    shift
    INI_TARGET_LOG=$INI_TMP/vblade-$ns-$3.log
    ini_bg "$ns" "$INI_TARGET_LOG" vblade "$@"
    INI_TARGET_PID=$INI_BG_PID
}

# ini_aoe NS ARGS...: runs `aoe ARGS` in NS with a hard 120 s limit; returns its status.
ini_aoe() {
    local ns
    ns=$(ini_ns "$1")
    shift
    timeout -k 5 120 ip netns exec "$ns" "$AOE" "$@"
}

# ini_wait_target NS IFACE DISK: waits (at most 10 s) until DISK answers a config query.
ini_wait_target() {
    local i
    for (( i = 0; i < 50; i++ )); do
        if ini_aoe "$1" config -i "$2" "$3" --timeout 0.2 >/dev/null 2>&1; then return 0; fi
        if [[ -n "${INI_TARGET_PID:-}" ]] && ! kill -0 "$INI_TARGET_PID" 2>/dev/null; then
            cat "$INI_TARGET_LOG" >&2
            ini_die "target exited during startup (log above)"
        fi
    done
    cat "${INI_TARGET_LOG:-/dev/null}" >&2
    ini_die "$3 did not answer on $2 within 10 s"
}

# ini_make_image FILE MIB: deterministic pseudo-random bytes (AES-CTR keystream over zeros,
# keyed by FILE's base name), with a run of zeros in the middle so that sparse handling is
# exercised: MiB [MIB/4, MIB/4 + MIB/8) are zero.
ini_make_image() {
    local file=$1 mib=$2 key
    key=$(printf '%s' "$(basename "$file")" | sha256sum | cut -c1-32)
    if command -v openssl >/dev/null 2>&1; then
        head -c "$(( mib << 20 ))" /dev/zero \
            | openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 >"$file"
    else
        head -c "$(( mib << 20 ))" /dev/urandom >"$file"
    fi
    dd if=/dev/zero of="$file" bs=1M seek=$(( mib / 4 )) count=$(( mib / 8 )) conv=notrunc \
        status=none
}

ini_sha() { sha256sum "$1" | cut -d' ' -f1; }

# ini_sha_range FILE FIRST_SECTOR SECTORS
ini_sha_range() {
    dd if="$1" bs=512 skip="$2" count="$3" status=none | sha256sum | cut -d' ' -f1
}

# ini_check NAME CMD...: PASS if CMD succeeds, else FAIL.
ini_check() {
    local name=$1
    shift
    if "$@"; then ini_pass "$name"; else ini_fail "$name"; fi
}

# ini_expect NAME RC WANT_RC PATTERN FILE: passes if RC is WANT_RC and FILE has a line matching
# the grep PATTERN.
ini_expect() {
    local name=$1 rc=$2 want=$3 pattern=$4 file=$5
    if [[ $rc -eq $want ]] && grep -q -e "$pattern" "$file"; then
        ini_pass "$name"
    else
        ini_fail "$name: exit $rc (want $want), output: $(cat "$file")"
    fi
}

ini_finish() {
    ini_log "done in $(( SECONDS - INI_START )) s"
    [[ $INI_FAILED -eq 0 ]] || exit 1
    exit 0
}
