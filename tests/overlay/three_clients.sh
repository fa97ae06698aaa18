#!/bin/bash
#
# three_clients.sh AOE_BINARY
#
# One overlay export (overlay=DIR) and three clients with different MACs, each on its own link
# to the target (MTU 1500, so every 4 KiB block is written in 1 KiB frames and a client's first
# write to a block copies it up). Each writes its own data to the SAME sectors:
#   - each reads back its own data, never another client's;
#   - sectors it never wrote read as the base image;
#   - the base image's SHA-256 never changes;
#   - after a target restart every client still reads its own data;
#   - `aoe ctl clients` reports the three clients with their overlay sizes and `aoe overlay
#     check` finds the directory consistent.
# Each check compares a whole-disk download with the image the client should see (the base with
# its own writes applied by dd), so a single wrong sector fails it.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
ov_init "$1"

readonly MIB=32
BASE=$T_TMP/golden.img
ini_make_image "$BASE" "$MIB"
BASE_SHA=$(t_sha "$BASE")
OVERLAY_DIR=$T_TMP/overlays/e0.1
mkdir -p "$T_TMP/overlays"

MACS=(02:00:00:0f:00:01 02:00:00:0f:00:02 02:00:00:0f:00:03)
for n in 1 2 3; do ov_client "c$n" "${MACS[n-1]}"; done
ov_serve "e0.1=$BASE,overlay=$OVERLAY_DIR"
ov_wait_ready

# Each client: 1 MiB at sector 2048 (4 KiB aligned), 3 sectors at 4097 (inside a block: a
# copy-up), and 1 sector at the disk's last sector. Same sectors for every client, own bytes.
for n in 1 2 3; do
    ov_pattern "$T_TMP/w$n.bin" "client-$n" 2
    expected=$T_TMP/expect$n.img
    cp "$BASE" "$expected"
    head -c 1048576 "$T_TMP/w$n.bin" >"$T_TMP/a$n.bin"
    tail -c 1536 "$T_TMP/w$n.bin" >"$T_TMP/b$n.bin"
    head -c 512 "$T_TMP/b$n.bin" >"$T_TMP/c$n.bin"
    dd if="$T_TMP/a$n.bin" of="$expected" bs=512 seek=2048 conv=notrunc status=none
    dd if="$T_TMP/b$n.bin" of="$expected" bs=512 seek=4097 conv=notrunc status=none
    dd if="$T_TMP/c$n.bin" of="$expected" bs=512 seek=$(( MIB * 2048 - 1 )) conv=notrunc status=none
done
# Interleaved, so the three overlays grow at the same time.
for part in a b c; do
    for n in 1 2 3; do
        case $part in a) seek=2048 ;; b) seek=4097 ;; c) seek=$(( MIB * 2048 - 1 )) ;; esac
        ov_aoe "c$n" cp -i ovc0 --no-progress "$T_TMP/$part$n.bin" e0.1 --seek-sectors "$seek" \
            >"$T_TMP/cp.log" 2>&1 || t_fail "client $n: upload $part failed: $(cat "$T_TMP/cp.log")"
    done
done

# check_reads LABEL: every client downloads the whole disk and compares it with its expectation.
check_reads() {
    local label=$1 n got
    for n in 1 2 3; do
        got=$T_TMP/got$n.img
        rm -f "$got"
        if ov_aoe "c$n" cp -i ovc0 --no-progress e0.1 "$got" >"$T_TMP/cp.log" 2>&1; then
            if cmp -s "$got" "$T_TMP/expect$n.img"; then
                t_pass "$label: client $n reads its own sectors and the base everywhere else"
            else
                t_fail "$label: client $n reads wrong data: $(cmp "$got" "$T_TMP/expect$n.img" | head -1)"
            fi
        else
            t_fail "$label: client $n download failed: $(cat "$T_TMP/cp.log")"
        fi
    done
}
check_reads "live"
t_check "the base image never changes" test "$(t_sha "$BASE")" = "$BASE_SHA"

ov_ctl clients e0.1 --json >"$T_TMP/clients.json" 2>&1
if [[ "$(ov_json "$T_TMP/clients.json" \
        "sorted((c['mac'], c['overlay_bytes']) for c in r['exports'][0]['clients'])")" == \
      "[('02:00:00:0f:00:01', 1056768), ('02:00:00:0f:00:02', 1056768), ('02:00:00:0f:00:03', 1056768)]" ]]; then
    t_pass "aoe ctl clients: three clients, each with 258 blocks (1 MiB + 1 + 1) in its overlay"
else
    t_fail "aoe ctl clients: $(cat "$T_TMP/clients.json")"
fi

# A restart: the overlays are read back from the directory.
ov_stop_target
"$AOE_BIN" overlay check "$OVERLAY_DIR" >"$T_TMP/check.log" 2>&1
t_check "aoe overlay check: consistent after a clean stop" grep -qx consistent "$T_TMP/check.log"
ov_serve "e0.1=$BASE,overlay=$OVERLAY_DIR"
ov_wait_ready
check_reads "after a restart"
t_check "the base image still never changed" test "$(t_sha "$BASE")" = "$BASE_SHA"

t_finish
