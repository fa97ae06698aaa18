# shellcheck shell=bash
# Globals set here (DISKLESS_*) are read by the sourcing scripts.
# shellcheck disable=SC2034
#
# Helpers for diskless-boot tests: a Linux whose root file system is an AoE
# disk. Built on tests/interop/lib.sh (sourced here; call t_init first).
# Reusable by any test that boots the image another way (e.g. PXE -> DHCP ->
# TFTP -> iPXE from `aoe netboot` instead of ipxe.lkrn):
#
#   source tests/diskless/lib.sh
#   t_init
#   diskless_build_image "$T_TMP/diskless.img"    # sets DISKLESS_IMAGE, DISKLESS_TOKEN
#   interop_netns_create 1500
#   interop_target_start aoekit "$DISKLESS_IMAGE"
#   diskless_watch_start "$SERIAL" "$CONSOLE"            # optional: boot timings
#   ...boot a guest whose COM1 goes to $SERIAL, e.g. with interop_qemu_run...
#   diskless_watch_stop
#   t_kill_pid "$INTEROP_TARGET_PID"               # image quiescent
#   diskless_check_serial "$SERIAL" "$qemu_rc"           # PASS/FAIL lines
#   diskless_check_image                                 # e2fsck + loop mount + token
#   diskless_check_aoe_cp aoekit                         # download with `aoe cp`
#   [[ $T_FAILED -eq 0 ]]

# shellcheck source=../interop/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../interop/lib.sh"

DISKLESS_ROOT_DEV=/dev/etherd/e0.0p1
DISKLESS_MAKE_IMAGE=$T_REPO_ROOT/scripts/make-diskless-image

# The iPXE script that sanboots e0.0 (as tests/interop/ipxe_sanboot.sh uses).
# diskless_ipxe_script FILE
diskless_ipxe_script() {
    cat >"$1" <<'EOF'
#!ipxe
echo AOEKIT-IPXE-SCRIPT-STARTED
ifopen net0
sanboot aoe:e0.0
echo AOEKIT-IPXE-SANBOOT-RETURNED
EOF
}

# diskless_build_image IMAGE [MIB] [EXTRA make-diskless-image ARGS...]
# Builds the image with a fresh random token on the kernel command line
# (aoekit.token=..., aoekit.poweroff=1: the guest writes the token to
# /root-token.txt on its root and powers off), and checks that the token file
# does not exist yet. Sets DISKLESS_IMAGE, DISKLESS_TOKEN, DISKLESS_PART_START,
# DISKLESS_PART_SECTORS. Exits 77 if the builder lacks a prerequisite.
diskless_build_image() {
    local image=$1 mib=${2:-96} rc=0 t0=$SECONDS
    shift 2 || shift $#
    [[ -x "$DISKLESS_MAKE_IMAGE" ]] || t_die "$DISKLESS_MAKE_IMAGE missing"
    DISKLESS_TOKEN="AOEKIT-DISKLESS-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    DISKLESS_IMAGE=$image
    "$DISKLESS_MAKE_IMAGE" "$image" --size "$mib" --root "$DISKLESS_ROOT_DEV" \
        --cmdline-extra "aoekit.token=$DISKLESS_TOKEN aoekit.poweroff=1" "$@" || rc=$?
    [[ $rc -eq 77 ]] && t_skip "make-diskless-image: a prerequisite is missing (see above)"
    [[ $rc -eq 0 ]] || t_die "make-diskless-image failed (exit $rc)"
    read -r DISKLESS_PART_START DISKLESS_PART_SECTORS < <(interop_image_partition "$image" 1) \
        || t_die "no partition 1 in $image"
    diskless_mount_ro "$T_TMP/diskless-before"
    [[ -e "$T_TMP/diskless-before/root-token.txt" ]] \
        && t_die "root-token.txt exists before the boot"
    grep -q "aoekit.token=$DISKLESS_TOKEN" "$T_TMP/diskless-before/boot/extlinux/extlinux.conf" \
        || t_die "token not in extlinux.conf"
    diskless_umount "$T_TMP/diskless-before"
    t_log "image $image built in $(( SECONDS - t0 ))s (token $DISKLESS_TOKEN)"
}

# diskless_mount_ro DIR [IMAGE] : partition 1 of IMAGE (default
# DISKLESS_IMAGE) mounted read-only on DIR through a read-only loop device.
diskless_mount_ro() {
    local dir=$1 image=${2:-$DISKLESS_IMAGE}
    interop_loop_attach "$image" $(( DISKLESS_PART_START * 512 )) \
        $(( DISKLESS_PART_SECTORS * 512 )) ro
    interop_mount "$INTEROP_LOOP" "$dir" -t ext4 -o ro
}

# diskless_umount DIR : unmounts DIR and detaches its loop device now (the
# exit-time cleanup entries then find nothing left to do).
diskless_umount() {
    local dir=$1 dev
    dev=$(findmnt -n -o SOURCE "$dir" 2>/dev/null || true)
    umount "$dir"
    [[ "$dev" == /dev/loop* ]] && losetup -d "$dev" 2>/dev/null
    return 0
}

# ---------------------------------------------------------------------------
# Boot milestones: when each appears on the consoles (ms after the start).
# ---------------------------------------------------------------------------
DISKLESS_MILESTONES=(
    "console|AOEKIT-IPXE-SCRIPT-STARTED|ipxe-script"
    "serial|SYSLINUX|extlinux-started"
    "serial|Loading /boot/vmlinuz[.]* ?ok|kernel-loaded"
    "serial|Loading /boot/initrd.img[.]* ?ok|initrd-loaded"
    "serial|Run /init as init process|initramfs-init"
    "serial|aoekit-initramfs: found|root-device-found"
    "serial|AOEKIT-DISKLESS-ROOT-UP|root-init"
    "serial|AOEKIT-DISKLESS-POWEROFF|poweroff"
)

# diskless_watch_start SERIAL_LOG [CONSOLE_LOG] [MAX_SECONDS]
# Background poller (bounded to MAX_SECONDS, default 600) that appends
# "milestone ms" lines to $T_TMP/milestones.txt. Truncates the logs.
diskless_watch_start() {
    local serial=$1 console=${2:-/dev/null} max=${3:-600} t0
    DISKLESS_TIMES=$T_TMP/milestones.txt
    : >"$DISKLESS_TIMES"; : >"$serial"
    [[ "$console" != /dev/null ]] && : >"$console"
    t0=$(( $(date +%s%N) / 1000000 ))
    (
        declare -A seen=()
        for (( i = 0; i < max * 5; i++ )); do
            for m in "${DISKLESS_MILESTONES[@]}"; do
                IFS='|' read -r src re name <<<"$m"
                [[ -n "${seen[$name]:-}" ]] && continue
                file=$serial; [[ "$src" == console ]] && file=$console
                if grep -aqE "$re" "$file" 2>/dev/null; then
                    seen[$name]=1
                    echo "$name $(( $(date +%s%N) / 1000000 - t0 ))" >>"$DISKLESS_TIMES"
                fi
            done
            [[ ${#seen[@]} -eq ${#DISKLESS_MILESTONES[@]} ]] && exit 0
            sleep 0.2
        done
    ) &
    DISKLESS_WATCH_PID=$!
    t_defer "t_kill_pid $DISKLESS_WATCH_PID"
}

diskless_watch_stop() {
    sleep 0.5     # one last poll
    t_kill_pid "${DISKLESS_WATCH_PID:-}"
}

diskless_print_milestones() {
    [[ -s "${DISKLESS_TIMES:-}" ]] || return 0
    echo "---- boot milestones (ms after QEMU start) ----"
    sed 's/^/  /' "$DISKLESS_TIMES"
}

# ---------------------------------------------------------------------------
# Checks (PASS/FAIL lines; failures set T_FAILED)
# ---------------------------------------------------------------------------
_diskless_clean() { tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\x08//g'; }
_diskless_check() {   # DESCRIPTION REGEX TEXT
    if grep -qE -- "$2" <<<"$3"; then t_pass "$1"; else t_fail "$1"; fi
}

# diskless_check_serial SERIAL_LOG QEMU_RC : the boot chain from extlinux to
# the guest's poweroff, as seen on COM1.
diskless_check_serial() {
    local log qemu_rc=$2 root=$DISKLESS_ROOT_DEV
    log=$(_diskless_clean "$1")
    _diskless_check "MBR booted extlinux from the AoE disk (INT 13h)" '^SYSLINUX ' "$log"
    _diskless_check "extlinux loaded the kernel and initramfs over INT 13h" \
        'Loading /boot/initrd.img[.]* ?ok' "$log"
    _diskless_check "the kernel got its command line from extlinux.conf on the AoE disk" \
        "Command line: .*aoekit.token=$DISKLESS_TOKEN" "$log"
    _diskless_check "the initramfs found the root device $root" "aoekit-initramfs: found $root" "$log"
    _diskless_check "init runs from the AoE root ($root, ext4)" \
        "AOEKIT-DISKLESS-ROOT-UP root=$root \\(ext4\\)" "$log"
    _diskless_check "the guest wrote the token to its root file system" \
        "AOEKIT-DISKLESS-TOKEN-WRITTEN $DISKLESS_TOKEN" "$log"
    if [[ $qemu_rc -eq 0 ]] && grep -q 'AOEKIT-DISKLESS-POWEROFF' <<<"$log"; then
        t_pass "the guest powered itself off"
    elif [[ $qemu_rc -eq 124 ]]; then
        t_fail "the guest did not finish within the timeout"
    else
        t_fail "the guest did not power off cleanly (qemu exit $qemu_rc)"
    fi
}

# diskless_check_image : the image as the target left it (stop the target
# first): e2fsck finds the partition clean, and a loop mount shows
# /root-token.txt with the token and the AoE root device.
diskless_check_image() {
    local mnt=$T_TMP/diskless-after f
    interop_loop_attach "$DISKLESS_IMAGE" $(( DISKLESS_PART_START * 512 )) \
        $(( DISKLESS_PART_SECTORS * 512 )) ro
    if e2fsck -fn "$INTEROP_LOOP" >"$T_TMP/e2fsck.log" 2>&1; then
        t_pass "e2fsck: the root file system is clean after the guest's writes"
    else
        t_fail "e2fsck reports problems ($(tail -n 3 "$T_TMP/e2fsck.log" | tr '\n' ' '))"
    fi
    losetup -d "$INTEROP_LOOP" 2>/dev/null || true
    diskless_mount_ro "$mnt"
    f=$mnt/root-token.txt
    if [[ -f "$f" ]]; then
        t_log "root-token.txt: $(tr '\n' ' ' <"$f")"
        _diskless_check "loop mount: /root-token.txt holds the token" \
            "^token=$DISKLESS_TOKEN\$" "$(cat "$f")"
        _diskless_check "loop mount: /root-token.txt says root=$DISKLESS_ROOT_DEV" \
            "^root=$DISKLESS_ROOT_DEV " "$(cat "$f")"
    else
        t_fail "loop mount: no /root-token.txt on the partition"
    fi
    diskless_umount "$mnt"
}

# diskless_check_aoe_cp TARGET_KIND : serve the image again (same target
# kind) on one end of a veth pair in INTEROP_NS, download it with `aoe cp` on
# the other end, compare it with the image and read the token from the copy
# with debugfs. Stops the target it started.
diskless_check_aoe_cp() {
    local kind=$1 copy got v t0 saved_tap=$INTEROP_TAP
    t_find_aoe
    ip -n "$INTEROP_NS" link add aoecp-srv type veth peer name aoecp-cli
    for v in aoecp-srv aoecp-cli; do
        ip netns exec "$INTEROP_NS" sysctl -qw "net.ipv6.conf.$v.disable_ipv6=1" 2>/dev/null || true
        ip -n "$INTEROP_NS" link set "$v" up
    done
    cp "$INTEROP_TARGET_LOG" "$T_TMP/target-boot.log" 2>/dev/null || true
    INTEROP_TAP=aoecp-srv
    interop_target_start "$kind" "$DISKLESS_IMAGE"
    INTEROP_TAP=$saved_tap
    copy=$T_TMP/copy.img
    t0=$SECONDS
    if T_CMD_SECONDS=120 t_in "$INTEROP_NS" "$AOE_BIN" cp -i aoecp-cli e0.0 "$copy" \
           >"$T_TMP/aoe-cp.log" 2>&1; then
        t_log "aoe cp: $(( $(stat -c %s "$copy") >> 20 )) MiB in $(( SECONDS - t0 ))s"
        if [[ "$(sha256sum <"$copy")" == "$(sha256sum <"$DISKLESS_IMAGE")" ]]; then
            t_pass "aoe cp: the downloaded disk equals the image"
        else
            t_fail "aoe cp: the downloaded disk differs from the image"
        fi
        dd if="$copy" of="$T_TMP/copy-part.img" bs=512 skip="$DISKLESS_PART_START" \
            count="$DISKLESS_PART_SECTORS" status=none
        got=$(debugfs -R 'cat /root-token.txt' "$T_TMP/copy-part.img" 2>/dev/null || true)
        _diskless_check "aoe cp: /root-token.txt in the downloaded disk holds the token" \
            "^token=$DISKLESS_TOKEN\$" "$got"
        rm -f "$copy" "$T_TMP/copy-part.img"
    else
        t_fail "aoe cp failed: $(tail -n 3 "$T_TMP/aoe-cp.log" | tr '\n' ' ')"
    fi
    t_kill_pid "$INTEROP_TARGET_PID"
    ip -n "$INTEROP_NS" link del aoecp-srv 2>/dev/null || true
}

# diskless_dump_logs SERIAL_LOG [CONSOLE_LOG] : tails for a failure report.
diskless_dump_logs() {
    if [[ -n "${2:-}" && -f "$2" ]]; then
        echo "---- BIOS/iPXE console tail ($2) ----"
        _diskless_clean "$2" | tail -n 20
    fi
    echo "---- serial console tail ($1) ----"
    _diskless_clean "$1" | tail -n 40
    echo "---- target log (boot) ----"
    if [[ -f "$T_TMP/target-boot.log" ]]; then
        tail -n 20 "$T_TMP/target-boot.log"
    else
        tail -n 20 "${INTEROP_TARGET_LOG:-/dev/null}" 2>/dev/null || true
    fi
}
