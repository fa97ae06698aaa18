#!/bin/bash
#
# dracut_debian.sh
#
# aoekit's dracut module (packaging/dracut/95aoekit) boots a stock Debian from AoE: the image
# from `aoe mkimage --debootstrap bookworm` (as diskless_debian.sh), but with an initramfs that
# Debian's dracut (dracut-core) builds for the image's kernel with `--add aoekit`, from a private
# copy of /usr/lib/dracut holding the module as `cmake --install` lays it out (nothing on the host
# changes). QEMU (TCG) starts that kernel and initramfs directly; `aoe serve` serves the disk.
# Checks: the initramfs holds the module, aoe.ko and the hook; dracut's initqueue runs aoekit's
# script, which finds /dev/etherd/e0.0p1; dracut mounts it, systemd reaches multi-user.target and
# the test unit writes its token, which the host then reads from the image.
#
# SAFETY: the tap, aoe serve and QEMU live in the namespace pkg-distro-PID, deleted on exit.
# Exit: 0 pass, 1 fail, 77 skipped (not root, no dracut). Env: AOE_BIN, AOEKIT_TEST_CACHE,
# T_KEEP_TMP=1.

set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
readonly PACKAGING=$HERE/../../packaging

t_init
distro_require
command -v dracut >/dev/null || t_skip "dracut not installed (apt-get install dracut-core)"
command -v lsinitrd >/dev/null || t_skip "lsinitrd not installed (dracut-core)"
t_start=$SECONDS

IMAGE=$T_TMP/debian.img
distro_build_image "$IMAGE" --bios
distro_extract_boot "$IMAGE" "$T_TMP"
[[ -d $DISTRO_TREE/lib/modules/$DISTRO_KVER ]] || t_die "no modules for $DISTRO_KVER in $DISTRO_TREE"

# dracut's modules, plus aoekit's as the package installs it.
DRACUT=$T_TMP/dracut
cp -a /usr/lib/dracut "$DRACUT"
install -D -m 0755 "$PACKAGING/dracut/95aoekit/module-setup.sh" "$DRACUT/modules.d/95aoekit/module-setup.sh"
install -m 0755 "$PACKAGING/dracut/95aoekit/parse-aoekit.sh" "$DRACUT/modules.d/95aoekit/"
install -m 0755 "$PACKAGING/initramfs-tools/scripts/local-top/aoekit" "$DRACUT/modules.d/95aoekit/aoekit-root.sh"
INITRD=$T_TMP/initrd-dracut.img
t0=$SECONDS
if dracutbasedir=$DRACUT dracut --force --no-hostonly --no-hostonly-cmdline --kver "$DISTRO_KVER" \
     --kmoddir "$DISTRO_TREE/lib/modules/$DISTRO_KVER" --add aoekit --omit "plymouth" --no-compress --no-early-microcode \
     --conf /dev/null --confdir "$T_TMP" "$INITRD" >"$T_TMP/dracut.log" 2>&1; then
  t_pass "dracut built an initramfs with --add aoekit ($(( $(stat -c %s "$INITRD") >> 20 )) MiB, $((SECONDS - t0))s)"
else
  tail -n 20 "$T_TMP/dracut.log"
  t_die "dracut failed"
fi
CONTENTS=$(lsinitrd "$INITRD")
check() {  # DESCRIPTION REGEX TEXT
  if grep -qE -- "$2" <<<"$3"; then t_pass "$1"; else t_fail "$1"; fi
}
check "the initramfs holds aoe.ko" '/aoe\.ko' "$CONTENTS"
check "... aoekit's script" 'sbin/aoekit-root$' "$CONTENTS"
check "... its cmdline hook" 'cmdline/90-?parse-aoekit\.sh$' "$CONTENTS"
check "... and an Ethernet driver (e1000)" '/e1000\.ko' "$CONTENTS"

distro_netns_create
DISTRO_SERVE_LOG=$T_TMP/serve.log
netboot_start_bg "$DISTRO_SERVE_LOG" "e0.0: exporting" "$AOE" serve -i "$INTEROP_TAP" "e0.0=$IMAGE"
SERVE_PID=$T_BG_PID

SERIAL=$T_TMP/serial.log
qemu_rc=0
boot_start=$SECONDS
INTEROP_QEMU_DONE_RE='aoekit: cannot mount the root|Kernel panic|dracut Warning: Could not boot|Entering emergency mode|emergency shell' \
interop_qemu_run "$SERIAL" 600 -m 1024 -kernel "$T_TMP/vmlinuz" -initrd "$INITRD" \
  -append "root=/dev/etherd/e0.0p1 ro console=ttyS0,115200 aoekit.token=$DISTRO_TOKEN rd.shell=0 rd.emergency=poweroff" \
  || qemu_rc=$?
boot_seconds=$((SECONDS - boot_start))
t_kill_pid "$SERVE_PID"

LOG=$(tr -d '\r' <"$SERIAL" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g')
check "dracut's initqueue ran aoekit's script, which found the root device" \
  'aoekit: found /dev/etherd/e0\.0p1 after' "$LOG"
check "the test unit wrote the token" "AOEKIT-E2E-TOKEN-WRITTEN $DISTRO_TOKEN" "$LOG"
[[ $qemu_rc -eq 0 ]] && t_pass "the guest powered itself off" \
  || t_fail "the guest powered itself off (qemu exit $qemu_rc)"
RECORD=$(distro_read_file "$IMAGE" /var/lib/aoekit-e2e/bios.txt || true)
t_log "the guest's record: $(tr '\n' ' ' <<<"$RECORD")"
check "the image holds the token the guest wrote" "^token=$DISTRO_TOKEN\$" "$RECORD"
check "... from a root on /dev/etherd/e0.0p1" '^root=/dev/etherd/e0\.0p1$' "$RECORD"
check "... with multi-user.target active" '^multi_user=active$' "$RECORD"
check "... and the boot NIC marked unmanaged for systemd-networkd" \
  '^networkd_files=.*10-aoekit-[a-z0-9]+\.network' "$RECORD"

if [[ $T_FAILED -ne 0 ]]; then
  echo "---- serial console tail ----"; tail -n 60 <<<"$LOG"
  exit 1
fi
echo "PASS: stock Debian diskless with aoekit's dracut module (guest ${boot_seconds}s, total $((SECONDS - t_start))s)"
