#!/usr/bin/env bash
# The skip check itself (scripts/ctest-checked, scripts/check-skips): on a tiny CMake project
# whose tests pass, skip with exit 77 (as tests/lib.sh's t_skip does) or skip the GoogleTest way,
#   - a run with no skip passes and says "no tests skipped";
#   - a run with skips FAILS although ctest itself passes, and names each skip with its reason;
#   - the same run passes when both skips are on the allow-list, and still prints them;
#   - an allow-list entry without a reason is refused;
#   - a test that cannot report a skip (no SKIP_RETURN_CODE) fails the run before anything runs;
#   - every test of this project's build can report a skip.
#
#   ctest_checked_test.sh PROJECT_BUILD_DIR
set -uo pipefail
source "$(dirname "$0")/../lib.sh"

t_init
t_require_cmds cmake ctest python3
# The fake runs must not land in the skip report of the scripts/test run that runs this test.
unset AOE_SKIP_REPORT
build=${1:?usage: $0 PROJECT_BUILD_DIR}
checked=$T_REPO_ROOT/scripts/ctest-checked

fake=$T_TMP/fake
mkdir -p "$fake"
cat >"$fake/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(fake NONE)
enable_testing()
add_test(NAME passes COMMAND sh -c "exit 0")
set_tests_properties(passes PROPERTIES SKIP_RETURN_CODE 77)
if(WITH_SKIPS)
  add_test(NAME script_skip COMMAND sh -c "echo 'SKIP: no /dev/net/tun'; exit 77")
  set_tests_properties(script_skip PROPERTIES SKIP_RETURN_CODE 77)
  add_test(NAME gtest_skip COMMAND printf "[ RUN      ] A.B\nx.cc:3: Skipped\nneeds a widget\n[  SKIPPED ] A.B (0 ms)\n")
  set_tests_properties(gtest_skip PROPERTIES SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
endif()
if(WITH_UNMARKED)
  add_test(NAME unmarked COMMAND sh -c "exit 0")
endif()
CMAKE

# run_fake NAME CMAKE_ARGS... : configures the fake project and runs ctest-checked on it with
# $T_TMP/allow.txt; sets RC and OUT.
run_fake() {
    local dir=$T_TMP/build-$1
    shift
    cmake -S "$fake" -B "$dir" "$@" >/dev/null || t_die "cmake failed for the fake project"
    OUT=$(AOE_SKIP_ALLOWLIST=$T_TMP/allow.txt "$checked" "$dir" 2>&1)
    RC=$?
}
says() { grep -qF -- "$1" <<<"$OUT"; }

echo '# nothing allowed' >"$T_TMP/allow.txt"
run_fake clean -DWITH_SKIPS=OFF
t_check "no skip: the run passes" [ "$RC" -eq 0 ]
t_check "no skip: it says so" says "no tests skipped"

run_fake skips -DWITH_SKIPS=ON
t_check "ctest alone passes a run with skips" ctest --test-dir "$T_TMP/build-skips" -Q
t_check "skips not allowed: the run FAILS" [ "$RC" -ne 0 ]
t_check "the exit-77 skip is named with its reason" \
    says "script_skip: no /dev/net/tun (NOT ALLOWED"
t_check "the GTEST_SKIP() skip is named with its reason" says "gtest_skip: needs a widget (NOT ALLOWED"

printf 'script_skip  the fake machine has no tun\ngtest_skip  no widget here\n' >"$T_TMP/allow.txt"
run_fake skips -DWITH_SKIPS=ON
t_check "skips on the allow-list: the run passes" [ "$RC" -eq 0 ]
t_check "allowed skips are still printed with both reasons" \
    says "script_skip: no /dev/net/tun (allowed: the fake machine has no tun)"

printf 'script_skip\n' >"$T_TMP/allow.txt"
run_fake skips -DWITH_SKIPS=ON
t_check "an allow-list entry without a reason is refused" [ "$RC" -ne 0 ]
t_check "... saying what to write" says "has no reason"

echo '# nothing allowed' >"$T_TMP/allow.txt"
run_fake unmarked -DWITH_UNMARKED=ON
t_check "a test without SKIP_RETURN_CODE fails the run" [ "$RC" -ne 0 ]
t_check "... naming it, before any test runs" \
    bash -c 'grep -q "test unmarked has no SKIP_RETURN_CODE" <<<"$1" && ! grep -q "Start" <<<"$1"' \
    _ "$OUT"

ctest --test-dir "$build" --show-only=json-v1 >"$T_TMP/project.json" ||
    t_die "ctest --show-only failed in $build"
t_check "every test of this project can report a skip" \
    "$T_REPO_ROOT/scripts/check-skips" --unmarked "$T_TMP/project.json"
t_finish
