#!/usr/bin/env bash
# rbd_two_targets: two `aoe serve` processes export the same RBD image as e1.1, one on each of
# two veth pairs (docs/ceph.md, "Several targets"), and the initiator uses both paths:
# - shared state: a config string set through one target is read through the other (the image
#   metadata; within the coordination window, a few seconds here);
# - coherence: written through one target, read back through the other, over and over, with
#   overlapping ranges, on an image with exclusive-lock and on one without: never stale. The
#   test's ceph.conf asks for librbd's cache in its most harmful form (rbd_cache = true, policy
#   writeback: reads are served from each process's memory), and the targets must override it
#   (rbd_cache = false, checked on a target's admin socket). With the cache on, these rounds
#   read stale data (docs/ceph.md, "Caching and coherence", records the run);
# - failover: `aoe cp` over both paths completes a download and an upload intact while one of
#   the targets is SIGKILLed mid-copy.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
rbd_init "${1:-}" 2

readonly MIB=64
# What an operator's ceph.conf may say: the client cache on, caching reads (writeback), from
# the first write on. aoe serve must serve with the cache off regardless.
cat >>"$CEPH_CONF" <<'CONF'
[client]
rbd cache = true
rbd cache policy = writeback
rbd cache writethrough until flush = false
CONF
rbd_cli create --size "$MIB" rbd/disk || t_die "rbd create failed"
rbd_cli create --size 16 --image-feature layering rbd/plain || t_die "rbd create failed"

# serve_pair: target A on vt0 and B on vt1, each with its own state directory.
serve_a() {
    t_serve "$RBD_T" -i vt0 --state-dir "$T_TMP/state-a" "e1.1=$(rbd_spec rbd/disk)" \
        "e1.2=$(rbd_spec rbd/plain)"
    A_PID=$SERVE_PID A_WRAPPER=$SERVE_WRAPPER A_LOG=$SERVE_LOG
}
serve_b() {
    t_serve "$RBD_T" -i vt1 --state-dir "$T_TMP/state-b" "e1.1=$(rbd_spec rbd/disk)" \
        "e1.2=$(rbd_spec rbd/plain)"
    B_PID=$SERVE_PID B_WRAPPER=$SERVE_WRAPPER B_LOG=$SERVE_LOG
}
serve_a
serve_b
t_wait_target "$RBD_C" vc0 e1.1 "$A_WRAPPER"
t_wait_target "$RBD_C" vc1 e1.1 "$B_WRAPPER"

# --- Shared state ---------------------------------------------------------------------------
# reads_as IFACE STRING: the config string read through IFACE becomes STRING within 10 s.
reads_as() {
    local i
    for (( i = 0; i < 50; i++ )); do
        rbd_aoe config -i "$1" e1.1 --timeout 1 --test "$2" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}
rbd_aoe config -i vc0 e1.1 --force "set-through-a" || t_fail "config set through A failed"
t_check "a config string set through target A is read through target B" reads_as vc1 set-through-a
rbd_aoe config -i vc1 e1.1 --force "set-through-b" || t_fail "config set through B failed"
t_check "a config string set through target B is read through target A" reads_as vc0 set-through-b
t_check "target A logged the change made elsewhere" \
    grep -q 'state changed by another target host' "$A_LOG"

# --- Coherence ------------------------------------------------------------------------------
# setting_of PID OPTION: OPTION's value in the librados client of target PID (its admin socket).
setting_of() {
    local asok
    asok=$(ls "$CEPH_DIR"/run/ceph-client.admin."$1".asok 2>/dev/null | head -n 1)
    [[ -n $asok ]] || { echo "no admin socket"; return 0; }
    timeout 10 ip netns exec "$RBD_T" ceph --admin-daemon "$asok" config get "$2" 2>&1 |
        python3 -c 'import json,sys; print(next(iter(json.load(sys.stdin).values())))' 2>&1
}
policy=$(setting_of "$A_PID" rbd_cache_policy)
cache=$(setting_of "$A_PID" rbd_cache)
t_log "target A's librados client: rbd_cache_policy=$policy (from ceph.conf), rbd_cache=$cache"
t_check "target A read the test's ceph.conf (rbd_cache_policy = writeback)" test "$policy" == writeback
t_check "target A serves with rbd_cache = false although ceph.conf says true" test "$cache" == false

# Each round reads a 1.5 MiB window through one target (so a cache there would hold it), writes
# 1 MiB inside it through the other, and reads the window again through the first: it must show
# the new bytes. Windows move by 350 KiB a round, so they overlap earlier rounds' too. The two
# disks are checked at once (each upload waits 0.75 s for a second disk answering its address).
coherent() {
    local disk=$1 rounds=$2 r from to seek chunk="$T_TMP/$1-chunk" read="$T_TMP/$1-read"
    local window=$((3 * 1024)) stale=0
    for (( r = 0; r < rounds; r++ )); do
        if (( r % 2 == 0 )); then from=vc0 to=vc1; else from=vc1 to=vc0; fi
        seek=$(( (r * 700) % (8 * 2048) + 1024 ))
        read_window() {
            rbd_aoe cp -i "$to" --no-progress --skip-sectors $((seek - 512)) \
                --count-sectors "$window" "$disk" "$read" >/dev/null 2>&1
        }
        read_window || { t_log "round $r: read through $to failed"; return 1; }
        head -c $((1 << 20)) /dev/urandom >"$chunk"
        rbd_aoe cp -i "$from" --no-progress --seek-sectors "$seek" "$chunk" "$disk" >/dev/null 2>&1 ||
            { t_log "round $r: write through $from failed"; return 1; }
        read_window || { t_log "round $r: read through $to failed"; return 1; }
        if ! cmp -s <(dd if="$read" bs=512 skip=512 count=2048 status=none) "$chunk"; then
            t_log "round $r: stale data read through $to after a write through $from"
            stale=$((stale + 1))
        fi
    done
    t_log "$disk: $stale of $rounds rounds stale"
    [[ $stale -eq 0 ]]
}
coherent e1.1 20 &
with_lock=$!
coherent e1.2 20 &
without_lock=$!
wait "$with_lock"
t_check "coherence with exclusive-lock: 20 rounds, never stale" test $? -eq 0
wait "$without_lock"
t_check "coherence without exclusive-lock: 20 rounds, never stale" test $? -eq 0

# --- Failover: download while B is killed ----------------------------------------------------
t_make_image "$T_TMP/full.img" "$MIB"
rbd_aoe cp -i vc0 --no-progress "$T_TMP/full.img" e1.1 >/dev/null 2>&1 || t_die "initial upload failed"
DOWN=$T_TMP/down.img
t_in "$RBD_C" "$AOE_BIN" cp -i vc0 -i vc1 --no-progress --depth 4 --timeout 30 -v e1.1 "$DOWN" \
    >"$T_TMP/down.err" 2>&1 &
cp_pid=$!
for (( i = 0; i < 400; i++ )); do
    (( $(t_copied_bytes "$DOWN") >= 8 << 20 )) && break
    kill -0 "$cp_pid" 2>/dev/null || break
    sleep 0.02
done
t_check "the download was still running when target B was killed" kill -0 "$cp_pid"
t_log "killing target B with $(( $(t_copied_bytes "$DOWN") >> 20 )) MiB downloaded"
kill -KILL "$B_PID"
wait "$B_WRAPPER" 2>/dev/null
wait "$cp_pid"
t_check "download over two paths with target B SIGKILLed: exit 0" test $? -eq 0
t_check "download: same SHA-256 as the image" test "$(t_sha "$DOWN")" == "$(t_sha "$T_TMP/full.img")"

# --- Failover: upload while A is killed ------------------------------------------------------
serve_b
t_wait_target "$RBD_C" vc1 e1.1 "$B_WRAPPER"
t_make_image "$T_TMP/second.img" "$MIB"
t_in "$RBD_C" "$AOE_BIN" cp -i vc0 -i vc1 --no-progress --depth 4 --timeout 30 -v \
    "$T_TMP/second.img" e1.1 >"$T_TMP/up.err" 2>&1 &
cp_pid=$!
sleep 0.5
t_check "the upload was still running when target A was killed" kill -0 "$cp_pid"
kill -KILL "$A_PID"
wait "$cp_pid"
rc=$?
t_check "upload over two paths with target A SIGKILLed: exit 0" test "$rc" -eq 0
[[ $rc -eq 0 ]] || t_log "cp: $(tr '\n' '|' <"$T_TMP/up.err")"
rbd_cli export rbd/disk "$T_TMP/exported.img" >/dev/null 2>&1 || t_die "rbd export failed"
t_check "upload: the cluster holds the uploaded image (rbd export)" \
    test "$(t_sha "$T_TMP/exported.img")" == "$(t_sha "$T_TMP/second.img")"

t_finish
