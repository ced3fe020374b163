# Shared helpers for the end-to-end scenarios that drive amlsec against a standalone local cloud
# (sourced, not a test). The caller works in its own directory, sets cloud_flags (an array of
# amlsec-armlocal flags every start_cloud passes) and stops $pid on exit.
: "${AMLSEC:?}" "${ARMLOCAL:?}"
pid=""
cloud_flags=()

# The test's own stderr, kept aside: a fail inside a redirected call (expect_exit ... > x.out)
# must still reach it rather than vanish into x.out. Children inherit it: a process left running
# after the test (one started in the background and never stopped) would hold the test's output
# open, and CTest would wait for it until the timeout; start_cloud closes it for armlocal.
exec {e2e_stderr}>&2
# Reports to the test's stderr with the tails of the local cloud's log and of the given files
# (default: the two .out files written last, the ones a failing check has just read), then exits.
fail_with() { # message, then files to show
  local msg=$1; shift
  local files=("$@") f
  [ ${#files[@]} -gt 0 ] || mapfile -t files < <(ls -t -- *.out 2>/dev/null | head -n 2)
  {
    echo "FAIL: $msg"
    [ -s cloud.err ] && { echo "--- cloud.err (last 20 lines)"; tail -n 20 cloud.err; }
    for f in "${files[@]}"; do echo "--- $f (last 40 lines)"; tail -n 40 "$f"; done
  } >&"$e2e_stderr"
  exit 1
}
fail() { fail_with "$*"; }
expect_exit() { # want, then the command; its output goes wherever the caller redirected it
  local want=$1; shift
  "$@"; local got=$?
  [ "$got" = "$want" ] && return 0
  local out
  out=$(readlink "/proc/$BASHPID/fd/1" 2>/dev/null)
  if [ -f "$out" ]; then
    fail_with "'$*' exited $got, wanted $want" "$out"
  else
    fail_with "'$*' exited $got, wanted $want"
  fi
}
start_cloud() { # extra armlocal flags; sets url and pid (up to 30 s: slow under ASan)
  rm -f cloud.url
  "$ARMLOCAL" --listen 127.0.0.1:0 "${cloud_flags[@]}" "$@" > cloud.url 2> cloud.err {e2e_stderr}>&- &
  pid=$!
  for _ in $(seq 300); do [ -s cloud.url ] && break; sleep 0.1; done
  url=$(head -n 1 cloud.url)
  [ -n "$url" ] || fail "armlocal did not start"
}
stop_cloud() { kill "$pid"; wait "$pid" 2>/dev/null; pid=""; }
