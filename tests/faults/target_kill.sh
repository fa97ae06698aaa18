#!/usr/bin/env bash
# The target dies during an upload: `aoe serve` is SIGKILLed while `aoe cp` uploads 256 MiB and
# is restarted two seconds later (well within the initiator's 30 s dead timeout). The initiator
# retransmits until the target is back, so the upload completes and the image file holds
# exactly the uploaded bytes. Then the promise of FLUSH: `aoe cp` ends every upload with FLUSH
# CACHE EXT, and data acknowledged after it must survive a SIGKILL of the target, so the target
# is SIGKILLed again right after cp returns (no clean shutdown, no final flush of its own) and
# the image is checked on disk.
#
#   target_kill.sh [--mib SIZE]
set -uo pipefail
source "$(dirname "$0")/lib.sh"

mib=256
[[ "${1:-}" == --mib ]] && mib=$2

faults_init du
faults_require_aoe cp
faults_netns_pair

src=$T_TMP/src.img
image=$T_TMP/target.img
t_random_file "$src" "$mib"
truncate -s "${mib}M" "$image"
serve_args=(-i vt --state-dir "$T_TMP/state" e1.1="$image")
t_serve "$FT" "${serve_args[@]}"

faults_aoe cp -i vc --no-progress --json "$src" e1.1 >"$T_TMP/up.json" 2>"$T_TMP/up.err" &
cp_pid=$!
t_defer "t_kill_pid $cp_pid"

# Kill once a quarter of the image has been written (the sparse file fills up as data lands).
quarter_kib=$(( mib * 1024 / 4 ))
for (( i = 0; i < 1200; i++ )); do
    [[ $(du -k "$image" | awk '{print $1}') -ge $quarter_kib ]] && break
    kill -0 "$cp_pid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$cp_pid" 2>/dev/null || t_die "the upload ended before the target could be killed"
t_serve_kill9
t_log "killed at $(du -k "$image" | awk '{print $1}') KiB written; restarting in 2 s"
sleep 2
t_serve "$FT" "${serve_args[@]}"

wait "$cp_pid"
rc=$?
cat "$T_TMP/up.err" >&2
t_check "the upload completed despite the SIGKILL (exit $rc)" [ "$rc" -eq 0 ]
rexmit=$(faults_json_sum "$T_TMP/up.json" retransmits)
t_log "the upload took $rexmit retransmits"
t_check "the initiator retransmitted while the target was gone" [ "$rexmit" -gt 0 ]

# The FLUSH promise: cp has returned, so its FLUSH was acknowledged. SIGKILL at once.
t_serve_kill9
want=$(t_sha "$src")
t_check "after SIGKILL the image on disk holds every uploaded byte" \
    [ "$(t_sha "$image")" == "$want" ]

# And the restarted target serves those bytes back.
t_serve "$FT" "${serve_args[@]}"
faults_aoe cp -i vc --no-progress e1.1 "$T_TMP/down.img" || t_fail "download failed"
t_check "the restarted target serves the uploaded bytes" \
    [ "$(t_sha "$T_TMP/down.img")" == "$want" ]
t_finish
