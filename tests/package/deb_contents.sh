#!/bin/bash
#
# deb_contents.sh DEB
#
# What the Debian package holds and declares, checked on the .deb itself: the program, the
# mkimage worker, both systemd units, every man page, the initramfs-tools hook and script, the
# dracut module, the docs, /etc/aoekit/serve.toml and netboot.toml as conffiles, the state
# directory, Depends with the shared libraries (shlibs) and adduser but none of Ceph's; the
# aoekit-rbd package beside it holds the RBD module and depends on this very aoekit and librbd;
# and lintian reports no error on either. (`systemd-analyze verify` runs on the installed units in deb_chroot.sh.)
#
# Exit: 0 pass, 1 fail, 77 skipped (dpkg-deb or lintian missing).
set -euo pipefail
DEB=${1:?usage: deb_contents.sh DEB}
for tool in dpkg-deb lintian; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/install-deps)"; exit 77; }
done
[[ -f $DEB ]] || { echo "FAIL: no package $DEB"; exit 1; }
TMP=$(mktemp -d /tmp/pkg-deb-contents.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=1; }

LIST=$(dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|')
has() {  # DESCRIPTION REGEX...
  local what=$1 re
  shift
  for re in "$@"; do
    grep -qE "^$re\$" <<<"$LIST" || { fail "$what: no $re in the package"; return; }
  done
  pass "$what"
}
UNITS='(/usr)?/lib/systemd/system'
has "the program and the mkimage worker" /usr/bin/aoe /usr/libexec/aoekit/mkimage
has "the systemd units" "$UNITS/aoe-serve\\.service" "$UNITS/aoe-netboot\\.service"
has "the man pages" /usr/share/man/man8/aoe-scan\\.8\\.gz /usr/share/man/man8/aoe\\.8\\.gz /usr/share/man/man8/aoe-serve\\.8\\.gz \
  /usr/share/man/man8/aoe-netboot\\.8\\.gz /usr/share/man/man8/aoe-mount\\.8\\.gz \
  /usr/share/man/man8/aoe-initiator\\.8\\.gz /usr/share/man/man8/aoe-mkimage\\.8\\.gz \
  /usr/share/man/man8/aoe-ctl\\.8\\.gz /usr/share/man/man8/aoe-overlay\\.8\\.gz \
  /usr/share/man/man5/aoe\\.toml\\.5\\.gz
has "the initramfs-tools hook and script" /usr/share/initramfs-tools/hooks/aoekit \
  /usr/share/initramfs-tools/scripts/local-top/aoekit
has "the dracut module" /usr/lib/dracut/modules\\.d/95aoekit/module-setup\\.sh \
  /usr/lib/dracut/modules\\.d/95aoekit/parse-aoekit\\.sh \
  /usr/lib/dracut/modules\\.d/95aoekit/aoekit-root\\.sh
has "the configuration and the state directory" /etc/aoekit/serve\\.toml \
  /etc/aoekit/netboot\\.toml /var/lib/aoekit/
has "the documentation" '/usr/share/doc/aoekit/README\.md(\.gz)?' \
  '/usr/share/doc/aoekit/diskless-boot\.md(\.gz)?' /usr/share/doc/aoekit/copyright

dpkg-deb --ctrl-tarfile "$DEB" | tar -xf - -C "$TMP" ./conffiles 2>/dev/null || true
if grep -qx /etc/aoekit/serve.toml "$TMP/conffiles" 2>/dev/null \
   && grep -qx /etc/aoekit/netboot.toml "$TMP/conffiles"; then
  pass "serve.toml and netboot.toml are conffiles"
else
  fail "serve.toml and netboot.toml are conffiles (conffiles: $(tr '\n' ' ' <"$TMP/conffiles" 2>/dev/null))"
fi
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
for lib in libc6 libfuse3-3 liburing2 libsystemd0 adduser procps; do
  grep -qE "(^|, )$lib( |,|$)" <<<"$DEPENDS" || fail "Depends lacks $lib: $DEPENDS"
done
pass "Depends: $DEPENDS"
# Ceph's libraries come with aoekit-rbd only (storage/rbd/rbd_module.h says why).
PRE_DEPENDS=$(dpkg-deb -f "$DEB" Pre-Depends)
if grep -qE 'librbd|librados|libceph' <<<"$DEPENDS, $PRE_DEPENDS"; then
  fail "aoekit depends on Ceph's libraries: Depends $DEPENDS; Pre-Depends $PRE_DEPENDS"
else
  pass "aoekit does not depend on librbd, librados or libceph-common (Pre-Depends: ${PRE_DEPENDS:-none})"
fi
# The distro tests and scripts/test fetch the Debian tree for images of this package ahead of
# time from tests/distro/package-depends.txt: if it differs, that fetch is wasted.
depends_list=$(tr ',' '\n' <<<"$DEPENDS" | sed 's/|.*//; s/(.*)//; s/:any//; s/ //g' | sed '/^$/d' \
  | sort -u | paste -sd,)
listed=$(tr ',' '\n' <"$(dirname "$0")/../distro/package-depends.txt" | sed '/^$/d' | sort -u | paste -sd,)
[[ $depends_list == "$listed" ]] && pass "tests/distro/package-depends.txt lists the Depends" \
  || fail "tests/distro/package-depends.txt is stale: write $depends_list into it"
[[ $(dpkg-deb -f "$DEB" Package) == aoekit ]] || fail "the package is not called aoekit"
[[ $(basename "$DEB") == aoekit_$(dpkg-deb -f "$DEB" Version)_$(dpkg-deb -f "$DEB" Architecture).deb ]] \
  || fail "the file is not named aoekit_VERSION_ARCH.deb: $(basename "$DEB")"

# aoekit-rbd: the module where the program looks for it, tied to this very aoekit.
RBD_DEB=$(dirname "$DEB")/aoekit-rbd_$(dpkg-deb -f "$DEB" Version)_$(dpkg-deb -f "$DEB" Architecture).deb
if [[ -f $RBD_DEB ]]; then
  RBD_LIST=$(dpkg-deb -c "$RBD_DEB" | awk '{ print $6 }' | sed 's|^\./|/|')
  grep -qE '^/usr/lib/[a-z0-9_-]+/aoekit/rbd\.so$' <<<"$RBD_LIST" \
    && pass "aoekit-rbd holds the module /usr/lib/MULTIARCH/aoekit/rbd.so" \
    || fail "aoekit-rbd holds no /usr/lib/MULTIARCH/aoekit/rbd.so: $(tr '\n' ' ' <<<"$RBD_LIST")"
  RBD_DEPENDS=$(dpkg-deb -f "$RBD_DEB" Depends)
  missing=""
  for dep in "aoekit (= $(dpkg-deb -f "$DEB" Version))" librbd1 librados2; do
    grep -qF "$dep" <<<"$RBD_DEPENDS" || missing="$missing, $dep"
  done
  [[ -z $missing ]] && pass "aoekit-rbd Depends: $RBD_DEPENDS" \
    || fail "aoekit-rbd's Depends lacks ${missing#, }: $RBD_DEPENDS"
else
  fail "no aoekit-rbd package beside $(basename "$DEB") ($RBD_DEB)"
fi

for deb in "$DEB" "$RBD_DEB"; do
  [[ -f $deb ]] || continue
  if lintian --fail-on error --tag-display-limit 0 "$deb" >"$TMP/lintian.txt" 2>&1; then
    pass "lintian $(basename "$deb"): no errors ($(grep -c '^W: ' "$TMP/lintian.txt" || true) warnings)"
  else
    fail "lintian reports errors on $(basename "$deb"):"
    grep -E '^E: ' "$TMP/lintian.txt" || cat "$TMP/lintian.txt"
  fi
  sed 's/^/  lintian: /' "$TMP/lintian.txt"
done

((failed == 0)) || exit 1
echo "PASS: package contents of $(basename "$DEB")"
