#!/usr/bin/env bash
# Concurrency (issue 12): RUNS amlsec processes started at once on one state, on the local
# backend and on the Azure Blob backend (Azurite, shared key): applies that each add their own
# role assignment (-target), plans, and every fifth apply without -lock-timeout. One writer at a
# time: the runs with -lock-timeout wait and succeed; the others succeed or fail naming the
# holder; the final state is valid and holds every change whose apply succeeded (no lost
# update), and matches the cloud (tests/soak/soak_check.c).
#
# Usage: concurrency.sh [-n RUNS] [-b local|blob|both] [-s SEED]   (default 20, both, 1)
# Environment: AMLSEC, ARMLOCAL, SOAK_CHECK (default: BUILD/...; BUILD default ./build); the
# blob backend needs Azurite, installed by npm from tests/azurite into BUILD/tests/azurite (as
# tests/sh/state_settings.sh does).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SRC=${SRC:-$(cd "$here/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
export AMLSEC=${AMLSEC:-$BUILD/amlsec} ARMLOCAL=${ARMLOCAL:-$BUILD/amlsec-armlocal}
export SOAK_CHECK=${SOAK_CHECK:-$BUILD/tests/soak_check}
source "$here/lib.bash"

runs=20 backends=both seed=1
while getopts "n:b:s:" o; do
  case $o in
    n) runs=$OPTARG ;; b) backends=$OPTARG ;; s) seed=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS] [-b local|blob|both] [-s SEED]" >&2; exit 64 ;;
  esac
done
[ "$backends" = both ] && backends="local blob"

work=$(mktemp -d)
az_pid=""
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
  soak_cloud_stop
  [ -n "$az_pid" ] && kill "$az_pid" 2> /dev/null && wait "$az_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

# Azurite's documented development account (not a secret).
DEV_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
start_azurite() { # sets blob_url
  local az_dir="$BUILD/tests/azurite" port date sig
  mkdir -p "$az_dir"
  (
    flock 9
    cd "$az_dir" || exit 1
    if ! cmp -s "$SRC/tests/azurite/package-lock.json" package-lock.json ||
      [ ! -x node_modules/.bin/azurite-blob ]; then
      cp "$SRC/tests/azurite/package.json" "$SRC/tests/azurite/package-lock.json" .
      npm ci --no-audit --no-fund --loglevel=error > npm.log 2>&1 || { cat npm.log; exit 1; }
    fi
  ) 9> "$az_dir/.install.lock" || return 1
  # a free port: armlocal's own pick, released
  soak_cloud_start "$work" 0 || return 1
  port=${SOAK_URL##*:}
  soak_cloud_stop
  mkdir -p "$work/azurite"
  (cd "$work/azurite" && exec "$az_dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
    --blobPort "$port" --location . --silent --disableTelemetry > ../azurite.log 2>&1) &
  az_pid=$!
  blob_url="http://127.0.0.1:$port/devstoreaccount1"
  for _ in $(seq 600); do
    curl -s -o /dev/null "$blob_url?comp=list" && break
    kill -0 "$az_pid" 2> /dev/null || return 1
    sleep 0.1
  done
  # Create Container, signed with the development key (Shared Key, path-style resource)
  date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
  sig=$(printf 'PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:2021-12-02\n/devstoreaccount1/devstoreaccount1/tfstate\nrestype:container' "$date" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(base64 -d <<< "$DEV_KEY" | od -An -tx1 | tr -d ' \n')" -binary |
    base64)
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "x-ms-date: $date" -H 'x-ms-version: 2021-12-02' \
    -H "Authorization: SharedKey devstoreaccount1:$sig" -H 'Content-Length: 0' \
    "$blob_url/tfstate?restype=container")" = 201 ]
}

total_failed=0 total_passed=0
for backend in $backends; do
  dir=$work/$backend
  mkdir -p "$dir" && cd "$dir" || exit 1
  unset AMLSEC_BACKEND AMLSEC_BLOB_URL AMLSEC_STORAGE_CONTAINER AMLSEC_STATE_BLOB ARM_ACCESS_KEY
  if [ "$backend" = blob ]; then
    if [ -z "$az_pid" ] && ! start_azurite; then
      echo "concurrency blob: FAIL: Azurite did not start"; tail -n 5 "$work/azurite.log" 2> /dev/null
      total_failed=$((total_failed + 1)); continue
    fi
    export AMLSEC_BACKEND=azurerm AMLSEC_BLOB_URL=$blob_url AMLSEC_STORAGE_CONTAINER=tfstate
    export AMLSEC_STATE_BLOB="concurrency-$seed.state" ARM_ACCESS_KEY=$DEV_KEY
    export AMLSEC_STATE_LEASE_SECONDS=15
  fi
  cat > main.amlsec <<CFG
settings {
  subscription = "$SOAK_SUB"
  tenant       = "00000000-0000-0000-0000-00000000a11c"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-concurrency"
}

CFG
  for ((i = 0; i < runs; i++)); do
    printf 'role_assignment "t%d" {\n  principal      = "3f2504e0-4f89-11d3-9a0c-0305e82e%04d"\n  principal_type = "Group"\n  role           = "Reader"\n  scope          = resource_group.g\n}\n\n' "$i" "$i" >> main.amlsec
  done
  # each role assignment answers after 300 ms, so every apply holds the lock a while
  SOAK_LRO="0,Microsoft.Authorization/roleAssignments=300" soak_cloud_start . 0 --seed "$seed" \
    || { echo "concurrency $backend: FAIL: armlocal did not start"; exit 1; }
  timeout 120 "$AMLSEC" apply -auto-approve -target resource_group.g -cloud "$SOAK_URL" -no-color > setup.out 2>&1 \
    || { echo "concurrency $backend: FAIL: setup apply"; tail -n 5 setup.out; total_failed=$((total_failed + 1)); continue; }
  t0=$(now_ms)
  pids=()
  kinds=()
  for ((i = 0; i < runs; i++)); do
    if [ $((i % 4)) = 3 ]; then
      kinds[i]=plan
      timeout 300 "$AMLSEC" plan -lock-timeout 120s -cloud "$SOAK_URL" -no-color > "run$i.out" 2>&1 &
    elif [ $((i % 5)) = 4 ]; then
      kinds[i]=nowait
      timeout 300 "$AMLSEC" apply -auto-approve -target "role_assignment.t$i" -cloud "$SOAK_URL" -no-color > "run$i.out" 2>&1 &
    else
      kinds[i]=apply
      timeout 300 "$AMLSEC" apply -auto-approve -target "role_assignment.t$i" -lock-timeout 120s \
        -cloud "$SOAK_URL" -no-color > "run$i.out" 2>&1 &
    fi
    pids[i]=$!
  done
  ok=1 applied=0 waited_ok=0 refused=0 planned=0 bad=""
  printf 'resource_group.g\t/subscriptions/%s/resourceGroups/rg-concurrency\n' "$SOAK_SUB" > expect.tsv
  for ((i = 0; i < runs; i++)); do
    wait "${pids[i]}"
    rc=$?
    case ${kinds[i]} in
      plan)
        if [ "$rc" = 0 ]; then planned=$((planned + 1)); else ok=0; bad+="plan $i exited $rc; "; fi ;;
      apply)
        if [ "$rc" = 0 ]; then applied=$((applied + 1)); waited_ok=$((waited_ok + 1))
        else ok=0; bad+="apply $i (-lock-timeout) exited $rc; "; fi ;;
      nowait)
        if [ "$rc" = 0 ]; then applied=$((applied + 1))
        elif [ "$rc" = 1 ] && grep -q "is locked by .* (pid [0-9]*) for '[a-z]*' since .*, lock id " "run$i.out"; then
          refused=$((refused + 1))
        else ok=0; bad+="apply $i (no wait) exited $rc without naming the holder; "; fi ;;
    esac
    if [ "${kinds[i]}" != plan ] && [ "$rc" = 0 ]; then
      printf 'role_assignment.t%d\t/subscriptions/%s/resourceGroups/rg-concurrency/providers/Microsoft.Authorization/roleAssignments/%s\n' \
        "$i" "$SOAK_SUB" "$(sed -n 's|.*roleAssignments/\([0-9a-f-]*\)\].*|\1|p' "run$i.out" | head -n 1)" >> expect.tsv
    fi
  done
  pids=()
  wall=$(($(now_ms) - t0))
  # the final state: readable, every successful apply's change in it, and it matches the cloud
  if ! "$AMLSEC" state list > final.list 2> final.err; then ok=0; bad+="the final state is unreadable: $(head -n 1 final.err); "; fi
  for ((i = 0; i < runs; i++)); do
    [ "${kinds[i]}" = plan ] && continue
    in_state=0
    grep -qx "role_assignment.t$i" final.list && in_state=1
    if grep -q "^role_assignment.t$i	" expect.tsv; then
      [ "$in_state" = 1 ] || { ok=0; bad+="lost update: role_assignment.t$i applied, not in the state; "; }
    else
      [ "$in_state" = 0 ] || { ok=0; bad+="role_assignment.t$i is in the state though its apply was refused; "; }
    fi
  done
  counts=$(soak_compare apply expect.tsv)
  [ $? = 0 ] || { ok=0; bad+="cloud and state differ: $counts $(head -n 3 check.err | tr '\n' ' '); "; }
  soak_cloud_stop
  summary="$runs runs in ${wall} ms: $applied applies succeeded ($waited_ok waited for the lock),"
  summary+=" $refused refused naming the holder, $planned plans; $(wc -l < final.list) instances in the final state; $counts"
  if [ "$ok" = 1 ]; then
    total_passed=$((total_passed + 1)); echo "concurrency $backend: ok: $summary"
    grep -h -m 1 'is locked by' run*.out | head -n 1 | sed 's/^/    e.g. /'
  else
    total_failed=$((total_failed + 1)); echo "concurrency $backend: FAIL: $summary; $bad"
  fi
  cd "$work" || exit 1
done
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
