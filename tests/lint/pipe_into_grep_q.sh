#!/usr/bin/env bash
# No shell script of the project pipes a command into `grep -q`.
#
# Under `set -o pipefail` (most of our scripts) `cmd | grep -q PATTERN` fails at random: grep -q
# exits at the first match, and if cmd writes again after that it dies of SIGPIPE, so the
# pipeline's status is 141 although the pattern was there. It made package_rbd_module_test skip
# in CI (`ldconfig -p | grep -q`). Write `cmd | grep PATTERN >/dev/null` instead: grep then reads
# all of its input. Scripts without pipefail are checked too, as they may be sourced by one.
#
# Usage: pipe_into_grep_q.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: pipe_into_grep_q.sh SOURCE_DIR}
cd "$src"

# The project's shell scripts: *.sh, and files whose first line names a shell.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t candidates < <(git ls-files)
else
  mapfile -t candidates < <(find . -path ./build -prune -o -type f -print | sed 's|^\./||')
fi
scripts=()
for f in "${candidates[@]}"; do
  [[ -f $f ]] || continue
  first=""
  [[ $f == *.sh ]] || IFS= read -r first <"$f" 2>/dev/null || true
  if [[ $f == *.sh || $first =~ ^\#!.*[/\ ](ba)?sh([[:space:]]|$) ]]; then
    scripts+=("$f")
  fi
done
((${#scripts[@]} > 20)) || { echo "FAIL: found only ${#scripts[@]} shell scripts in $src"; exit 1; }

# A pipe into grep (egrep, /bin/grep, `command grep`, `LC_ALL=C grep`...) with -q among its
# options (alone or with others, before or after the pattern), --quiet or --silent. A line that
# ends in a pipe is read together with the next, where the pipeline goes on. Comments are
# skipped; `||` is not a pipe.
offenders=$(awk '
  FNR == 1 { pending = "" }
  /^[[:space:]]*#/ { next }
  {
    line = $0
    sub(/[[:space:]]#.*$/, "", line)
    if (pending != "") { text = pending " " line } else { text = line; first = FNR }
    if (text ~ /(^|[^|])\|&?[[:space:]]*\\?$/) { pending = text; sub(/\\$/, "", pending); next }
    pending = ""
    if (text ~ /(^|[^|])\|&?[[:space:]]*(command[[:space:]]+|[A-Za-z_]+=[^[:space:]]*[[:space:]]+)*[^[:space:]|;&)`]*grep[^|;&)`]*[[:space:]](-[a-zA-Z]*q[a-zA-Z]*|--quiet|--silent)([[:space:]]|$)/)
      print FILENAME ":" first ": " text
  }' "${scripts[@]}")
if [[ -n $offenders ]]; then
  echo "FAIL: these lines pipe into grep -q, which fails at random under pipefail; write"
  echo "      'cmd | grep PATTERN >/dev/null' so that grep reads all of its input:"
  echo "$offenders"
  exit 1
fi
echo "PASS: none of ${#scripts[@]} shell scripts pipes into grep -q"
