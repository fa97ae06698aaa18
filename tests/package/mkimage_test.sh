#!/bin/bash
#
# mkimage_test.sh AOE_BIN
#
# `aoe mkimage` without a network or a real Debian, in seconds: a fake tree (a static busybox as
# /bin/sh, a "kernel" file, an update-initramfs that records whether aoekit's hook is installed)
# goes through the whole pipeline, and the image is taken apart to check what the worker wrote:
# the GPT (root with the legacy-BIOS-bootable attribute, an EFI system partition), gptmbr.bin,
# extlinux's boot sector with the partition offset, extlinux.conf and the GRUB config (root=, the
# --append text, /vmlinuz), fstab, the hook in /etc/initramfs-tools, an empty machine-id, the
# --overlay files; the --from-dir tree is not modified and nothing stays mounted.
# --force replaces an image. Then the errors a person meets: bad arguments (one line, exit 2:
# among them an IMAGE that exists without --force, or is a directory or a device, and an
# unknown suite), no debootstrap, no space, and a step that fails half-way (no image, no mount,
# no work directory left behind).
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, a tool is missing).
set -euo pipefail
AOE=${1:?usage: mkimage_test.sh AOE_BIN}
[[ $EUID -eq 0 ]] || { echo "SKIP: needs root (chroot, mount)"; exit 77; }
for tool in busybox sfdisk mkfs.ext4 debugfs extlinux grub-mkstandalone mkfs.vfat mcopy unshare; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/install-deps)"; exit 77; }
done
file -L "$(command -v busybox)" | grep 'statically linked' >/dev/null \
  || { echo "SKIP: busybox is not static (busybox-static)"; exit 77; }
T=$(mktemp -d /var/tmp/pkg-mkimage-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=1; }
check() {  # DESCRIPTION REGEX TEXT
  if grep -qE -- "$2" <<<"$3"; then pass "$1"; else fail "$1 (got: $(head -c 300 <<<"$3"))"; fi
}

# The fake Debian tree.
KVER=9.9.9-fake
TREE=$T/tree
mkdir -p "$TREE"/{bin,sbin,usr/sbin,boot,etc,proc,sys,dev,tmp,"lib/modules/$KVER"}
cp "$(command -v busybox)" "$TREE/bin/busybox"
for applet in sh cat mkdir echo test; do ln -s busybox "$TREE/bin/$applet"; done
: >"$TREE/lib/modules/$KVER/modules.dep"
head -c 65536 /dev/urandom >"$TREE/boot/vmlinuz-$KVER"
ln -s "boot/vmlinuz-$KVER" "$TREE/vmlinuz"
ln -s "boot/initrd.img-$KVER" "$TREE/initrd.img"
printf '#!/bin/sh\necho fake init\n' >"$TREE/sbin/init"
echo 0123456789abcdef0123456789abcdef >"$TREE/etc/machine-id"
cat >"$TREE/usr/sbin/update-initramfs" <<'EOF'
#!/bin/sh
# Fake update-initramfs -c -k KVER: the "initramfs" says whether aoekit's hook and script are there.
[ "$1" = -c ] && [ "$2" = -k ] || exit 2
{
  [ -x /etc/initramfs-tools/hooks/aoekit ] && echo "hook=yes"
  [ -x /etc/initramfs-tools/scripts/local-top/aoekit ] && echo "script=yes"
  cat /etc/initramfs-tools/conf.d/aoekit-diskless.conf
  [ -e /proc/self ] && echo "proc=yes"
} >"/boot/initrd.img-$3"
[ -e /fail-update-initramfs ] && exit 1
exit 0
EOF
chmod 755 "$TREE/sbin/init" "$TREE/usr/sbin/update-initramfs"
mkdir -p "$T/overlay/etc/aoekit-test"
echo overlay-file >"$T/overlay/etc/aoekit-test/marker"
tree_before=$(cd "$TREE" && find . -printf '%p %s %m\n' | sort)
# Mounts of this test's files (other processes on the machine mount and unmount their own).
our_mounts() { findmnt -rn -o TARGET,SOURCE | grep -F "$T" || true; }

# ---------------------------------------------------------------------------
# A good build.
# ---------------------------------------------------------------------------
IMG=$T/out/test.img
mkdir -p "$T/out"
rc=0
"$AOE" mkimage "$IMG" --from-dir "$TREE" --size 600M --target e3.7 \
  --append "console=ttyS0,115200 aoe.iface=enp1s0" --overlay "$T/overlay" >"$T/build.log" 2>&1 || rc=$?
if [[ $rc -eq 0 && -f $IMG ]]; then pass "aoe mkimage --from-dir builds the image"
else cat "$T/build.log"; fail "aoe mkimage --from-dir builds the image (exit $rc)"; fi
check "it reports its progress" 'aoe mkimage: \[ *[0-9]+s\] building the initramfs' "$(cat "$T/build.log")"
[[ $(stat -c %s "$IMG" 2>/dev/null) -eq $((600 << 20)) ]] && pass "the image is --size bytes" \
  || fail "the image is --size bytes ($(stat -c %s "$IMG" 2>/dev/null))"
[[ -z $(find "$T/out" -mindepth 1 ! -name test.img) ]] && pass "no work directory left" \
  || fail "left in the output directory: $(ls -A "$T/out")"
[[ -z $(our_mounts) ]] && pass "nothing stays mounted" || fail "mounts left: $(our_mounts)"
[[ -z $(losetup -j "$IMG") ]] && pass "no loop device stays attached to the image" \
  || fail "loop devices left: $(losetup -j "$IMG")"
[[ "$(cd "$TREE" && find . -printf '%p %s %m\n' | sort)" == "$tree_before" ]] \
  && pass "the --from-dir tree is not modified" || fail "the --from-dir tree was modified"

TABLE=$(sfdisk -d "$IMG")
check "GPT" '^label: gpt' "$TABLE"
check "partition 1: the root, legacy-BIOS-bootable" \
  'test\.img1 : start= *2048, .*type=0FC63DAF-8483-4772-8E79-3D69D8477DE4.*attrs="LegacyBIOSBootable"' "$TABLE"
check "partition 2: an EFI system partition" 'test\.img2 : .*type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B' "$TABLE"
cmp -n 440 "$IMG" /usr/lib/syslinux/mbr/gptmbr.bin >/dev/null && pass "gptmbr.bin in the MBR" \
  || fail "gptmbr.bin in the MBR"
[[ $(od -An -tx1 -j $((2048 * 512 + 510)) -N2 "$IMG" | tr -d ' \n') == 55aa \
   && $(od -An -tu4 -j $((2048 * 512 + 28)) -N4 "$IMG" | tr -d ' ') == 2048 ]] \
  && pass "extlinux's boot sector on partition 1 knows the partition starts at sector 2048" \
  || fail "extlinux's boot sector on partition 1 knows the partition starts at sector 2048"
FS="$IMG?offset=$((2048 * 512))"
e2fsck -fn "$FS" >/dev/null 2>&1 && pass "e2fsck: the root file system is clean" || fail "e2fsck: the root file system is clean"
read_file() { debugfs -R "cat $1" "$FS" 2>/dev/null; }
check "extlinux.conf boots /vmlinuz with root= and --append" \
  'APPEND root=/dev/etherd/e3\.7p1 ro console=ttyS0,115200 aoe\.iface=enp1s0' "$(read_file /boot/extlinux/extlinux.conf)"
check "... LINUX /vmlinuz, INITRD /initrd.img" 'LINUX /vmlinuz' "$(read_file /boot/extlinux/extlinux.conf)"
debugfs -R "stat /boot/extlinux/ldlinux.sys" "$FS" >/dev/null 2>&1 && pass "extlinux installed (ldlinux.sys)" \
  || fail "extlinux installed (ldlinux.sys)"
check "fstab mounts the AoE root" '^/dev/etherd/e3\.7p1 / ext4' "$(read_file /etc/fstab)"
check "the initramfs was built in the image with aoekit's hook, script and MODULES=netboot, /proc mounted" \
  'hook=yes' "$(read_file "/boot/initrd.img-$KVER")"
check "... (script)" 'script=yes' "$(read_file "/boot/initrd.img-$KVER")"
check "... (MODULES)" 'MODULES=netboot' "$(read_file "/boot/initrd.img-$KVER")"
check "... (/proc)" 'proc=yes' "$(read_file "/boot/initrd.img-$KVER")"
[[ -z $(read_file /etc/machine-id) ]] && pass "machine-id emptied (each client makes its own)" \
  || fail "machine-id emptied"
check "the --overlay files are in the image" '^overlay-file$' "$(read_file /etc/aoekit-test/marker)"
check "hostname" '^aoekit-diskless$' "$(read_file /etc/hostname)"
ESP_START=$(sfdisk -d "$IMG" | sed -n 's/.*img2 : start= *\([0-9]*\),.*/\1/p')
if mcopy -n -i "$IMG@@$((ESP_START * 512))" ::/EFI/BOOT/BOOTX64.EFI "$T/BOOTX64.EFI" 2>/dev/null; then
  pass "GRUB is \\EFI\\BOOT\\BOOTX64.EFI on the ESP"
  check "GRUB's config loads /vmlinuz with root= and --append" \
    'linux /vmlinuz root=/dev/etherd/e3\.7p1 ro console=ttyS0,115200 aoe\.iface=enp1s0' \
    "$(strings "$T/BOOTX64.EFI" | grep -a '^linux ' || true)"
else
  fail "GRUB is \\EFI\\BOOT\\BOOTX64.EFI on the ESP"
fi

# --force replaces an image: the new one takes its place once complete.
img_sum=$(sha256sum <"$IMG")
rc=0
"$AOE" mkimage "$IMG" --from-dir "$TREE" --size 512M --force >"$T/force.log" 2>&1 || rc=$?
[[ $rc -eq 0 && $(stat -c %s "$IMG") -eq $((512 << 20)) ]] && pass "--force replaces an image" \
  || { cat "$T/force.log"; fail "--force replaces an image (exit $rc)"; }
img_sum=$(sha256sum <"$IMG")
# Through a symbolic link, the image it points to is replaced and the link stays.
ln -s "$IMG" "$T/out/current.img"
rc=0
"$AOE" mkimage "$T/out/current.img" --from-dir "$TREE" --size 512M --force >"$T/force.log" 2>&1 || rc=$?
[[ $rc -eq 0 && -L $T/out/current.img && $(sha256sum <"$IMG") != "$img_sum" ]] \
  && pass "--force through a symbolic link replaces the image it points to" \
  || { cat "$T/force.log"; fail "--force through a symbolic link (exit $rc)"; }
rm -f "$T/out/current.img"
img_sum=$(sha256sum <"$IMG")

# --bios only: no ESP.
rc=0
"$AOE" mkimage "$T/out/bios.img" --from-dir "$TREE" --size 512M --bios >"$T/bios.log" 2>&1 || rc=$?
if [[ $rc -eq 0 ]] && [[ $(sfdisk -d "$T/out/bios.img" | grep -c 'bios\.img[0-9] :') -eq 1 ]]; then
  pass "--bios: one partition, no ESP"
else
  cat "$T/bios.log"; fail "--bios: one partition, no ESP (exit $rc)"
fi
rm -f "$T/out/bios.img"

# Without --force an image is never replaced, also one that another program creates while
# mkimage builds (it checks at the start, and renames its work onto IMAGE minutes later). Two
# runs for one IMAGE each write their own work file.
rc=0
"$AOE" mkimage "$T/out/race.img" --from-dir "$TREE" --size 512M --bios >"$T/race.log" 2>&1 &
race_pid=$!
for _ in $(seq 600); do
  compgen -G "$T/out/.aoe-mkimage.*/image.partial" >/dev/null && break
  kill -0 "$race_pid" 2>/dev/null || break
  sleep 0.1
done
echo precious >"$T/out/race.img"
wait "$race_pid" || rc=$?
if [[ $rc -eq 1 && $(cat "$T/out/race.img") == precious ]] &&
  grep -q "race.img was created by another program while the image was built; it is left untouched" "$T/race.log" &&
  [[ -z $(find "$T/out" -mindepth 1 ! -name test.img ! -name race.img) ]]; then
  pass "an IMAGE made while mkimage builds is left untouched (exit 1, no work file left)"
else
  cat "$T/race.log"; ls -la "$T/out"
  fail "an IMAGE made while mkimage builds is left untouched (exit $rc)"
fi
rm -f "$T/out/race.img"

# ---------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------
usage() {  # DESCRIPTION REGEX ARGS...
  local what=$1 re=$2 out rc=0
  shift 2
  out=$("$AOE" mkimage "$@" 2>&1) || rc=$?
  if [[ $rc -eq 2 && $(wc -l <<<"$out") -eq 1 ]] && grep -qE -- "$re" <<<"$out"; then
    pass "usage error, one line, exit 2: $what"
  else
    fail "usage error, one line, exit 2: $what (exit $rc: $out)"
  fi
}
usage "no source" 'give one source: --debootstrap SUITE' "$T/x.img"
usage "two sources" 'give one source' "$T/x.img" --debootstrap bookworm --from-dir "$TREE"
usage "no image" 'give the image file' --debootstrap bookworm
usage "size too small" '--size 100M must be whole MiB between 512M' "$T/x.img" --debootstrap bookworm --size 100M
usage "bad target" '--target' "$T/x.img" --debootstrap bookworm --target e1
usage "unknown option" "unknown option '--foo'" "$T/x.img" --debootstrap bookworm --foo
usage "--mirror without --debootstrap" '--mirror, --packages and --cache-dir go with --debootstrap' \
  "$T/x.img" --from-dir "$TREE" --mirror http://x
usage "missing --from-dir" 'is not a directory' "$T/x.img" --from-dir "$T/nonexistent"
usage "--tree-only with an image" '--tree-only writes no image' "$T/x.img" --tree-only \
  --debootstrap bookworm --cache-dir "$T/cache"
usage "--tree-only without --cache-dir" '--tree-only needs --debootstrap SUITE and --cache-dir' \
  --tree-only --debootstrap bookworm
usage "--deb that is not a package" '--deb /etc/hostname is not a \.deb file' \
  "$T/x.img" --from-dir "$TREE" --deb /etc/hostname
usage "an image that exists" 'test\.img exists; give --force to replace it' \
  "$IMG" --from-dir "$TREE" --size 600M
[[ $(sha256sum <"$IMG") == "$img_sum" ]] && pass "... and the image is unchanged" \
  || fail "... and the image is unchanged"
usage "an image in a directory that does not exist" \
  "the directory of .*/nodir/x.img does not exist; create it first" "$T/nodir/x.img" --from-dir "$TREE"
usage "an image that is a directory" 'out is a directory; give the image file to write' \
  "$T/out" --from-dir "$TREE"
usage "an image that is a device" '/dev/null is not a regular file' /dev/null --from-dir "$TREE"
if [[ -d /usr/share/debootstrap/scripts ]]; then
  usage "unknown suite" '--debootstrap nosuchsuite: debootstrap knows no such suite' \
    "$T/out/x.img" --debootstrap nosuchsuite
fi

fails() {  # DESCRIPTION REGEX ARGS... : exit 1 with REGEX, no image
  local what=$1 re=$2 out rc=0
  shift 2
  out=$("$AOE" mkimage "$@" 2>&1) || rc=$?
  if [[ $rc -eq 1 ]] && grep -qE -- "$re" <<<"$out"; then pass "clear error, exit 1: $what"
  else fail "clear error, exit 1: $what (exit $rc: $(tail -n 3 <<<"$out"))"; fi
}
mkdir -p "$T/empty-tree"
fails "a --from-dir tree with no kernel" "no kernel in .*/empty-tree" "$T/out/x.img" \
  --from-dir "$T/empty-tree"
# No debootstrap: the same PATH without it.
mkdir -p "$T/bin"
for dir in ${PATH//:/ }; do
  for f in "$dir"/*; do
    name=${f##*/}
    [[ $name == debootstrap || -e $T/bin/$name ]] || ln -s "$f" "$T/bin/$name" 2>/dev/null || true
  done
done
out=$(PATH=$T/bin "$AOE" mkimage "$T/out/x.img" --debootstrap bookworm 2>&1) && rc=0 || rc=$?
[[ $rc -eq 1 ]] && grep -q 'debootstrap is not installed; apt-get install debootstrap' <<<"$out" \
  && pass "clear error, exit 1: no debootstrap" || fail "clear error, exit 1: no debootstrap ($out)"

# No space: the output directory is a 48 MiB tmpfs (in a private mount namespace).
out=$(unshare --mount --propagation private bash -c '
  mkdir -p "$1/small" && mount -t tmpfs -o size=48m tmpfs "$1/small" || exit 99
  "$2" mkimage "$1/small/x.img" --from-dir "$3" 2>&1; echo "rc=$?"; ls -A "$1/small"' _ "$T" "$AOE" "$TREE")
if grep -q '^rc=1$' <<<"$out" && grep -qE 'not enough space in .*/small' <<<"$out" \
   && [[ -z $(sed -n '/^rc=/,$p' <<<"$out" | sed 1d) ]]; then
  pass "clear error, exit 1: no space (and nothing left in the directory)"
else
  fail "clear error, exit 1: no space ($out)"
fi

# A step that fails half-way: no image, no mount, no work directory left.
touch "$TREE/fail-update-initramfs"
fails "update-initramfs fails in the image" 'update-initramfs failed in the image' \
  "$T/out/y.img" --from-dir "$TREE"
rm -f "$TREE/fail-update-initramfs"
[[ -z $(find "$T/out" -mindepth 1 ! -name test.img) ]] && pass "... and leaves no file behind" \
  || fail "... and leaves no file behind: $(ls -A "$T/out")"
[[ -z $(our_mounts) ]] && pass "... and nothing mounted" || fail "... and nothing mounted: $(our_mounts)"

((failed == 0)) || exit 1
echo "PASS: aoe mkimage"
