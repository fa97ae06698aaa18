#!/usr/bin/env bash
# rbd_serve: one `aoe serve` exporting Ceph RBD images (docs/ceph.md), against a real 1-mon/1-OSD
# cluster (cluster.sh):
# - writes land in the cluster: upload (cp ends with FLUSH), then `rbd export`: same bytes;
# - round trip: download, same SHA-256; the disk's size is the image's (IDENTIFY);
# - TRIM: --sparse-upload trims zero chunks (IDENTIFY says trimmed sectors read zeroes), and the
#   image reads zeroes there afterwards;
# - resize + SIGHUP: the export grows with the image; shrunk under it by another client, a read
#   across the new end fails (never stale bytes), and so does a write (never a dropped tail
#   reported as stored);
# - @SNAP is read-only: uploads are refused, reads give the snapshot's bytes;
# - a cluster that cannot be reached at start: one clear line, exit 2, well before any hang;
#   no ceph.conf: exit 2; a missing image: exit 1 with its name;
# - cephx: ceph_id=aoe with keyring=PATH (a key of its own, RBD caps on pool rbd) serves; a key
#   the cluster refuses, or none for that name: one clear line, exit 2, at start; a key whose
#   OSD caps are for another pool: exit 1, naming the image and EPERM.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rbd_init "${1:-}" 1

rbd_cli create --size 32 rbd/disk || t_die "rbd create failed"
# From a configuration file, so that SIGHUP reloads it (the resize below).
cat >"$T_TMP/serve.toml" <<TOML
interfaces = ["vt0"]
state_dir = "$T_TMP/state"
[[export]]
target = "e1.1"
path = "rbd:rbd/disk"
ceph_conf = "$CEPH_CONF"
TOML
t_serve "$RBD_T" --config "$T_TMP/serve.toml"
t_wait_target "$RBD_C" vc0 e1.1 "$SERVE_WRAPPER"

# upload_lands WHAT EXPORT IMAGE SEEK_SECTORS: `aoe cp` IMAGE to EXPORT at SEEK_SECTORS, then
# `rbd export` of rbd/disk (into $T_TMP/exported.img) holds it there.
upload_lands() {
    local what=$1 export=$2 image=$3 seek=$4 sectors
    sectors=$(( $(stat -c %s "$image") / 512 ))
    rbd_aoe cp -i vc0 --no-progress "$image" "$export" --seek-sectors "$seek" ||
        t_fail "$what: the upload to $export failed"
    rm -f "$T_TMP/exported.img"  # rbd export does not overwrite
    rbd_cli export rbd/disk "$T_TMP/exported.img" >/dev/null 2>&1 || t_die "rbd export failed"
    t_check "$what" \
        test "$(t_sha_range "$T_TMP/exported.img" "$seek" "$sectors")" == "$(t_sha "$image")"
}

# serve_once LOG SPEC: `aoe serve` of SPEC alone, for the cases where it must not start. Returns
# its exit code; its output is in LOG, and the test's log says how long it took.
serve_once() {
    local log=$1 spec=$2 start=$SECONDS rc
    timeout 60 ip netns exec "$RBD_T" "$AOE_BIN" serve -i vt0 --state-dir "$T_TMP/state" "$spec" \
        >"$log" 2>&1
    rc=$?
    t_log "$(basename "$log"): exit $rc after $((SECONDS - start)) s: $(tr '\n' '|' <"$log")"
    return "$rc"
}

# Writes land in the cluster.
t_make_image "$T_TMP/up.img" 8
upload_lands "written data is in the cluster (rbd export)" e1.1 "$T_TMP/up.img" 2048

# Round trip and size.
rbd_aoe cp -i vc0 --no-progress e1.1 "$T_TMP/down.img" || t_fail "download failed"
t_check "the disk is the image's size, 32 MiB" test "$(stat -c %s "$T_TMP/down.img")" -eq $((32 << 20))
t_check "download: same SHA-256 as rbd export" \
    test "$(t_sha "$T_TMP/down.img")" == "$(t_sha "$T_TMP/exported.img")"

# TRIM reads back zeroes: a file with a zero middle, uploaded sparse over random data.
t_make_image "$T_TMP/noise.img" 4
rbd_aoe cp -i vc0 --no-progress "$T_TMP/noise.img" e1.1 || t_fail "upload of noise failed"
cp "$T_TMP/noise.img" "$T_TMP/holes.img"
dd if=/dev/zero of="$T_TMP/holes.img" bs=64K seek=3 count=20 conv=notrunc status=none
rbd_aoe cp -i vc0 --no-progress --sparse-upload -v "$T_TMP/holes.img" e1.1 >"$T_TMP/sparse.err" 2>&1 ||
    t_fail "sparse upload failed: $(cat "$T_TMP/sparse.err")"
rbd_aoe cp -i vc0 --no-progress --count-sectors $((4 * 2048)) e1.1 "$T_TMP/holes.down" ||
    t_fail "download after the sparse upload failed"
t_check "the sparse upload trimmed the zero chunks (IDENTIFY: trimmed sectors read zeroes)" \
    grep -q 'of zeros trimmed' "$T_TMP/sparse.err"
t_check "trimmed ranges read back as zeroes" cmp -s "$T_TMP/holes.img" "$T_TMP/holes.down"

# Resize, reload.
rbd_cli resize --size 48 rbd/disk >/dev/null 2>&1 || t_die "rbd resize failed"
kill -HUP "$SERVE_PID"
grown() {
    local i
    for (( i = 0; i < 50; i++ )); do
        grep -q 'e1.1.*exporting .*98304 sectors' "$SERVE_LOG" && return 0
        sleep 0.1
    done
    return 1
}
t_check "after rbd resize and SIGHUP the export has 48 MiB (98304 sectors)" grown
rbd_aoe cp -i vc0 --no-progress e1.1 "$T_TMP/grown.img" || t_fail "download after resize failed"
t_check "a download after the resize is 48 MiB" test "$(stat -c %s "$T_TMP/grown.img")" -eq $((48 << 20))

# Shrunk by another client while served (no SIGHUP yet): the export still says 48 MiB, but what
# lies past the image's new end (sector 32768) is gone. A request that starts past it fails in
# librbd; a read that straddles it, librbd cuts short, and it fails instead of returning the
# buffer's old bytes (one frame: sectors 32767-32768; librbd follows the resize through its
# header watch, within a moment).
rbd_cli resize --allow-shrink --size 16 rbd/disk >/dev/null 2>&1 || t_die "rbd shrink failed"
read_across_end_fails() {
    local i
    for (( i = 0; i < 50; i++ )); do
        rbd_aoe cp -i vc0 --no-progress --timeout 10 --skip-sectors 32767 --count-sectors 2 \
            e1.1 "$T_TMP/across.img" >/dev/null 2>&1 || return 0
        sleep 0.1
    done
    return 1
}
t_check "after a shrink by another client, a read across the new end fails" read_across_end_fails
# The same for a write: librbd would store sector 32767, drop 32768 and report success.
head -c 1024 /dev/urandom >"$T_TMP/across.up"
write_across_end_fails() {
    local i
    for (( i = 0; i < 50; i++ )); do
        rbd_aoe cp -i vc0 --no-progress --timeout 10 --seek-sectors 32767 "$T_TMP/across.up" \
            e1.1 >/dev/null 2>"$T_TMP/across.err" || return 0
        sleep 0.1
    done
    return 1
}
t_check "after a shrink by another client, a write across the new end fails" write_across_end_fails
rbd_cli resize --size 48 rbd/disk >/dev/null 2>&1 || t_die "rbd resize back failed"

# A snapshot is read-only.
rbd_cli snap create rbd/disk@before >/dev/null 2>&1 || t_die "rbd snap create failed"
rbd_cli export rbd/disk@before "$T_TMP/snap.img" >/dev/null 2>&1 || t_die "rbd export of the snapshot failed"
t_stop_pid "$SERVE_PID"
t_serve "$RBD_T" -i vt0 --state-dir "$T_TMP/state" "e1.2=$(rbd_spec rbd/disk@before)"
t_wait_target "$RBD_C" vc0 e1.2 "$SERVE_WRAPPER"
t_check "the snapshot export is read-only" grep -q 'e1.2.*read-only' "$SERVE_LOG"
if rbd_aoe cp -i vc0 --no-progress --timeout 5 "$T_TMP/up.img" e1.2 2>"$T_TMP/snap.err"; then
    t_fail "an upload to a snapshot succeeded"
else
    t_pass "an upload to a snapshot is refused"
fi
rbd_aoe cp -i vc0 --no-progress e1.2 "$T_TMP/snap.down" || t_fail "snapshot download failed"
t_check "the snapshot reads as rbd export of it" cmp -s "$T_TMP/snap.down" "$T_TMP/snap.img"
t_stop_pid "$SERVE_PID"

# cephx (the test cluster requires it): a target with a key of its own, client.aoe, limited to
# RBD in pool rbd, in a keyring of its own. ceph.conf's keyring holds no client.aoe, so only
# keyring= can make it work.
ceph_in "$RBD_T" ceph auth get-or-create client.aoe mon 'profile rbd' osd 'profile rbd pool=rbd' \
    >"$T_TMP/aoe.keyring" 2>/dev/null || t_die "ceph auth get-or-create client.aoe failed"
t_serve "$RBD_T" -i vt0 --state-dir "$T_TMP/state" \
    "e1.4=$(rbd_spec rbd/disk "ceph_id=aoe,keyring=$T_TMP/aoe.keyring")"
t_wait_target "$RBD_C" vc0 e1.4 "$SERVE_WRAPPER"
t_make_image "$T_TMP/key.img" 2
upload_lands "ceph_id=aoe, keyring=PATH: an upload as client.aoe is in the cluster" e1.4 \
    "$T_TMP/key.img" 4096
t_stop_pid "$SERVE_PID"
# The same client with a key the cluster does not know: one line, exit 2, at start.
ceph-authtool --create-keyring "$T_TMP/wrong.keyring" --gen-key -n client.aoe >/dev/null ||
    t_die "ceph-authtool failed"
serve_once "$T_TMP/wrongkey.log" "e1.4=$(rbd_spec rbd/disk "ceph_id=aoe,keyring=$T_TMP/wrong.keyring")"
t_expect "a key the cluster refuses: exit 2, saying so" "$?" 2 \
    'refused the key of this client; check ceph_id= and keyring=' "$T_TMP/wrongkey.log"
# ceph_id=aoe without keyring=: ceph.conf's keyring has no such key: exit 2 as well.
serve_once "$T_TMP/nokey.log" "e1.4=$(rbd_spec rbd/disk "ceph_id=aoe")"
t_expect "ceph_id=aoe without its key in the keyring: exit 2, saying so" "$?" 2 'refused the key' \
    "$T_TMP/nokey.log"

# A key the monitors accept but whose OSD caps are for another pool: the image cannot be
# opened. Exit 1, naming the image and the refusal.
ceph_in "$RBD_T" ceph auth get-or-create client.elsewhere mon 'profile rbd' \
    osd 'profile rbd pool=elsewhere' >"$T_TMP/elsewhere.keyring" 2>/dev/null ||
    t_die "ceph auth get-or-create client.elsewhere failed"
serve_once "$T_TMP/nocaps.log" \
    "e1.4=$(rbd_spec rbd/disk "ceph_id=elsewhere,keyring=$T_TMP/elsewhere.keyring")"
t_expect "a key without caps for the pool: exit 1, naming the image and the refusal" "$?" 1 \
    'rbd:rbd/disk.*Operation not permitted' "$T_TMP/nocaps.log"

# Unreachable at start: a monitor address nothing listens on, a short connect timeout.
sed -e 's/^mon host = .*/mon host = 127.0.0.1:1/' "$CEPH_CONF" >"$T_TMP/nowhere.conf"
echo 'client mount timeout = 3' >>"$T_TMP/nowhere.conf"
serve_once "$T_TMP/nowhere.log" "e1.3=rbd:rbd/disk,ceph_conf=$T_TMP/nowhere.conf"
t_expect "an unreachable cluster at start: exit 2 with a clear line" "$?" 2 \
    'did not answer within the connect timeout' "$T_TMP/nowhere.log"

# A ceph.conf that is not there: exit 2 at once. An image that is not there: exit 1, named.
serve_once "$T_TMP/noconf.log" "e1.3=rbd:rbd/disk,ceph_conf=$T_TMP/missing.conf"
t_expect "no ceph.conf: exit 2, saying ceph_conf=" "$?" 2 'ceph_conf=PATH' "$T_TMP/noconf.log"
serve_once "$T_TMP/noimage.log" "e1.3=$(rbd_spec rbd/nosuchimage)"
t_expect "a missing image: exit 1, naming it" "$?" 1 'rbd:rbd/nosuchimage.*No such file' \
    "$T_TMP/noimage.log"

t_finish
