#!/bin/bash
#
# three_clients.sh AOE_BINARY [--loops N]
#
# One overlay export (overlay=DIR) and three clients with different MACs, each on its own link
# to the target (MTU 1500, so every 4 KiB block is written in 1 KiB frames and a client's first
# write to a block copies it up). Each writes its own data to the SAME sectors:
#   - each reads back its own data, never another client's;
#   - sectors it never wrote read as the base image;
#   - the base image's SHA-256 never changes;
#   - after a target restart every client still reads its own data; a start with versions.json
#     gone is refused (exit 1) and leaves the directory as it was;
#   - `aoe ctl clients` reports the three clients with their overlay sizes and `aoe overlay
#     check` finds the directory consistent.
# Each check compares a whole-disk download with the image the client should see (the base with
# its own writes applied by dd), so a single wrong sector fails it.
#
# --loops N (N > 1): the same from `aoe serve --loops N`, which serves an overlay export from its
# first event loop only, every client's ATA requests included (the fanout selector sends them
# there; docs/architecture.md, "More cores"). Clients 1 and 3 have odd MACs, whose requests to
# any other export go to loop 1: `aoe ctl stats` shows that loop 1 served none of the overlay
# I/O, and then that it serves client 1's reads of a plain export, e0.2.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
ov_init "$1"
loops=1
[ "${2:-}" = --loops ] && loops=$3

readonly MIB=32
BASE=$T_TMP/golden.img
ini_make_image "$BASE" "$MIB"
BASE_SHA=$(t_sha "$BASE")
OVERLAY_DIR=$T_TMP/overlays/e0.1
mkdir -p "$T_TMP/overlays"

MACS=(02:00:00:0f:00:01 02:00:00:0f:00:02 02:00:00:0f:00:03)
for n in 1 2 3; do ov_client "c$n" "${MACS[n-1]}"; done
PLAIN=$T_TMP/plain.img
ini_make_image "$PLAIN" 4
ov_serve --loops "$loops" "e0.1=$BASE,overlay=$OVERLAY_DIR" "e0.2=$PLAIN"
ov_wait_ready

# loop_commands K: the ATA commands loop K has served.
loop_commands() {
    ov_ctl stats --json | python3 -c "import json, sys; print(json.load(sys.stdin)['loops'][$1]['ata_commands'])"
}

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
if [ "$loops" -gt 1 ]; then
    served0=$(loop_commands 0)
    served1=$(loop_commands 1)
    t_log "overlay I/O: loop 0 served ${served0:-?} ATA commands, loop 1 ${served1:-?}"
    t_check "loop 0 served every client's overlay I/O (${served0:-0} commands)" \
        [ "${served0:-0}" -gt 1000 ]
    t_check "loop 1 served none of it, though clients 1 and 3 have odd MACs" [ "${served1:-x}" = 0 ]
    ov_aoe c1 cp -i ovc0 --no-progress e0.2 "$T_TMP/plain.down" >"$T_TMP/cp.log" 2>&1 ||
        t_fail "client 1: download of the plain export failed: $(cat "$T_TMP/cp.log")"
    t_check "client 1 reads the plain export" cmp -s "$PLAIN" "$T_TMP/plain.down"
    served1=$(loop_commands 1)
    t_check "loop 1 served client 1's reads of the plain export (${served1:-0} commands)" \
        [ "${served1:-0}" -gt 1000 ]
fi

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
# versions.json lost (an admin's finding: the start took the directory for a new one and
# removed or set aside what it held): the start is refused, and the directory left as it was.
mv "$OVERLAY_DIR/versions.json" "$T_TMP/versions.json.saved"
ls -l --time-style=+%s.%N "$OVERLAY_DIR" >"$T_TMP/before.ls"
timeout -k 5 60 ip netns exec "$(t_ns target)" "$AOE_BIN" serve -i ovt1 --control-socket none \
    --state-dir "$T_TMP/state-refused" --no-announce "e0.1=$BASE,overlay=$OVERLAY_DIR" \
    >"$T_TMP/refused.log" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep 'holds version files or client overlays but no versions.json' "$T_TMP/refused.log" >/dev/null; then
    t_pass "without versions.json the start is refused: $(tail -n 1 "$T_TMP/refused.log")"
else
    t_fail "without versions.json: exit $rc, $(cat "$T_TMP/refused.log")"
fi
ls -l --time-style=+%s.%N "$OVERLAY_DIR" >"$T_TMP/after.ls"
t_check "the refused start left the directory as it was" cmp -s "$T_TMP/before.ls" "$T_TMP/after.ls"
mv "$T_TMP/versions.json.saved" "$OVERLAY_DIR/versions.json"

ov_serve --loops "$loops" "e0.1=$BASE,overlay=$OVERLAY_DIR" "e0.2=$PLAIN"
ov_wait_ready
check_reads "after a restart"
t_check "the base image still never changed" test "$(t_sha "$BASE")" = "$BASE_SHA"

t_finish
