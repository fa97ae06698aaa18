# shellcheck shell=bash
# tests/rbd/cluster.sh: a throwaway Ceph cluster for the RBD tests: one monitor and one OSD with
# the memstore object store (data in RAM), everything under one directory, bound to 127.0.0.1
# of the network namespace it runs in, with cephx authentication as in production: one keyring
# ($CEPH_DIR/keyring, named by ceph.conf) holds the keys of mon., client.admin and osd.0, so
# every client of the tests is client.admin unless it says otherwise (rbd_serve.sh makes a
# client.aoe of its own). Starts in a few seconds and uses tens of MiB; keep what the tests
# write small (memstore keeps every object in memory).
#
#   source tests/rbd/cluster.sh          # after tests/lib.sh and t_init
#   ceph_start NS DIR                    # sets CEPH_CONF; stopped by pid at exit
#   ceph_in NS rbd create --size 32 rbd/disk
#   ceph_kill_mon / ceph_start_mon       # the monitor going away and coming back (rbd_faults)
#
# SAFETY: Ceph talks TCP on the namespace's loopback only; no AoE or broadcast is involved.
# Every daemon is started here, bounded by `timeout`, and stopped by its pid.

CEPH_MON_PID=""
CEPH_OSD_PID=""

# ceph_in NS CMD...: a Ceph client command against the test cluster, bounded.
ceph_in() {
    local ns=$1
    shift
    timeout -k 5 60 ip netns exec "$ns" "$@" -c "$CEPH_CONF"
}

# ceph_start NS DIR: writes the configuration, makes the monitor and the OSD, starts both,
# creates the pool "rbd". Dies if the cluster does not come up within 60 s.
ceph_start() {
    local ns=$1 dir=$2 fsid
    t_require_cmds ceph-mon ceph-osd ceph rbd ceph-authtool uuidgen
    CEPH_NS=$ns
    CEPH_DIR=$dir
    CEPH_CONF=$dir/ceph.conf
    mkdir -p "$dir/mon.a" "$dir/osd.0" "$dir/run" "$dir/log"
    fsid=$(uuidgen)
    cat >"$CEPH_CONF" <<CONF
[global]
fsid = $fsid
mon initial members = a
mon host = 127.0.0.1:6789
public network = 127.0.0.0/8
ms bind msgr2 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$cluster-\$name.\$pid.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
mon data = $dir/mon.\$id
osd data = $dir/osd.\$id
osd objectstore = memstore
memstore device bytes = 536870912
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd op num shards = 1
# The read lease of a PG (Octopus and later) is this ratio times osd_heartbeat_grace (20 s): by
# default 16 s. An OSD paused for longer (rbd_faults.sh stops it with SIGSTOP, the only way to
# take a memstore OSD away without losing its data) finds its PGs "laggy" when continued and
# parks client requests until the lease is renewed, which sometimes never happens (Ceph's own
# bug: ceph/ceph-container#1682, ceph/ceph#71663): the OSD then holds 256 requests "delayed"
# and serves nothing. With one OSD no other can take over its PGs, so the lease protects
# nothing here; 60 makes it 20 minutes, longer than any test pauses an OSD.
osd pool default read lease ratio = 60
osd op num threads per shard = 1
# The OSD is put into the CRUSH map here (ceph_start), not by itself at boot: on a loaded machine
# its own attempt can reach the monitor before it knows the cluster's fsid, and fail.
osd crush update on start = false
osd class update on start = false
CONF
    ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null ||
        t_die "ceph-authtool failed"
    # client.admin goes into the monitor's key database with --mkfs below.
    ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
        --cap mgr 'allow *' >/dev/null || t_die "ceph-authtool failed"
    ip netns exec "$ns" ceph-mon --mkfs -i a -c "$CEPH_CONF" --keyring "$dir/keyring" \
        >"$dir/log/mkfs-mon.out" 2>&1 || { cat "$dir/log/mkfs-mon.out" >&2; t_die "ceph-mon --mkfs failed"; }
    ceph_start_mon
    CEPH_OSD_UUID=$(uuidgen)
    ceph_in "$ns" ceph osd new "$CEPH_OSD_UUID" >/dev/null || t_die "ceph osd new failed"
    ceph_in "$ns" ceph auth get-or-create osd.0 mon 'allow profile osd' osd 'allow *' \
        mgr 'allow profile osd' >"$dir/osd.0.keyring" 2>/dev/null || t_die "no key for osd.0"
    ceph-authtool "$dir/keyring" --import-keyring "$dir/osd.0.keyring" >/dev/null 2>&1 ||
        t_die "cannot add osd.0's key to the keyring"
    ip netns exec "$ns" ceph-osd -i 0 --mkfs --osd-uuid "$CEPH_OSD_UUID" -c "$CEPH_CONF" \
        >"$dir/log/mkfs-osd.out" 2>&1 || { cat "$dir/log/mkfs-osd.out" >&2; t_die "ceph-osd --mkfs failed"; }
    ceph_in "$ns" ceph osd crush add osd.0 1 root=default >/dev/null 2>&1 ||
        t_die "cannot add osd.0 to the CRUSH map"
    ceph_start_osd
    ceph_in "$ns" ceph osd pool create rbd 8 >/dev/null 2>&1 || t_die "cannot create pool rbd"
    ceph_in "$ns" ceph osd pool application enable rbd rbd >/dev/null 2>&1 ||
        t_die "cannot enable rbd on pool rbd"
    if ! ceph_wait_healthy 30; then
        t_log "the OSD did not come up; starting it again"
        t_kill_pid "$CEPH_OSD_WRAPPER"
        ceph_start_osd
        ceph_wait_healthy 90 || { ceph_in "$CEPH_NS" ceph -s >&2; t_die "the Ceph cluster did not accept a write"; }
    fi
    t_log "ceph cluster up in $ns ($CEPH_CONF)"
}

ceph_start_mon() {
    t_bg "$CEPH_DIR/log/mon.out" ip netns exec "$CEPH_NS" ceph-mon -f -i a -c "$CEPH_CONF"
    CEPH_MON_WRAPPER=$T_BG_PID
    CEPH_MON_PID=$(t_child_of "$CEPH_MON_WRAPPER")
}

# ceph_kill_mon: the monitor dies (SIGKILL). Its store is on disk ($CEPH_DIR/mon.a), so
# ceph_start_mon brings the same monitor back, on the same address.
ceph_kill_mon() {
    kill -KILL "$CEPH_MON_PID" 2>/dev/null
    wait "$CEPH_MON_WRAPPER" 2>/dev/null
    CEPH_MON_PID=""
}

# The OSD starts once: memstore loses its data when the process ends, so tests take it away
# with SIGSTOP and bring it back with SIGCONT (rbd_faults.sh) instead of restarting it.
ceph_start_osd() {
    t_bg "$CEPH_DIR/log/osd.out" ip netns exec "$CEPH_NS" ceph-osd -f -i 0 -c "$CEPH_CONF"
    CEPH_OSD_WRAPPER=$T_BG_PID
    CEPH_OSD_PID=$(t_child_of "$CEPH_OSD_WRAPPER")
}

# ceph_wait_healthy SECONDS: waits at most about SECONDS until an object can be written to pool
# rbd (the OSD is up and its PGs active). Without a manager daemon, `ceph pg stat` has no answer.
ceph_wait_healthy() {
    local deadline=$((SECONDS + $1))
    while (( SECONDS < deadline )); do
        ceph_in "$CEPH_NS" timeout 5 rados -p rbd put aoekit-probe /dev/null 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}
