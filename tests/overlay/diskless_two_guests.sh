#!/bin/bash
#
# diskless_two_guests.sh AOE_BINARY
#
# A diskless lab in miniature: two QEMU guests (different MACs) PXE-boot the SAME golden image
# at the same time through ONE `aoe serve --config` process ([netboot] in full DHCP mode, and
# e0.0 with overlay=DIR), run Linux with its root file system on AoE (aoe.ko), and write to it.
# The guests' /sbin/init (below) prints what it finds on its root, then writes
# /overlay-token.txt = "token-<its MAC>" and, if absent, /overlay-mark.txt = "mark-by-<MAC>",
# and powers off.
#
#   boot 1 (both, persist):        each sees no token (fresh overlays on the golden image)
#   boot 2 (both, persist):        each sees its OWN token, never the other's
#   lifetime -> discard-on-boot (aoe ctl reload), boot 3 (both): neither sees a token
#   lifetime -> persist; aoe overlay commit of guest A's overlay (version 2)
#   boot 4 (B alone):              B moves to version 2 at its PXE request and sees A's token
#                                  and mark: the committed change
#   aoe overlay rollback (version 1 current again)
#   boot 5 (B alone):              B moves back and sees neither: the rollback undid it
# and throughout: the golden image's SHA-256 never changes; after boot 2 each guest's disk, rebuilt
# from the golden image and its overlay's files (apply_overlay.py), is a clean ext4 (e2fsck)
# holding its own token (debugfs); `aoe overlay check` finds the directory consistent.
#
# SAFETY: both taps, a bridge joining them (10.77.0.1/24), aoe serve and QEMU live in a private
# network namespace deleted on exit.
#
# Exit: 0 pass, 1 fail, 77 skipped. Env: T_KEEP_TMP=1, INTEROP_QEMU_TIMEOUT (default 300
# per boot).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../diskless/lib.sh
source "$HERE/../diskless/lib.sh"

readonly ROM=/usr/lib/ipxe/qemu/pxe-e1000.rom
QEMU_TIMEOUT=${INTEROP_QEMU_TIMEOUT:-300}
AOE_BIN=${1:-${AOE_BIN:-}}

t_init
interop_require_root_tools qemu-system-x86_64 losetup mount sfdisk e2fsck debugfs python3
interop_target_check aoekit
[[ -r $ROM ]] || t_skip "no $ROM (install ipxe-qemu)"
[[ -r /usr/lib/ipxe/undionly.kpxe ]] || t_skip "no /usr/lib/ipxe/undionly.kpxe (install ipxe)"
t_start=$SECONDS

# --- the golden image, with our /sbin/init ------------------------------------------------------
GUEST_INIT=$T_TMP/guest-init
cat >"$GUEST_INIT" <<'INIT'
#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }
mounted /proc || mount -t proc proc /proc
mounted /sys  || mount -t sysfs sysfs /sys
mounted /dev  || mount -t devtmpfs devtmpfs /dev
mount -o remount,rw /
mac=none
for i in /sys/class/net/*; do
    [ "${i##*/}" = lo ] && continue
    mac=$(cat "$i/address"); break
done
echo "AOEKIT-OVERLAY-SEEN mac=$mac token=$(cat /overlay-token.txt 2>/dev/null || echo none) mark=$(cat /overlay-mark.txt 2>/dev/null || echo none)"
echo "token-$mac" >/overlay-token.txt.new && mv /overlay-token.txt.new /overlay-token.txt
[ -e /overlay-mark.txt ] || echo "mark-by-$mac" >/overlay-mark.txt
sync
echo "AOEKIT-OVERLAY-WROTE mac=$mac"
mount -o remount,ro / || echo "AOEKIT-DISKLESS: remount ro failed"
sync
echo "AOEKIT-DISKLESS-POWEROFF"
poweroff -f
sleep 5
echo o >/proc/sysrq-trigger
INIT
DISKLESS_IMAGE=$T_TMP/golden.img
"$DISKLESS_MAKE_IMAGE" "$DISKLESS_IMAGE" --size 96 --root "$DISKLESS_ROOT_DEV" \
    --init "$GUEST_INIT" --cmdline-extra "aoekit.poweroff=1" || {
    rc=$?
    [[ $rc -eq 77 ]] && t_skip "make-diskless-image: a prerequisite is missing"
    t_die "make-diskless-image failed (exit $rc)"
}
read -r DISKLESS_PART_START DISKLESS_PART_SECTORS < <(interop_image_partition "$DISKLESS_IMAGE" 1)
GOLDEN_SHA=$(sha256sum <"$DISKLESS_IMAGE" | cut -d' ' -f1)
OVERLAY_DIR=$T_TMP/overlays/e0.0
mkdir -p "$T_TMP/overlays"

# --- network: a bridge with one tap per guest ------------------------------------------------------
NS="ov-qemu-$$"
ip netns add "$NS"
t_defer "ip netns del '$NS' 2>/dev/null"
ip -n "$NS" link set lo up
ip -n "$NS" link add ovbr0 type bridge
MACS=(52:54:00:0f:0a:01 52:54:00:0f:0a:02)
for t in 1 2; do
    ip -n "$NS" tuntap add dev "ovtap$t" mode tap
    ip -n "$NS" link set "ovtap$t" master ovbr0
    ip -n "$NS" link set "ovtap$t" up
done
ip netns exec "$NS" sysctl -qw net.ipv6.conf.ovbr0.disable_ipv6=1 2>/dev/null || true
ip -n "$NS" link set ovbr0 up
ip -n "$NS" addr add 10.77.0.1/24 dev ovbr0
# Every boot of either guest, for the whole test.
t_answer_router_solicitations "$NS" ovbr0 1800

SOCKET=$T_TMP/control.sock
CONFIG=$T_TMP/serve.toml
cat >"$CONFIG" <<EOF
interfaces = ["ovbr0"]
state_dir = "$T_TMP/state"
control_socket = "$SOCKET"

[[export]]
target = "e0.0"
path = "$DISKLESS_IMAGE"
overlay = "$OVERLAY_DIR"

[netboot]
mode = "full"
range = "10.77.0.100-10.77.0.150"
boot = "e0.0"
lease_file = "$T_TMP/leases"
EOF
SERVE_LOG=$T_TMP/serve.log
timeout -k 5 3000 ip netns exec "$NS" "$AOE_BIN" serve --config "$CONFIG" >"$SERVE_LOG" 2>&1 &
SERVE_PID=$!
t_defer "t_kill_pid $SERVE_PID"
for (( i = 0; i < 100; i++ )); do
    [[ -S $SOCKET ]] && grep -q "full DHCP for" "$SERVE_LOG" && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$SERVE_LOG" >&2; t_die "aoe serve exited"; }
    sleep 0.1
done
[[ -S $SOCKET ]] || { cat "$SERVE_LOG" >&2; t_die "aoe serve not up after 10 s"; }
ctl() { timeout -k 5 600 "$AOE_BIN" ctl -S "$SOCKET" "$@"; }
overlay() { timeout -k 5 600 "$AOE_BIN" overlay -S "$SOCKET" "$@"; }

# --- booting ----------------------------------------------------------------------------------------
# boot NAME GUEST...: boots the guests (1 and/or 2) at once and waits for all to power off.
# Leaves each guest's console in $T_TMP/NAME-<guest>.log.
boot() {
    local name=$1 g pids=() rc=0 t0=$SECONDS
    shift
    for g in "$@"; do
        local log=$T_TMP/$name-$g.log
        : >"$log"
        timeout -k 5 "$QEMU_TIMEOUT" ip netns exec "$NS" qemu-system-x86_64 \
            -accel tcg -nodefaults -display none -monitor none -no-reboot -m 256M \
            -serial "file:$log" \
            -netdev "tap,id=n0,ifname=ovtap$g,script=no,downscript=no" \
            -device "e1000,netdev=n0,mac=${MACS[g-1]},romfile=$ROM" -boot n \
            >"$T_TMP/$name-$g.qemu" 2>&1 &
        pids+=($!)
        t_defer "t_kill_pid $!"
    done
    for p in "${pids[@]}"; do wait "$p" || rc=$?; done
    t_log "$name: guest(s) $* ran $(( SECONDS - t0 ))s (last qemu exit $rc)"
}
# seen NAME GUEST: the guest's SEEN line ("token=... mark=...").
seen() {
    tr -d '\r' <"$T_TMP/$1-$2.log" | sed -n 's/.*AOEKIT-OVERLAY-SEEN mac=[^ ]* //p' | head -1
}
expect_seen() {  # DESCRIPTION NAME GUEST WANT
    local got
    got=$(seen "$2" "$3")
    if [[ "$got" == "$4" ]] && grep -aq "AOEKIT-OVERLAY-WROTE" "$T_TMP/$2-$3.log"; then
        t_pass "$1"
    else
        t_fail "$1 (saw '${got:-nothing}', want '$4')"
        tr -d '\r' <"$T_TMP/$2-$3.log" | tail -n 15 >&2
    fi
}
A=${MACS[0]}
B=${MACS[1]}

boot boot1 1 2
expect_seen "boot 1: guest A starts from the golden image" boot1 1 "token=none mark=none"
expect_seen "boot 1: guest B starts from the golden image" boot1 2 "token=none mark=none"
boot boot2 1 2
expect_seen "boot 2: guest A sees its own token only" boot2 1 "token=token-$A mark=mark-by-$A"
expect_seen "boot 2: guest B sees its own token only" boot2 2 "token=token-$B mark=mark-by-$B"
if grep -q "boots: overlay discarded" "$SERVE_LOG"; then
    t_fail "a persist overlay was discarded"
fi
# Each guest's disk rebuilt from the golden image and its overlay's files alone: a clean file
# system holding that guest's token.
for g in 1 2; do
    mac=${MACS[g-1]}
    name=$(echo "$mac" | tr : -)
    view=$T_TMP/view$g.img
    python3 "$HERE/apply_overlay.py" "$DISKLESS_IMAGE" "$OVERLAY_DIR/$name.map" \
        "$OVERLAY_DIR/$name.data" "$view" >/dev/null
    dd if="$view" of="$view.part" bs=512 skip="$DISKLESS_PART_START" \
        count="$DISKLESS_PART_SECTORS" status=none
    if e2fsck -fn "$view.part" >"$T_TMP/e2fsck$g.log" 2>&1; then
        t_pass "guest $g's disk (golden + its overlay files): e2fsck finds it clean"
    else
        t_fail "guest $g's disk: e2fsck: $(tail -n 3 "$T_TMP/e2fsck$g.log" | tr '\n' ' ')"
    fi
    token=$(debugfs -R 'cat /overlay-token.txt' "$view.part" 2>/dev/null || true)
    [[ "$token" == "token-$mac" ]] && t_pass "guest $g's overlay files hold its token" ||
        t_fail "guest $g's overlay files hold '$token', not token-$mac"
    rm -f "$view" "$view.part"
done
ctl clients e0.0 --json >"$T_TMP/clients.json"
python3 - "$T_TMP/clients.json" "$A" "$B" <<'PY' && t_pass "aoe ctl clients: both guests seen, each with an overlay" || t_fail "aoe ctl clients: $(cat "$T_TMP/clients.json")"
import json, sys
r = json.load(open(sys.argv[1]))
clients = {c["mac"]: c for c in r["exports"][0]["clients"]}
sys.exit(0 if all(m in clients and (clients[m]["overlay_bytes"] or 0) > 0 for m in sys.argv[2:]) else 1)
PY
"$AOE_BIN" overlay check "$OVERLAY_DIR" >"$T_TMP/check.log" 2>&1 &&
    t_pass "aoe overlay check: consistent with two guests' overlays" ||
    t_fail "aoe overlay check: $(cat "$T_TMP/check.log")"

ctl reload e0.0 "e0.0=$DISKLESS_IMAGE,overlay=$OVERLAY_DIR,lifetime=discard-on-boot" >/dev/null
boot boot3 1 2
expect_seen "boot 3 (discard-on-boot): guest A does not see its token" boot3 1 "token=none mark=none"
expect_seen "boot 3 (discard-on-boot): guest B does not see its token" boot3 2 "token=none mark=none"
grep -q "$A boots: overlay discarded" "$SERVE_LOG" && grep -q "$B boots: overlay discarded" "$SERVE_LOG" &&
    t_pass "aoe serve discarded both overlays at the guests' PXE requests" ||
    t_fail "no discard logged for both guests"

ctl reload e0.0 "e0.0=$DISKLESS_IMAGE,overlay=$OVERLAY_DIR" >/dev/null
overlay commit e0.0 "$A" >"$T_TMP/commit.log" 2>&1 &&
    t_pass "aoe overlay commit: $(cat "$T_TMP/commit.log")" ||
    t_fail "aoe overlay commit: $(cat "$T_TMP/commit.log")"
boot boot4 2
expect_seen "boot 4 (after the commit): guest B sees A's committed token and mark" boot4 2 \
    "token=token-$A mark=mark-by-$A"
grep -q "$B boots: its overlay was based on version 1, not the current one; dropped, it now reads version 2" \
    "$SERVE_LOG" &&
    t_pass "guest B moved to version 2 at its PXE request" ||
    t_fail "no move to the new version logged for guest B"

overlay rollback e0.0 >"$T_TMP/rollback.log" 2>&1 &&
    t_pass "aoe overlay rollback: $(cat "$T_TMP/rollback.log")" ||
    t_fail "aoe overlay rollback: $(cat "$T_TMP/rollback.log")"
boot boot5 2
expect_seen "boot 5 (after the rollback): guest B sees the golden image again" boot5 2 \
    "token=none mark=none"

t_kill_pid "$SERVE_PID"
"$AOE_BIN" overlay check "$OVERLAY_DIR" >"$T_TMP/check.log" 2>&1 &&
    t_pass "aoe overlay check: consistent at the end" ||
    t_fail "aoe overlay check: $(cat "$T_TMP/check.log")"
[[ "$(sha256sum <"$DISKLESS_IMAGE" | cut -d' ' -f1)" == "$GOLDEN_SHA" ]] &&
    t_pass "the golden image never changed" || t_fail "the golden image changed"

if [[ $T_FAILED -ne 0 ]]; then
    echo "---- aoe serve log (tail) ----"; tail -n 40 "$SERVE_LOG"
    echo "FAIL: overlay diskless_two_guests"
    exit 1
fi
echo "PASS: overlay diskless_two_guests ($(( SECONDS - t_start ))s)"
