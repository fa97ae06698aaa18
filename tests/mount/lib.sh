# shellcheck shell=bash
#
# Shared helpers for the `aoe mount` tests (tests/mount/*_test.sh).
#
# SAFETY: AoE is raw broadcast Ethernet. Every test builds its own network namespace holding
# both ends of a veth pair (vt0 for the target, vi0 for the initiator); `aoe serve` and
# `aoe mount` only ever get those names, and only inside that namespace. The mount client runs
# under `nsenter --net` (network namespace only), because `ip netns exec` would also give it a
# private mount namespace and its FUSE mount would be invisible to the test.
#
# Everything a test creates registers its undo step right away (mt_defer); on any exit the
# steps run in reverse order: filesystems, loop devices, FUSE mounts and their daemons (killed
# by the pid they published), the target, the namespace, the temporary directory.
#
# Usage:  source "$(dirname "$0")/lib.sh"; mt_init "$@"  (first argument: the aoe binary)

MT_SKIP=77
MT_FAILED=0
MT_CLEANUP=()

mt_log()  { printf '[mount-test %s] %s\n' "$(date +%T)" "$*" >&2; }
mt_pass() { printf 'ok: %s\n' "$*"; }
mt_fail() { printf 'FAIL: %s\n' "$*"; MT_FAILED=1; }
mt_die()  { printf 'FAIL: %s\n' "$*"; exit 1; }
mt_skip() { printf 'SKIP: %s\n' "$*"; exit "$MT_SKIP"; }

mt_defer() { MT_CLEANUP+=("$1"); }

mt_run_cleanup() {
    local rc=$? i
    set +e
    trap - EXIT INT TERM HUP
    for (( i = ${#MT_CLEANUP[@]} - 1; i >= 0; i-- )); do
        eval "${MT_CLEANUP[i]}"
    done
    MT_CLEANUP=()
    if [[ $rc -eq 0 && $MT_FAILED -ne 0 ]]; then rc=1; fi
    exit "$rc"
}

# mt_init AOE_BINARY: checks prerequisites (exit 77 if missing), installs the cleanup trap,
# makes MT_TMP and points AOE_RUN_DIR into it so that `aoe show` sees only this test's mounts.
mt_init() {
    AOE=${1:?usage: $0 PATH_TO_AOE}
    [[ -x "$AOE" ]] || mt_die "not executable: $AOE"
    [[ $EUID -eq 0 ]] || mt_skip "must run as root (network namespaces, FUSE, loop devices)"
    local c
    for c in ip nsenter timeout losetup sfdisk partx mkfs.ext4 e2fsck sha256sum mountpoint; do
        command -v "$c" >/dev/null 2>&1 || mt_skip "missing prerequisite: $c"
    done
    [[ -c /dev/fuse ]] || mt_skip "no /dev/fuse"
    trap mt_run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    MT_TMP=$(mktemp -d /tmp/aoekit-mount-test.XXXXXX)
    mt_defer 'if [[ "${MT_KEEP_TMP:-0}" == 1 ]]; then mt_log "kept $MT_TMP"; else rm -rf "$MT_TMP"; fi'
    export AOE_RUN_DIR=$MT_TMP/run
}

# mt_alive PID: running and not a zombie (daemons are reparented, and their reaper may be slow).
mt_alive() {
    kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# Stops a process by pid: TERM, then KILL after ~5 s. Bounded.
mt_kill_pid() {
    local pid=$1 i
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
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

# mt_netns: a namespace with the veth pair vt0 <-> vi0, both ends inside. Sets MT_NS.
mt_netns() {
    MT_NS="aoekit-mnt-$$"
    ip netns add "$MT_NS" || mt_die "ip netns add $MT_NS failed"
    mt_defer "ip netns del '$MT_NS' 2>/dev/null"
    ip -n "$MT_NS" link set lo up
    ip -n "$MT_NS" link add vt0 type veth peer name vi0 || mt_die "cannot create the veth pair"
    ip -n "$MT_NS" link set vt0 up
    ip -n "$MT_NS" link set vi0 up
}

# mt_serve EXPORT...: `aoe serve -i vt0 EXPORT...` in the namespace, bounded to 10 minutes.
mt_serve() {
    local log=$MT_TMP/serve.log i
    timeout -k 5 600 ip netns exec "$MT_NS" "$AOE" serve -i vt0 --state-dir "$MT_TMP/state" \
        "$@" >"$log" 2>&1 &
    MT_SERVE_PID=$!
    mt_defer "mt_kill_pid $MT_SERVE_PID"
    for (( i = 0; i < 100; i++ )); do
        grep -q 'serving on vt0' "$log" 2>/dev/null && return 0
        kill -0 "$MT_SERVE_PID" 2>/dev/null || { cat "$log" >&2; mt_die "aoe serve exited"; }
        sleep 0.1
    done
    cat "$log" >&2
    mt_die "aoe serve did not start within 10 s"
}

# mt_aoe ARGS...: the aoe binary in the test's network namespace (mount namespace shared).
mt_aoe() { nsenter --net="/run/netns/$MT_NS" "$AOE" "$@"; }

# The pid of the daemon serving DISK, from its status file ("" if none).
mt_daemon_pid() {
    sed -n 's/^ *"pid": *\([0-9]*\).*/\1/p' "$AOE_RUN_DIR/$1.json" 2>/dev/null | head -n1
}

# mt_mount DISK DIR: `aoe mount -i vi0 DISK DIR` (as a daemon), with its undo step: detach the
# mount lazily if it is still there and stop the daemon by the pid it published.
mt_mount() {
    local disk=$1 dir=$2 pid
    mkdir -p "$dir"
    mt_aoe mount -i vi0 "$disk" "$dir" --log "$MT_TMP/mount-$disk.log" \
        || { cat "$MT_TMP/mount-$disk.log" >&2; mt_die "aoe mount $disk $dir failed"; }
    pid=$(mt_daemon_pid "$disk")
    [[ -n "$pid" ]] || mt_die "no status file for $disk after aoe mount"
    mt_defer "mountpoint -q '$dir' && umount -l '$dir'; mt_kill_pid $pid"
}

# mt_losetup FILE: attaches FILE with --partscan and sets MT_LOOP. The kernel may have no
# partition-table parser built in (then --partscan finds nothing); partx -a then adds the
# partitions from user space. Both paths end with ${MT_LOOP}p1 present.
mt_losetup() {
    MT_LOOP=$(losetup --find --show --partscan "$1") || mt_die "losetup $1 failed"
    mt_defer "partx -d '$MT_LOOP' 2>/dev/null; losetup -d '$MT_LOOP' 2>/dev/null"
}

# mt_partitions LOOP: waits for LOOPp1 (kernel partscan), falling back to partx -a.
mt_partitions() {
    local loop=$1 i
    # A kernel with a partition parser creates the devices during losetup itself.
    for (( i = 0; i < 5; i++ )); do
        [[ -b "${loop}p1" ]] && return 0
        sleep 0.1
    done
    partx -a "$loop" 2>/dev/null || partx -u "$loop"
    for (( i = 0; i < 20; i++ )); do
        [[ -b "${loop}p1" ]] && return 0
        sleep 0.1
    done
    mt_die "no partition device ${loop}p1"
}

# mt_expect_one_line_error NAME WANT_RC PATTERN CMD...: the command exits WANT_RC with exactly
# one line on stderr matching PATTERN.
mt_expect_one_line_error() {
    local name=$1 want=$2 pattern=$3 rc lines
    shift 3
    "$@" >"$MT_TMP/out" 2>"$MT_TMP/err"
    rc=$?
    lines=$(wc -l <"$MT_TMP/err")
    if [[ $rc -ne $want ]]; then
        mt_fail "$name: exit $rc, want $want; stderr: $(cat "$MT_TMP/err")"
    elif [[ $lines -ne 1 ]]; then
        mt_fail "$name: $lines lines on stderr, want 1: $(cat "$MT_TMP/err")"
    elif ! grep -q -e "$pattern" "$MT_TMP/err"; then
        mt_fail "$name: stderr '$(cat "$MT_TMP/err")' lacks '$pattern'"
    else
        mt_pass "$name: $(cat "$MT_TMP/err")"
    fi
}

# mt_no_fuse_left DIR...: none of the directories is still a mount point.
mt_no_mount_left() {
    local d
    for d in "$@"; do
        if mountpoint -q "$d"; then mt_fail "$d is still mounted"; else mt_pass "$d not mounted"; fi
    done
}
