#!/usr/bin/env bash
# Loss and duplication on the link: `aoe cp` up and down through nftables rules that drop
# (numgen random) a share of the ATA frames or duplicate (dup) a share of the AoE frames in each
# direction. The copy must
# end with identical SHA-256 on the source, the image file on the target, and the downloaded
# copy, and `aoe cp --json` / `aoe bench` must report the retransmits the loss caused.
#
#   link_loss.sh --loss PERCENT [--dup PERCENT] [--mib SIZE]
#
# AOE_FAULT_MIB, when set, overrides --mib: scripts/test's ASan+UBSan pass runs these tests with
# a small image (the same code paths, a fraction of the time). Sizes and times:
# docs/RELIABILITY.md.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

loss=0 dup=0 mib=256
while [[ $# -gt 0 ]]; do
    case "$1" in
        --loss) loss=$2; shift 2 ;;
        --dup) dup=$2; shift 2 ;;
        --mib) mib=$2; shift 2 ;;
        *) t_die "unknown argument $1" ;;
    esac
done
mib=${AOE_FAULT_MIB:-$mib}

faults_init
faults_require_aoe cp bench
faults_netns_pair

src=$T_TMP/src.img
image=$T_TMP/target.img
down=$T_TMP/down.img
t_random_file "$src" "$mib"
truncate -s "${mib}M" "$image"
t_serve "$FT" -i vt --state-dir "$T_TMP/state" e1.1="$image"

[[ $loss -gt 0 ]] && faults_loss "$loss"
[[ $dup -gt 0 ]] && faults_dup "$dup"
t_log "link faults: ${loss} % loss, ${dup} % duplication each way; ${mib} MiB"

# cp_under_loss OUT.json SRC DST: `aoe cp --json` under the link faults, no second try. The loss
# rules drop ATA frames only (faults_loss), so every failure here is a failure of the data path;
# discovery under loss is tested on its own, deterministically (lost_discovery.sh).
cp_under_loss() {
    local out=$1
    shift
    faults_aoe cp -i vc --no-progress --json "$@" >"$out" 2>"$out.err" && return 0
    cat "$out.err" >&2
    return 1
}

start=$SECONDS
cp_under_loss "$T_TMP/up.json" "$src" e1.1 ||
    t_die "upload failed under ${loss} % loss / ${dup} % duplication"
t_log "upload took $((SECONDS - start)) s"
start=$SECONDS
cp_under_loss "$T_TMP/down.json" e1.1 "$down" ||
    t_die "download failed under ${loss} % loss / ${dup} % duplication"
t_log "download took $((SECONDS - start)) s"

want=$(t_sha "$src")
t_check "image on the target has the uploaded bytes" [ "$(t_sha "$image")" == "$want" ]
t_check "downloaded copy has the uploaded bytes" [ "$(t_sha "$down")" == "$want" ]

hits=$(faults_nft_counters | awk '{s += $1} END {print s + 0}')
t_log "nftables rules hit $hits frames"
if [[ $loss -gt 0 || $dup -gt 0 ]]; then
    t_check "the nftables rules really hit frames ($hits)" [ "$hits" -gt 0 ]
fi
if [[ $dup -gt 0 ]]; then
    # The initiator counts the replies it drops (duplicates among them); cp does not print
    # that count, the soak client does.
    faults_soak_client -i vc -t e1.1 --seconds 2 --depth 8 --no-fill >"$T_TMP/dup.out" 2>&1
    unmatched=$(sed -n 's/^soak: .* \([0-9]*\) unmatched replies.*/\1/p' "$T_TMP/dup.out")
    t_log "the initiator dropped ${unmatched:-?} duplicate or late replies"
    t_check "duplicates really reached the initiator, which dropped them" \
        [ "${unmatched:-0}" -gt 0 ]
fi
up_rexmit=$(faults_json_sum "$T_TMP/up.json" retransmits)
down_rexmit=$(faults_json_sum "$T_TMP/down.json" retransmits)
t_log "retransmits reported by aoe cp --json: upload $up_rexmit, download $down_rexmit"
if [[ $loss -gt 0 ]]; then
    t_check "aoe cp --json reports retransmits under loss" \
        [ $((up_rexmit + down_rexmit)) -gt 0 ]
    # bench reports them too (a short read run under the same loss).
    faults_aoe bench -i vc e1.1 --seconds 2 --json >"$T_TMP/bench.json" ||
        t_fail "aoe bench failed under ${loss} % loss"
    bench_rexmit=$(grep -oE '"retransmits": *[0-9]+' "$T_TMP/bench.json" | head -1 |
                   awk -F: '{print $2 + 0}')
    t_log "aoe bench reports ${bench_rexmit:-nothing} retransmits"
    t_check "aoe bench --json reports retransmits under loss" [ "${bench_rexmit:-0}" -gt 0 ]
fi
t_check "the target survived" t_serve_alive
t_finish
