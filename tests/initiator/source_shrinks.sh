#!/bin/bash
#
# source_shrinks.sh AOE_BINARY
#
# An upload whose source file is cut short while it runs must fail, and say so, rather than
# report a copy: the sectors past the new end would reach the disk as zeros (what a read past
# the end of a file gives) that are not the source's data.
#
# The target drops every ATA write for a while (an nftables rule on its interface), so the copy
# is under way with its first writes read and in flight; the source is truncated to 1 MiB, the
# writes pass again, and `aoe cp` must exit 1 with one line that names the source and both
# sizes. With the aoe before this check, the copy ended with exit 0.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

ini_init "$1"
ini_require_root nft truncate

IMAGE=$T_TMP/disk.img
ini_make_image "$IMAGE" 64
SOURCE=$T_TMP/source.img
t_make_image "$SOURCE" 32

ini_netns target
ini_netns client
ini_link target vt0 client vc0 1500
ini_serve target -i vt0 "e0.1=$IMAGE"
ini_wait_target client vc0 e0.1

# ATA requests (AoE command byte 14+5 is 0) whose ATA command (byte 14+10+3) is a write:
# WRITE SECTORS (EXT), WRITE DMA (EXT).
writes=("${T_ATA_ONLY[@]}" '@ll,216,8' '{ 0x30, 0x34, 0x35, 0xca }')
t_nft_rule "$(t_ns target)" hold ingress vt0 "${writes[@]}" counter drop
some_write_held() { [[ $(t_nft_counted "$(t_ns target)" hold in_vt0) -gt 0 ]]; }

err=$T_TMP/err
timeout -k 5 60 ip netns exec "$(t_ns client)" "$AOE_BIN" cp -i vc0 --timeout 20 \
    "$SOURCE" e0.1 2>"$err" &
cp_pid=$!
if t_wait_for "$cp_pid" 10 some_write_held; then
    truncate -s 1M "$SOURCE"
    t_log "source truncated to 1 MiB with $(t_nft_counted "$(t_ns target)" hold in_vt0) writes held"
else
    t_fail "no write of the upload reached the target within 10 s"
fi
t_nft_delete "$(t_ns target)" hold
wait "$cp_pid"
rc=$?
t_log "cp exit $rc: $(cat "$err")"
t_check "cp did not hang (timeout 60 not reached)" test "$rc" -ne 124
t_check "cp fails with exit 1" test "$rc" -eq 1
t_check "one line on stderr" test "$(wc -l <"$err")" -eq 1
t_check "the error names the source and both sizes" \
    grep -q "^aoe cp: $SOURCE shrank from 33554432 to 1048576 bytes during the copy" "$err"
t_finish
