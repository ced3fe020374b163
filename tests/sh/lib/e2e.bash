# Shared helpers for the end-to-end scenarios that drive amlsec against a standalone local cloud
# (sourced, not a test). The caller works in its own directory, sets cloud_flags (an array of
# amlsec-armlocal flags every start_cloud passes) and stops $pid on exit.
: "${AMLSEC:?}" "${ARMLOCAL:?}"
pid=""
cloud_flags=()

fail() { echo "FAIL: $*"; cat cloud.err 2>/dev/null; for f in *.out; do echo "--- $f"; tail -n 40 "$f"; done; exit 1; }
expect_exit() { # want, then the command
  local want=$1; shift
  "$@"; local got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, wanted $want"
}
start_cloud() { # extra armlocal flags; sets url and pid (up to 30 s: slow under ASan)
  rm -f cloud.url
  "$ARMLOCAL" --listen 127.0.0.1:0 "${cloud_flags[@]}" "$@" > cloud.url 2> cloud.err &
  pid=$!
  for _ in $(seq 300); do [ -s cloud.url ] && break; sleep 0.1; done
  url=$(head -n 1 cloud.url)
  [ -n "$url" ] || fail "armlocal did not start"
}
stop_cloud() { kill "$pid"; wait "$pid" 2>/dev/null; pid=""; }
