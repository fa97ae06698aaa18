#!/usr/bin/env bash
# Durability promises of `aoe serve`, proven against power cuts: the image lives on the
# power-cut harness (README.md), which loses every write that was not synced when it is
# SIGKILLed. Each case starts a target on a fresh image, writes to it over AoE from another
# namespace, cuts the power (SIGKILL of the harness, then of the target), remounts the harness
# from its backing directory and checks what survived:
#
#   flush_survives_cut OPTS      `aoe cp` uploads 8 MiB and ends with FLUSH CACHE EXT; after
#                                the cut the image holds every byte (FLUSH keeps its promise).
#   unflushed_writes_survive_cut OPTS [SERVE_ARGS]
#                                a writer that never sends FLUSH (as Linux's aoe.ko) notes each
#                                acknowledged write; the power is cut while it writes; every
#                                acknowledged write must be in the image.
#   unflushed_writes_are_lost OPTS [SERVE_ARGS]
#                                the same where the mode promises nothing without FLUSH: the
#                                check must report lost writes (proof that it can fail).
#   writes_after_a_flush_are_lost OPTS
#                                the writer sends one FLUSH first, then only writes: `auto`
#                                serves an initiator that flushes from the page cache, so the
#                                cut loses those writes.
#   flush_noop_is_caught         vblade without -s, whose FLUSH does nothing: data it
#                                acknowledged with FLUSH is lost, and the test must see it (the
#                                negative control: the harness can fail a target).
#
# OPTS is appended to the export argument (e.g. ",durability=cache"); SERVE_ARGS go to `aoe
# serve` (e.g. --sync). A new durability mode is one more line at the end of this file.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"

t_init
t_require_root "network namespaces, FUSE mounts"
t_require_cmds ip timeout findmnt vblade
t_find_aoe
WRITER=${AOE_ACKED_WRITER:-$(dirname "$AOE_BIN")/../../tests/powercut/powercut_acked_writer}
[[ -x "$WRITER" ]] || t_skip "powercut_acked_writer not found: build it or set AOE_ACKED_WRITER"

readonly MIB=8
NT=$(t_ns t)
NC=$(t_ns c)
t_netns_pair "$NT" vt "$NC" vc
backing=$T_TMP/backing
mnt=$T_TMP/mnt
mkdir -p "$backing"
powercut_mount "$mnt" "$backing"
case_number=0

# new_image: a fresh all-zero image on the harness (created in the backing directory: durable,
# as an image made before the service started is). Sets IMAGE (its name) and CASE.
new_image() {
    case_number=$((case_number + 1))
    IMAGE=case$case_number.img
    truncate -s "${MIB}M" "$backing/$IMAGE"
    CASE="case $case_number ($1)"
}

# start_target aoekit|vblade [OPTS] [SERVE_ARGS...]: exports $mnt/$IMAGE as e1.1 on vt.
start_target() {
    local kind=$1 opts=${2:-}
    shift 2 || shift $#
    if [[ $kind == vblade ]]; then
        t_bg "$T_TMP/vblade.$case_number.log" ip netns exec "$NT" vblade 1 1 vt "$mnt/$IMAGE"
        TARGET_WRAPPER=$T_BG_PID
        TARGET_PID=$(t_child_of "$TARGET_WRAPPER")
    else
        t_serve "$NT" -i vt --no-announce --state-dir "$T_TMP/state" "$@" "e1.1=$mnt/$IMAGE$opts"
        TARGET_WRAPPER=$SERVE_WRAPPER
        TARGET_PID=$SERVE_PID
    fi
    t_wait_target "$NC" vc e1.1 "$TARGET_WRAPPER"
}

# cut_power: SIGKILL the harness (everything not synced is gone), then the target (the rest of
# the host), then mount the harness again from its backing directory.
cut_power() {
    powercut_cut
    kill -KILL "$TARGET_PID" 2>/dev/null
    wait "$TARGET_WRAPPER" 2>/dev/null
    powercut_remount
}

flush_survives_cut() {
    local opts=$1 src
    shift
    new_image "FLUSH, export e1.1=IMAGE$opts${*:+, aoe serve $*}"
    src=$T_TMP/src.$case_number
    t_random_file "$src" "$MIB"
    start_target aoekit "$opts" "$@"
    if ! t_in "$NC" "$AOE_BIN" cp -i vc --no-progress "$src" e1.1; then
        t_fail "$CASE: aoe cp failed"
        return
    fi
    cut_power
    t_check "$CASE: the image was fdatasynced" grep -q "^sync $IMAGE (fdatasync)" "$POWERCUT_LOG"
    t_check "$CASE: everything acknowledged by FLUSH survived the power cut" \
        cmp -s "$src" "$mnt/$IMAGE"
}

# write_without_flush [--flush-first]: runs the writer until it has 200 writes acknowledged (or
# ends), cuts the power while it writes, and checks the image; sets SURVIVED (the check's exit
# status) and ACKED (the number of acknowledged writes).
write_without_flush() {
    local acked=$T_TMP/acked.$case_number out=$T_TMP/writer.$case_number.log writer
    : >"$acked"
    t_bg "$out" ip netns exec "$NC" "$WRITER" write -i vc -t e1.1 --acked "$acked" "$@"
    writer=$T_BG_PID
    t_wait_log "$acked" '.' 200 60 "$writer" || t_log "the writer ended before 200 writes"
    cut_power
    t_kill_pid "$writer"
    cat "$out" >&2
    ACKED=$(wc -l <"$acked")
    "$WRITER" check "$mnt/$IMAGE" --acked "$acked" >"$T_TMP/check.$case_number" 2>&1
    SURVIVED=$?
    cat "$T_TMP/check.$case_number" >&2
    t_check "$CASE: writes were acknowledged before the cut ($ACKED)" [ "$ACKED" -gt 0 ]
}

unflushed_writes_survive_cut() {
    local opts=$1
    shift
    new_image "no FLUSH, export e1.1=IMAGE$opts${*:+, aoe serve $*}"
    start_target aoekit "$opts" "$@"
    write_without_flush
    t_check "$CASE: every acknowledged write survived the power cut" [ "$SURVIVED" -eq 0 ]
}

unflushed_writes_are_lost() {
    local opts=$1
    shift
    new_image "no FLUSH, export e1.1=IMAGE$opts${*:+, aoe serve $*}: loss expected"
    start_target aoekit "$opts" "$@"
    write_without_flush
    t_check "$CASE: nothing synced the image" bash -c "! grep -q '^sync $IMAGE' '$POWERCUT_LOG'"
    t_check "$CASE: the check reports the lost writes (it can fail)" [ "$SURVIVED" -eq 1 ]
}

writes_after_a_flush_are_lost() {
    local opts=$1
    new_image "one FLUSH, then writes, export e1.1=IMAGE$opts: loss expected"
    start_target aoekit "$opts"
    write_without_flush --flush-first
    t_check "$CASE: writes after the initiator's FLUSH were served from the page cache" \
        [ "$SURVIVED" -eq 1 ]
}

flush_noop_is_caught() {
    local src
    new_image "vblade without -s: its FLUSH does nothing"
    src=$T_TMP/src.$case_number
    t_random_file "$src" "$MIB"
    start_target vblade
    if ! t_in "$NC" "$AOE_BIN" cp -i vc --no-progress "$src" e1.1; then
        t_fail "$CASE: aoe cp to vblade failed"
        return
    fi
    cut_power
    t_check "$CASE: nothing synced the image" bash -c "! grep -q '^sync $IMAGE' '$POWERCUT_LOG'"
    t_check "$CASE: the power cut lost data vblade acknowledged with FLUSH, and the test sees it" \
        bash -c "! cmp -s '$src' '$mnt/$IMAGE'"
}

# The cases. `aoe serve`'s default durability is auto. A new mode is one more line here.
flush_survives_cut ""
flush_survives_cut ",durability=cache"
unflushed_writes_survive_cut ""
unflushed_writes_survive_cut ",durability=sync"
unflushed_writes_survive_cut "" --sync
unflushed_writes_are_lost ",durability=cache"
writes_after_a_flush_are_lost ""
flush_noop_is_caught
t_finish
