#!/bin/bash
#
# mount_two_disks_test.sh AOE: two disks mounted at once, each by its own daemon; unmounting
# one never disturbs the other, even in the middle of a read (the seed implementation crashed
# here). Also checks `aoe show` and `aoe show --json` before and after.
#
#   1. serve e0.1 and e0.2; aoe mount both; both files read back their images exactly;
#   2. aoe show / aoe show --json list both disks with their path (vi0, up);
#   3. start reading all of e0.2 in the background, aoe umount e0.1 meanwhile: the read
#      completes with the image's checksum, e0.2's daemon and mount are untouched;
#   4. aoe show lists only e0.2; after aoe umount of e0.2 it lists nothing.
#
# Exit: 0 pass, 1 fail, 77 skipped.
set -u
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
mt_init "$@"

IMG1=$MT_TMP/one.img
IMG2=$MT_TMP/two.img
head -c $((16 * 1024 * 1024)) /dev/urandom >"$IMG1"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$IMG2"
SUM2=$(sha256sum <"$IMG2" | cut -d' ' -f1)
mt_netns
mt_serve "e0.1=$IMG1" "e0.2=$IMG2"

M1=$MT_TMP/m1
M2=$MT_TMP/m2
mt_mount e0.1 "$M1"
mt_mount e0.2 "$M2"
PID1=$(mt_daemon_pid e0.1)
PID2=$(mt_daemon_pid e0.2)
[[ "$PID1" != "$PID2" ]] || mt_fail "both disks are served by the same pid"

# --- 1. both serve their own image ------------------------------------------------------------
cmp -s "$M1/e0.1" "$IMG1" && mt_pass "e0.1 reads back its image" || mt_fail "e0.1 differs from its image"
cmp -s -n $((8 * 1024 * 1024)) "$M2/e0.2" "$IMG2" && mt_pass "e0.2 reads back its image" \
    || mt_fail "e0.2 differs from its image"

# --- 2. aoe show ----------------------------------------------------------------------------
mt_aoe show >"$MT_TMP/show.txt" || mt_fail "aoe show failed"
cat "$MT_TMP/show.txt"
for want in "e0.1" "e0.2" "$M1/e0.1" "$M2/e0.2" "path vi0" "up"; do
    grep -q -F -e "$want" "$MT_TMP/show.txt" || mt_fail "aoe show lacks '$want'"
done
[[ $(grep -c 'path vi0' "$MT_TMP/show.txt") -eq 2 ]] || mt_fail "aoe show: want one path per disk"
mt_aoe show --json >"$MT_TMP/show.json" || mt_fail "aoe show --json failed"
if command -v python3 >/dev/null 2>&1; then
    python3 - "$MT_TMP/show.json" "$M1" "$M2" <<'PY' || mt_fail "aoe show --json has the wrong content"
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
else
    grep -q '"interface": "vi0"' "$MT_TMP/show.json" || mt_fail "aoe show --json lacks the path"
fi
mt_pass "aoe show and aoe show --json list both disks with their paths"

# --- 3. unmount e0.1 while e0.2 is being read -------------------------------------------------
(dd if="$M2/e0.2" bs=256k iflag=direct status=none | sha256sum | cut -d' ' -f1 >"$MT_TMP/read2.sum") &
READER=$!
mt_defer "mt_kill_pid $READER"
sleep 0.3
mt_alive "$READER" || mt_fail "the read of e0.2 finished too early to overlap the unmount"
mt_aoe umount "$M1" || mt_fail "aoe umount $M1 failed"
if mt_alive "$READER"; then
    mt_pass "aoe umount of e0.1 returned while e0.2 was being read"
else
    mt_log "note: the read of e0.2 finished before the unmount completed"
fi
mountpoint -q "$M1" && mt_fail "$M1 still mounted"
mt_alive "$PID1" && mt_fail "e0.1's daemon $PID1 still running"
wait "$READER"
if [[ "$(cat "$MT_TMP/read2.sum")" == "$SUM2" ]]; then
    mt_pass "the concurrent read of e0.2 completed with the right checksum"
else
    mt_fail "the concurrent read of e0.2 got a wrong checksum"
fi
mt_alive "$PID2" || mt_fail "e0.2's daemon $PID2 died"
mountpoint -q "$M2" || mt_fail "$M2 is no longer mounted"

# --- 4. show after unmounts -------------------------------------------------------------------
mt_aoe show >"$MT_TMP/show.txt"
grep -q -F "$M1" "$MT_TMP/show.txt" && mt_fail "aoe show still lists e0.1 after its umount"
grep -q -F "$M2/e0.2" "$MT_TMP/show.txt" || mt_fail "aoe show lost e0.2"
mt_aoe umount "$M2" || mt_fail "aoe umount $M2 failed"
mt_aoe show >"$MT_TMP/show.txt"
grep -q "no AoE disks mounted" "$MT_TMP/show.txt" || mt_fail "aoe show: $(cat "$MT_TMP/show.txt")"
mt_aoe show --json | grep -q '"mounts": \[\]' || mt_fail "aoe show --json is not empty"
mt_pass "aoe show lists nothing after both unmounts"

mt_no_mount_left "$M1" "$M2"
exit "$MT_FAILED"
