#!/bin/bash
#
# mount_two_disks_test.sh AOE: two disks mounted at once, each by its own daemon; unmounting
# one never disturbs the other, even in the middle of a read (the seed implementation crashed
# here). Also checks `aoe show` and `aoe show --json` before and after.
#
#   1. serve e0.1 and e0.2; aoe mount both; both files read back their images exactly;
#   2. aoe show / aoe show --json list both disks with their path (vi0, up);
#   3. open e0.2 and read its first half, aoe umount e0.1, read the second half through the
#      same descriptor: the read gets the image's checksum, e0.2's daemon and mount are
#      untouched;
#   4. aoe show lists only e0.2; after aoe umount of e0.2 it lists nothing.
#
# Exit: 0 pass, 1 fail, 77 skipped.
set -u
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
mt_init "$@"

IMG1=$T_TMP/one.img
IMG2=$T_TMP/two.img
head -c $((16 * 1024 * 1024)) /dev/urandom >"$IMG1"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$IMG2"
SUM2=$(sha256sum <"$IMG2" | cut -d' ' -f1)
mt_netns
mt_serve "e0.1=$IMG1" "e0.2=$IMG2"

M1=$T_TMP/m1
M2=$T_TMP/m2
mt_mount e0.1 "$M1"
mt_mount e0.2 "$M2"
PID1=$(mt_daemon_pid e0.1)
PID2=$(mt_daemon_pid e0.2)
t_check "each disk has its own daemon ($PID1, $PID2)" [ "$PID1" != "$PID2" ]

# --- 1. both serve their own image ------------------------------------------------------------
cmp -s "$M1/e0.1" "$IMG1" && t_pass "e0.1 reads back its image" || t_fail "e0.1 differs from its image"
cmp -s -n $((8 * 1024 * 1024)) "$M2/e0.2" "$IMG2" && t_pass "e0.2 reads back its image" \
    || t_fail "e0.2 differs from its image"

# --- 2. aoe show ----------------------------------------------------------------------------
# show_lists_both: `aoe show` names both disks, their files and one path (vi0, up) each.
show_lists_both() {
    local want
    mt_aoe show >"$T_TMP/show.txt" || return 1
    cat "$T_TMP/show.txt"
    for want in "e0.1" "e0.2" "$M1/e0.1" "$M2/e0.2" "path vi0" "up"; do
        grep -q -F -e "$want" "$T_TMP/show.txt" || { t_log "aoe show lacks '$want'"; return 1; }
    done
    [[ $(grep -c 'path vi0' "$T_TMP/show.txt") -eq 2 ]]
}
# show_json_lists_both: the same in `aoe show --json`, with sizes and path counters.
show_json_lists_both() {
    mt_aoe show --json >"$T_TMP/show.json" || return 1
    python3 - "$T_TMP/show.json" "$M1" "$M2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
mounts = {m["disk"]: m for m in doc["mounts"]}
assert set(mounts) == {"e0.1", "e0.2"}, mounts.keys()
assert mounts["e0.1"]["mountpoint"] == sys.argv[2] and mounts["e0.2"]["mountpoint"] == sys.argv[3]
assert mounts["e0.1"]["size_bytes"] == 16 << 20 and mounts["e0.2"]["size_bytes"] == 64 << 20
for m in mounts.values():
    assert len(m["paths"]) == 1, m["paths"]
    p = m["paths"][0]
    assert p["interface"] == "vi0" and p["state"] == "up", p
    for key in ("target_mac", "local_mac", "in_flight", "retransmits", "rtt_us"):
        assert key in p, key
PY
}
t_check "aoe show lists both disks with their paths" show_lists_both
t_check "aoe show --json lists both disks with their paths" show_json_lists_both

# --- 3. unmount e0.1 in the middle of a read of e0.2 ----------------------------------------
# e0.2 is opened and its first half read; e0.1 is unmounted; then the second half is read
# through the same open file. The overlap is certain, not left to timing.
exec 7<"$M2/e0.2"
dd bs=1M count=32 iflag=direct status=none <&7 >"$T_TMP/read2" || t_fail "first half of e0.2"
t_check "aoe umount of e0.1 works while e0.2 is open in the middle of a read" mt_aoe umount "$M1"
dd bs=1M iflag=direct status=none <&7 >>"$T_TMP/read2" || t_fail "second half of e0.2"
exec 7<&-
t_check "the read of e0.2 across the unmount got the whole image" \
    [ "$(t_sha "$T_TMP/read2")" == "$SUM2" ]
t_check "$M1 is unmounted" mt_unmounted "$M1"
t_check "e0.1's daemon $PID1 exited" mt_gone "$PID1"
t_check "e0.2's daemon $PID2 still runs" t_alive "$PID2"
t_check "$M2 is still mounted" mountpoint -q "$M2"

# --- 4. show after unmounts -------------------------------------------------------------------
# show_lists_only_e02 / show_lists_nothing: `aoe show` after one and after both unmounts.
show_lists_only_e02() {
    mt_aoe show >"$T_TMP/show.txt" || return 1
    ! grep -q -F "$M1" "$T_TMP/show.txt" && grep -q -F "$M2/e0.2" "$T_TMP/show.txt"
}
show_lists_nothing() {
    mt_aoe show >"$T_TMP/show.txt" || return 1
    grep -q "no AoE disks mounted" "$T_TMP/show.txt" &&
        mt_aoe show --json | grep '"mounts": \[\]' >/dev/null
}
t_check "aoe show lists e0.2 only after e0.1's umount" show_lists_only_e02
t_check "aoe umount of e0.2" mt_aoe umount "$M2"
t_check "aoe show and aoe show --json list nothing after both unmounts" show_lists_nothing

mt_no_mount_left "$M1" "$M2"
t_finish
