# shellcheck shell=bash
# tests/rbd/lib.sh: what the RBD tests share: tests/lib.sh, the throwaway Ceph cluster
# (cluster.sh), and the layout every test uses:
#
#   namespace T (rbd_t): lo with the Ceph cluster on 127.0.0.1, the target(s), veth ends vt0, vt1
#   namespace C (rbd_c): the initiator, veth ends vc0 (to vt0) and vc1 (to vt1)
#
# The AoE side is only ever on those veth pairs; Ceph only on T's loopback.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

# rbd_init AOE_BIN [PATHS]: t_init, prerequisites, the namespaces, the cluster. PATHS (1 or 2)
# veth pairs.
rbd_init() {
    t_init
    t_require_root "network namespaces"
    t_require_cmds ip ceph-mon ceph-osd rbd rados
    t_find_aoe "${1:-}"
    RBD_T=$(t_ns t)
    RBD_C=$(t_ns c)
    t_netns_add "$RBD_T"
    t_netns_add "$RBD_C"
    t_veth "$RBD_T" vt0 "$RBD_C" vc0
    if [[ "${2:-1}" -ge 2 ]]; then t_veth "$RBD_T" vt1 "$RBD_C" vc1; fi
    ceph_start "$RBD_T" "$T_TMP/ceph"
}

# rbd_cli ARGS...: the rbd command against the test cluster.
rbd_cli() { ceph_in "$RBD_T" rbd "$@"; }

# rbd_aoe ARGS...: `aoe ARGS` on the initiator's side.
rbd_aoe() { t_in "$RBD_C" "$AOE_BIN" "$@"; }

# rbd_export_spec IMAGE [OPTIONS]: the EXPORT value of an RBD image of the test cluster.
rbd_spec() { printf 'rbd:%s,ceph_conf=%s%s' "$1" "$CEPH_CONF" "${2:+,$2}"; }
