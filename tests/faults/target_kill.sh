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

src=$FAULTS_TMP/src.img
image=$FAULTS_TMP/target.img
faults_random_image "$src" "$mib"
truncate -s "${mib}M" "$image"
serve_args=(-i vt --state-dir "$FAULTS_TMP/state" e1.1="$image")
faults_serve "${serve_args[@]}"

faults_aoe cp -i vc --no-progress --json "$src" e1.1 >"$FAULTS_TMP/up.json" 2>"$FAULTS_TMP/up.err" &
cp_pid=$!
faults_defer "faults_kill_pid $cp_pid"

# Kill once a quarter of the image has been written (the sparse file fills up as data lands).
quarter_kib=$(( mib * 1024 / 4 ))
for (( i = 0; i < 1200; i++ )); do
    [[ $(du -k "$image" | awk '{print $1}') -ge $quarter_kib ]] && break
    kill -0 "$cp_pid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$cp_pid" 2>/dev/null || faults_die "the upload ended before the target could be killed"
faults_serve_kill9
faults_log "killed at $(du -k "$image" | awk '{print $1}') KiB written; restarting in 2 s"
sleep 2
faults_serve "${serve_args[@]}"

wait "$cp_pid"
rc=$?
cat "$FAULTS_TMP/up.err" >&2
faults_check "the upload completed despite the SIGKILL (exit $rc)" [ "$rc" -eq 0 ]
rexmit=$(faults_json_sum "$FAULTS_TMP/up.json" retransmits)
faults_log "the upload took $rexmit retransmits"
faults_check "the initiator retransmitted while the target was gone" [ "$rexmit" -gt 0 ]

# The FLUSH promise: cp has returned, so its FLUSH was acknowledged. SIGKILL at once.
faults_serve_kill9
want=$(faults_sha "$src")
faults_check "after SIGKILL the image on disk holds every uploaded byte" \
    [ "$(faults_sha "$image")" == "$want" ]

# And the restarted target serves those bytes back.
faults_serve "${serve_args[@]}"
faults_aoe cp -i vc --no-progress e1.1 "$FAULTS_TMP/down.img" || faults_fail "download failed"
faults_check "the restarted target serves the uploaded bytes" \
    [ "$(faults_sha "$FAULTS_TMP/down.img")" == "$want" ]
faults_finish
