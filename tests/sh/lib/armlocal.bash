# Shared helpers for the armlocal_*.sh scenarios (sourced, not a test).
# armlocal_start ARGS...: starts $ARMLOCAL in the background, sets B (base
# URL) and AL_PID; the EXIT trap stops it.
set -euo pipefail
: "${ARMLOCAL:?ARMLOCAL must name the amlsec-armlocal binary}"
TMP=$(mktemp -d)
AL_PID=""
cleanup() {
  local rc=$?
  if [ -n "$AL_PID" ]; then
    kill "$AL_PID" 2>/dev/null || true
    if ! wait "$AL_PID"; then echo "armlocal exited with an error:"; cat "$TMP/armlocal.err"; rc=1; fi
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT

armlocal_start() {
  local out="$TMP/armlocal.out.$RANDOM"
  "$ARMLOCAL" "$@" >"$out" 2>"$TMP/armlocal.err" &
  AL_PID=$!
  # up to 30 s: an ASan build on a loaded machine starts slowly; a server
  # that died is reported at once
  for _ in $(seq 1 600); do
    if [ -s "$out" ]; then break; fi
    kill -0 "$AL_PID" 2>/dev/null || break
    sleep 0.05
  done
  B=$(head -1 "$out")
  [ -n "$B" ] || { echo "armlocal did not start:"; cat "$TMP/armlocal.err"; exit 1; }
}

# Stops the server; it must exit 0 (under ASan a leak or error makes it fail).
armlocal_stop() {
  local rc=0
  kill "$AL_PID"; wait "$AL_PID" || rc=$?
  AL_PID=""
  if [ "$rc" != 0 ]; then echo "armlocal exited with $rc:"; cat "$TMP/armlocal.err"; exit 1; fi
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# req METHOD PATH [BODY]: sets CODE and BODY (response) and HDRS (headers file)
req() {
  local method=$1 path=$2 data=${3-}
  HDRS="$TMP/h"
  if [ -n "$data" ]; then
    BODY=$(curl -sS -o - -D "$HDRS" -w '\n%{http_code}' -X "$method" "$B$path" \
      -H 'Content-Type: application/json' --data-binary "$data")
  else
    BODY=$(curl -sS -o - -D "$HDRS" -w '\n%{http_code}' -X "$method" "$B$path")
  fi
  CODE=${BODY##*$'\n'}
  BODY=${BODY%$'\n'*}
}

# graph_window [URL]: a fresh Resource Graph quota window on the local cloud (default $B), as if
# the 5 s window had passed. The cloud refuses a principal's 16th query within 5 s, as Azure does,
# and amlsec waits the window out; a scenario that runs commands back to back (each reading
# through Graph) would wait about 5 s before every other one. Within each command the quota still
# applies. Not for tests of the quota itself (armlocal_graph_quota, drift_graph_reads).
graph_window() {
  curl -sf -o /dev/null -X PUT -H 'Content-Type: application/json' -d '{"graphQuota":"on"}' \
    "${1:-$B}/_armlocal/settings" || fail "cannot start a fresh Resource Graph quota window"
}

expect_code() { [ "$CODE" = "$1" ] || fail "$2: expected HTTP $1, got $CODE: $BODY"; }
expect_body() { grep -q -- "$1" <<<"$BODY" || fail "$2: body lacks '$1': $BODY"; }
header() { grep -i "^$1:" "$HDRS" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
