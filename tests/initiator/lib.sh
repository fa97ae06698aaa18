# shellcheck shell=bash
#
# What the initiator tests (tests/initiator/*.sh) share beyond tests/lib.sh: namespaces named
# by a short word ("target", "client", ...), a target (aoe serve or vblade) in one of them, the
# `aoe` initiator commands in another, and an image with a run of zeros.
#
# SAFETY: every interface used here is a veth created by the test inside namespaces it created;
# nothing is sent on a host interface.
#
# Usage:
#   source "$(dirname "$0")/lib.sh"
#   ini_init "$@"                      # AOE_BIN from $1, cleanup trap, $T_TMP
#   ini_require_root
#   ini_netns target; ini_netns client # namespaces $(t_ns target), ...
#   ini_link target vt0 client vc0 9000
#   ini_serve target -i vt0 e0.1="$T_TMP/disk.img"
#   ini_wait_target client vc0 e0.1
#   ini_aoe client cp -i vc0 e0.1 "$T_TMP/out.img"

# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

# ini_init AOE_BINARY: t_init and the binary under test.
ini_init() {
    [[ -x "${1:-}" ]] || t_die "usage: $0 PATH_TO_AOE (not executable: ${1:-none})"
    t_init
    t_find_aoe "$1"
}

ini_require_root() {
    t_require_root "network namespaces, raw sockets"
    t_require_cmds ip timeout sha256sum "$@"
}

# ini_netns NAME: the namespace $(t_ns NAME), deleted on exit.
ini_netns() { t_netns_add "$(t_ns "$1")"; }

# ini_link NS_A IF_A NS_B IF_B MTU: a veth pair with one end in each (short-named) namespace.
ini_link() { t_veth "$(t_ns "$1")" "$2" "$(t_ns "$3")" "$4" "$5"; }

# ini_serve NS ARGS...: `aoe serve ARGS` in NS, ready to serve; sets INI_TARGET_PID (its
# `timeout` wrapper), SERVE_PID (aoe itself) and INI_TARGET_LOG.
ini_serve() {
    local ns=$1
    shift
    t_serve "$(t_ns "$ns")" --state-dir "$T_TMP/state-$ns" --no-announce "$@"
    INI_TARGET_PID=$SERVE_WRAPPER
    INI_TARGET_LOG=$SERVE_LOG
}

# ini_vblade NS SHELF SLOT IFACE FILE: vblade in NS; sets INI_TARGET_PID and INI_TARGET_LOG.
ini_vblade() {
    local ns=$1
    shift
    INI_TARGET_LOG=$T_TMP/vblade-$ns-$3.log
    t_bg "$INI_TARGET_LOG" ip netns exec "$(t_ns "$ns")" vblade "$@"
    INI_TARGET_PID=$T_BG_PID
}

# ini_aoe NS ARGS...: `aoe ARGS` in NS with a hard 120 s limit; returns its status.
ini_aoe() {
    local ns=$1
    shift
    T_CMD_SECONDS=120 t_in "$(t_ns "$ns")" "$AOE_BIN" "$@"
}

# ini_wait_target NS IFACE DISK: waits (at most 10 s) until DISK answers on IFACE.
ini_wait_target() { t_wait_target "$(t_ns "$1")" "$2" "$3" "${INI_TARGET_PID:-}"; }

# ini_make_image FILE MIB: deterministic pseudo-random bytes (t_make_image) with a run of zeros
# in the middle, so that sparse handling is exercised: MiB [MIB/4, MIB/4 + MIB/8) are zero.
ini_make_image() {
    local file=$1 mib=$2
    t_make_image "$file" "$mib"
    dd if=/dev/zero of="$file" bs=1M seek=$(( mib / 4 )) count=$(( mib / 8 )) conv=notrunc \
        status=none
}
