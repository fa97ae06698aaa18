# shellcheck shell=bash
# Globals set here (DISTRO_*, INTEROP_NS, INTEROP_TAP) are read by the sourcing scripts.
# shellcheck disable=SC2034
#
# Helpers for the stock-Debian diskless tests (tests/distro/): an image from `aoe mkimage`, a
# boot network in a private namespace, and reading the image afterwards. Built on
# tests/interop/lib.sh (cleanup stack, logging, process handling) and tests/netboot/lib.sh
# (QEMU with a PXE ROM).
#
#   source tests/distro/lib.sh
#   t_init
#   distro_build_image IMAGE [mkimage args...]   # sets DISTRO_TOKEN; uses the debootstrap cache
#   distro_netns_create                           # pkg-distro-PID, tap pkgtap0, 10.79.0.1/24
#   distro_serve IMAGE                            # aoe serve --config with e0.0 and [netboot]
#   ...boot QEMU...
#   distro_read_file IMAGE PATH                   # a file from partition 1, read-only

HERE_DISTRO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../interop/lib.sh
source "$HERE_DISTRO/../interop/lib.sh"
# shellcheck source=../netboot/lib.sh
source "$HERE_DISTRO/../netboot/lib.sh"

# The debootstrap tree is cached here between runs, keyed by aoe mkimage on its inputs (suite,
# mirror, packages, the mkimage script); entries for other keys are removed after a build.
DISTRO_CACHE=${AOEKIT_TEST_CACHE:-/var/cache/aoekit-tests}
DISTRO_SUITE=bookworm
# The aoekit package's Depends (dpkg-deb -f aoekit_*.deb Depends), kept in package-depends.txt.
# `aoe mkimage --deb` adds them to the tree itself (the runs with a package rely on that); runs
# without a package (dracut_debian.sh) and scripts/test, which fetches the tree while aoekit
# compiles, name them with --packages, so that all share one cache entry. If the package's
# Depends change, update the file: package_deb_contents_test fails while it is stale (a stale
# list would only cost a second cached tree, never a wrong result).
DISTRO_DEB_DEPS=$(<"$HERE_DISTRO/package-depends.txt")

# distro_require: exit 77 with the reason when something needed cannot exist here.
distro_require() {
  interop_require_root_tools qemu-system-x86_64 debootstrap sfdisk extlinux grub-mkstandalone \
    mkfs.vfat mcopy unshare python3
  t_find_aoe
  AOE=$AOE_BIN
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null \
    || t_skip "no overlayfs in this kernel (aoe mkimage needs it)"
}

# distro_build_image IMAGE [MORE aoe mkimage ARGS...]
# `aoe mkimage IMAGE --debootstrap bookworm` with the test's overlay: a unit that, once
# multi-user.target is reached, writes /var/lib/aoekit-e2e/FIRMWARE.txt (the token from the
# kernel command line, the firmware, the root device...) and powers off. With the aoekit package
# (AOEKIT_TEST_DEB_DIR/aoekit_*.deb, from package_build_test) installed in the image with --deb,
# the unit first runs aoe-serve.service and aoe-netboot.service under the guest's systemd on a
# dummy interface and records what systemd says about them. Sets DISTRO_TOKEN,
# DISTRO_MKIMAGE_SECONDS, DISTRO_TREE (the cached debootstrap tree it was made from) and
# DISTRO_DEB (the package installed, or empty).
distro_build_image() {
  local image=$1 overlay=$T_TMP/overlay t0=$SECONDS rc=0 used
  shift
  DISTRO_TOKEN="AOEKIT-E2E-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  mkdir -p "$overlay/etc/systemd/system/multi-user.target.wants" "$overlay/usr/local/sbin"
  cat >"$overlay/etc/systemd/system/aoekit-e2e.service" <<'UNIT'
# aoekit's end-to-end test: once the diskless system has reached multi-user.target, record
# this boot on the AoE root disk and power off.
[Unit]
Description=aoekit end-to-end test: record this boot on the AoE root, then power off
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/aoekit-e2e
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
UNIT
  ln -s ../aoekit-e2e.service "$overlay/etc/systemd/system/multi-user.target.wants/"
  cat >"$overlay/usr/local/sbin/aoekit-e2e" <<'SCRIPT'
#!/bin/sh
# Writes /var/lib/aoekit-e2e/FIRMWARE.txt on the root file system (the AoE disk), then powers
# off. The host reads the file from the image afterwards.
token=$(sed -n 's/.*aoekit\.token=\([^ ]*\).*/\1/p' /proc/cmdline)
firmware=bios
[ -d /sys/firmware/efi ] && firmware=uefi
mkdir -p /var/lib/aoekit-e2e

# The aoekit package's services under this system's systemd (when the image has the package):
# a dummy interface (frames go nowhere), one export, then a second one and a reload.
services() {
	ip link add aoekit-e2e0 type dummy && ip link set aoekit-e2e0 up
	ip addr add 10.99.0.1/24 dev aoekit-e2e0
	mkdir -p /srv/aoekit-e2e
	truncate -s 4M /srv/aoekit-e2e/1.img /srv/aoekit-e2e/2.img
	cat >/etc/aoekit/serve.toml <<EOF
interfaces = ["aoekit-e2e0"]
[[export]]
target = "e9.1"
path = "/srv/aoekit-e2e/1.img"
EOF
	systemctl start aoe-serve
	echo "serve_start=$?"
	echo "serve_state=$(systemctl show -P ActiveState aoe-serve)/$(systemctl show -P SubState aoe-serve)"
	echo "serve_status=$(systemctl show -P StatusText aoe-serve)"
	echo "serve_watchdog=$(systemctl show -P WatchdogUSec aoe-serve)"
	echo "serve_$(grep CapEff "/proc/$(systemctl show -P MainPID aoe-serve)/status" | tr -d '\t ')"
	printf '[[export]]\ntarget = "e9.2"\npath = "/srv/aoekit-e2e/2.img"\n' >>/etc/aoekit/serve.toml
	systemctl reload aoe-serve
	echo "serve_reload=$?"
	echo "serve_status_reloaded=$(systemctl show -P StatusText aoe-serve)"
	systemctl stop aoe-serve
	echo "serve_stop=$? $(systemctl show -P Result aoe-serve)"
	# The image has no ipxe package (a Recommends): an empty TFTP root of its own.
	mkdir -p /srv/aoekit-e2e/tftp
	cat >/etc/aoekit/netboot.toml <<EOF
interface = "aoekit-e2e0"
mode = "proxy"
boot = "e9.1"
tftp_root = "/srv/aoekit-e2e/tftp"
EOF
	systemctl start aoe-netboot
	echo "netboot_start=$?"
	[ "$(systemctl show -P ActiveState aoe-netboot)" = active ] \
		|| echo "netboot_journal=$(journalctl -u aoe-netboot -n 3 -o cat --no-pager | tr '\n' ' ')"
	echo "netboot_state=$(systemctl show -P ActiveState aoe-netboot)/$(systemctl show -P SubState aoe-netboot)"
	echo "netboot_status=$(systemctl show -P StatusText aoe-netboot)"
	pid=$(systemctl show -P MainPID aoe-netboot)
	if [ "$pid" -gt 0 ]; then
		echo "netboot_user=$(ps -o user= -p "$pid")"
		echo "netboot_$(grep CapEff "/proc/$pid/status" | tr -d '\t ')"
	fi
	systemctl stop aoe-netboot
	echo "netboot_stop=$? $(systemctl show -P Result aoe-netboot)"
}
if command -v aoe >/dev/null; then
	services >"/var/lib/aoekit-e2e/services.txt" 2>&1
fi
{
	echo "token=$token"
	echo "firmware=$firmware"
	echo "root=$(findmnt -n -o SOURCE /)"
	echo "root_options=$(findmnt -n -o OPTIONS /)"
	echo "multi_user=$(systemctl is-active multi-user.target)"
	echo "boot_interfaces=$(cat /run/aoekit/interfaces 2>/dev/null)"
	echo "networkd_files=$(ls /run/systemd/network/ 2>/dev/null | tr '\n' ' ')"
	echo "failed_units=$(systemctl --failed --no-legend --plain | cut -d' ' -f1 | tr '\n' ' ')"
	echo "kernel=$(uname -r)"
	echo "uptime=$(cut -d' ' -f1 /proc/uptime)"
	cat /var/lib/aoekit-e2e/services.txt 2>/dev/null
} >"/var/lib/aoekit-e2e/$firmware.txt.new"
mv "/var/lib/aoekit-e2e/$firmware.txt.new" "/var/lib/aoekit-e2e/$firmware.txt"
sync
echo "AOEKIT-E2E-TOKEN-WRITTEN $token $firmware"
systemctl poweroff --no-block
SCRIPT
  chmod 755 "$overlay/usr/local/sbin/aoekit-e2e"
  local -a deb=()
  local f
  DISTRO_DEB=""
  for f in "${AOEKIT_TEST_DEB_DIR:-/nonexistent}"/aoekit_*.deb; do
    [[ -f $f ]] && DISTRO_DEB=$f
  done
  if [[ -n $DISTRO_DEB ]]; then
    # No --packages: aoe mkimage puts the package's dependencies in the tree itself.
    deb=(--deb "$DISTRO_DEB")
  else
    deb=(--packages "$DISTRO_DEB_DEPS")
    t_log "NOTE: no aoekit package (AOEKIT_TEST_DEB_DIR); the services are not run in the guest"
  fi
  t_log "aoe mkimage $image --debootstrap $DISTRO_SUITE (cache $DISTRO_CACHE) ${deb[*]}"
  "$AOE" mkimage "$image" --debootstrap "$DISTRO_SUITE" --cache-dir "$DISTRO_CACHE" "${deb[@]}" \
    --overlay "$overlay" --append "console=ttyS0,115200 aoekit.token=$DISTRO_TOKEN" "$@" \
    2>"$T_TMP/mkimage.log" || rc=$?
  sed 's/^/  /' "$T_TMP/mkimage.log" >&2
  [[ $rc -eq 0 ]] || t_die "aoe mkimage failed (exit $rc)"
  DISTRO_MKIMAGE_SECONDS=$((SECONDS - t0))
  # Only the tree just used stays in the cache.
  used=$(sed -n 's/.*Debian tree\( cached as\|:\) \(.*debootstrap-[^ ]*\).*/\2/p' "$T_TMP/mkimage.log" | head -n1)
  DISTRO_TREE=$used
  if [[ -n $used ]]; then
    find "$DISTRO_CACHE" -maxdepth 1 -name 'debootstrap-*' ! -name "$(basename "$used")" \
      ! -name "$(basename "$used").complete" -exec rm -rf {} +
  fi
}

# distro_netns_create: namespace pkg-distro-PID with a tap pkgtap0 (10.79.0.1/24) for QEMU.
# Sets INTEROP_NS and INTEROP_TAP (the names netboot_qemu_run uses).
distro_netns_create() {
  INTEROP_NS=pkg-distro-$$
  INTEROP_TAP=pkgtap0
  ip netns add "$INTEROP_NS" || t_die "ip netns add $INTEROP_NS failed"
  t_defer "ip netns del '$INTEROP_NS' 2>/dev/null"
  ip -n "$INTEROP_NS" link set lo up
  ip -n "$INTEROP_NS" tuntap add dev "$INTEROP_TAP" mode tap
  ip netns exec "$INTEROP_NS" sysctl -qw "net.ipv6.conf.$INTEROP_TAP.disable_ipv6=1" || true
  ip -n "$INTEROP_NS" addr add 10.79.0.1/24 dev "$INTEROP_TAP"
  ip -n "$INTEROP_NS" link set "$INTEROP_TAP" up
}

# distro_serve IMAGE: ONE `aoe serve --config` process serves IMAGE as e0.0 and runs [netboot]
# (full DHCP, TFTP) on the tap. Sets DISTRO_SERVE_PID and DISTRO_SERVE_LOG.
distro_serve() {
  local config=$T_TMP/serve.toml
  cat >"$config" <<TOML
interfaces = ["$INTEROP_TAP"]
state_dir = "$T_TMP/state"

[[export]]
target = "e0.0"
path = "$1"

[netboot]
mode = "full"
range = "10.79.0.100-10.79.0.150"
boot = "e0.0"
lease_file = "$T_TMP/leases"
TOML
  DISTRO_SERVE_LOG=$T_TMP/serve.log
  netboot_start_bg "$DISTRO_SERVE_LOG" "full DHCP for" "$AOE" serve --config "$config"
  DISTRO_SERVE_PID=$T_BG_PID
}

# distro_read_file IMAGE PATH: prints PATH from partition 1 of IMAGE (ext4), read-only, without
# mounting anything (debugfs).
distro_read_file() {
  local start
  start=$(interop_image_partition "$1" 1 | cut -d' ' -f1) || return 1
  debugfs -R "cat $2" "$1?offset=$((start * 512))" 2>/dev/null
}

# distro_extract_boot IMAGE DIR: the image's newest kernel and its initramfs (aoe mkimage's) as
# DIR/vmlinuz and DIR/initrd.img; sets DISTRO_KVER. debugfs, nothing mounted.
distro_extract_boot() {
  local start
  start=$(interop_image_partition "$1" 1 | cut -d' ' -f1)
  DISTRO_KVER=$(debugfs -R "ls -p /boot" "$1?offset=$((start * 512))" 2>/dev/null | cut -d/ -f6 \
    | sed -n 's/^vmlinuz-//p' | sort -V | tail -n1)
  [[ -n $DISTRO_KVER ]] || t_die "no /boot/vmlinuz-* in $1"
  debugfs -R "dump -p /boot/vmlinuz-$DISTRO_KVER $2/vmlinuz" "$1?offset=$((start * 512))" 2>/dev/null
  debugfs -R "dump -p /boot/initrd.img-$DISTRO_KVER $2/initrd.img" "$1?offset=$((start * 512))" 2>/dev/null
  [[ -s $2/vmlinuz && -s $2/initrd.img ]] || t_die "cannot read the kernel $DISTRO_KVER from $1"
}
