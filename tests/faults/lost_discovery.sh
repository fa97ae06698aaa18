#!/usr/bin/env bash
# A lost discovery broadcast does not hide a target: while `aoe cp` waits for its disk to answer
# (the open timeout, 2 s by default), the initiator sends its broadcast Query Config again, so
# one lost frame costs one retry, not the open. Deterministic, with nftables on the target's
# ingress (AoE broadcasts from the initiator only):
#   1. the first discovery broadcast is dropped (`numgen inc`: exactly one frame, counted); the
#      copy must still succeed, and the counters must show that one broadcast was dropped and a
#      later one got through;
#   2. every discovery broadcast is dropped: the open fails with the documented one-line error
#      after the open timeout, and the counter shows how many times the initiator asked (more
#      than once: the repetition itself).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

faults_init
faults_require_aoe cp
faults_netns_pair
image=$T_TMP/disk.img
t_random_file "$image" 1
t_serve "$FT" -i vt --no-announce --state-dir "$T_TMP/state" e1.1="$image"

broadcast=(ether daddr ff:ff:ff:ff:ff:ff)
# counts NS: the packet counts of the fault rules on vt, one a line, in rule order.
counts() { ip netns exec "$FT" nft list chain netdev faults in_vt | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'; }

# 1. The first broadcast is lost.
faults_nft_rule "$FT" vt "${broadcast[@]}" numgen inc mod 1000000 "<" 1 counter drop
faults_nft_rule "$FT" vt "${broadcast[@]}" counter
faults_aoe cp -i vc --no-progress e1.1 "$T_TMP/copy.img" 2>"$T_TMP/cp.err"
rc=$?
read -r dropped passed < <(counts | tr '\n' ' ')
t_log "first broadcast dropped: cp exit $rc, broadcasts dropped $dropped, let through $passed"
t_check "the copy succeeds although its first discovery broadcast was lost (exit $rc)" [ "$rc" -eq 0 ]
t_check "the copy is exact" cmp -s "$image" "$T_TMP/copy.img"
t_check "exactly one broadcast was dropped ($dropped)" [ "${dropped:-0}" -eq 1 ]
t_check "a repeated broadcast reached the target ($passed)" [ "${passed:-0}" -ge 1 ]

# 2. Every broadcast is lost.
faults_nft_clear
faults_nft_rule "$FT" vt "${broadcast[@]}" counter drop
start=$(date +%s%N)
faults_aoe cp -i vc --no-progress e1.1 "$T_TMP/copy2.img" 2>"$T_TMP/cp.err"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
asked=$(counts)
t_log "all broadcasts dropped: cp exit $rc after $ms ms, $asked broadcasts: $(cat "$T_TMP/cp.err")"
t_expect "with every broadcast lost the open fails after the open timeout" "$rc" 1 \
    'e1.1 did not answer on vc within 2000 ms' "$T_TMP/cp.err"
t_check "the initiator asked more than once within the open timeout ($asked times)" \
    [ "${asked:-0}" -ge 2 ]
t_finish
