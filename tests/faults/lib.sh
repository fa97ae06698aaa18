# shellcheck shell=bash
# What the fault-tolerance tests (tests/faults/*.sh) and scripts/soak share beyond tests/lib.sh:
# their topologies (a target namespace $FT and a client namespace $FC, optionally bridged), the
# nftables link faults, and the client-side tools.
#
# SAFETY: everything happens inside namespaces the script creates (t_ns), joined by veth pairs
# created directly inside them; `aoe serve`, the clients and every nftables table live in those
# namespaces. Nothing is ever sent on a host interface.
#
# Usage:
#   source "$(dirname "$0")/lib.sh"
#   faults_init                       # t_init, prerequisites (skip if missing), $AOE_BIN
#   faults_netns_pair                 # FT (target ns) --vt===vc-- FC (client ns)
#   t_serve "$FT" -i vt e1.1="$img"   # sets SERVE_PID, SERVE_LOG
#   faults_aoe cp -i vc "$src" e1.1   # the aoe CLI in FC
#   faults_loss 5                     # 5 % of the ATA frames dropped on vt and on vc

# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

# faults_init [TOOL...]: t_init, then skip unless root, ip, nft, timeout, sha256sum, the aoe
# binary (and any TOOL named) are available.
faults_init() {
    t_init
    t_require_root "network namespaces, nftables"
    t_require_cmds ip nft timeout sha256sum awk "$@"
    t_find_aoe
}

# faults_require_aoe SUBCOMMAND...: skip unless `aoe SUBCOMMAND --help` works.
faults_require_aoe() {
    local c
    for c in "$@"; do
        "$AOE_BIN" "$c" --help >/dev/null 2>&1 || t_skip "this aoe has no '$c' subcommand"
    done
}

# ---------------------------------------------------------------------------------------------
# Topologies
# ---------------------------------------------------------------------------------------------

# faults_netns_pair [MTU]: target namespace $FT with vt, client namespace $FC with vc.
faults_netns_pair() {
    FT=$(t_ns t)
    FC=$(t_ns c)
    t_netns_pair "$FT" vt "$FC" vc "${1:-1500}"
}

# faults_netns_bridged: $FT (vt) and $FC (vc) joined through a bridge in a third namespace $FB
# (vt===bt-[br0]-bc===vc), so that either end's interface can be deleted and re-created while
# the other's stays. Each keeps its MAC across re-creation (FAULTS_MAC_t, FAULTS_MAC_c), as a
# re-plugged NIC does.
faults_netns_bridged() {
    FT=$(t_ns t)
    FC=$(t_ns c)
    FB=$(t_ns b)
    FAULTS_MAC_t=02:ae:0f:00:00:01
    FAULTS_MAC_c=02:ae:0f:00:00:02
    t_netns_add "$FT"
    t_netns_add "$FC"
    t_netns_add "$FB"
    ip -n "$FB" link add br0 type bridge stp_state 0 forward_delay 0
    ip -n "$FB" link set br0 up
    faults_link_create c
    faults_link_create t
}

# faults_link_create t|c: the target's (t: vt) or the client's (c: vc) end of the bridged
# topology, with its MAC; again after faults_link_delete.
faults_link_create() {
    local ns mac
    ns=$(t_ns "$1")
    case $1 in
        t) mac=$FAULTS_MAC_t ;;
        c) mac=$FAULTS_MAC_c ;;
        *) t_die "faults_link_create: no end '$1' (t or c)" ;;
    esac
    t_veth "$ns" "v$1" "$FB" "b$1" 1500 "$mac"
    ip -n "$FB" link set "b$1" master br0
}

# faults_link_delete t|c: deletes vt or vc (and its peer on the bridge).
faults_link_delete() { ip -n "$(t_ns "$1")" link del "v$1"; }

# ---------------------------------------------------------------------------------------------
# Link faults with nftables netdev rules (inside the namespaces)
# ---------------------------------------------------------------------------------------------

# faults_nft_rule NS DEV RULE...: adds RULE to an ingress chain on DEV (t_nft_rule, table
# "netdev faults", chain "in_DEV"). Only AoE frames (ethertype 0x88a2) are hit.
faults_nft_rule() { t_nft_rule "$1" faults ingress "$2" "${@:3}"; }

# faults_nft_egress_rule NS DEV RULE...: like faults_nft_rule, on egress (chain "out_DEV").
faults_nft_egress_rule() { t_nft_rule "$1" faults egress "$2" "${@:3}"; }

# Loss is applied to ATA frames only (T_ATA_ONLY), which the initiator retransmits with its RTO;
# discovery (Query Config, command 1) has its own deterministic test (lost_discovery.sh), so a
# random loss of every discovery attempt cannot make a loss test fail by chance.
# faults_loss PERCENT: drops PERCENT % of ATA frames in each direction (ingress of vt and vc).
faults_loss() {
    faults_nft_rule "$FT" vt "${T_ATA_ONLY[@]}" numgen random mod 100 "<" "$1" counter drop
    faults_nft_rule "$FC" vc "${T_ATA_ONLY[@]}" numgen random mod 100 "<" "$1" counter drop
}

# faults_dup PERCENT: sends PERCENT % of AoE frames twice, in each direction. The copy is made
# on the sender's egress (`dup to` the sending device itself), so the receiver really gets two
# frames; `dup to` on the receiver's ingress would send the copy back out towards the sender.
faults_dup() {
    faults_nft_egress_rule "$FT" vt numgen random mod 100 "<" "$1" counter dup to vt
    faults_nft_egress_rule "$FC" vc numgen random mod 100 "<" "$1" counter dup to vc
}

faults_nft_clear() {  # removes every link fault
    ip netns exec "$FT" nft delete table netdev faults 2>/dev/null
    ip netns exec "$FC" nft delete table netdev faults 2>/dev/null
    return 0
}

# faults_nft_counters: the packets counted by the fault rules, one number per rule.
faults_nft_counters() {
    local ns
    for ns in "$FT" "$FC"; do
        ip netns exec "$ns" nft list table netdev faults 2>/dev/null |
            sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
    done
}

# ---------------------------------------------------------------------------------------------
# The clients
# ---------------------------------------------------------------------------------------------

# faults_in_client CMD...: CMD in the client namespace, bounded (FAULTS_CLIENT_SECONDS).
faults_in_client() { T_CMD_SECONDS=${FAULTS_CLIENT_SECONDS:-600} t_in "$FC" "$@"; }

# faults_aoe ARGS...: `aoe ARGS...` in the client namespace.
faults_aoe() { faults_in_client "$AOE_BIN" "$@"; }

# faults_soak_client ARGS...: the verifying I/O generator (soak_client.cc) in the client
# namespace.
faults_soak_client() {
    local bin=${AOE_SOAK_CLIENT:-$(dirname "$AOE_BIN")/../../tests/faults/faults_soak_client}
    [[ -x "$bin" ]] || t_die "faults_soak_client not found at $bin (set AOE_SOAK_CLIENT)"
    faults_in_client "$bin" "$@"
}

# faults_json_sum FILE KEY: the sum of every "KEY": NUMBER in a JSON file (e.g. the
# retransmits of each path in `aoe cp --json`); no jq needed.
faults_json_sum() {
    grep -oE "\"$2\": *[0-9]+" "$1" | awk -F: '{s += $2} END {print s + 0}'
}
