#!/bin/bash
#
# rbd_module.sh DEB_DIR
#
# The aoekit-rbd module as the two Debian packages lay it out, each unpacked (dpkg -x) into a
# directory of its own, so the program finds the module where an install puts it, relative to
# itself. No Ceph cluster is needed (tests/rbd runs the module against one):
#   - aoekit alone does not link Ceph's libraries (ldd), and `aoe serve` of an rbd: export stops
#     at start with one line naming the package aoekit-rbd, exit 2;
#   - with aoekit-rbd unpacked beside it, the module loads and runs: the same export now fails
#     on its ceph_conf= (a file that does not exist), exit 2;
#   - a module file that cannot be loaded (not an ELF object) gives its own line, exit 2, and so
#     does a module of another aoekit version (its version string rewritten) or build (an
#     aoekit symbol it needs renamed, so that the program does not have it);
#   - aoekit alone serves a file export.
# `aoe serve` runs in a namespace of its own, on a veth pair created there.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root, dpkg-deb missing).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
DEB_DIR=${1:?usage: rbd_module.sh DEB_DIR}
t_init
t_require_root "network namespaces"
t_require_cmds dpkg-deb ip ldd nm perl
# The module needs Ceph's client libraries on this host (scripts/install-deps installs them).
# (The whole list first: `ldconfig -p | grep -q` under pipefail fails whenever grep exits before
# ldconfig has written everything, and the test would skip at random.)
[[ $(ldconfig -p) == *"librbd.so.1 "* ]] || t_skip "librbd1 is not installed (scripts/install-deps)"
AOEKIT_DEB=$(ls "$DEB_DIR"/aoekit_*.deb 2>/dev/null | head -n 1)
RBD_DEB=$(ls "$DEB_DIR"/aoekit-rbd_*.deb 2>/dev/null | head -n 1)
[[ -f $AOEKIT_DEB && -f $RBD_DEB ]] || t_die "no aoekit and aoekit-rbd packages in $DEB_DIR"

ALONE=$T_TMP/aoekit
WITH_RBD=$T_TMP/aoekit-and-rbd
BROKEN=$T_TMP/broken-module
OTHER=$T_TMP/other-version
OTHER_BUILD=$T_TMP/other-build
for tree in "$ALONE" "$WITH_RBD" "$BROKEN" "$OTHER" "$OTHER_BUILD"; do
    dpkg-deb -x "$AOEKIT_DEB" "$tree" || t_die "dpkg-deb -x $AOEKIT_DEB failed"
done
for tree in "$WITH_RBD" "$OTHER" "$OTHER_BUILD"; do
    dpkg-deb -x "$RBD_DEB" "$tree" || t_die "dpkg-deb -x $RBD_DEB failed"
done
module=$(dpkg-deb -c "$RBD_DEB" | awk '{ print $6 }' | grep -E '/aoekit/rbd\.so$' | sed 's|^\./||')
[[ -n $module ]] || t_die "aoekit-rbd holds no aoekit/rbd.so"
mkdir -p "$(dirname "$BROKEN/$module")"
echo "not a shared object" >"$BROKEN/$module"
# A module of another aoekit version: this one with its version string (the symbol
# aoekit_rbd_module_version, NUL-terminated) overwritten by one of the same length.
version=$(dpkg-deb -f "$RBD_DEB" Version)
version=${version%%-*}
other_version=$(tr '0-9' '1-90' <<<"$version")
VERSION=$version OTHER_VERSION=$other_version \
    perl -0777 -pi -e 's/\x00\Q$ENV{VERSION}\E\x00/\x00$ENV{OTHER_VERSION}\x00/ or die' "$OTHER/$module" \
    || t_die "no version string $version in $module"
# A module of another aoekit build: one of the program's symbols it imports renamed (same
# length), as if it were built from sources where that function is different.
undefined=$(nm -D --undefined-only "$OTHER_BUILD/$module")
[[ $undefined == *" _ZN3aoe15StorageCategoryEv"* ]] || t_die "$module does not import aoe::StorageCategory()"
perl -0777 -pi -e 's/\x00_ZN3aoe15StorageCategoryEv\x00/\x00_ZN3aoe15StorageCategorzEv\x00/ or die' \
    "$OTHER_BUILD/$module" || t_die "cannot rename aoe::StorageCategory() in $module"

NS=$(t_ns t)
t_netns_add "$NS"
t_veth "$NS" vt0 "$NS" vt1

# serve_fails TREE EXPECTED_REGEX WHAT [DETAIL_REGEX]: `aoe serve` of an rbd: export from TREE
# must stop at start with exit 2 and one line matching EXPECTED_REGEX (what to do), and, if
# given, a line matching DETAIL_REGEX (what the loader found: the "aoekit-rbd:" log line).
serve_fails() {
    local tree=$1 expected=$2 what=$3 detail=${4:-} out rc
    out=$(timeout 60 ip netns exec "$NS" "$tree/usr/bin/aoe" serve -i vt0 --no-announce \
        --state-dir "$T_TMP/state" "e1.1=rbd:rbd/disk,ceph_conf=$T_TMP/no-such-ceph.conf" 2>&1)
    rc=$?
    t_log "$what: exit $rc: $(tr '\n' '|' <<<"$out")"
    if [[ $rc -eq 2 ]] && grep -qE "$expected" <<<"$out"; then
        t_pass "$what (exit 2: $(grep -E "$expected" <<<"$out" | head -n 1))"
    else
        t_fail "$what: exit $rc, wanted 2 and /$expected/: $out"
    fi
    if [[ -n $detail ]]; then
        if grep -qE "$detail" <<<"$out"; then
            t_pass "$what: the log says what the loader found ($(grep -E "$detail" <<<"$out" | head -n 1))"
        else
            t_fail "$what: no line matches /$detail/: $out"
        fi
    fi
}

libraries=$(ldd "$ALONE/usr/bin/aoe")  # whole, then searched: see the ldconfig check above
if grep -qE 'lib(rbd|rados|ceph-common)\.so' <<<"$libraries"; then
    t_fail "aoekit's aoe links Ceph's libraries: $(grep -E 'rbd|rados|ceph' <<<"$libraries")"
else
    t_pass "aoekit's aoe does not link librbd, librados or libceph-common"
fi
serve_fails "$ALONE" 'rbd: exports need the aoekit-rbd package; install it' \
    "aoekit alone: an rbd: export names the package to install" \
    "aoekit-rbd: no module at $ALONE/usr/lib/[^ ]*aoekit/rbd\\.so: No such file or directory"
serve_fails "$WITH_RBD" 'cannot read the Ceph configuration' \
    "aoekit with aoekit-rbd: the module loads and opens the export (here: its ceph_conf= is missing)"
serve_fails "$BROKEN" 'aoekit-rbd module cannot be loaded' \
    "a module file that is not a shared object: says it cannot be loaded" \
    "aoekit-rbd: $BROKEN/$module: (file too short|invalid ELF header)"
serve_fails "$OTHER" 'aoekit-rbd module is from another aoekit version' \
    "a module built for another version ($other_version): refused before it runs" \
    "aoekit-rbd: $OTHER/$module is aoekit-rbd $other_version, this program aoekit $version"
serve_fails "$OTHER_BUILD" 'aoekit-rbd module is from another aoekit version or build' \
    "a module that needs an aoekit function this build lacks: refused as another build" \
    "aoekit-rbd: .*undefined symbol: _ZN3aoe15StorageCategorzEv"

# A file export needs no module.
AOE_BIN=$ALONE/usr/bin/aoe
truncate -s 1M "$T_TMP/disk.img"
t_serve "$NS" -i vt0 --no-announce --state-dir "$T_TMP/state" "e1.2=$T_TMP/disk.img"
t_check "aoekit alone serves a file export" t_serve_alive
t_finish
