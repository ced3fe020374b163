#!/usr/bin/env bash
# Apply's progress lines and Ctrl-C handling against a standalone local cloud whose operations
# are made slow through PUT /_armlocal/settings {lroMs}:
#   1. one line per event (Creating..., Creation complete after Ns [id=...]); a failure is
#      summed up at the end with ARM's code, its dependents are skipped and independent work
#      completes;
#   2. on a terminal (script(1) gives a pty): "Still creating... [10s elapsed]"; the same apply
#      not on a terminal prints no periodic lines;
#   3. first SIGINT: nothing new starts, the operation in flight finishes and lands in the state,
#      exit 1; a re-run converges;
#   4. SIGTERM twice: the operation in flight is abandoned with its journal intent kept, exit 1;
#      the next plan reconciles it and apply converges.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
pid2=""
apid=""
cleanup() {
  [ -n "$apid" ] && kill -9 "$apid" 2>/dev/null
  [ -n "$pid2" ] && kill "$pid2" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
lro() { # milliseconds every operation of the local cloud takes from now on
  curl -sf -X PUT -H 'Content-Type: application/json' -d "{\"lroMs\":$1}" \
    "$url/_armlocal/settings" > /dev/null || fail "cannot set lroMs"
}
wait_for() { # file, pattern: up to 30 s
  for _ in $(seq 300); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  fail "'$2' never appeared in $1"
}
fresh() { stop_cloud; rm -rf .amlsec; start_cloud "$@"; }
slow_apply() { # out, lroMs: an apply on a fresh cloud, in the background until the LRO is in flight
  fresh
  lro "$2"
  "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > "$1" 2>&1 &
  apid=$!
  wait_for "$1" '^storage_account.s: Creating\.\.\.$'
}
converge() { # prefix: plan (changes left), apply, plan (none left) into PREFIX2-4.out
  lro 0
  expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > "$1"2.out 2>&1
  expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > "$1"3.out 2>&1
  expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > "$1"4.out 2>&1
}

# a resource group, a storage account (an LRO) with a lock on it, and Application Insights
cat > main.amlsec <<'EOF'
settings {
  subscription = "00000000-0000-0000-0000-0000000000a7"
  tenant       = "00000000-0000-0000-0000-00000000a11c"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-progress"
}

storage_account "s" {
  resource_group           = resource_group.g
  name                     = "stprogress001"
  allow_blob_public_access = false
  public_network_access    = false
  lifecycle {
    ignore_rules = { "ST-SERVICE-ENDPOINT" = "test estate" }
  }
}

lock "l" {
  target = storage_account.s
  level  = "CanNotDelete"
  notes  = "test"
}

app_insights "a" {
  resource_group = resource_group.g
  name           = "appi-progress"
}
EOF

echo "1. not a terminal: one line per event; a failure is summed up with ARM's code"
start_cloud --faults 'kind=lro-failed,method=PUT,path=*/storageAccounts/stprogress001,times=1'
lro 1500
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > p1.out 2> p1.err
cat p1.err >> p1.out
grep -q '^storage_account.s: Creating\.\.\.$' p1.out || fail "no start line"
grep -q '^app_insights.a: Creation complete after [0-9]*s \[id=/subscriptions/.*/components/appi-progress\]$' p1.out \
  || fail "no completion line with the id"
grep -q '^storage_account.s: Creating failed after [0-9]*s: InternalOperationError: ' p1.out \
  || fail "no failure line"
grep -q '^lock.l: skipped: storage_account.s did not complete$' p1.out || fail "the dependent was not skipped"
grep -q '^amlsec: error: storage_account.s: Creating failed: InternalOperationError: ' p1.err \
  || fail "the failure is not summed up at the end with its ARM code"
grep -q 'apply incomplete: 2 done, 1 failed, 1 skipped, 0 not started' p1.err || fail "wrong counts"
lro 0
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > p2.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > p3.out 2>&1

echo "2. on a terminal: Still creating... every 10 s; not on a terminal: none"
fresh
lro 11500
# the same apply, not on a terminal, against a second local cloud at the same time
mkdir nt && cp main.amlsec nt/
(cd nt && exec "$ARMLOCAL" --listen 127.0.0.1:0 --lro-ms 11500 > cloud.url 2> cloud.err) &
pid2=$!
for _ in $(seq 300); do [ -s nt/cloud.url ] && break; sleep 0.1; done
url2=$(head -n 1 nt/cloud.url)
[ -n "$url2" ] || fail "the second armlocal did not start"
(cd nt && "$AMLSEC" apply -cloud "$url2" -auto-approve -no-color -target storage_account.s > ../nt.out 2>&1) &
apid=$!
script -qefc "'$AMLSEC' apply -cloud '$url' -auto-approve -target storage_account.s" /dev/null \
  > t1.out 2>&1 || fail "apply under a pty failed"
wait "$apid"; rc=$?; apid=""
kill "$pid2"; wait "$pid2" 2>/dev/null; pid2=""
[ "$rc" = 0 ] || fail "apply not on a terminal exited $rc"
grep -q 'storage_account.s: Still creating\.\.\. \[10s elapsed\]' t1.out || fail "no Still creating line"
grep -q 'storage_account.s: Creation complete after 1[1-9]s' t1.out || fail "no completion after 11s+"
grep -q '^storage_account.s: Creation complete after 1[1-9]s' nt.out || fail "no completion (not a terminal)"
grep -q 'Still creating' nt.out && fail "periodic progress lines when not on a terminal"

echo "3. first SIGINT: the operation in flight finishes, nothing new starts"
slow_apply i1.out 3000
kill -INT "$apid"
wait "$apid"; rc=$?; apid=""
[ "$rc" = 1 ] || fail "interrupted apply exited $rc, wanted 1"
grep -q 'Interrupt received: starting no new operations; waiting for the [0-9]* in flight to finish' i1.out \
  || fail "no interrupt message"
grep -q '^storage_account.s: Creation complete after' i1.out || fail "the operation in flight did not finish"
grep -q '^lock.l: Creating' i1.out && fail "a new operation started after the interrupt"
grep -q 'not started (interrupted)' i1.out || fail "no incomplete summary"
grep -q '"address": *"storage_account.s"\|"address":"storage_account.s"' .amlsec/state.json \
  || fail "the finished operation is not in the state"
[ -s .amlsec/state.json.journal ] && fail "a clean interrupt left the journal behind"
converge i
grep -q 'recovered' i2.out && fail "a clean interrupt left journal entries"
grep -q 'Plan: 1 to add, 0 to change, 0 to destroy' i2.out || fail "the re-plan is not just the lock"

echo "4. SIGTERM twice: the operation in flight is abandoned, the journal keeps it"
slow_apply a1.out 4000
kill -TERM "$apid"
wait_for a1.out 'Interrupt received'
kill -TERM "$apid"
wait "$apid"; rc=$?; apid=""
[ "$rc" = 1 ] || fail "abandoned apply exited $rc, wanted 1"
grep -q 'Second interrupt: abandoning the operations in flight' a1.out || fail "no abandon message"
grep -q '^storage_account.s: Creation complete' a1.out && fail "the abandoned operation was waited for"
grep -q '1 abandoned in flight (the journal keeps them)' a1.out || fail "no abandoned count"
[ -s .amlsec/state.json.journal ] || fail "the abandoned intent is not in the journal"
sleep 4.5 # the local cloud finishes the operation the client abandoned
converge a
grep -q 'recovered 1 in-flight operation from an interrupted apply' a2.out || fail "no recovery"
grep -q 'create storage_account.s: ' a2.out || fail "the recovered operation is not named"
echo "all apply progress and interrupt scenarios passed"
