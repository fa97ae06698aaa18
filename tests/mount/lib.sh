# shellcheck shell=bash
#
# What the `aoe mount` tests (tests/mount/*_test.sh) share beyond tests/lib.sh.
#
# SAFETY: AoE is raw broadcast Ethernet. Every test builds its own network namespace holding
# both ends of a veth pair (vt0 for the target, vi0 for the initiator); `aoe serve` and
# `aoe mount` only ever get those names, and only inside that namespace. The mount client runs
# under `nsenter --net` (network namespace only), because `ip netns exec` would also give it a
# private mount namespace and its FUSE mount would be invisible to the test.
#
# Everything a test creates registers its undo step right away (t_defer): filesystems, loop
# devices, FUSE mounts and their daemons (stopped by the pid they published), the target, the
# namespace, the temporary directory.
#
# Usage:  source "$(dirname "$0")/lib.sh"; mt_init "$@"  (first argument: the aoe binary)

# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

# mt_init AOE_BINARY: t_init, prerequisites (skip if missing), and AOE_RUN_DIR inside $T_TMP so
# that `aoe show` sees only this test's mounts.
mt_init() {
    [[ -x "${1:-}" ]] || t_die "usage: $0 PATH_TO_AOE (not executable: ${1:-none})"
    t_init
    t_find_aoe "$1"
    t_require_root "network namespaces, FUSE, loop devices"
    t_require_cmds ip nsenter timeout losetup sfdisk partx mkfs.ext4 e2fsck sha256sum mountpoint \
        python3
    [[ -c /dev/fuse ]] || t_skip "no /dev/fuse"
    export AOE_RUN_DIR=$T_TMP/run
}

# mt_netns: a namespace with the veth pair vt0 <-> vi0, both ends inside. Sets MT_NS.
mt_netns() {
    MT_NS=$(t_ns mnt)
    t_netns_add "$MT_NS"
    t_veth "$MT_NS" vt0 "$MT_NS" vi0
}

# mt_serve EXPORT...: `aoe serve -i vt0 EXPORT...` in the namespace, ready to serve.
mt_serve() {
    t_serve "$MT_NS" -i vt0 --state-dir "$T_TMP/state" "$@"
    t_wait_log "$SERVE_LOG" 'serving on vt0' 1 10 || t_die "aoe serve does not serve on vt0"
}

# mt_gone PID / mt_unmounted DIR: the daemon has exited / DIR is no longer a mount point.
mt_gone() { ! t_alive "$1"; }
mt_unmounted() { ! mountpoint -q "$1"; }

# mt_aoe ARGS...: the aoe binary in the test's network namespace (mount namespace shared).
mt_aoe() { nsenter --net="/run/netns/$MT_NS" "$AOE_BIN" "$@"; }

# The pid of the daemon serving DISK, from its status file ("" if none).
mt_daemon_pid() {
    sed -n 's/^ *"pid": *\([0-9]*\).*/\1/p' "$AOE_RUN_DIR/$1.json" 2>/dev/null | head -n1
}

# mt_mount DISK DIR: `aoe mount -i vi0 DISK DIR` (as a daemon), with its undo step: detach the
# mount lazily if it is still there and stop the daemon by the pid it published.
mt_mount() {
    local disk=$1 dir=$2 pid
    mkdir -p "$dir"
    mt_aoe mount -i vi0 "$disk" "$dir" --log "$T_TMP/mount-$disk.log" \
        || { cat "$T_TMP/mount-$disk.log" >&2; t_die "aoe mount $disk $dir failed"; }
    pid=$(mt_daemon_pid "$disk")
    [[ -n "$pid" ]] || t_die "no status file for $disk after aoe mount"
    t_defer "mountpoint -q '$dir' && umount -l '$dir'; t_stop_pid $pid"
}

# mt_losetup FILE: attaches FILE with --partscan and sets MT_LOOP. The kernel may have no
# partition-table parser built in (then --partscan finds nothing); partx -a then adds the
# partitions from user space. Both paths end with ${MT_LOOP}p1 present.
mt_losetup() {
    MT_LOOP=$(losetup --find --show --partscan "$1") || t_die "losetup $1 failed"
    t_defer "partx -d '$MT_LOOP' 2>/dev/null; losetup -d '$MT_LOOP' 2>/dev/null"
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
    t_die "no partition device ${loop}p1"
}

# mt_expect_one_line_error NAME WANT_RC PATTERN CMD...: the command exits WANT_RC with exactly
# one line on stderr matching PATTERN.
mt_expect_one_line_error() {
    local name=$1 want=$2 pattern=$3 rc lines
    shift 3
    "$@" >"$T_TMP/out" 2>"$T_TMP/err"
    rc=$?
    lines=$(wc -l <"$T_TMP/err")
    if [[ $rc -ne $want ]]; then
        t_fail "$name: exit $rc, want $want; stderr: $(cat "$T_TMP/err")"
    elif [[ $lines -ne 1 ]]; then
        t_fail "$name: $lines lines on stderr, want 1: $(cat "$T_TMP/err")"
    elif ! grep -q -e "$pattern" "$T_TMP/err"; then
        t_fail "$name: stderr '$(cat "$T_TMP/err")' lacks '$pattern'"
    else
        t_pass "$name: $(cat "$T_TMP/err")"
    fi
}

# mt_no_mount_left DIR...: none of the directories is still a mount point.
mt_no_mount_left() {
    local d
    for d in "$@"; do
        if mountpoint -q "$d"; then t_fail "$d is still mounted"; else t_pass "$d not mounted"; fi
    done
}
