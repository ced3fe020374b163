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
# blob backend needs Azurite, installed by npm from tests/azurite once per source tree
# (tests/tools/npm_install.sh, as tests/sh/state_settings.sh does).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SRC=${SRC:-$(cd "$here/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
export AMLSEC=${AMLSEC:-$BUILD/amlsec} ARMLOCAL=${ARMLOCAL:-$BUILD/amlsec-armlocal}
export SOAK_CHECK=${SOAK_CHECK:-$BUILD/tests/soak_check}
source "$here/lib.bash"
source "$SRC/tests/sh/lib/azurite.bash"

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
  local date sig
  azurite_start "$work/azurite" || return 1
  az_pid=$AZ_PID
  blob_url=$AZ_URL
  # Create Container, signed with the development key (Shared Key, path-style resource)
  date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
  sig=$(printf 'PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:2021-12-02\n/devstoreaccount1/devstoreaccount1/tfstate\nrestype:container' "$date" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(base64 -d <<< "$DEV_KEY" | od -An -tx1 | tr -d ' \n')" -binary |
    base64)
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "x-ms-date: $date" -H 'x-ms-version: 2021-12-02' \
    -H "Authorization: SharedKey devstoreaccount1:$sig" -H 'Content-Length: 0' \
    "$blob_url/tfstate?restype=container")" = 201 ]
}

MODS=6
# the ARM id the plaintext state (state pull) records for address, or nothing
state_id() { jq -r --arg a "$1" '.state.resources[] | select(.address == $a) | .arm_id' state.json; }
# did run$1.out's command, which exited $2, fail by naming the lock's holder?
refused() { [ "$2" = 1 ] && grep -q "is locked by .* (pid [0-9]*) for '[a-z ]*' since .*, lock id " "run$1.out"; }

# Round 2: state mv and state rm of module instances (with and without -lock-timeout), an import
# and two targeted applies, all at once. Each instance ends where the command that succeeded put
# it, with its ARM id (moved, removed, or left by a refused one); the import and the applies are
# in the state; nothing else changed, and the cloud matches (the module's group, whose removed
# instances the state forgets on purpose, left out).
round_modules() {
  local i rc id want imp_id
  timeout 120 "$AMLSEC" apply -auto-approve -target module.team -target role_assignment.imp \
    -cloud "$SOAK_URL" -no-color > setup2.out 2>&1 || { ok=0; bad+="round 2 setup apply failed; "; return; }
  "$AMLSEC" state pull > state.json 2> pull.err || { ok=0; bad+="state pull: $(head -n 1 pull.err); "; return; }
  imp_id=$(state_id role_assignment.imp)
  declare -A before=()
  for ((i = 0; i < MODS; i++)); do before[$i]=$(state_id "module.team[$i].role_assignment.r"); done
  "$AMLSEC" state rm role_assignment.imp > rm-imp.out 2>&1 || { ok=0; bad+="state rm imp failed; "; return; }
  pids=()
  for ((i = 0; i < MODS; i++)); do
    case $((i % 3)) in
      0) timeout 300 "$AMLSEC" state mv -lock-timeout 120s "module.team[$i]" "module.crew[$i]" > "run$i.out" 2>&1 & ;;
      1) timeout 300 "$AMLSEC" state rm -lock-timeout 120s "module.team[$i]" > "run$i.out" 2>&1 & ;;
      2) timeout 300 "$AMLSEC" state mv "module.team[$i]" "module.crew[$i]" > "run$i.out" 2>&1 & ;;
    esac
    pids[i]=$!
  done
  timeout 300 "$AMLSEC" import -lock-timeout 120s -cloud "$SOAK_URL" -no-color role_assignment.imp "$imp_id" > run-imp.out 2>&1 &
  pids[MODS]=$!
  timeout 300 "$AMLSEC" apply -auto-approve -lock-timeout 120s -target role_assignment.u0 -cloud "$SOAK_URL" -no-color > run-u0.out 2>&1 &
  pids[MODS + 1]=$!
  timeout 300 "$AMLSEC" apply -auto-approve -lock-timeout 120s -target role_assignment.u1 -cloud "$SOAK_URL" -no-color > run-u1.out 2>&1 &
  pids[MODS + 2]=$!
  declare -A rcs=()
  for ((i = 0; i < MODS + 3; i++)); do wait "${pids[i]}"; rcs[$i]=$?; done
  pids=()
  "$AMLSEC" state pull > state.json 2> pull.err || { ok=0; bad+="round 2: state pull: $(head -n 1 pull.err); "; return; }
  for ((i = 0; i < MODS; i++)); do
    rc=${rcs[$i]}
    [ -n "${before[$i]}" ] || { ok=0; bad+="round 2: module.team[$i] was not applied; "; continue; }
    if [ "$rc" != 0 ]; then
      if [ $((i % 3)) = 2 ] && refused "$i" "$rc"; then want=team; refused2=$((refused2 + 1))
      else ok=0; bad+="round 2: command $i exited $rc: $(grep -m 1 error "run$i.out"); "; continue; fi
    elif [ $((i % 3)) = 1 ]; then want=none
    else want=crew; fi
    for m in team crew; do
      id=$(state_id "module.$m[$i].role_assignment.r")
      if [ "$m" = "$want" ]; then
        [ "$id" = "${before[$i]}" ] || { ok=0; bad+="round 2: module.$m[$i] holds '$id', not ${before[$i]}; "; }
      else
        [ -z "$id" ] || { ok=0; bad+="round 2: module.$m[$i] is still in the state (wanted in $want); "; }
      fi
    done
  done
  [ "${rcs[$MODS]}" = 0 ] && [ "$(state_id role_assignment.imp)" = "$imp_id" ] \
    || { ok=0; bad+="round 2: the import exited ${rcs[$MODS]}, state holds '$(state_id role_assignment.imp)'; "; }
  printf 'role_assignment.imp\t%s\n' "$imp_id" >> expect.tsv
  for u in 0 1; do
    id=$(state_id "role_assignment.u$u")
    [ "${rcs[$((MODS + 1 + u))]}" = 0 ] && [ -n "$id" ] \
      || { ok=0; bad+="round 2: apply of role_assignment.u$u exited ${rcs[$((MODS + 1 + u))]}: $(grep -m 1 error "run-u$u.out"); "; continue; }
    printf 'role_assignment.u%d\t%s\n' "$u" "$id" >> expect.tsv
  done
  counts2=$(soak_compare apply expect.tsv "/subscriptions/$SOAK_SUB/resourceGroups/rg-concurrency-mod")
  [ $? = 0 ] || { ok=0; bad+="round 2: cloud and state differ: $counts2 $(head -n 3 check.err | tr '\n' ' '); "; }
}

# Round 3: moved and import blocks, carried out by applies started at once (three waiting for
# the lock, one not), with the module's instances no longer declared: a move or an import happens once; the state converges (the next plan has
# no changes), each block's address holds its ARM id, and the cloud matches.
round_moved() {
  local i rc old_id plan_rc
  "$AMLSEC" state pull > state.json 2> pull.err || { ok=0; bad+="round 3: state pull: $(head -n 1 pull.err); "; return; }
  old_id=$(state_id role_assignment.u0)
  imp_id=$(state_id role_assignment.u1)
  "$AMLSEC" state rm role_assignment.u1 > rm-u1.out 2>&1 || { ok=0; bad+="round 3: state rm u1 failed; "; return; }
  # the module's instances round 2 moved, removed or left: none declared now (those the state
  # holds are destroyed; those it forgot stay in the module's group, left out of the comparison)
  sed -i -e 's/^role_assignment "u0" {/role_assignment "v0" {/' -e "s/^  count  = $MODS\$/  count  = 0/" main.amlsec
  printf 'moved {\n  from = role_assignment.u0\n  to   = role_assignment.v0\n}\n\nimport {\n  to = role_assignment.u1\n  id = "%s"\n}\n' "$imp_id" >> main.amlsec
  pids=()
  for ((i = 0; i < 4; i++)); do
    if [ "$i" = 3 ]; then
      timeout 300 "$AMLSEC" apply -auto-approve -cloud "$SOAK_URL" -no-color > "run$i.out" 2>&1 &
    else
      timeout 300 "$AMLSEC" apply -auto-approve -lock-timeout 120s -cloud "$SOAK_URL" -no-color > "run$i.out" 2>&1 &
    fi
    pids[i]=$!
  done
  for ((i = 0; i < 4; i++)); do
    wait "${pids[i]}"; rc=$?
    [ "$rc" = 0 ] || { [ "$i" = 3 ] && refused "$i" "$rc"; } || { ok=0; bad+="round 3: apply $i exited $rc: $(grep -m 1 error "run$i.out"); "; }
  done
  pids=()
  grep -h -c 'has moved to' run[0-3].out | paste -sd+ | bc > moves.count
  [ "$(cat moves.count)" -ge 1 ] || { ok=0; bad+="round 3: no apply carried out the move; "; }
  timeout 120 "$AMLSEC" plan -detailed-exitcode -cloud "$SOAK_URL" -no-color > plan3.out 2>&1
  plan_rc=$?
  [ "$plan_rc" = 0 ] || { ok=0; bad+="round 3: the next plan exited $plan_rc: $(grep -m 3 -E 'will be|must be|Plan:' plan3.out | tr '\n' ' '); "; }
  "$AMLSEC" state pull > state.json 2> pull.err || { ok=0; bad+="round 3: state pull: $(head -n 1 pull.err); "; return; }
  [ "$(state_id role_assignment.v0)" = "$old_id" ] && [ -z "$(state_id role_assignment.u0)" ] \
    || { ok=0; bad+="round 3: role_assignment.v0 holds '$(state_id role_assignment.v0)', not $old_id; "; }
  [ "$(state_id role_assignment.u1)" = "$imp_id" ] \
    || { ok=0; bad+="round 3: role_assignment.u1 holds '$(state_id role_assignment.u1)', not $imp_id; "; }
  # every instance now declared is in the state: the expectations are the state's, checked
  # against the cloud (what the module's group held before is left out, as in round 2)
  jq -r '.state.resources[] | [.address, .arm_id] | @tsv' state.json > expect3.tsv
  counts3=$(soak_compare apply expect3.tsv "/subscriptions/$SOAK_SUB/resourceGroups/rg-concurrency-mod")
  [ $? = 0 ] || { ok=0; bad+="round 3: cloud and state differ: $counts3 $(head -n 3 check.err | tr '\n' ' '); "; }
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
  # round 2's: a module of role assignments (on their own group), two more assignments and
  # one to import
  mkdir -p modules/ra
  cat > modules/ra/main.amlsec <<'MOD'
variable "idx" {
  type = number
}

variable "scope" {}

role_assignment "r" {
  principal      = "3f2504e0-4f89-11d3-9a0c-0305e82f000${var.idx}"
  principal_type = "Group"
  role           = "Reader"
  scope          = var.scope
}
MOD
  cat >> main.amlsec <<CFG
resource_group "m" {
  name = "rg-concurrency-mod"
}

module "team" {
  count  = $MODS
  source = "./modules/ra"
  idx    = count.index
  scope  = resource_group.m
}

CFG
  for r in u0:9000 u1:9001 imp:9002; do
    printf 'role_assignment "%s" {\n  principal      = "3f2504e0-4f89-11d3-9a0c-0305e82e%s"\n  principal_type = "Group"\n  role           = "Reader"\n  scope          = resource_group.g\n}\n\n' "${r%:*}" "${r#*:}" >> main.amlsec
  done
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
  ok=1 applied=0 waited_ok=0 refused=0 planned=0 bad="" refused2=0 counts2="" counts3=""
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
  [ "$ok" = 1 ] && round_modules
  [ "$ok" = 1 ] && round_moved
  soak_cloud_stop
  summary="$runs runs in ${wall} ms: $applied applies succeeded ($waited_ok waited for the lock),"
  summary+=" $refused refused naming the holder, $planned plans; $(wc -l < final.list) instances in the final state; $counts"
  summary+="; round 2 (state mv/rm of $MODS module instances, import, 2 applies): $refused2 refused, ${counts2:-}"
  summary+="; round 3 (moved and import blocks, 4 applies): ${counts3:-}"
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
