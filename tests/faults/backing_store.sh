#!/usr/bin/env bash
# The backing store fails, and the target reports it without falling over:
#   e1.1  a 64 MiB sparse image on an 8 MiB tmpfs, so writes hit ENOSPC once it is full;
#   e1.2  a healthy 16 MiB image exported with fail=1000-1999:write,fail=3000-3099:read,
#         the fault-injection option (an I/O error at chosen sectors);
#   e1.3  a healthy 16 MiB image that must keep working throughout.
# Each failure reaches the initiator as an ATA error: `aoe cp` exits 1 with a message naming
# the disk and the failing sector range, and a download that fails leaves an existing
# destination file as it was; through `aoe mount` (FUSE) the file returns EIO; and
# the target keeps serving the other exports. A second `aoe serve` given an image that does not
# exist stops at start with the error first and no "serving on" line.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

faults_init mount umount dd
faults_require_aoe cp mount
[[ -c /dev/fuse ]] || t_skip "no /dev/fuse (the FUSE part of this test needs it)"
faults_netns_pair

# The full filesystem: a tmpfs of 8 MiB holding a sparse image of 64 MiB.
full=$T_TMP/full
mkdir "$full"
mount -t tmpfs -o size=8m aoefaults "$full" || t_skip "cannot mount a tmpfs"
t_defer "umount -l '$full'"
truncate -s 64M "$full/thin.img"

bad=$T_TMP/bad.img good=$T_TMP/good.img
t_random_file "$bad" 16
t_random_file "$good" 16
t_serve "$FT" -i vt --state-dir "$T_TMP/state" e1.1="$full/thin.img" \
    "e1.2=$bad,fail=1000-1999:write,fail=3000-3099:read" e1.3="$good"
t_check "the target warns that e1.2 injects faults" \
    grep -q 'fail=1000-1999:write,3000-3099:read: I/O to these sectors fails' "$SERVE_LOG"

# ranges_overlap A B FIRST LAST: A-B (both given) overlaps FIRST-LAST.
ranges_overlap() {
    [[ -n "$1" && -n "$2" ]] && (( $2 >= $3 && $1 <= $4 ))
}

# expect_cp_failure WHAT DISK FIRST LAST CP_ARGS...: cp must exit 1 and name DISK and a sector
# range that overlaps FIRST-LAST.
expect_cp_failure() {
    local what=$1 disk=$2 first=$3 last=$4 out rc range a b
    shift 4
    out=$(faults_aoe cp -i vc --no-progress "$@" 2>&1)
    rc=$?
    t_log "$what: exit $rc: $out"
    t_check "$what: aoe cp exits 1" [ "$rc" -eq 1 ]
    range=$(grep -oE 'sectors [0-9]+-[0-9]+' <<<"$out" | head -1)
    a=$(sed -E 's/sectors ([0-9]+)-([0-9]+)/\1/' <<<"$range")
    b=$(sed -E 's/sectors ([0-9]+)-([0-9]+)/\2/' <<<"$range")
    t_check "$what: the message names $disk" grep -q "$disk" <<<"$out"
    t_check "$what: the message names a sector range in $first-$last ($range)" \
        ranges_overlap "$a" "$b" "$first" "$last"
    t_check "$what: the message says it is an ATA error" grep -qi 'ATA' <<<"$out"
}

# Full disk: 64 MiB of data into 8 MiB. Where it fails depends on the tmpfs, not on us.
t_random_file "$T_TMP/64.img" 64
expect_cp_failure "full filesystem (ENOSPC)" e1.1 0 131071 "$T_TMP/64.img" e1.1
t_check "the target logs the ENOSPC" grep -q 'No space left on device' "$SERVE_LOG"
# Every write in flight fails at once (over a hundred): per export and kind the log keeps the
# first ten of a 5 s interval in full and counts the rest, in a line of its own once the
# interval has passed (checked at the end, by which time it has).
enospc_lines=$(grep -c 'e1.1: write of sectors .* failed: No space left on device' "$SERVE_LOG")
t_check "the ENOSPC burst takes at most 10 lines of the log ($enospc_lines)" \
    [ "$enospc_lines" -le 10 ]

# Injected faults.
t_random_file "$T_TMP/16.img" 16
expect_cp_failure "injected write error" e1.2 1000 1999 "$T_TMP/16.img" e1.2
expect_cp_failure "injected read error" e1.2 3000 3099 e1.2 "$T_TMP/e12.img"
t_check "a download that failed at sector 3000 leaves no file behind" test ! -e "$T_TMP/e12.img"
# Over an existing file: 1.5 MB came before the error, yet the file keeps its bytes (the copy
# went to a new file beside it, removed on the failure; it used to be emptied first).
t_random_file "$T_TMP/keep.img" 4
keep_sum=$(t_sha "$T_TMP/keep.img")
expect_cp_failure "injected read error, over an existing file" e1.2 3000 3099 e1.2 \
    "$T_TMP/keep.img"
t_check "the existing file keeps its bytes after the failed download" \
    [ "$(t_sha "$T_TMP/keep.img")" == "$keep_sum" ]
t_check "and no partial copy is left beside it" \
    test -z "$(find "$T_TMP" -maxdepth 1 -name '*.aoe-cp-*')"
# Outside the ranges the same disk works: read the first 1000 sectors, write 2000-2999.
t_check "e1.2 reads outside the faulty ranges" \
    faults_aoe cp -i vc --no-progress --count-sectors 1000 e1.2 "$T_TMP/head.img"
t_check "e1.2 writes outside the faulty ranges" \
    faults_aoe cp -i vc --no-progress --count-sectors 1000 --seek-sectors 2000 \
        "$T_TMP/16.img" e1.2

# The other export is unaffected, and the target is still the same process.
t_check "e1.3 still uploads" faults_aoe cp -i vc --no-progress "$T_TMP/16.img" e1.3
t_check "e1.3 holds the uploaded bytes" \
    [ "$(t_sha "$good")" == "$(t_sha "$T_TMP/16.img")" ]
t_check "the target survived every failure" t_serve_alive

# Through FUSE: a read of a failing sector is EIO, a read elsewhere works. `ip netns exec`
# gives the command its own mount namespace, so mount, read and unmount run in one shell.
mnt=$T_TMP/mnt
mkdir "$mnt"
fuse_out=$(AOE_RUN_DIR=$T_TMP/run faults_in_client sh -c '
    aoe=$1 mnt=$2 log=$3
    "$aoe" mount -i vc e1.2 "$mnt" --foreground --log "$log" & pid=$!
    i=0
    while [ ! -e "$mnt/e1.2" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    dd if="$mnt/e1.2" of=/dev/null bs=512 skip=3000 count=1 iflag=direct 2>&1 &&
        echo "READ-OF-BAD-SECTOR-SUCCEEDED"
    dd if="$mnt/e1.2" of=/dev/null bs=512 skip=10 count=1 iflag=direct 2>/dev/null &&
        echo "GOOD-SECTOR-OK"
    "$aoe" umount "$mnt" >/dev/null 2>&1 || kill "$pid"
    wait "$pid"
' sh "$AOE_BIN" "$mnt" "$T_TMP/mount.log" 2>&1)
t_log "FUSE: $fuse_out"
t_check "FUSE read of an injected bad sector fails with EIO" \
    grep -q 'Input/output error' <<<"$fuse_out"
t_check "FUSE read of a good sector works" grep -q 'GOOD-SECTOR-OK' <<<"$fuse_out"

t_check "the log counts the ENOSPC lines it left out, without a further failure or a stop" \
    t_wait_log "$SERVE_LOG" 'e1.1: [0-9]+ more "write failed" lines? suppressed in the last' 1 10 \
    "$SERVE_WRAPPER"
t_log "$(grep -E 'e1\.[0-9]: [0-9]+ more' "$SERVE_LOG")"

# An image that cannot be opened stops the start. What the administrator reads first is which
# image and why, not a "serving on" line as if the start had gone well (it used to come first).
out=$T_TMP/missing.out
timeout 10 ip netns exec "$FT" "$AOE_BIN" serve -i vt --state-dir "$T_TMP/state2" \
    "e1.9=$T_TMP/missing.img" >"$out" 2>&1
t_expect "serve with a missing image: exit 1" "$?" 1 \
    "error e1.9: cannot open image $T_TMP/missing.img: No such file or directory" "$out"
t_log "serve with a missing image said: $(cat "$out")"
t_check "no 'serving on' line" bash -c "! grep -q 'serving on' '$out'"
t_check "then a summary pointing at it, not a bare errno" \
    grep -q "^aoe serve: cannot start serving 1 export(s) on vt; the line above says why$" "$out"
t_finish
