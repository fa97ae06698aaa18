#!/bin/bash
#
# AOE=BUILD/aoe deb_chroot.sh DEB
#
# The package on a fresh Debian: `apt-get install ./aoekit_*.deb` in a debootstrapped bookworm
# chroot, then:
#   - `aoe --version` runs and says the package's version;
#   - the aoekit user exists, /var/lib/aoekit exists, both services are installed disabled,
#     `systemd-analyze verify` passes on the installed units;
#   - `apt-get remove` removes every file but the conffiles, which keep an edit; `apt-get purge`
#     removes them and the state directory; nothing the package installed is left.
# The chroot is a throw-away overlay, in a private mount namespace, over the Debian tree that
# `aoe mkimage` debootstraps once and caches in /var/cache/aoekit-tests (AOEKIT_TEST_CACHE),
# keyed on the suite, the mirror and the package list (the package's own Depends).
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, no debootstrap, no overlayfs).
set -euo pipefail
DEB=${1:?usage: AOE=BUILD/aoe deb_chroot.sh DEB}
AOE=${AOE:?usage: AOE=BUILD/aoe deb_chroot.sh DEB}
[[ $EUID -eq 0 ]] || { echo "SKIP: needs root (debootstrap, chroot)"; exit 77; }
command -v debootstrap >/dev/null || { echo "SKIP: debootstrap not installed"; exit 77; }
grep -qw overlay /proc/filesystems || { echo "SKIP: no overlayfs"; exit 77; }
[[ -f $DEB ]] || { echo "FAIL: no package $DEB"; exit 1; }
DEB=$(readlink -f "$DEB")

# Re-run in a private mount namespace: the overlay and /proc vanish with this process.
if [[ ${PKG_CHROOT_NS:-} != "$$" ]]; then
  export PKG_CHROOT_NS=$$
  exec unshare --mount --propagation private "$0" "$@"
fi

SUITE=bookworm
MIRROR=${AOEKIT_TEST_MIRROR:-http://deb.debian.org/debian}
CACHE=${AOEKIT_TEST_CACHE:-/var/cache/aoekit-tests}
failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=1; }

# The tree: the one `aoe mkimage --debootstrap` caches for images with this package (minbase,
# systemd, a kernel, and the package's Depends, so the install needs no download), from the
# build's `aoe mkimage --tree-only`. The distro tests build their images from the same tree,
# and scripts/test fetches it while aoekit compiles.
WORK=$(mktemp -d /var/tmp/pkg-deb-chroot.XXXXXX)
trap 'umount -R "$WORK/root" 2>/dev/null; rm -rf "$WORK"' EXIT
TREE=$("$AOE" mkimage --tree-only --debootstrap "$SUITE" --mirror "$MIRROR" --cache-dir "$CACHE" \
  --deb "$DEB" 2>"$WORK/mkimage.log") \
  || { tail -n 20 "$WORK/mkimage.log"; echo "FAIL: aoe mkimage --tree-only failed"; exit 1; }
sed 's/^/  /' "$WORK/mkimage.log"
mkdir -p "$WORK/upper" "$WORK/work" "$WORK/root"
mount -t overlay overlay -o "lowerdir=$TREE,upperdir=$WORK/upper,workdir=$WORK/work" "$WORK/root"
R=$WORK/root
mount -t proc proc "$R/proc"
# No service starts in the chroot, whatever the maintainer scripts ask for.
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
# The tree has a kernel (it is an image's tree), and the package's initramfs hook triggers
# update-initramfs: a chroot that never boots need not spend half a minute on each initramfs.
sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$R/etc/initramfs-tools/update-initramfs.conf"
cp "$DEB" "$R/tmp/"
in_chroot() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# Everything but the pseudo and runtime file systems (/run is a tmpfs on a running system).
snapshot() {
  (cd "$R" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./run \) -prune -o -print | sort)
}
before=$(snapshot)

# Install.
if in_chroot apt-get install -y --no-install-recommends "/tmp/$(basename "$DEB")" \
     >"$WORK/install.log" 2>&1; then
  pass "apt-get install ./$(basename "$DEB") in a fresh $SUITE chroot"
else
  tail -n 20 "$WORK/install.log"
  fail "apt-get install ./$(basename "$DEB")"
fi
grep -E '^(Get|Err):[0-9]+ (http|ftp)' "$WORK/install.log" \
  && fail "the install downloaded packages (the cached tree should hold them)"
version=$(dpkg-deb -f "$DEB" Version)
if out=$(in_chroot aoe --version 2>&1) && [[ $out == "aoe (aoekit) ${version%%-*}" ]]; then
  pass "aoe --version runs in the chroot: $out"
else
  fail "aoe --version in the chroot: $out"
fi
# `aoe mkimage` finds its installed worker: in this bare chroot the worker runs and says which
# tool is missing.
out=$(in_chroot aoe mkimage /tmp/x.img --from-dir /tmp 2>&1) && rc=0 || rc=$?
if [[ $rc -eq 1 ]] && grep -qE 'aoe mkimage: [a-z.0-9]+ is not installed; apt-get install' <<<"$out"; then
  pass "aoe mkimage runs the installed worker ($out)"
else
  fail "aoe mkimage runs the installed worker (exit $rc: $out)"
fi
in_chroot getent passwd aoekit >/dev/null && pass "the aoekit user exists" || fail "no aoekit user"
[[ -d $R/var/lib/aoekit ]] && pass "/var/lib/aoekit exists" || fail "no /var/lib/aoekit"
for unit in aoe-serve aoe-netboot; do
  state=$(in_chroot systemctl is-enabled "$unit.service" 2>&1 || true)
  [[ $state == disabled ]] && pass "$unit.service is installed, disabled" \
    || fail "$unit.service is installed, disabled (is-enabled: $state)"
done
if out=$(in_chroot systemd-analyze verify --man=no aoe-serve.service aoe-netboot.service 2>&1) \
   && [[ -z $out ]]; then
  pass "systemd-analyze verify on the installed units"
else
  fail "systemd-analyze verify on the installed units: $out"
fi
files=$(in_chroot dpkg-query -L aoekit | sort)

# Remove: the conffiles stay, with the administrator's edit.
echo '# edited by the administrator' >>"$R/etc/aoekit/serve.toml"
in_chroot apt-get remove -y aoekit >"$WORK/remove.log" 2>&1 && pass "apt-get remove aoekit" \
  || { tail -n 20 "$WORK/remove.log"; fail "apt-get remove aoekit"; }
[[ ! -e $R/usr/bin/aoe ]] && pass "remove: /usr/bin/aoe is gone" || fail "remove left /usr/bin/aoe"
grep -q 'edited by the administrator' "$R/etc/aoekit/serve.toml" 2>/dev/null \
  && pass "remove: the edited conffile stays" || fail "remove: the edited conffile stays"

# Purge: nothing of the package is left.
in_chroot apt-get purge -y aoekit >"$WORK/purge.log" 2>&1 && pass "apt-get purge aoekit" \
  || { tail -n 20 "$WORK/purge.log"; fail "apt-get purge aoekit"; }
left=""
while read -r f; do
  [[ -n $f && $f != / && -e $R$f && ! -d $R$f ]] && left="$left $f"
done <<<"$files"
[[ -d $R/etc/aoekit ]] && left="$left /etc/aoekit/"
[[ -d $R/var/lib/aoekit ]] && left="$left /var/lib/aoekit/"
[[ -z $left ]] && pass "purge: no file of the package is left" || fail "purge left:$left"
state=$(in_chroot dpkg-query -W -f='${db:Status-Status}' aoekit 2>/dev/null || echo not-installed)
[[ $state == not-installed ]] && pass "dpkg: aoekit is not installed any more" \
  || fail "dpkg: aoekit is $state after purge"
after=$(snapshot)
extra=$(comm -13 <(echo "$before") <(echo "$after") | grep -vE '^\./(var/(cache|lib/(apt|dpkg|systemd))|var/log|etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$|usr/sbin/policy-rc\.d)' || true)
[[ -z $extra ]] && pass "the chroot holds nothing new but apt/dpkg's records and the aoekit user" \
  || fail "left behind after purge: $(tr '\n' ' ' <<<"$extra")"

((failed == 0)) || exit 1
echo "PASS: $(basename "$DEB") installs and purges cleanly in a $SUITE chroot"
