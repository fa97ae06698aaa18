# shellcheck shell=bash
# Globals set here (INTEROP_*) are read by the sourcing scripts.
# shellcheck disable=SC2034
#
# What the interop tests (tests/interop/*.sh, and the netboot and diskless QEMU tests) share
# beyond tests/lib.sh: a namespace with a tap device, an AoE target (vblade or aoekit) on it,
# initramfs building and QEMU.
#
# The tests boot real AoE initiators (Linux aoe.ko, iPXE) inside QEMU and point them at an AoE
# target over a tap device.
#
# SAFETY: AoE is a raw, broadcast Ethernet protocol. Everything here happens inside a private
# network namespace that the test creates itself: the tap device lives in that namespace, the
# target and QEMU are started inside it, and the namespace (with everything in it) is deleted on
# exit. Nothing is ever sent on a host interface we did not create.
#
# Usage from a test script:
#   source "$(dirname "$0")/lib.sh"
#   t_init                       # tests/lib.sh: cleanup trap, $T_TMP
#   interop_require_root_tools qemu-system-x86_64 ...
#   interop_netns_create 9000    # sets INTEROP_NS and INTEROP_TAP
#   interop_target_start vblade "$image"
#   interop_qemu_run "$serial_log" 240 -kernel ... -initrd ...

# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

# ---------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------

# interop_require_root_tools CMD... : exit 77 unless root and all CMDs exist.
interop_require_root_tools() {
    local c
    [[ $EUID -eq 0 ]] || t_skip "must run as root (network namespaces, tap devices)"
    for c in ip timeout "$@"; do
        command -v "$c" >/dev/null 2>&1 || t_skip "missing prerequisite: $c"
    done
    [[ -c /dev/net/tun ]] || t_skip "missing /dev/net/tun"
}

# interop_find_kernel: pick the newest Debian kernel that has both a vmlinuz
# and a modules tree. Sets INTEROP_KVER, INTEROP_VMLINUZ, INTEROP_MODDIR.
# The version is never hard-coded; it is whatever the image package installed.
interop_find_kernel() {
    local v best=""
    for v in /boot/vmlinuz-*; do
        [[ -e "$v" ]] || continue
        v=${v#/boot/vmlinuz-}
        [[ -f "/lib/modules/$v/modules.dep" ]] || continue
        best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n1)
    done
    [[ -n "$best" ]] || t_skip "no /boot/vmlinuz-* with a matching /lib/modules/*/modules.dep"
    INTEROP_KVER=$best
    INTEROP_VMLINUZ=/boot/vmlinuz-$best
    INTEROP_MODDIR=/lib/modules/$best
    [[ -r "$INTEROP_VMLINUZ" ]] || t_skip "cannot read $INTEROP_VMLINUZ"
}

# ---------------------------------------------------------------------------
# Network namespace with a tap device
# ---------------------------------------------------------------------------

# interop_netns_create MTU
# Creates a fresh namespace $(t_ns it) holding a persistent tap device
# "aoetap0" with the given MTU, brought up. QEMU attaches to the same tap by
# name (it must be started inside the namespace, see interop_qemu_run).
# Deleting the namespace (at exit) destroys the tap. Sets INTEROP_NS and
# INTEROP_TAP.
interop_netns_create() {
    local mtu=$1
    INTEROP_NS=$(t_ns it)
    INTEROP_TAP="aoetap0"
    t_netns_add "$INTEROP_NS"
    ip -n "$INTEROP_NS" tuntap add dev "$INTEROP_TAP" mode tap
    # Set the MTU before any target starts: vblade (and presumably aoekit)
    # read the MTU once at startup to compute the advertised sector count.
    ip -n "$INTEROP_NS" link set "$INTEROP_TAP" mtu "$mtu"
    # No IPv6 chatter (router solicitations, MLD) from the host side of the
    # tap: keeps packet captures down to the guest's and target's frames.
    ip netns exec "$INTEROP_NS" sysctl -qw "net.ipv6.conf.$INTEROP_TAP.disable_ipv6=1" 2>/dev/null || true
    ip -n "$INTEROP_NS" link set "$INTEROP_TAP" up
    t_log "netns $INTEROP_NS: tap $INTEROP_TAP mtu $mtu"
}

# interop_pcap_start FILE: optional packet capture on the tap (debug aid,
# enabled with INTEROP_PCAP=1). Runs inside the namespace only.
interop_pcap_start() {
    local file=$1
    [[ "${INTEROP_PCAP:-0}" == 1 ]] || return 0
    command -v tshark >/dev/null 2>&1 || { t_log "no tshark, no pcap"; return 0; }
    timeout -k 5 900 ip netns exec "$INTEROP_NS" \
        tshark -q -i "$INTEROP_TAP" -w "$file" >/dev/null 2>&1 &
    INTEROP_PCAP_PID=$!
    t_defer "t_kill_pid $INTEROP_PCAP_PID"
    T_KEEP_TMP=1
    sleep 2   # let tshark open the interface before traffic starts
    t_log "capturing to $file (temp dir will be kept)"
}

# ---------------------------------------------------------------------------
# AoE target inside the namespace
# ---------------------------------------------------------------------------

# interop_target_check vblade|aoekit
# Exit 77 early (before any setup) if the chosen target cannot be run.
interop_target_check() {
    case "$1" in
        vblade)
            command -v "${VBLADE_BIN:-vblade}" >/dev/null 2>&1 \
                || t_skip "vblade not installed" ;;
        aoekit)
            t_find_aoe ;;
        *) t_die "unknown target '$1' (want vblade or aoekit)" ;;
    esac
}

# interop_target_start vblade|aoekit IMAGE
# Exports IMAGE as shelf 0, slot 0 (e0.0) on the tap inside INTEROP_NS.
# Started before the guest boots, because initiators only discover at fixed
# moments (Linux: module load, then every 60 s; iPXE: sanboot).
#   vblade: vblade 0 0 TAP IMAGE            (shelf slot netif file)
#   aoekit: $AOE_BIN serve -i TAP e0.0=IMAGE
# AOE_BIN: see t_find_aoe (tests/lib.sh).
# Sets INTEROP_TARGET_PID (the `timeout` wrapper) and INTEROP_TARGET_LOG.
interop_target_start() {
    local kind=$1 image=$2
    shift 2  # the rest: more `aoe serve` options (aoekit only)
    local -a cmd
    interop_target_check "$kind"
    case "$kind" in
        vblade) cmd=("${VBLADE_BIN:-vblade}" 0 0 "$INTEROP_TAP" "$image") ;;
        aoekit) cmd=("$AOE_BIN" serve -i "$INTEROP_TAP" "$@" "e0.0=$image") ;;
    esac
    INTEROP_TARGET_LOG=$T_TMP/target.log
    t_log "target: ${cmd[*]} (in netns $INTEROP_NS)"
    t_bg "$INTEROP_TARGET_LOG" ip netns exec "$INTEROP_NS" "${cmd[@]}"
    INTEROP_TARGET_PID=$T_BG_PID
    interop_target_wait_ready
}

# Readiness = the target process holds an AF_PACKET socket in our namespace
# (both vblade and any raw-Ethernet target must). We look for one of the
# process's socket inodes in /proc/<pid>/net/packet, which shows the packet
# sockets of that process's network namespace. Bounded to ~10 s.
interop_target_wait_ready() {
    local i pid="" inodes fdinode
    for (( i = 0; i < 100; i++ )); do
        if ! kill -0 "$INTEROP_TARGET_PID" 2>/dev/null; then
            cat "$INTEROP_TARGET_LOG" >&2
            t_die "target exited during startup (log above)"
        fi
        # The real target is the child of `timeout` (ip netns exec execs).
        [[ -n "$pid" ]] || pid=$(t_child_of "$INTEROP_TARGET_PID")
        if [[ -n "$pid" && -r "/proc/$pid/net/packet" ]]; then
            inodes=$(awk 'NR > 1 { print $NF }' "/proc/$pid/net/packet")
            for fdinode in $(find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null \
                             | sed 's/^socket:\[\([0-9]*\)\]$/\1/'); do
                if grep -qx "$fdinode" <<<"$inodes"; then
                    t_log "target ready (pid $pid has a packet socket)"
                    sleep 0.5   # let it finish its startup announce
                    return 0
                fi
            done
        fi
        sleep 0.1
    done
    cat "$INTEROP_TARGET_LOG" >&2
    t_die "the target opened no AF_PACKET socket within 10 s"
}

# ---------------------------------------------------------------------------
# Guest initramfs (busybox-static + kernel modules)
# ---------------------------------------------------------------------------

# interop_initramfs_new DIR INIT_SCRIPT
# Skeleton root with a static busybox and INIT_SCRIPT as /init. Applet
# symlinks are created by /init itself (busybox --install).
interop_initramfs_new() {
    local dir=$1 init=$2 bb
    bb=$(command -v busybox || true)
    [[ -n "$bb" ]] || t_skip "busybox (busybox-static) not installed"
    # Must be static: the initramfs has no libc.
    if file -L "$bb" 2>/dev/null | grep 'dynamically linked' >/dev/null; then
        t_skip "$bb is dynamically linked; install busybox-static"
    fi
    mkdir -p "$dir"/{bin,sbin,dev,proc,sys,tmp,etc,lib/modules}
    cp "$bb" "$dir/bin/busybox"
    cp "$init" "$dir/init"
    chmod 755 "$dir/init" "$dir/bin/busybox"
}

# Print "path" lines (relative to $INTEROP_MODDIR) for MODULE and all its
# dependencies, dependencies first, using modules.dep (which lists the full
# transitive closure already; we reverse it so deps load first).
_interop_mod_paths() {
    local name=${1//-/_} line
    line=$(awk -F: -v n="$name" '{
            b = $1; sub(/.*\//, "", b); sub(/\.ko(\.(xz|zst|gz))?$/, "", b);
            gsub(/-/, "_", b); if (b == n) { print; exit }
        }' "$INTEROP_MODDIR/modules.dep")
    [[ -n "$line" ]] || return 1
    # "mod.ko: depA.ko depB.ko" -> depB depA mod (modules.dep lists the
    # closure with the deepest dependency last).
    { echo "${line%%:*}"; tr ' ' '\n' <<<"${line#*:}" | sed '/^$/d'; } | tac
}

# interop_initramfs_add_module DIR MODULE
# Copies MODULE and its dependencies into DIR/lib/modules (uncompressed,
# since busybox insmod may lack xz/zstd support) and writes
# DIR/lib/modules/MODULE.load: the .ko files to insmod, in order.
interop_initramfs_add_module() {
    local dir=$1 mod=$2 rel src base out
    local -a paths
    mapfile -t paths < <(_interop_mod_paths "$mod") || true
    [[ ${#paths[@]} -gt 0 ]] || t_skip "kernel module $mod not found in $INTEROP_MODDIR/modules.dep"
    : >"$dir/lib/modules/$mod.load"
    for rel in "${paths[@]}"; do
        src=$INTEROP_MODDIR/$rel
        base=$(basename "$rel"); base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
        out=$dir/lib/modules/$base
        if [[ ! -f "$out" ]]; then
            case "$src" in
                *.ko.xz)  command -v xz   >/dev/null || t_skip "need xz to unpack $src"
                          xz -dc "$src" >"$out" ;;
                *.ko.zst) command -v zstd >/dev/null || t_skip "need zstd to unpack $src"
                          zstd -qdc "$src" >"$out" ;;
                *.ko.gz)  gzip -dc "$src" >"$out" ;;
                *)        cp "$src" "$out" ;;
            esac
        fi
        echo "/lib/modules/$base" >>"$dir/lib/modules/$mod.load"
    done
}

# interop_initramfs_pack DIR OUT : newc cpio, gzip-compressed.
interop_initramfs_pack() {
    local dir=$1 out=$2
    command -v cpio >/dev/null || t_skip "cpio not installed"
    (cd "$dir" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out"
}

# ---------------------------------------------------------------------------
# QEMU
# ---------------------------------------------------------------------------

# interop_qemu_run SERIAL_LOG TIMEOUT_SECONDS QEMU_ARGS...
# Runs QEMU (TCG, headless, no default devices) inside INTEROP_NS with one
# e1000 NIC on INTEROP_TAP, the first serial port written to SERIAL_LOG and a
# hard wall-clock timeout. Returns QEMU's exit status (124 on timeout).
# The caller adds -kernel/-initrd/-append/-m etc.
# If INTEROP_QEMU_DONE_RE is set (an extended regex), QEMU is stopped as soon
# as the serial log matches it (for guests that halt instead of powering off);
# the return status is then 0. INTEROP_QEMU_DONE_RE2 does the same for the
# file INTEROP_QEMU_DONE_LOG2 (e.g. a second serial port).
interop_qemu_run() {
    local log=$1 secs=$2 rc=0 done_early=0
    shift 2
    : >"$log"
    local -a args=(
        -accel tcg
        -nodefaults          # no default NIC (user-mode net), VGA, etc.
        -display none
        -monitor none
        -no-reboot           # guest reboot/panic => QEMU exits
        -serial "file:$log"
        -netdev "tap,id=n0,ifname=$INTEROP_TAP,script=no,downscript=no"
        # romfile= : no iPXE option ROM on the NIC. Linux does not need it,
        # and the iPXE test brings its own (ipxe.lkrn); without this, SeaBIOS
        # falls through to the ROM's DHCP/PXE boot when a test fails.
        -device "e1000,netdev=n0,mac=52:54:00:a0:e0:01,romfile="
        "$@"
    )
    t_log "qemu (timeout ${secs}s): qemu-system-x86_64 ${args[*]}"
    timeout -k 5 "$secs" ip netns exec "$INTEROP_NS" \
        qemu-system-x86_64 "${args[@]}" >"$T_TMP/qemu.out" 2>&1 &
    INTEROP_QEMU_PID=$!
    t_defer "t_kill_pid $INTEROP_QEMU_PID"
    if [[ -n "${INTEROP_QEMU_DONE_RE:-}${INTEROP_QEMU_DONE_RE2:-}" ]]; then
        # Bounded by the `timeout` above: the loop ends when QEMU does.
        while kill -0 "$INTEROP_QEMU_PID" 2>/dev/null; do
            if { [[ -n "${INTEROP_QEMU_DONE_RE:-}" ]] \
                   && grep -aqE "$INTEROP_QEMU_DONE_RE" "$log"; } \
               || { [[ -n "${INTEROP_QEMU_DONE_RE2:-}" ]] \
                   && grep -aqE "$INTEROP_QEMU_DONE_RE2" "$INTEROP_QEMU_DONE_LOG2" 2>/dev/null; }; then
                done_early=1
                t_kill_pid "$INTEROP_QEMU_PID"
                break
            fi
            sleep 0.5
        done
    fi
    wait "$INTEROP_QEMU_PID" 2>/dev/null || rc=$?
    if [[ $done_early -eq 1 ]]; then
        rc=0
    elif [[ $rc -eq 124 ]]; then
        t_log "qemu hit the ${secs}s timeout"
    fi
    if [[ -s "$T_TMP/qemu.out" ]]; then
        t_log "qemu stderr/stdout:"; sed 's/^/  qemu: /' "$T_TMP/qemu.out" >&2
    fi
    return "$rc"
}

# ---------------------------------------------------------------------------
# Loop devices and mounts (disk images with partitions)
# ---------------------------------------------------------------------------

# interop_image_partition IMAGE [N] : prints "START_SECTOR SECTORS" of MBR/GPT
# partition N (default 1) of a disk image file, read with sfdisk.
interop_image_partition() {
    local image=$1 n=${2:-1} line
    line=$(sfdisk -d "$image" 2>/dev/null | grep -E '^[^ ]+ : ' | sed -n "${n}p") || true
    [[ -n "$line" ]] || return 1
    sed -n 's/.*start= *\([0-9]*\), *size= *\([0-9]*\).*/\1 \2/p' <<<"$line"
}

# interop_loop_attach FILE OFFSET_BYTES SIZE_BYTES [ro]
# Attaches a loop device over a byte range of FILE (e.g. one partition of a
# disk image; no partition scanning needed, which not every kernel or
# container offers) and sets INTEROP_LOOP. Read-only with a 4th argument
# "ro". Detached on exit (interop_loop_detach), unless already detached.
interop_loop_attach() {
    local file=$1 off=$2 size=$3 mode=${4:-rw} dev
    local -a ro=()
    [[ "$mode" == ro ]] && ro=(-r)
    command -v losetup >/dev/null 2>&1 || t_skip "missing prerequisite: losetup"
    dev=$(losetup -f --show "${ro[@]}" -o "$off" --sizelimit "$size" "$file") \
        || t_die "losetup failed for $file (no free loop device?)"
    INTEROP_LOOP=$dev
    t_defer "interop_loop_detach '$dev' '$(readlink -f "$file")'"
}

# interop_loop_detach DEV FILE : detaches DEV only if it is still backed by
# FILE. After an early detach the kernel may hand the same loopN to somebody
# else, whose device must not be touched by our cleanup.
interop_loop_detach() {
    local dev=$1 file=$2 backing
    backing=$(cat "/sys/block/${dev#/dev/}/loop/backing_file" 2>/dev/null || true)
    [[ -n "$backing" && "$backing" == "$file" ]] || return 0
    losetup -d "$dev" 2>/dev/null || true
}

# interop_mount DEV DIR [MOUNT_OPTIONS...] : mounts DEV on DIR (created if
# needed) and unmounts it on exit if still mounted.
interop_mount() {
    local dev=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    mount "$@" "$dev" "$dir" || t_die "cannot mount $dev on $dir"
    t_defer "mountpoint -q '$dir' && umount '$dir'"
}
