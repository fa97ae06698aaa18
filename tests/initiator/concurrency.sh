#!/bin/bash
#
# concurrency.sh AOE_BINARY
#
# Two initiators, each in its own namespace with its own veth pair into the target namespace,
# upload to different regions of one disk at the same time (cp --seek-sectors), while a third
# region is left alone. Afterwards both regions hold what was sent and the third is unchanged.
# Then both download their region at the same time and get it back intact.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

ini_init "$1"
ini_require_root

IMAGE=$T_TMP/disk.img
ini_make_image "$IMAGE" 192
A=$T_TMP/a.img
B=$T_TMP/b.img
ini_make_image "$A" 64
ini_make_image "$B" 64
readonly REGION=$(( 64 * 2048 ))  # sectors
UNTOUCHED_SHA=$(t_sha_range "$IMAGE" $(( 2 * REGION )) "$REGION")

ini_netns target
ini_netns hosta
ini_netns hostb
# MTU 1500: more, smaller frames, so that the two copies interleave for longer.
ini_link target vt0 hosta vca 1500
ini_link target vt1 hostb vcb 1500
ini_serve target -i vt0 -i vt1 "e0.1=$IMAGE"
ini_wait_target hosta vca e0.1
ini_wait_target hostb vcb e0.1

ini_aoe hosta cp -i vca "$A" e0.1 2>"$T_TMP/err-a" &
pid_a=$!
ini_aoe hostb cp -i vcb --seek-sectors "$REGION" "$B" e0.1 2>"$T_TMP/err-b" &
pid_b=$!
wait "$pid_a"
rc_a=$?
wait "$pid_b"
rc_b=$?
t_check "host A upload: exit 0 ($(cat "$T_TMP/err-a"))" test "$rc_a" -eq 0
t_check "host B upload: exit 0 ($(cat "$T_TMP/err-b"))" test "$rc_b" -eq 0
t_check "region A holds A" test "$(t_sha_range "$IMAGE" 0 "$REGION")" == "$(t_sha "$A")"
t_check "region B holds B" test "$(t_sha_range "$IMAGE" "$REGION" "$REGION")" == "$(t_sha "$B")"
t_check "region C unchanged" test "$(t_sha_range "$IMAGE" $(( 2 * REGION )) "$REGION")" == "$UNTOUCHED_SHA"

ini_aoe hosta cp -i vca --count-sectors "$REGION" e0.1 "$T_TMP/a2.img" 2>"$T_TMP/err-a" &
pid_a=$!
ini_aoe hostb cp -i vcb --skip-sectors "$REGION" --count-sectors "$REGION" e0.1 "$T_TMP/b2.img" \
    2>"$T_TMP/err-b" &
pid_b=$!
wait "$pid_a"
rc_a=$?
wait "$pid_b"
rc_b=$?
t_check "concurrent downloads: exit 0 and 0 ($rc_a, $rc_b)" test "$rc_a$rc_b" == 00
t_check "host A reads back A" test "$(t_sha "$T_TMP/a2.img")" == "$(t_sha "$A")"
t_check "host B reads back B" test "$(t_sha "$T_TMP/b2.img")" == "$(t_sha "$B")"

t_finish
