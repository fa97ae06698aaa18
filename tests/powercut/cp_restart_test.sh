#!/usr/bin/env bash
# `aoe cp` uploads while the target host loses power and comes back. The image lives on the
# power-cut harness (README.md), so the cut loses every write the target acknowledged from its
# page cache and had not synced: cp declares itself a flushing client, so `aoe serve`
# (durability auto) acknowledges its writes from the cache. The target is cut (harness and
# `aoe serve` SIGKILLed) once a quarter of the upload was written, the harness is remounted
# and the target restarted, and cp carries on. Checks, per case:
#
#   - cp never exits 0 with an image that differs from the source: it either writes again what
#     the lost cache held (exit 0, and the image, after one more cut, equals the source) or
#     fails saying so. (Before the fix: exit 0, "flushed", and most of the first quarter lost.)
#   - cp said on stderr that the target restarted (its IDENTIFY after cp's flush carries
#     another incarnation), and what it writes again.
#   - the restarted target treats cp as a flushing client again: its writes are acknowledged
#     from the cache and made durable by cp's FLUSH, so one sync of the image after the restart
#     makes at least half of the upload durable at once. (Before the fix the new target did
#     not know cp flushes and synced its writes a group commit at a time: ~8x slower.) Where
#     cp writes nothing again (a crash, a clean reboot), the restarted target's announcement,
#     or the path coming back up, makes cp say again that it flushes (Disk::Redeclare).
#
# Cases: `--no-announce` with a 2 s outage (the path goes down and comes back), and the default
# announcement with the target back as fast as it restarts (the path may never go down). Neither
# is what cp goes by: a path also goes down on a slow FLUSH, and Linux's aoe.ko sends tag-0
# queries too (which is why a first version that went by them was reverted).
#
# A third case kills only `aoe serve` (SIGKILL, no power cut): a file export's unflushed writes
# are in the host's page cache, which survives, and its incarnation is the host's boot, so cp
# must carry on without writing anything again (and the image must still equal the source).
#
# Stops that lose nothing must not look like a power cut (target/incarnation.h): cp carries on
# without writing anything again, and the result equals the source, in
#   - a clean reboot: `aoe serve` stopped with SIGTERM (it flushes every export and records
#     that in its state directory), then the power cut, then a new boot id. Had the stop not
#     synced the image, the cut would lose writes that cp is then not told about.
#   - a restart (SIGTERM) of `aoe serve` over an overlay export.
# And over an overlay export a SIGKILL of `aoe serve` alone does lose what the process held
# (the block map since the last FLUSH): cp must write it again.
#
# A power cut here is the harness's SIGKILL; the "host" boots again in that the file that
# AOE_BOOT_ID_FILE names (target/incarnation.h) gets a new boot id.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"

t_init
t_require_root "network namespaces, FUSE mounts"
t_require_cmds ip timeout findmnt cmp python3
t_find_aoe

readonly MIB=96
NT=$(t_ns t)
NC=$(t_ns c)
t_netns_pair "$NT" vt "$NC" vc
backing=$T_TMP/backing
mnt=$T_TMP/mnt
mkdir -p "$backing"
powercut_mount "$mnt" "$backing"
src=$T_TMP/src.img
t_random_file "$src" "$MIB"
case_number=0
export AOE_BOOT_ID_FILE=$T_TMP/boot_id
cat /proc/sys/kernel/random/uuid >"$AOE_BOOT_ID_FILE"

# start_target SERVE_ARGS...: exports $mnt/$IMAGE as e1.1 on vt, into the per-client overlays
# of $OVERLAY if that is set. (The state directory is not on the harness, which has no
# directories or renames; WriteFileAtomically's tests cover its records' syncs.)
start_target() {
    t_serve "$NT" -i vt --state-dir "$T_TMP/state" --control-socket "$T_TMP/ctl.sock" "$@" \
        "e1.1=$mnt/$IMAGE${OVERLAY:+,overlay=$OVERLAY}"
    t_wait_target "$NC" vc e1.1 "$SERVE_WRAPPER"
}

bytes_written() {  # the running target's bytes_written counter (0 if it does not answer)
    "$AOE_BIN" ctl -S "$T_TMP/ctl.sock" --json stats 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["counters"]["bytes_written"])' \
            2>/dev/null || echo 0
}

# The target dies first: were the harness cut first, the target would still answer the writes
# that then fail on the dead mount with an error, which a host without power does not send.
cut_power() {  # the target dies with the host, and the harness loses what was not synced
    t_serve_kill9
    powercut_cut
    powercut_remount
    cat /proc/sys/kernel/random/uuid >"$AOE_BOOT_ID_FILE"
}

wrote_nothing_again() { ! grep -qE "restarted|written again" "$1"; }

stop_cleanly() {  # SIGTERM, as a service manager stops it; exit 0 within 30 s
    local rc
    kill -TERM "$SERVE_PID"
    timeout 30 tail --pid="$SERVE_PID" -f /dev/null
    wait "$SERVE_WRAPPER"
    rc=$?
    [[ $rc -eq 0 ]] || { cat "$SERVE_LOG" >&2; t_die "aoe serve exited $rc on SIGTERM"; }
    t_log "aoe serve pid $SERVE_PID stopped with SIGTERM"
}

# The result equals the source after one more cut: the image file, or over an overlay export
# what the client reads back from the target started again.
result_equals_source() {
    if [[ -z "${OVERLAY:-}" ]]; then
        cmp -s "$src" "$mnt/$IMAGE"
        return
    fi
    start_target "$@"
    rm -f "$T_TMP/read-back.img"
    t_in "$NC" "$AOE_BIN" cp -i vc --no-progress e1.1 "$T_TMP/read-back.img" >&2 || return 1
    t_serve_kill9
    cmp -s "$src" "$T_TMP/read-back.img"
}

said_what_it_writes_again() {
    grep -qE "^aoe cp: e1.1: [0-9a-f:]{17} restarted \(another incarnation of the target\); writing the first [0-9.]+ [KMG]iB again, which it may have lost" "$1"
}
# upload_across_a_cut power|crash|clean-reboot|restart OUTAGE_SECONDS SERVE_ARGS...
upload_across_a_cut() {
    local kind=$1 outage=$2 i rc syncs_before largest
    shift 2
    case_number=$((case_number + 1))
    IMAGE=case$case_number.img
    truncate -s "${MIB}M" "$backing/$IMAGE"
    [[ -n "${OVERLAY:-}" ]] && OVERLAY=$T_TMP/overlay.$case_number
    local case="case $case_number ($kind${OVERLAY:+ over an overlay export}, outage ${outage} s${*:+, aoe serve $*})"
    start_target "$@"
    t_bg "$T_TMP/cp.$case_number.log" ip netns exec "$NC" "$AOE_BIN" cp -i vc -v --no-progress \
        "$src" e1.1
    local cp_wrapper=$T_BG_PID
    for (( i = 0; i < 1200; i++ )); do
        [[ $(bytes_written) -ge $(( MIB << 18 )) ]] && break
        t_alive "$cp_wrapper" || break
        sleep 0.05
    done
    t_alive "$cp_wrapper" || t_die "$case: the upload ended before the power cut"
    case $kind in
        power) cut_power ;;
        crash) t_serve_kill9 ;;
        clean-reboot) stop_cleanly; cut_power ;;
        restart) stop_cleanly ;;
    esac
    syncs_before=$(wc -l <"$POWERCUT_LOG")
    sleep "$outage"
    start_target "$@"
    wait "$cp_wrapper"
    rc=$?
    cat "$T_TMP/cp.$case_number.log" >&2
    # What the target synced since it came back ("sync IMAGE (why): N dirty bytes ...").
    largest=$(tail -n +"$((syncs_before + 1))" "$POWERCUT_LOG" |
        awk -v img="$IMAGE" '$2 == img && / dirty bytes/ { for (i = 1; i < NF; i++)
            if ($(i + 1) == "dirty") n = $i; if (n > max) max = n } END { print max + 0 }')
    # What the target acknowledged and cp's final FLUSH made durable must survive another cut.
    cut_power
    if [[ $rc -ne 0 ]]; then
        t_fail "$case: cp failed (exit $rc) instead of writing again what the target lost"
        return
    fi
    t_check "$case: cp succeeded, so the result equals the source" result_equals_source "$@"
    if [[ $kind == power || ( $kind == crash && -n "${OVERLAY:-}" ) ]]; then
        t_check "$case: cp said what it writes again" \
            said_what_it_writes_again "$T_TMP/cp.$case_number.log"
    else
        t_check "$case: cp wrote nothing again (nothing acknowledged was lost)" \
            wrote_nothing_again "$T_TMP/cp.$case_number.log"
    fi
    # (An overlay keeps cp's writes in files off the harness: nothing to see there.)
    if [[ -z "${OVERLAY:-}" ]]; then
        t_check "$case: the restarted target acknowledged cp's writes from its cache (largest sync after the restart: $largest bytes)" \
            [ "$largest" -ge $(( MIB << 19 )) ]
    fi
}

upload_across_a_cut power 2 --no-announce
upload_across_a_cut power 0
upload_across_a_cut crash 0
upload_across_a_cut clean-reboot 0
OVERLAY=set  # each case's own directory from here on
upload_across_a_cut restart 0
upload_across_a_cut crash 0
t_finish
