# shellcheck shell=bash
# tests/lib.sh: the one shell library of aoekit's tests. Every shell test sources it, directly or
# through its suite's lib.sh (which keeps only what is specific to that suite). Safe under
# `set -euo pipefail` as well as `set -uo pipefail`.
#
# SAFETY: AoE, DHCP and TFTP are raw broadcast protocols. Tests create their own network
# namespaces ("aoet-<pid>-<name>", see t_ns) joined by veth pairs created inside them, or tap
# devices inside them, and send nothing on any other interface. Everything a test creates
# registers its undo step at once (t_defer); on any exit the steps run in reverse order. Every
# process a test starts is bounded by `timeout` and stopped by its pid, never by name.
#
# Verdicts: t_pass and t_fail print "PASS: ..." and "FAIL: ..." lines (a FAIL makes the script
# exit 1 in the end); t_skip prints "SKIP: <reason>" and exits 77, which ctest reports as
# skipped and scripts/test turns into a failure unless the test is on tests/skip-allowlist.txt.
#
#   source "$(dirname "$0")/../lib.sh"
#   t_init                                  # trap, $T_TMP
#   t_require_root "network namespaces"
#   t_require_cmds ip nft
#   t_find_aoe                              # $AOE_BIN
#   t_netns_pair "$(t_ns t)" vt "$(t_ns c)" vc
#   t_serve "$(t_ns t)" -i vt e1.1="$T_TMP/disk.img"      # $SERVE_PID, $SERVE_LOG
#   t_check "the copy arrived" cmp -s a b
#   t_finish
#
# Environment: T_KEEP_TMP=1 keeps the temporary directory (logs) for debugging.

# Sourced once per script, however many suite libraries source it.
[[ -n "${T_LIB_LOADED:-}" ]] && return 0
T_LIB_LOADED=1
readonly T_SKIP=77
T_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
T_REPO_ROOT="$(cd "$T_LIB_DIR/.." && pwd)"
T_NAME=${T_NAME:-$(basename "$0" .sh)}
T_FAILED=0
T_CLEANUP=()

# ---------------------------------------------------------------------------------------------
# Logging and verdicts
# ---------------------------------------------------------------------------------------------

t_log()  { printf '[%s %s] %s\n' "$T_NAME" "$(date +%T.%3N)" "$*" >&2; }
t_pass() { printf 'PASS: %s\n' "$*"; }
t_fail() { printf 'FAIL: %s\n' "$*"; T_FAILED=1; }
t_skip() { printf 'SKIP: %s\n' "$*"; exit "$T_SKIP"; }
t_die()  { printf 'FAIL: %s\n' "$*"; exit 1; }

# t_check DESCRIPTION CMD...: runs CMD (one simple command: wrap compound conditions in a
# function), PASS if it succeeds, else FAIL.
t_check() {
    local what=$1
    shift
    if "$@"; then t_pass "$what"; else t_fail "$what"; fi
}

# t_expect DESCRIPTION RC WANT_RC PATTERN FILE: PASS if RC is WANT_RC and FILE has a line
# matching the grep PATTERN.
t_expect() {
    local what=$1 rc=$2 want=$3 pattern=$4 file=$5
    if [[ $rc -eq $want ]] && grep -q -e "$pattern" "$file"; then
        t_pass "$what"
    else
        t_fail "$what: exit $rc (want $want), output: $(cat "$file")"
    fi
}

# t_finish: exits 1 if any check failed, else 0.
t_finish() {
    t_log "done in $(( SECONDS - ${T_START:-0} )) s"
    [[ $T_FAILED -eq 0 ]] || exit 1
    exit 0
}

# ---------------------------------------------------------------------------------------------
# Cleanup: a stack of undo steps run in reverse order on any exit
# ---------------------------------------------------------------------------------------------

# t_defer SNIPPET: runs SNIPPET (eval) at exit. Snippets hold only values the test generated
# (pids, namespace names, mktemp paths); they may read $rc, the script's exit status, and
# $T_FAILED (e.g. to print a log only when the test failed).
t_defer() { T_CLEANUP+=("$1"); }

t_run_cleanup() {
    local rc=$? i
    set +e
    trap - EXIT INT TERM HUP
    for (( i = ${#T_CLEANUP[@]} - 1; i >= 0; i-- )); do
        eval "${T_CLEANUP[i]}"
    done
    T_CLEANUP=()
    if [[ $rc -eq 0 && $T_FAILED -ne 0 ]]; then rc=1; fi
    exit "$rc"
}

# t_init: installs the cleanup trap, makes $T_TMP (searchable by everyone, so that a target
# running as another user reaches its files inside) and deletes namespaces that an earlier,
# killed run of any test left behind.
t_init() {
    trap t_run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    T_START=$SECONDS
    T_TMP=$(mktemp -d "/tmp/aoekit-$T_NAME.XXXXXX")
    chmod 755 "$T_TMP"
    # shellcheck disable=SC2016  # expanded at cleanup time, on purpose
    t_defer 'if [[ "${T_KEEP_TMP:-0}" == 1 ]]; then t_log "kept $T_TMP"; else rm -rf "$T_TMP"; fi'
    [[ $EUID -eq 0 ]] && t_delete_stale_namespaces
    return 0
}

# ---------------------------------------------------------------------------------------------
# Prerequisites (a missing one is a skip, with the reason)
# ---------------------------------------------------------------------------------------------

# t_require_root WHY: skip unless root.
t_require_root() {
    [[ $EUID -eq 0 ]] || t_skip "must run as root (${1:-network namespaces})"
}

# t_require_cmds CMD...: skip unless every CMD is installed.
t_require_cmds() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || t_skip "missing prerequisite: $c"
    done
}

# t_find_aoe [PATH]: sets AOE_BIN to PATH, else to $AOE_BIN, else to the first aoe binary of
# the usual build directories; skip if there is none.
t_find_aoe() {
    local c
    AOE_BIN=${1:-${AOE_BIN:-}}
    if [[ -z "$AOE_BIN" ]]; then
        for c in build/release build/ci build/debug build; do
            [[ -x "$T_REPO_ROOT/$c/src/cli/aoe" ]] && { AOE_BIN=$T_REPO_ROOT/$c/src/cli/aoe; break; }
        done
    fi
    [[ -n "$AOE_BIN" && -x "$AOE_BIN" ]] ||
        t_skip "aoe binary not found (${AOE_BIN:-no build}): build it or set AOE_BIN"
    export AOE_BIN
}

# ---------------------------------------------------------------------------------------------
# Processes: started bounded in time, stopped by pid
# ---------------------------------------------------------------------------------------------

# t_alive PID: running and not a zombie.
t_alive() {
    kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# t_stop_pid PID: SIGTERM, up to ~5 s to exit, then SIGKILL; reaps it if it is our child. For
# processes the test started itself (see t_kill_pid) or that published their pid to it (a
# daemon's status file). Bounded.
t_stop_pid() {
    local pid=$1 i
    [[ -n "$pid" ]] || return 0
    if t_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for (( i = 0; i < 50; i++ )); do
            t_alive "$pid" || break
            sleep 0.1
        done
        if t_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    wait "$pid" 2>/dev/null || true
    return 0
}

# t_kill_pid PID: t_stop_pid for a child of this shell only (checked by its parent pid), so a
# recycled pid is never hit.
t_kill_pid() {
    local pid=$1 ppid
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    ppid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null || true)
    if [[ "$ppid" != "$$" && "$ppid" != "${BASHPID:-$$}" ]]; then
        t_log "not stopping pid $pid: not our child (ppid=$ppid)"
        return 0
    fi
    t_stop_pid "$pid"
}

# t_bg LOG CMD...: runs CMD in the background with its output in LOG, bounded by `timeout`
# (T_BG_SECONDS, default 900) even if this script dies without its cleanup, and stopped at
# exit. Sets T_BG_PID (the `timeout` process). Not for $(...): the cleanup entry would be lost.
t_bg() {
    local log=$1
    shift
    timeout -k 5 "${T_BG_SECONDS:-900}" "$@" >"$log" 2>&1 &
    T_BG_PID=$!
    t_defer "t_kill_pid $T_BG_PID"
}

# t_answer_router_solicitations NS IFACE SECONDS: answers the IPv6 router solicitations of QEMU
# guests on IFACE in NS for SECONDS (tests/netboot/ra_responder.py), so that iPXE ends its IPv6
# set-up at once instead of waiting ~16 s for a router the test segment does not have. Stopped
# at exit; sets T_RA_PID and leaves T_BG_PID as it was (callers keep theirs); its log is
# $T_TMP/ra-IFACE.log.
t_answer_router_solicitations() {
    local caller_bg_pid=${T_BG_PID:-}
    T_BG_SECONDS=$(( $3 + 10 )) t_bg "$T_TMP/ra-$2.log" ip netns exec "$1" python3 \
        "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netboot/ra_responder.py" "$2" "$3"
    # shellcheck disable=SC2034  # read by the callers
    T_RA_PID=$T_BG_PID
    T_BG_PID=$caller_bg_pid
}

# t_child_of PID: the process `timeout` PID runs (`ip netns exec` execs its command, so this is
# the command itself); waits up to 5 s for it to appear.
t_child_of() {
    local i child=""
    for (( i = 0; i < 50; i++ )); do
        child=$(awk '{print $1}' "/proc/$1/task/$1/children" 2>/dev/null)
        [[ -n "$child" ]] && break
        sleep 0.1
    done
    printf '%s' "$child"
}

# t_wait_log FILE REGEX [COUNT] [SECONDS] [PID]: waits until FILE has COUNT (default 1) lines
# matching the extended REGEX, at most SECONDS (default 10). Fails at the timeout, or at once
# when PID is given and has exited.
t_wait_log() {
    local file=$1 regex=$2 count=${3:-1} seconds=${4:-10} pid=${5:-} i
    for (( i = 0; i < seconds * 20; i++ )); do
        [[ $(grep -cE -- "$regex" "$file" 2>/dev/null) -ge $count ]] && return 0
        [[ -n "$pid" ]] && ! t_alive "$pid" && return 1
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Network namespaces
# ---------------------------------------------------------------------------------------------

# t_ns NAME: this test's namespace called NAME ("aoet-<pid>-NAME": unique per run).
t_ns() { printf 'aoet-%s-%s' "$$" "$1"; }

# t_netns_add NS: creates NS with lo up; deleted at exit.
t_netns_add() {
    ip netns add "$1" || t_die "ip netns add $1 failed"
    t_defer "t_netns_del '$1'"
    ip -n "$1" link set lo up
}

# t_netns_del NS: stops what still runs in NS (only this test's processes run there), then
# deletes it with its interfaces and nftables tables.
t_netns_del() {
    local p
    for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$1" 2>/dev/null || true
}

# Namespaces of an earlier run that was killed before its cleanup ran ("aoet-<pid>-x" whose pid
# is gone): their leftover processes were started by that run.
t_delete_stale_namespaces() {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^aoet-[0-9]+-' || true); do
        pid=${ns#aoet-}
        pid=${pid%%-*}
        kill -0 "$pid" 2>/dev/null || t_netns_del "$ns"
    done
}

# t_veth NS_A IF_A NS_B IF_B [MTU] [MAC_A]: a veth pair created inside the namespaces (it never
# exists in the host's; NS_A may equal NS_B), both ends up, IPv6 off to keep the link quiet.
t_veth() {
    local ns_a=$1 a=$2 ns_b=$3 b=$4 mtu=${5:-1500} mac=${6:-}
    ip -n "$ns_a" link add "$a" ${mac:+address "$mac"} mtu "$mtu" type veth \
        peer name "$b" netns "$ns_b" mtu "$mtu" || t_die "cannot create veth $a/$b"
    ip netns exec "$ns_a" sysctl -qw "net.ipv6.conf.$a.disable_ipv6=1" 2>/dev/null || true
    ip netns exec "$ns_b" sysctl -qw "net.ipv6.conf.$b.disable_ipv6=1" 2>/dev/null || true
    ip -n "$ns_a" link set "$a" up
    ip -n "$ns_b" link set "$b" up
}

# t_netns_pair NS_A IF_A NS_B IF_B [MTU]: two new namespaces joined by a veth pair.
t_netns_pair() {
    t_netns_add "$1"
    t_netns_add "$3"
    t_veth "$1" "$2" "$3" "$4" "${5:-1500}"
}

# t_nft_rule NS TABLE HOOK DEV RULE...: adds RULE, for AoE frames (ethertype 0x88a2) only, to
# DEV's HOOK chain (ingress or egress) in NS: netdev table TABLE, chain in_DEV or out_DEV, made
# on first use. The table goes with the namespace, or with t_nft_delete NS TABLE.
t_nft_rule() {
    local ns=$1 table=$2 hook=$3 dev=$4 chain
    shift 4
    chain=$([[ $hook == ingress ]] && echo "in_$dev" || echo "out_$dev")
    ip netns exec "$ns" nft add table netdev "$table" || t_die "nft: cannot add a table in $ns"
    ip netns exec "$ns" nft add chain netdev "$table" "$chain" \
        "{ type filter hook $hook device $dev priority 0; }" ||
        t_die "nft: cannot hook $hook on $dev in $ns"
    ip netns exec "$ns" nft add rule netdev "$table" "$chain" ether type 0x88a2 "$@" ||
        t_die "nft: rule '$*' refused"
}

t_nft_delete() { ip netns exec "$1" nft delete table netdev "$2"; }  # NS TABLE

# The AoE command byte (header byte 5, after the 14-byte Ethernet header: bit 152 of the frame)
# is 0 for ATA: the match of ATA frames, for t_nft_rule.
# shellcheck disable=SC2034  # used by the scripts that source this file
readonly T_ATA_ONLY=('@ll,152,8' 0)

# t_nft_counted NS TABLE CHAIN: the packets the chain's `counter` rules have counted, summed.
t_nft_counted() {
    ip netns exec "$1" nft list chain netdev "$2" "$3" | awk '/counter/ {
        for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

# t_wait_for PID SECONDS CMD...: waits (bounded, and while PID lives) until CMD succeeds; fails
# if it did not.
t_wait_for() {
    local pid=$1 limit=$2 i
    shift 2
    for (( i = 0; i < limit * 20; i++ )); do
        "$@" && return 0
        t_alive "$pid" || break
        sleep 0.05
    done
    "$@"
}

# t_hold_ata_around NS DEV PID CMD...: once 200 ATA requests have reached DEV in NS (waiting at
# most 20 s, while PID lives), holds them (drops them on DEV's ingress), runs CMD, waits 1.5 s
# and lets them pass again; so that the change CMD makes lands while PID's requests certainly
# wait on it. Fails if PID's requests never got that far (CMD not run). Uses the nftables
# tables "seen" and "hold" in NS.
t_hold_ata_around() {
    local ns=$1 dev=$2 pid=$3 rc=1
    shift 3
    t_nft_rule "$ns" seen ingress "$dev" "${T_ATA_ONLY[@]}" counter
    if t_wait_for "$pid" 20 t_nft_counted_reaches "$ns" seen "in_$dev" 200; then
        t_nft_rule "$ns" hold ingress "$dev" "${T_ATA_ONLY[@]}" drop
        "$@"
        rc=0
        sleep 1.5
        t_nft_delete "$ns" hold
    fi
    t_nft_delete "$ns" seen
    return "$rc"
}

# t_nft_counted_reaches NS TABLE CHAIN N: whether the chain has counted N packets or more.
t_nft_counted_reaches() { (( $(t_nft_counted "$1" "$2" "$3") >= $4 )); }

# t_in NS CMD...: CMD in namespace NS, bounded (T_CMD_SECONDS, default 600).
t_in() {
    local ns=$1
    shift
    timeout -k 5 "${T_CMD_SECONDS:-600}" ip netns exec "$ns" "$@"
}

# ---------------------------------------------------------------------------------------------
# The target: `aoe serve` in a namespace
# ---------------------------------------------------------------------------------------------

SERVE_COUNT=0

# t_serve NS ARGS...: starts `aoe serve ARGS` in NS and waits until it serves: one "exporting"
# line per EXPORT argument (one for --config) and, with --user, the switch done. Sets
# SERVE_PID (the aoe process), SERVE_WRAPPER (its `timeout`) and SERVE_LOG (a new log per
# start: serve.1.log, serve.2.log, ...).
t_serve() {
    local ns=$1 exports=0 a
    shift
    for a in "$@"; do [[ "$a" == e[0-9]*.[0-9]*=* ]] && exports=$((exports + 1)); done
    [[ " $* " == *" --config "* ]] && exports=1
    SERVE_COUNT=$((SERVE_COUNT + 1))
    SERVE_LOG=$T_TMP/serve.$SERVE_COUNT.log
    t_bg "$SERVE_LOG" ip netns exec "$ns" "$AOE_BIN" serve "$@"
    SERVE_WRAPPER=$T_BG_PID
    SERVE_PID=$(t_child_of "$SERVE_WRAPPER")
    t_wait_log "$SERVE_LOG" 'exporting ' "$exports" 10 "$SERVE_WRAPPER" ||
        { cat "$SERVE_LOG" >&2; t_die "aoe serve did not start"; }
    if [[ " $* " == *" --user "* ]]; then
        t_wait_log "$SERVE_LOG" 'running as user' 1 10 "$SERVE_WRAPPER" ||
            { cat "$SERVE_LOG" >&2; t_die "aoe serve did not switch user"; }
    fi
    t_log "aoe serve pid $SERVE_PID: $*"
}

# t_serve_kill9: SIGKILL the target (no shutdown, no flush of its own) and reap it.
t_serve_kill9() {
    kill -KILL "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_WRAPPER" 2>/dev/null || true
    t_log "aoe serve pid $SERVE_PID killed with SIGKILL"
}

t_serve_alive() { t_alive "$SERVE_PID"; }

# t_wait_target NS IFACE DISK [PID]: waits (at most 10 s) until DISK answers a config query on
# IFACE in NS. Dies at the timeout, or at once if PID (the target's wrapper) has exited.
t_wait_target() {
    local ns=$1 iface=$2 disk=$3 pid=${4:-} i
    for (( i = 0; i < 50; i++ )); do
        t_in "$ns" "$AOE_BIN" config -i "$iface" "$disk" --timeout 0.2 >/dev/null 2>&1 && return 0
        [[ -n "$pid" ]] && ! t_alive "$pid" && t_die "the target of $disk exited during startup"
    done
    t_die "$disk did not answer on $iface within 10 s"
}

# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

# t_copied_bytes DEST: how much of an `aoe cp` download into DEST is written so far. Until it is
# complete, aoe cp writes it to .NAME.aoe-cp-XXXXXX beside DEST (src/cli/cp_local_file.h).
t_copied_bytes() {
    local partial
    for partial in "$(dirname "$1")/.$(basename "$1").aoe-cp-"* "$1"; do
        [[ -e "$partial" ]] && { stat -c %s "$partial"; return; }
    done
    echo 0
}

t_sha() { sha256sum "$1" | cut -d' ' -f1; }

# t_sha_range FILE FIRST_SECTOR SECTORS
t_sha_range() { dd if="$1" bs=512 skip="$2" count="$3" status=none | sha256sum | cut -d' ' -f1; }

# t_random_file PATH MIB: MIB MiB of random bytes.
t_random_file() { head -c "$(( $2 << 20 ))" /dev/urandom >"$1" || t_die "cannot write $1"; }

# t_make_image FILE MIB: deterministic pseudo-random bytes (an AES-CTR keystream keyed by FILE's
# base name: the same name gives the same bytes in every run), never all zeros.
t_make_image() {
    local file=$1 mib=$2 key
    key=$(printf '%s' "$(basename "$file")" | sha256sum | cut -c1-32)
    if command -v openssl >/dev/null 2>&1; then
        head -c "$(( mib << 20 ))" /dev/zero |
            openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 >"$file"
    else
        head -c "$(( mib << 20 ))" /dev/urandom >"$file"
    fi
}

# ---------------------------------------------------------------------------------------------
# Power cuts (tests/powercut/README.md): a FUSE file system that keeps writes in memory until
# fsync/fdatasync/O_DSYNC and loses them when SIGKILLed
# ---------------------------------------------------------------------------------------------

# powercut_mount DIR [BACKING_DIR]: mounts the harness on DIR over BACKING_DIR (default: the
# one of the previous mount, else $T_TMP/powercut-backing). Files put in BACKING_DIR before the
# mount are the durable state. Sets POWERCUT_DIR, POWERCUT_BACKING, POWERCUT_PID and
# POWERCUT_LOG (one line per sync). Mounted in this shell's mount namespace; `ip netns exec`
# started afterwards sees it. Skips if the harness or FUSE is missing.
powercut_mount() {
    local dir=$1 fs=${AOE_POWERCUT_FS:-} c
    POWERCUT_BACKING=${2:-${POWERCUT_BACKING:-$T_TMP/powercut-backing}}
    [[ -c /dev/fuse ]] || t_skip "no /dev/fuse (FUSE is needed for the power-cut harness)"
    if [[ -z "$fs" ]]; then
        for c in build/release build/ci build/debug build; do
            [[ -x "$T_REPO_ROOT/$c/tests/powercut/powercut_fs" ]] &&
                { fs=$T_REPO_ROOT/$c/tests/powercut/powercut_fs; break; }
        done
    fi
    [[ -n "$fs" && -x "$fs" ]] || t_skip "powercut_fs not found: build it or set AOE_POWERCUT_FS"
    mkdir -p "$dir" "$POWERCUT_BACKING"
    POWERCUT_DIR=$dir
    POWERCUT_LOG=$T_TMP/powercut.log
    timeout -k 5 "${T_BG_SECONDS:-900}" "$fs" "$POWERCUT_BACKING" "$dir" --log "$POWERCUT_LOG" \
        >>"$T_TMP/powercut.out" 2>&1 &
    local wrapper=$!
    # SIGTERM (the cleanup) is a clean unmount; a lazy detach catches a mount left dead by a cut.
    t_defer "t_kill_pid $wrapper; mountpoint -q '$dir' && umount -l '$dir'"
    POWERCUT_PID=$(t_child_of "$wrapper")
    POWERCUT_WRAPPER=$wrapper
    for (( c = 0; c < 100; c++ )); do
        [[ "$(findmnt -n -o FSTYPE --mountpoint "$dir" 2>/dev/null)" == fuse.powercut ]] && break
        t_alive "$wrapper" || { cat "$T_TMP/powercut.out" >&2; t_die "powercut_fs exited at start"; }
        sleep 0.05
    done
    [[ "$(findmnt -n -o FSTYPE --mountpoint "$dir")" == fuse.powercut ]] ||
        t_die "powercut_fs did not mount $dir within 5 s"
    t_log "power-cut harness pid $POWERCUT_PID: $POWERCUT_BACKING on $dir"
}

# powercut_cut: the power cut. SIGKILLs the harness, so everything not synced is gone and every
# descriptor open on the mount fails from now on, then detaches the dead mount. The processes
# that used the mount keep running until the test stops them (kill the target right after).
powercut_cut() {
    kill -KILL "$POWERCUT_PID" 2>/dev/null || true
    wait "$POWERCUT_WRAPPER" 2>/dev/null || true
    umount -l "$POWERCUT_DIR" 2>/dev/null || true
    t_log "power cut: harness pid $POWERCUT_PID SIGKILLed, $POWERCUT_DIR detached"
}

# powercut_remount: mounts the harness again on the same directory over the same backing
# directory: the files show exactly what was synced before the cut.
powercut_remount() { powercut_mount "$POWERCUT_DIR" "$POWERCUT_BACKING"; }
