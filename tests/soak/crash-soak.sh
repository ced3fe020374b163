#!/usr/bin/env bash
# Crash soak (issue 12): SIGKILL amlsec at seeded random moments of apply, destroy and key
# rotation (apply -replace key.kN) against a local cloud with 200-1000 ms operations, sometimes
# again during the first re-run; then re-run (at most twice) until `plan -detailed-exitcode`
# (`plan -destroy -detailed-exitcode` after a destroy) exits 0, and compare everything the cloud
# holds with the state (tests/soak/soak_check.c).
#
# Usage: crash-soak.sh [-n TRIALS] [-s SEED] [-r RESOURCES] [-d SECONDS] [-k DIR]
#   -n  trials (default 20); -s  first seed (default 1; trial i uses seed+i)
#   -r  resources in the generated configuration (default 50)
#   -d  stop starting trials after this many seconds (default: no limit)
#   -k  keep the directories of failed trials under DIR (default: removed)
# Environment: AMLSEC, ARMLOCAL, SOAK_CHECK (default: BUILD/amlsec, ...; BUILD default ./build).
# Prints one line per trial and the totals; exits 0 when every trial passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../../build}
export AMLSEC=${AMLSEC:-$BUILD/amlsec} ARMLOCAL=${ARMLOCAL:-$BUILD/amlsec-armlocal}
export SOAK_CHECK=${SOAK_CHECK:-$BUILD/tests/soak_check}
source "$here/lib.bash"

trials=20 seed=1 nres=50 budget=0 keep=""
while getopts "n:s:r:d:k:" o; do
  case $o in
    n) trials=$OPTARG ;; s) seed=$OPTARG ;; r) nres=$OPTARG ;; d) budget=$OPTARG ;;
    k) keep=$OPTARG ;;
    *) echo "usage: $0 [-n TRIALS] [-s SEED] [-r RESOURCES] [-d SECONDS] [-k DIR]" >&2; exit 64 ;;
  esac
done

work=$(mktemp -d)
apid=""
cleanup() {
  [ -n "$apid" ] && kill -9 "$apid" 2> /dev/null
  soak_cloud_stop
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
mkdir ref
soak_config ref "$nres"
nconf=$(grep -c '^[a-z_]* "' ref/main.amlsec)
run() { # amlsec ARGS... in the current directory, bounded; output appended to run.log
  echo "== $*" >> run.log
  timeout 180 "$AMLSEC" "$@" -cloud "$SOAK_URL" -no-color >> run.log 2>&1
}

# The reference: a clean apply, timed; its state names every configured resource's id, and the
# cloud and state it leaves are the snapshot that destroy and rotation trials start from. The
# cloud keeps one port for the whole run, because the store holds URLs with it (vault URIs).
cd ref || exit 1
soak_cloud_start . 0 --seed "$seed" || { echo "harness: armlocal did not start"; exit 1; }
port=${SOAK_URL##*:}
soak_seed_network || { echo "harness: cannot seed the network"; exit 1; }
t0=$(now_ms)
run apply -auto-approve || { echo "harness: the reference apply failed:"; tail -n 20 run.log; exit 1; }
t_apply=$(($(now_ms) - t0))
soak_expect > ../expect.tsv
[ "$(wc -l < ../expect.tsv)" -ge "$nres" ] || { echo "harness: the reference state is short"; exit 1; }
soak_cloud_stop
mkdir ../snap && cp cloud/armlocal.json ../snap/ && cp .amlsec/state.json ../snap/
cd .. || exit 1
keys=$(grep -c '^key "' ref/main.amlsec)

# trial_dir OP: a fresh directory with the configuration, and the snapshot unless OP is apply
trial_dir() {
  rm -rf t && mkdir -p t/cloud t/.amlsec && cp ref/main.amlsec t/
  if [ "$1" != apply ]; then
    cp snap/armlocal.json t/cloud/ && cp snap/state.json t/.amlsec/
  fi
  cd t || return 1
  local tries
  for tries in 1 2 3 4 5; do
    soak_cloud_start . "$port" --seed "$2" && break
    sleep 0.5
  done
  [ -n "$SOAK_URL" ] || return 1
  [ "$1" != apply ] || soak_seed_network
}

# The durations of a destroy and a rotation, from the snapshot, uninterrupted: the range the
# kills are drawn from, and a check that each converges when nobody kills it.
declare -A dur=([apply]=$t_apply)
for op in destroy replace; do
  trial_dir "$op" "$seed" || { echo "harness: armlocal did not start on port $port"; exit 1; }
  if [ "$op" = destroy ]; then args=(destroy -auto-approve); else args=(apply -auto-approve -replace key.k0); fi
  t0=$(now_ms)
  run "${args[@]}" || { echo "harness: the reference $op failed:"; tail -n 20 run.log; exit 1; }
  dur[$op]=$(($(now_ms) - t0))
  soak_cloud_stop
  cd .. || exit 1
done
echo "crash soak: $nconf configured resources ($(wc -l < expect.tsv) instances), seed $seed;" \
  "uninterrupted apply ${dur[apply]} ms, destroy ${dur[destroy]} ms, rotation ${dur[replace]} ms"

passed=0 failed=0 harness=0 interrupted=0 rekilled=0 reruns_total=0
untracked=0 lost=0 phantom=0 duplicated=0 remaining=0 journal=0 notcreated=0 nonconverged=0
declare -A byop_pass=() byop_fail=()
started=$(date +%s)
for ((t = 0; t < trials; t++)); do
  if [ "$budget" -gt 0 ] && [ $(($(date +%s) - started)) -ge "$budget" ]; then
    echo "time budget of ${budget}s spent after $t trials"
    break
  fi
  s=$((seed + t))
  RANDOM=$s
  case $((RANDOM % 3)) in
    0) op=apply args=(apply -auto-approve) mode=apply check=(plan -detailed-exitcode) ;;
    1) op=destroy args=(destroy -auto-approve) mode=destroy check=(plan -destroy -detailed-exitcode) ;;
    2) op=replace args=(apply -auto-approve -replace "key.k$((RANDOM % keys))") mode=apply
       check=(plan -detailed-exitcode) ;;
  esac
  kill_at=$((RANDOM % (dur[$op] + 1)))
  rekill_at=-1
  [ $((RANDOM % 10)) -lt 3 ] && rekill_at=$((RANDOM % (dur[$op] + 1)))
  if ! trial_dir "$op" "$s"; then
    echo "trial $t seed $s: harness error: armlocal did not start on port $port"
    harness=$((harness + 1))
    cd "$work" || exit 1
    continue
  fi
  # the kill: in the middle of the run, or (rarely) after it ended by itself
  "$AMLSEC" "${args[@]}" -cloud "$SOAK_URL" -no-color > kill1.log 2>&1 &
  apid=$!
  ms_sleep "$kill_at"
  how="killed at ${kill_at}ms"
  if kill -0 "$apid" 2> /dev/null; then
    kill -9 "$apid" 2> /dev/null
    interrupted=$((interrupted + 1))
  else
    how="finished before ${kill_at}ms"
  fi
  wait "$apid" 2> /dev/null
  apid=""
  if [ "$rekill_at" -ge 0 ]; then
    "$AMLSEC" "${args[@]}" -cloud "$SOAK_URL" -no-color > kill2.log 2>&1 &
    apid=$!
    ms_sleep "$rekill_at"
    kill -9 "$apid" 2> /dev/null && { how+=", re-run killed at ${rekill_at}ms"; rekilled=$((rekilled + 1)); }
    wait "$apid" 2> /dev/null
    apid=""
  fi
  # at most two re-runs until the plan is empty
  converged=0 reruns=0 errors=""
  for r in 1 2; do
    reruns=$r
    run "${args[@]}" || errors+="re-run $r exited $?; "
    if run "${check[@]}"; then converged=1; break; fi
  done
  reruns_total=$((reruns_total + reruns))
  counts=$(soak_compare "$mode" ../expect.tsv)
  crc=$?
  soak_cloud_stop
  if [ "$crc" -ge 2 ]; then
    echo "trial $t seed $s $op $how: harness error: $counts"
    harness=$((harness + 1))
    [ -z "$keep" ] || { mkdir -p "$keep" && cp -r "$work/t" "$keep/trial-$t-seed-$s"; }
    cd "$work" || exit 1
    continue
  fi
  for k in untracked lost phantom duplicated remaining journal; do
    v=$(sed -n "s/.*$k=\([0-9]*\).*/\1/p" <<< "$counts")
    v=${v:-0}
    # an apply that did not converge has not created everything yet: not lost
    [ "$k" = lost ] && [ "$converged" = 0 ] && k=notcreated
    eval "$k=\$(($k + v))"
  done
  [ "$converged" = 1 ] || nonconverged=$((nonconverged + 1))
  if [ "$crc" = 0 ] && [ "$converged" = 1 ]; then
    passed=$((passed + 1))
    byop_pass[$op]=$((${byop_pass[$op]:-0} + 1))
    echo "trial $t seed $s $op $how: ok after $reruns re-run(s)"
  else
    failed=$((failed + 1))
    byop_fail[$op]=$((${byop_fail[$op]:-0} + 1))
    [ "$converged" = 1 ] || counts+=" non-converged"
    echo "trial $t seed $s $op $how: FAIL $counts; ${errors}"
    sed 's/^/    /' check.err | head -n 8
    grep -h 'error' run.log | sort -u | head -n 4 | sed 's/^/    run.log: /'
    if [ -n "$keep" ]; then
      mkdir -p "$keep" && cp -r "$work/t" "$keep/trial-$t-seed-$s"
    fi
  fi
  cd "$work" || exit 1
done

echo "crash soak totals: $((passed + failed)) trials ($interrupted killed mid-run, $rekilled re-runs killed too," \
  "$reruns_total re-runs): untracked=$untracked lost=$lost phantom=$phantom duplicated=$duplicated" \
  "remaining=$remaining journal=$journal non-converged=$nonconverged (not created yet: $notcreated) harness-errors=$harness"
for op in apply destroy replace; do
  echo "  $op: ${byop_pass[$op]:-0} passed, ${byop_fail[$op]:-0} failed"
done
echo "$passed passed, $((failed + harness)) failed"
[ "$failed" = 0 ] && [ "$harness" = 0 ]
