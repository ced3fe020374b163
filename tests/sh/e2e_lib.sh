#!/usr/bin/env bash
# The shared e2e helpers (tests/sh/lib/e2e.bash) report a failure on the test's stderr with the
# tail of the failing command's output, even when fail runs inside a redirected expect_exit
# (before, its message went into the redirected .out file and the test ended silently).
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
lib="$(cd "$(dirname "$0")" && pwd)/lib/e2e.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
check() { # what, then a condition
  local what=$1; shift
  "$@" || { echo "FAIL: $what"; echo "--- stderr"; cat err; echo "--- stdout"; cat out; exit 1; }
}

echo "1. a command that exits wrongly inside a redirected expect_exit"
(
  source "$lib"
  echo "earlier output" > a.out
  expect_exit 0 sh -c 'echo "the failing command said this"; exit 3' > b.out 2>&1
  echo "not reached"
) > out 2> err
check "the scenario did not fail" [ $? = 1 ]
check "no FAIL on stderr" grep -q "^FAIL: 'sh -c .*' exited 3, wanted 0" err
check "the failing command's output is not shown" grep -q 'the failing command said this' err
check "the shown output is not b.out" grep -q -- '--- b.out' err
check "FAIL went into the redirected file" bash -c '! grep -q FAIL b.out'
check "the scenario went on after the failure" bash -c '! grep -q "not reached" out err'

echo "2. fail after a grep: the file written last is shown"
(
  source "$lib"
  echo "plan said: something unexpected" > c.out
  grep -q 'Apply complete' c.out || fail "apply summary"
) > out 2> err
check "the scenario did not fail" [ $? = 1 ]
check "no FAIL on stderr" grep -q '^FAIL: apply summary' err
check "the grepped file is not shown" grep -q 'plan said: something unexpected' err
echo "e2e_lib: 2 passed, 0 failed"
