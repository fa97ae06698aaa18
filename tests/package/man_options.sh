#!/bin/bash
#
# man_options.sh AOE_BIN MAN_SOURCE_DIR
#
# Every option that `aoe COMMAND --help` prints is described in that command's man page, and
# every command `aoe --help` lists is in aoe(8): the pages cannot fall behind the program. For
# pages that describe several commands (aoe-initiator(8), aoe-mount(8)) the option must be in
# that command's own "## aoe COMMAND" part. Also checks that scdoc renders every page, when
# scdoc is installed. Label unit: no root, no network.
#
# Exit: 0 pass, 1 fail, 77 skipped (no scdoc: the options were checked, the rendering not).
set -euo pipefail
AOE=${1:?usage: man_options.sh AOE_BIN MAN_SOURCE_DIR}
MAN=${2:?usage: man_options.sh AOE_BIN MAN_SOURCE_DIR}
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# The page that documents each command.
declare -A PAGE=(
  [serve]=aoe-serve.8 [netboot]=aoe-netboot.8 [mkimage]=aoe-mkimage.8
  [mount]=aoe-mount.8 [umount]=aoe-mount.8 [show]=aoe-mount.8
  [scan]=aoe-initiator.8 [ping]=aoe-initiator.8 [cp]=aoe-initiator.8 [bench]=aoe-initiator.8
  [config]=aoe-initiator.8 [mask]=aoe-initiator.8 [reserve]=aoe-initiator.8
  [release]=aoe-initiator.8 [ctl]=aoe-ctl.8 [overlay]=aoe-ctl.8
)

# options HELP_TEXT: the options of an --help text's "Options:" block, one per line
# (-c, --count, ...).
options() {
  sed -n '/^Options:/,/^$/p' <<<"$1" | grep -oE '^ +-[^ ]+' | tr ',' '\n' \
    | grep -oE -- '^ *--?[A-Za-z][A-Za-z0-9-]*' | tr -d ' ' | sort -u
}

# section FILE COMMAND: the text of FILE that documents COMMAND: its "## aoe COMMAND" part if
# the page has one, else the whole page.
section() {
  if grep -q "^## aoe $2\$" "$1"; then
    awk -v h="## aoe $2" '$0 == h { on = 1; next } on && /^#/ { exit } on' "$1"
  else
    cat "$1"
  fi
}

# The commands `aoe --help` lists, and its own options, all in aoe(8).
main_help=$("$AOE" --help)
commands=$(sed -n '/^Commands:/,/^$/p' <<<"$main_help" | awk 'NF { print $1 }' | grep -v '^Commands:$')
[[ -n $commands ]] || fail "aoe --help lists no commands"
for c in $commands; do
  grep -qF "*$c*" "$MAN/aoe.8.scd" || fail "aoe(8) does not describe the command '$c'"
  [[ -n ${PAGE[$c]:-} ]] || fail "no man page is known for 'aoe $c' (add it to PAGE in $0)"
done
for o in $(options "$main_help"); do
  grep -qF -- "*$o*" "$MAN/aoe.8.scd" || fail "aoe(8) does not describe 'aoe $o'"
done

checked=0
for c in $commands; do
  page=${PAGE[$c]:-}
  [[ -n $page ]] || continue
  src=$MAN/$page.scd
  [[ -f $src ]] || { fail "no man page source $src for 'aoe $c'"; continue; }
  help=$("$AOE" "$c" --help)
  text=$(section "$src" "$c")
  opts=$(options "$help")
  [[ -n $opts ]] || fail "aoe $c --help shows no options (did its format change?)"
  for o in $opts; do
    # Options are written in bold: *--interface* (or *-i*, *--interface*).
    if grep -qF -- "*$o*" <<<"$text"; then
      checked=$((checked + 1))
    else
      fail "'aoe $c $o' is in --help but not in ${page%.*}(${page##*.})"
    fi
  done
done

if command -v scdoc >/dev/null; then
  for src in "$MAN"/*.scd; do
    out=$(scdoc <"$src" 2>&1 >/dev/null) || fail "scdoc cannot render $(basename "$src"): $out"
  done
fi

((failed == 0)) || exit 1
echo "PASS: $checked options of $(wc -w <<<"$commands") commands are in their man pages"
if ! command -v scdoc >/dev/null; then
  echo "SKIP: scdoc not installed (scripts/install-deps): the pages' rendering is not checked"
  exit 77
fi
