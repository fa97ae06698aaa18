# shellcheck shell=bash
# Globals set here (INTEROP_*) are read by the sourcing scripts.
# shellcheck disable=SC2034
#
# Shared helpers for the aoekit interop tests (tests/interop/*.sh).
#
# The tests boot real AoE initiators (Linux aoe.ko, iPXE) inside QEMU and
# point them at an AoE target (vblade or aoekit) over a tap device.
#
# SAFETY: AoE is a raw, broadcast Ethernet protocol. Everything here happens
# inside a private network namespace that the test creates itself: the tap
# device lives in that namespace, the target and QEMU are started inside it,
# and the namespace (with everything in it) is deleted on exit. Nothing is
# ever sent on a host interface we did not create.
#
# Usage from a test script:
#   source "$(dirname "$0")/lib.sh"
#   interop_init                 # installs the EXIT/INT/TERM cleanup trap
#   interop_require_root_tools qemu-system-x86_64 ...
#   interop_netns_create 9000    # sets INTEROP_NS and INTEROP_TAP
#   interop_target_start vblade "$image"
#   interop_qemu_run "$serial_log" 240 -kernel ... -initrd ...

# ---------------------------------------------------------------------------
# Logging and exit codes
# ---------------------------------------------------------------------------

# Exit code understood by automake-style harnesses (and by our README) as
# "test skipped": a prerequisite is missing, this says nothing about aoekit.
readonly INTEROP_SKIP=77

interop_log()  { printf '[interop %s] %s\n' "$(date +%T)" "$*" >&2; }
interop_pass() { printf 'PASS: %s\n' "$*"; }
interop_fail() { printf 'FAIL: %s\n' "$*"; INTEROP_FAILED=1; }
interop_skip() { printf 'SKIP: %s\n' "$*"; exit "$INTEROP_SKIP"; }
interop_die()  { printf 'FAIL: %s\n' "$*"; exit 1; }

INTEROP_FAILED=0

# Repository root (tests/interop/ is two levels down).
INTEROP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INTEROP_REPO_ROOT="$(cd "$INTEROP_DIR/../.." && pwd)"

# ---------------------------------------------------------------------------
# Cleanup: a stack of shell snippets run in reverse order on any exit.
# ---------------------------------------------------------------------------
# Every resource (temp dir, namespace, process) registers its own undo step
# right after it is created, so a failure at any point unwinds exactly what
# exists. The snippets only ever contain values we generated ourselves
# (pids, namespace names, mktemp paths).

INTEROP_CLEANUP=()

interop_defer() { INTEROP_CLEANUP+=("$1"); }

interop_run_cleanup() {
    local rc=$? i
    set +e
    trap - EXIT INT TERM HUP
    for (( i = ${#INTEROP_CLEANUP[@]} - 1; i >= 0; i-- )); do
        eval "${INTEROP_CLEANUP[i]}"
    done
    INTEROP_CLEANUP=()
    exit "$rc"
}

interop_init() {
    trap interop_run_cleanup EXIT
    # Turn signals into a normal exit so the EXIT trap does the cleanup.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    INTEROP_TMP="$(mktemp -d /tmp/aoekit-interop.XXXXXX)"
    # Keep the temp dir when asked to (serial logs, pcaps) for debugging.
    # shellcheck disable=SC2016  # expanded at cleanup time, on purpose
    interop_defer 'if [[ "${INTEROP_KEEP_TMP:-0}" == 1 ]]; then interop_log "kept $INTEROP_TMP"; else rm -rf "$INTEROP_TMP"; fi'
}

# Stop a process that THIS shell started (checked via its parent pid), first
# politely, then with SIGKILL; bounded to ~5 s. Never touches other processes.
interop_kill_pid() {
    local pid=$1 i ppid
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    ppid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null || true)
    if [[ "$ppid" != "$$" && "$ppid" != "${BASHPID:-$$}" ]]; then
        interop_log "not killing pid $pid: not our child (ppid=$ppid)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        # A zombie still answers kill -0; it is dead enough.
        [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
    return 0
}

# ---------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------

# interop_require_root_tools CMD... : exit 77 unless root and all CMDs exist.
interop_require_root_tools() {
    local c
    [[ $EUID -eq 0 ]] || interop_skip "must run as root (network namespaces, tap devices)"
    for c in ip timeout "$@"; do
        command -v "$c" >/dev/null 2>&1 || interop_skip "missing prerequisite: $c"
    done
    [[ -c /dev/net/tun ]] || interop_skip "missing /dev/net/tun"
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
    [[ -n "$best" ]] || interop_skip "no /boot/vmlinuz-* with a matching /lib/modules/*/modules.dep"
    INTEROP_KVER=$best
    INTEROP_VMLINUZ=/boot/vmlinuz-$best
    INTEROP_MODDIR=/lib/modules/$best
    [[ -r "$INTEROP_VMLINUZ" ]] || interop_skip "cannot read $INTEROP_VMLINUZ"
}

# ---------------------------------------------------------------------------
# Network namespace with a tap device
# ---------------------------------------------------------------------------

# interop_netns_create MTU
# Creates a fresh namespace "aoekit-it-<pid>" holding a persistent tap device
# "aoetap0" with the given MTU, brought up. QEMU attaches to the same tap by
# name (it must be started inside the namespace, see interop_qemu_run).
# Sets INTEROP_NS and INTEROP_TAP.
interop_netns_create() {
    local mtu=$1
    INTEROP_NS="aoekit-it-$$"
    INTEROP_TAP="aoetap0"
    ip netns add "$INTEROP_NS" || interop_die "ip netns add $INTEROP_NS failed"
    # Deleting the namespace destroys the tap; processes inside are stopped
    # by their own cleanup entries, which run before this one (LIFO).
    interop_defer "ip -n '$INTEROP_NS' link del '$INTEROP_TAP' 2>/dev/null; ip netns del '$INTEROP_NS' 2>/dev/null"
    ip -n "$INTEROP_NS" link set lo up
    ip -n "$INTEROP_NS" tuntap add dev "$INTEROP_TAP" mode tap
    # Set the MTU before any target starts: vblade (and presumably aoekit)
    # read the MTU once at startup to compute the advertised sector count.
    ip -n "$INTEROP_NS" link set "$INTEROP_TAP" mtu "$mtu"
    # No IPv6 chatter (router solicitations, MLD) from the host side of the
    # tap: keeps packet captures down to the guest's and target's frames.
    ip netns exec "$INTEROP_NS" sysctl -qw "net.ipv6.conf.$INTEROP_TAP.disable_ipv6=1" 2>/dev/null || true
    ip -n "$INTEROP_NS" link set "$INTEROP_TAP" up
    interop_log "netns $INTEROP_NS: tap $INTEROP_TAP mtu $mtu"
}

# interop_pcap_start FILE: optional packet capture on the tap (debug aid,
# enabled with INTEROP_PCAP=1). Runs inside the namespace only.
interop_pcap_start() {
    local file=$1
    [[ "${INTEROP_PCAP:-0}" == 1 ]] || return 0
    command -v tshark >/dev/null 2>&1 || { interop_log "no tshark, no pcap"; return 0; }
    timeout -k 5 900 ip netns exec "$INTEROP_NS" \
        tshark -q -i "$INTEROP_TAP" -w "$file" >/dev/null 2>&1 &
    INTEROP_PCAP_PID=$!
    interop_defer "interop_kill_pid $INTEROP_PCAP_PID"
    INTEROP_KEEP_TMP=1
    sleep 2   # let tshark open the interface before traffic starts
    interop_log "capturing to $file (temp dir will be kept)"
}

# ---------------------------------------------------------------------------
# AoE target inside the namespace
# ---------------------------------------------------------------------------

# interop_aoe_bin: the aoekit binary to test. $AOE_BIN if set; otherwise
# build/src/cli/aoe under the repo root, then the CMake preset build dirs
# (build/release, build/debug). Prints the path (may not exist).
interop_aoe_bin() {
    local c
    if [[ -n "${AOE_BIN:-}" ]]; then echo "$AOE_BIN"; return; fi
    for c in build/src/cli/aoe build/release/src/cli/aoe build/debug/src/cli/aoe; do
        if [[ -x "$INTEROP_REPO_ROOT/$c" ]]; then echo "$INTEROP_REPO_ROOT/$c"; return; fi
    done
    echo "$INTEROP_REPO_ROOT/build/src/cli/aoe"
}

# interop_target_check vblade|aoekit
# Exit 77 early (before any setup) if the chosen target cannot be run.
interop_target_check() {
    case "$1" in
        vblade)
            command -v "${VBLADE_BIN:-vblade}" >/dev/null 2>&1 \
                || interop_skip "vblade not installed" ;;
        aoekit)
            [[ -x "$(interop_aoe_bin)" ]] \
                || interop_skip "aoekit binary not found at $(interop_aoe_bin) (build it or set AOE_BIN)" ;;
        *) interop_die "unknown target '$1' (want vblade or aoekit)" ;;
    esac
}

# interop_target_start vblade|aoekit IMAGE
# Exports IMAGE as shelf 0, slot 0 (e0.0) on the tap inside INTEROP_NS.
# Started before the guest boots, because initiators only discover at fixed
# moments (Linux: module load, then every 60 s; iPXE: sanboot).
#   vblade: vblade 0 0 TAP IMAGE            (shelf slot netif file)
#   aoekit: $AOE_BIN serve -i TAP e0.0=IMAGE
# AOE_BIN defaults to build/src/cli/aoe under the repository root (then the
# preset dirs build/release, build/debug; see interop_aoe_bin).
# Sets INTEROP_TARGET_PID (the `timeout` wrapper) and INTEROP_TARGET_LOG.
interop_target_start() {
    local kind=$1 image=$2
    local -a cmd
    interop_target_check "$kind"
    case "$kind" in
        vblade) cmd=("${VBLADE_BIN:-vblade}" 0 0 "$INTEROP_TAP" "$image") ;;
        aoekit) cmd=("$(interop_aoe_bin)" serve -i "$INTEROP_TAP" "e0.0=$image") ;;
    esac
    INTEROP_TARGET_LOG=$INTEROP_TMP/target.log
    interop_log "target: ${cmd[*]} (in netns $INTEROP_NS)"
    # `timeout` bounds the target's lifetime even if this script is killed
    # with SIGKILL; normally cleanup stops it long before.
    timeout -k 5 "${INTEROP_TARGET_MAX_SECONDS:-900}" \
        ip netns exec "$INTEROP_NS" "${cmd[@]}" >"$INTEROP_TARGET_LOG" 2>&1 &
    INTEROP_TARGET_PID=$!
    interop_defer "interop_kill_pid $INTEROP_TARGET_PID"
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
            interop_die "target exited during startup (log above)"
        fi
        # The real target is the child of `timeout` (ip netns exec execs).
        [[ -n "$pid" ]] || pid=$(pgrep -P "$INTEROP_TARGET_PID" | head -n1 || true)
        if [[ -n "$pid" && -r "/proc/$pid/net/packet" ]]; then
            inodes=$(awk 'NR > 1 { print $NF }' "/proc/$pid/net/packet")
            for fdinode in $(find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null \
                             | sed 's/^socket:\[\([0-9]*\)\]$/\1/'); do
                if grep -qx "$fdinode" <<<"$inodes"; then
                    interop_log "target ready (pid $pid has a packet socket)"
                    sleep 0.5   # let it finish its startup announce
                    return 0
                fi
            done
        fi
        sleep 0.1
    done
    interop_log "WARNING: no AF_PACKET socket seen for target after 10 s; continuing"
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
    [[ -n "$bb" ]] || interop_skip "busybox (busybox-static) not installed"
    # Must be static: the initramfs has no libc.
    if file -L "$bb" 2>/dev/null | grep -q 'dynamically linked'; then
        interop_skip "$bb is dynamically linked; install busybox-static"
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
    [[ ${#paths[@]} -gt 0 ]] || interop_skip "kernel module $mod not found in $INTEROP_MODDIR/modules.dep"
    : >"$dir/lib/modules/$mod.load"
    for rel in "${paths[@]}"; do
        src=$INTEROP_MODDIR/$rel
        base=$(basename "$rel"); base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
        out=$dir/lib/modules/$base
        if [[ ! -f "$out" ]]; then
            case "$src" in
                *.ko.xz)  command -v xz   >/dev/null || interop_skip "need xz to unpack $src"
                          xz -dc "$src" >"$out" ;;
                *.ko.zst) command -v zstd >/dev/null || interop_skip "need zstd to unpack $src"
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
    command -v cpio >/dev/null || interop_skip "cpio not installed"
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
    interop_log "qemu (timeout ${secs}s): qemu-system-x86_64 ${args[*]}"
    timeout -k 5 "$secs" ip netns exec "$INTEROP_NS" \
        qemu-system-x86_64 "${args[@]}" >"$INTEROP_TMP/qemu.out" 2>&1 &
    INTEROP_QEMU_PID=$!
    interop_defer "interop_kill_pid $INTEROP_QEMU_PID"
    if [[ -n "${INTEROP_QEMU_DONE_RE:-}${INTEROP_QEMU_DONE_RE2:-}" ]]; then
        # Bounded by the `timeout` above: the loop ends when QEMU does.
        while kill -0 "$INTEROP_QEMU_PID" 2>/dev/null; do
            if { [[ -n "${INTEROP_QEMU_DONE_RE:-}" ]] \
                   && grep -aqE "$INTEROP_QEMU_DONE_RE" "$log"; } \
               || { [[ -n "${INTEROP_QEMU_DONE_RE2:-}" ]] \
                   && grep -aqE "$INTEROP_QEMU_DONE_RE2" "$INTEROP_QEMU_DONE_LOG2" 2>/dev/null; }; then
                done_early=1
                interop_kill_pid "$INTEROP_QEMU_PID"
                break
            fi
            sleep 0.5
        done
    fi
    wait "$INTEROP_QEMU_PID" 2>/dev/null || rc=$?
    if [[ $done_early -eq 1 ]]; then
        rc=0
    elif [[ $rc -eq 124 ]]; then
        interop_log "qemu hit the ${secs}s timeout"
    fi
    if [[ -s "$INTEROP_TMP/qemu.out" ]]; then
        interop_log "qemu stderr/stdout:"; sed 's/^/  qemu: /' "$INTEROP_TMP/qemu.out" >&2
    fi
    return "$rc"
}

# interop_make_image FILE MIB : deterministic pseudo-random image (AES-CTR
# keystream over zeros, so every run gets the same bytes), /dev/urandom if
# openssl is missing. Never all zeros, so a target returning zeros fails.
interop_make_image() {
    local file=$1 mib=$2
    if command -v openssl >/dev/null 2>&1; then
        head -c "$(( mib * 1024 * 1024 ))" /dev/zero \
            | openssl enc -aes-128-ctr -nosalt \
                -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 \
            >"$file"
    else
        head -c "$(( mib * 1024 * 1024 ))" /dev/urandom >"$file"
    fi
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
    command -v losetup >/dev/null 2>&1 || interop_skip "missing prerequisite: losetup"
    dev=$(losetup -f --show "${ro[@]}" -o "$off" --sizelimit "$size" "$file") \
        || interop_die "losetup failed for $file (no free loop device?)"
    INTEROP_LOOP=$dev
    interop_defer "interop_loop_detach '$dev' '$(readlink -f "$file")'"
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
    mount "$@" "$dev" "$dir" || interop_die "cannot mount $dev on $dir"
    interop_defer "mountpoint -q '$dir' && umount '$dir'"
}
