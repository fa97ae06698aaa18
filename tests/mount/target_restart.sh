# shellcheck shell=bash
#
# Helpers for the tests of `aoe mount` against a target that dies or restarts
# (mount_target_restart_test.sh, mount_dead_target_test.sh). Sourced after lib.sh and mt_netns.

# in_serve EXPORT...: starts `aoe serve -i vt0 EXPORT...` in the test's namespace and sets
# IN_SERVE_PID to the pid of aoe itself (not of a wrapper), so that SIGKILL is a crash of the
# target. It runs under `ip netns exec`, which also gives it a private copy of the mount
# namespace: a target started after `aoe mount` holds a copy of the FUSE mount, as any process
# that enters a new mount namespace after the mount does (a restarted service with private
# mounts). Bounded: `timeout` ends it after 5 minutes whatever happens to the test.
in_serve() {
    local log=$T_TMP/serve.log before i
    before=$(grep -c 'serving on vt0' "$log" 2>/dev/null)
    timeout -k 5 300 ip netns exec "$MT_NS" "$AOE_BIN" serve -i vt0 --state-dir "$T_TMP/state" \
        "$@" >>"$log" 2>&1 &
    local wrapper=$!
    disown "$wrapper"  # a crash of the target is the point here, not news for the job table
    t_defer "t_kill_pid $wrapper"
    IN_SERVE_PID=
    for (( i = 0; i < 100; i++ )); do
        [[ -z "$IN_SERVE_PID" ]] && IN_SERVE_PID=$(t_child_of "$wrapper")
        if [[ -n "$IN_SERVE_PID" && $(grep -c 'serving on vt0' "$log") -gt ${before:-0} ]]; then
            t_defer "kill -KILL $IN_SERVE_PID 2>/dev/null"
            return 0
        fi
        kill -0 "$wrapper" 2>/dev/null || { cat "$log" >&2; t_die "aoe serve exited"; }
        sleep 0.1
    done
    cat "$log" >&2
    t_die "aoe serve did not start within 10 s"
}

# in_crash_target: SIGKILL of the target, as a crash.
in_crash_target() {
    kill -KILL "$IN_SERVE_PID" 2>/dev/null
    local i
    for (( i = 0; i < 50; i++ )); do
        kill -0 "$IN_SERVE_PID" 2>/dev/null || return 0
        sleep 0.1
    done
    t_die "target $IN_SERVE_PID survived SIGKILL"
}

# in_stop_target: SIGTERM, as a service manager stops the target; it flushes every export
# and exits (bounded: 30 s).
in_stop_target() {
    kill -TERM "$IN_SERVE_PID" 2>/dev/null
    in_wait_gone "$IN_SERVE_PID" 30 || t_die "target $IN_SERVE_PID still runs 30 s after SIGTERM"
}

# in_drop_identify: drops every IDENTIFY DEVICE request that reaches the target on vt0 (an
# nftables netdev rule with a counter): ATA commands (AoE command byte 14+5 is 0) of IDENTIFY
# (ATA command byte 14+10+3 is 0xEC; a reply has its status there instead, so replies pass).
# in_pass_identify removes the rule; the test's namespace goes at exit anyway.
in_drop_identify() {
    t_nft_rule "$MT_NS" check ingress vt0 "${T_ATA_ONLY[@]}" @ll,216,8 0xec counter drop
}
in_pass_identify() { t_nft_delete "$MT_NS" check; }

# in_identifies_dropped: how many IDENTIFY requests in_drop_identify's rule has dropped.
in_identifies_dropped() { t_nft_counted "$MT_NS" check in_vt0; }
in_some_identify_dropped() { [[ $(in_identifies_dropped) -gt 0 ]]; }

# in_wait_identify_dropped PID SECONDS: waits (bounded, and while PID lives) until an IDENTIFY
# was dropped; fails if none was.
in_wait_identify_dropped() { t_wait_for "$1" "$2" in_some_identify_dropped; }

# in_wait_file PID FILE SECONDS: waits (bounded, and while PID lives) until FILE exists; fails
# if it does not.
in_wait_file() { t_wait_for "$1" "$3" test -e "$2"; }

# in_mount DISK DIR [ARGS...]: `aoe mount -i vi0 DISK DIR ARGS...`, undone like mt_mount (lib.sh).
in_mount() {
    local disk=$1 dir=$2 pid
    shift 2
    mkdir -p "$dir"
    mt_aoe mount -i vi0 "$disk" "$dir" --log "$T_TMP/mount-$disk.log" "$@" \
        || { cat "$T_TMP/mount-$disk.log" >&2; t_die "aoe mount $disk $dir failed"; }
    pid=$(mt_daemon_pid "$disk")
    [[ -n "$pid" ]] || t_die "no status file for $disk after aoe mount"
    t_defer "mountpoint -q '$dir' && umount -l '$dir'; t_kill_pid $pid"
}

# in_json_field DISK FIELD: a top-level number from `aoe show --json` for DISK ("" if none).
in_json_field() {
    mt_aoe show --json | python3 -c '
import json, sys
for m in json.load(sys.stdin)["mounts"]:
    if m["disk"] == sys.argv[1]:
        print(m[sys.argv[2]])' "$1" "$2"
}

# in_paths_down DISK: every path of DISK is down in `aoe show --json`.
in_paths_down() {
    mt_aoe show --json | python3 -c '
import json, sys
for m in json.load(sys.stdin)["mounts"]:
    if m["disk"] == sys.argv[1]:
        sys.exit(0 if m["paths"] and all(p["state"] == "down" for p in m["paths"]) else 1)
sys.exit(1)' "$1"
}

# in_wait_gone PID SECONDS: waits (bounded) for PID to exit; fails if it does not.
in_wait_gone() {
    local pid=$1 limit=$2 i
    for (( i = 0; i < limit * 10; i++ )); do
        t_alive "$pid" || return 0
        sleep 0.1
    done
    return 1
}
