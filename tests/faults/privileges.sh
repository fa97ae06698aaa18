#!/usr/bin/env bash
# `aoe serve` with `user = "nobody"`: after opening its sockets, images and state files as
# root, the target runs as nobody with CAP_NET_RAW as its only capability, and still works:
#   - /proc/PID/status shows uid/gid nobody, CapEff = CapPrm = CAP_NET_RAW only (0x2000),
#     no inheritable or ambient capabilities, NoNewPrivs 1;
#   - the state directory belongs to nobody, and a config string set over the wire is saved;
#   - every thread (the state writer too) has the same uid and CAP_NET_RAW at most;
#   - I/O works (every byte verified by faults_soak_client), also into an overlay directory
#     whose parents were made at start;
#   - a SIGHUP that adds an image nobody cannot open fails cleanly and keeps serving;
#   - a SIGHUP that adds an interface works: that needs CAP_NET_RAW, the reason it is kept;
#   - SIGTERM still ends it cleanly (exit 0, final flush done as nobody).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

faults_init stat
faults_require_aoe config cp
id nobody >/dev/null 2>&1 || t_skip "no user 'nobody' on this machine"
nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)
faults_netns_pair
t_veth "$FT" vt2 "$FC" vc2

# Root-only images: readable only because they are opened before the switch.
disk=$T_TMP/disk.img locked=$T_TMP/locked.img open=$T_TMP/open.img
for f in "$disk" "$locked" "$open"; do truncate -s 32M "$f"; done
chmod 600 "$disk" "$locked"
chmod 666 "$open"
state=$T_TMP/state
config=$T_TMP/serve.toml
write_config() {  # INTERFACES EXPORT_TABLES
    printf 'interfaces = [%s]\nstate_dir = "%s"\nuser = "nobody"\n%s\n' "$1" "$state" "$2" >"$config"
}
e11=$(printf '[[export]]\ntarget = "e1.1"\npath = "%s"\n' "$disk")
# An overlay export whose directory's parents do not exist yet: made as root at start, they
# must let nobody through to the directory it is given.
golden=$T_TMP/golden.img
truncate -s 32M "$golden"
chmod 600 "$golden"
e14=$(printf '[[export]]\ntarget = "e1.4"\npath = "%s"\noverlay = "%s"\n' "$golden" \
    "$T_TMP/fresh/overlays/e1.4")
write_config '"vt"' "$e11"$'\n'"$e14"
t_serve "$FT" --config "$config"
# (t_serve waits for the switch only when --user is on the command line; here it is in the file.)
t_wait_log "$SERVE_LOG" 'running as user' 1 10 "$SERVE_WRAPPER" || t_die "aoe serve did not switch user"

status=/proc/$SERVE_PID/status
# The value of one /proc/PID/status line, fields separated by single spaces.
field() { awk -v k="$1:" '$1 == k {$1 = ""; sub(/^ /, ""); print}' "$status"; }
t_log "status: Uid $(field Uid) / Gid $(field Gid) / CapEff $(field CapEff) / CapPrm $(field CapPrm)"
t_check "runs as nobody (real, effective, saved, fs uid)" \
    [ "$(field Uid)" == "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ]
t_check "runs with nobody's group" \
    [ "$(field Gid)" == "$nobody_gid $nobody_gid $nobody_gid $nobody_gid" ]
t_check "CapEff is CAP_NET_RAW only" [ "$(field CapEff)" == 0000000000002000 ]
t_check "CapPrm is CAP_NET_RAW only" [ "$(field CapPrm)" == 0000000000002000 ]
t_check "no inheritable capabilities" [ "$(field CapInh)" == 0000000000000000 ]
t_check "no ambient capabilities" [ "$(field CapAmb)" == 0000000000000000 ]
t_check "no_new_privs is set" [ "$(field NoNewPrivs)" == 1 ]
t_check "the state directory belongs to nobody" [ "$(stat -c %u "$state")" == "$nobody_uid" ]

t_check "a config string set over the wire is accepted" \
    faults_aoe config -i vc e1.1 --force owned-by-test --timeout 3
t_check "and saved in the state directory by nobody" \
    grep -rqs owned-by-test "$state"
# Capabilities belong to each thread: the state writer thread must have dropped them too. The
# signal thread (started before the drop, src/cli/signal_thread.h) keeps none: the uid change
# empties the sets of a thread that did not ask to keep them. So each thread holds CAP_NET_RAW
# only or nothing, and at least two (the loop and the state writer) hold CAP_NET_RAW.
every_thread_dropped() {
    local count=0 with_raw=0 task caps
    for task in /proc/"$SERVE_PID"/task/*/status; do
        caps=$(awk -v uid="$nobody_uid" '$1 == "Uid:" {u = ($2 == uid && $3 == uid && $4 == uid && $5 == uid)}
             $1 == "CapEff:" {e = $2}
             $1 == "CapPrm:" {p = $2}
             $1 == "NoNewPrivs:" {n = ($2 == 1)}
             END {if (u && n && e == p && (e == "0000000000002000" || e == "0000000000000000")) print e}' \
            "$task")
        [ -n "$caps" ] || return 1
        count=$((count + 1))
        [ "$caps" == 0000000000002000 ] && with_raw=$((with_raw + 1))
    done
    t_log "threads of aoe serve: $count, $with_raw with CAP_NET_RAW"
    [ "$with_raw" -ge 2 ]
}
t_check "every thread, the state writer included, is nobody with CAP_NET_RAW only (or nothing) and no_new_privs" \
    every_thread_dropped
t_check "I/O works as nobody (every byte verified)" \
    faults_soak_client -i vc -t e1.1 --seconds 5 --depth 8
head -c 1M /dev/urandom >"$T_TMP/w.bin"
t_check "an overlay export in directories made at start takes writes as nobody" \
    faults_aoe cp -i vc --no-progress "$T_TMP/w.bin" e1.4
t_check "into a client overlay in its directory" \
    test -n "$(find "$T_TMP/fresh/overlays/e1.4" -name '*.data')"

# SIGHUP: an image nobody cannot open. The reload fails as a whole; e1.1 keeps serving.
write_config '"vt"' "$e11$(printf '\n[[export]]\ntarget = "e1.2"\npath = "%s"\n' "$locked")"
kill -HUP "$SERVE_PID"
t_check "a reload with an unreadable image is refused with the reason" \
    t_wait_log "$SERVE_LOG" 'cannot open image .*locked.img: Permission denied' 1 5
t_check "and the previous configuration stays" \
    t_wait_log "$SERVE_LOG" 'still serving the previous configuration' 1 5
t_check "e1.1 still serves after the refused reload" \
    faults_aoe cp -i vc --no-progress --count-sectors 2048 e1.1 "$T_TMP/head.img"
t_check "e1.2 was not added" \
    bash -c "! timeout 30 ip netns exec '$FC' '$AOE_BIN' cp -i vc --no-progress --count-sectors 1 e1.2 '$T_TMP/x.img' 2>/dev/null"

# SIGHUP: a new interface (a new packet socket: CAP_NET_RAW) with an export on it.
write_config '"vt", "vt2"' "$e11$(printf '\n[[export]]\ntarget = "e1.3"\npath = "%s"\n' "$open")"
kill -HUP "$SERVE_PID"
t_check "a reload that adds an interface works as nobody" \
    t_wait_log "$SERVE_LOG" 'SIGHUP: reloaded' 1 5
t_check "the new export answers on the new interface" \
    faults_soak_client -i vc2 -t e1.3 --seconds 2 --depth 8
t_check "still nobody with CAP_NET_RAW only after the reloads" \
    [ "$(field CapEff)" == 0000000000002000 ]

kill -TERM "$SERVE_PID"
wait "$SERVE_WRAPPER"
rc=$?
t_check "SIGTERM ends it cleanly (exit $rc)" [ "$rc" -eq 0 ]
t_check "no error in the log but the refused reload's" \
    bash -c "! grep -E '^[^ ]+ error' '$SERVE_LOG' | grep -vE 'locked.img|could not apply'"
t_finish
