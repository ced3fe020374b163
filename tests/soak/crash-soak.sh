#!/usr/bin/env bash
# Crash soak (issue 12): SIGKILL amlsec at seeded random moments of apply, destroy and key
# rotation (apply -replace key.kN) against a local cloud with 200-1000 ms operations, sometimes
# again during the first re-run; then re-run (at most twice) until `plan -detailed-exitcode`
# (`plan -destroy -detailed-exitcode` after a destroy) exits 0, and compare everything the cloud
# holds with the state (tests/soak/soak_check.c).
#
# With -f the configuration is that of the newer features (soak_config_features in lib.bash: a
# validation known only after apply, a create_before_destroy storage account, a module with
# for_each, a tag and an output beyond int64) and the runs killed are: apply, destroy, a renamed
# create-before-destroy replacement (apply -var gen=2), the module renamed by a moved block
# (apply -var mgen=2, which also updates every module instance), and the module renamed by
# `state mv 'module.team["tN"]' 'module.group["tN"]'` of each instance (run first, not killed)
# then applied the same way, and that apply killed with the module not yet renamed, the same
# state mv made after the kill (refused while the journal holds operations on an instance: then a
# plan recovers it and the move is made) and the renamed configuration applied (killmv).
#
# Usage: crash-soak.sh [-n TRIALS] [-s SEED] [-r RESOURCES] [-d SECONDS] [-k DIR] [-f]
#   -n  trials (default 20); -s  first seed (default 1; trial i uses seed+i)
#   -r  resources in the generated configuration (default 50)
#   -d  stop starting trials after this many seconds (default: no limit)
#   -k  keep the directories of failed trials under DIR (default: removed)
#   -f  the newer features' configuration and runs (above)
# Environment: AMLSEC, ARMLOCAL, SOAK_CHECK (default: BUILD/amlsec, ...; BUILD default ./build).
# Prints one line per trial and the totals; exits 0 when every trial passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../../build}
export AMLSEC=${AMLSEC:-$BUILD/amlsec} ARMLOCAL=${ARMLOCAL:-$BUILD/amlsec-armlocal}
export SOAK_CHECK=${SOAK_CHECK:-$BUILD/tests/soak_check}
source "$here/lib.bash"

trials=20 seed=1 nres=50 budget=0 keep="" features=0
while getopts "n:s:r:d:k:f" o; do
  case $o in
    n) trials=$OPTARG ;; s) seed=$OPTARG ;; r) nres=$OPTARG ;; d) budget=$OPTARG ;;
    k) keep=$OPTARG ;; f) features=1 ;;
    *) echo "usage: $0 [-n TRIALS] [-s SEED] [-r RESOURCES] [-d SECONDS] [-k DIR] [-f]" >&2; exit 64 ;;
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
if [ "$features" = 1 ]; then
  soak_config_features ref "$nres"
  soak_config_features ref/v-moved "$nres" moved
  soak_config_features ref/v-statemv "$nres" statemv
  ops=(apply destroy cbd moved statemv killmv)
else
  soak_config ref "$nres"
  ops=(apply destroy replace)
fi
nconf=$(grep -c '^[a-z_]* "' ref/main.amlsec)
run() { # amlsec ARGS... in the current directory, bounded; output appended to run.log
  echo "== $*" >> run.log
  timeout 180 "$AMLSEC" "$@" -cloud "$SOAK_URL" -no-color >> run.log 2>&1
}

# The reference: a clean apply, timed; its state names every configured resource's id, and the
# cloud and state it leaves are the snapshot that destroy and rotation trials start from. The
# cloud keeps one port for the whole run, because the store holds URLs with it (vault URIs).
cd ref || exit 1
soak_cloud_start_kept . --seed "$seed" || { echo "harness: armlocal did not start"; exit 1; }
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

# trial_dir OP: a fresh directory with the configuration (OP's variant, when it has one), and the
# snapshot unless OP is apply
trial_dir() {
  rm -rf t && mkdir -p t/cloud t/.amlsec && cp ref/main.amlsec t/
  [ -d ref/mod ] && cp -r ref/mod t/
  [ -d "ref/v-$1" ] && cp "ref/v-$1/main.amlsec" t/
  if [ "$1" != apply ]; then
    cp snap/armlocal.json t/cloud/ && cp snap/state.json t/.amlsec/
  fi
  cd t || return 1
  soak_cloud_start . "$port" --seed "$2" || return 1
  [ "$1" != apply ] || soak_seed_network
}

# the module's instance keys (-f): state mv moves a for_each module an instance at a time
mkeys=($(grep -o '"t[0-9]*"' ref/main.amlsec | tr -d '"'))
# pre_run: what a statemv trial runs first, not killed: state mv of each module instance
pre_run() {
  local k
  for k in "${mkeys[@]}"; do
    "$AMLSEC" state mv "module.team[\"$k\"]" "module.group[\"$k\"]" || return 1
  done
}

# post_mv: what a killmv trial runs after the kill: the same state mv, which is refused while the
# journal holds operations on an instance it moves (the recovery would fold them back in under the
# old address); then a plan recovers the journal and the move is made; then the configuration
# that names module.group
post_mv() {
  local k
  for k in "${mkeys[@]}"; do
    "$AMLSEC" state list "module.group[\"$k\"]" 2> /dev/null | grep -q . && continue # moved already
    "$AMLSEC" state mv "module.team[\"$k\"]" "module.group[\"$k\"]" > mv.out 2>&1 && continue
    grep -q 'still holds the' mv.out || { cat mv.out; return 1; }
    refused=$((refused + 1))
    run plan -var mgen=2 || true # recovers the journal (the plan itself is not applied)
    "$AMLSEC" state mv "module.team[\"$k\"]" "module.group[\"$k\"]" || return 1
  done
  cp ../ref/v-statemv/main.amlsec main.amlsec
}

# op_setup OP [KEY]: what the trial of OP runs (args), the plan that must come out empty (check),
# soak_check's mode, and whether pre_run runs first (pre) and post_mv after the kill (post)
op_setup() {
  pre=() post=()
  case $1 in
    apply) args=(apply -auto-approve) mode=apply check=(plan -detailed-exitcode) ;;
    destroy) args=(destroy -auto-approve) mode=destroy check=(plan -destroy -detailed-exitcode) ;;
    replace) args=(apply -auto-approve -replace "key.k$2") mode=apply check=(plan -detailed-exitcode) ;;
    cbd) args=(apply -auto-approve -var gen=2) mode=apply check=(plan -detailed-exitcode -var gen=2) ;;
    moved | statemv)
      args=(apply -auto-approve -var mgen=2) mode=apply check=(plan -detailed-exitcode -var mgen=2)
      [ "$1" = statemv ] && pre=(pre_run) ;;
    killmv)
      args=(apply -auto-approve -var mgen=2) mode=apply check=(plan -detailed-exitcode -var mgen=2)
      post=(post_mv) ;;
  esac
}

# The durations of the other runs, from the snapshot, uninterrupted: the range the kills are
# drawn from, and a check that each converges when nobody kills it; the instances each leaves
# (expect-OP.tsv) when they are not the reference apply's.
declare -A dur=([apply]=$t_apply)
for op in "${ops[@]:1}"; do
  trial_dir "$op" "$seed" || { echo "harness: armlocal did not start on port $port: $(tail -n 1 cloud.err 2> /dev/null)"; exit 1; }
  op_setup "$op" 0
  [ ${#pre[@]} = 0 ] || pre_run >> run.log 2>&1 || { echo "harness: $op's state mv failed:"; tail -n 5 run.log; exit 1; }
  t0=$(now_ms)
  run "${args[@]}" || { echo "harness: the reference $op failed:"; tail -n 20 run.log; exit 1; }
  dur[$op]=$(($(now_ms) - t0))
  if [ ${#post[@]} -gt 0 ]; then
    post_mv >> run.log 2>&1 && run "${args[@]}" || { echo "harness: the reference $op's state mv failed:"; tail -n 20 run.log; exit 1; }
  fi
  run "${check[@]}" || { echo "harness: the reference $op does not converge:"; tail -n 20 run.log; exit 1; }
  [ "$mode" = apply ] && [ "$op" != replace ] && soak_expect > "../expect-$op.tsv"
  soak_cloud_stop
  cd .. || exit 1
done
durs=""
for op in "${ops[@]}"; do durs+="${durs:+, }$op ${dur[$op]} ms"; done
echo "crash soak: $nconf configured resources ($(wc -l < expect.tsv) instances), seed $seed;" \
  "uninterrupted $durs"

passed=0 failed=0 harness=0 interrupted=0 rekilled=0 reruns_total=0 refused=0 renamedeleted=0
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
  op=${ops[RANDOM % ${#ops[@]}]}
  if [ "$op" = replace ]; then op_setup replace $((RANDOM % keys)); else op_setup "$op"; fi
  kill_at=$((RANDOM % (dur[$op] + 1)))
  rekill_at=-1
  [ $((RANDOM % 10)) -lt 3 ] && rekill_at=$((RANDOM % (dur[$op] + 1)))
  if ! trial_dir "$op" "$s"; then
    echo "trial $t seed $s: harness error: armlocal did not start on port $port: $(tail -n 1 cloud.err 2> /dev/null)"
    harness=$((harness + 1))
    cd "$work" || exit 1
    continue
  fi
  if [ ${#pre[@]} -gt 0 ] && ! pre_run > pre.log 2>&1; then
    echo "trial $t seed $s $op: harness error: state mv failed: $(grep error pre.log | head -n 1)"
    harness=$((harness + 1))
    soak_cloud_stop
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
  converged=0 reruns=0 errors="" postfail=0
  if [ ${#post[@]} -gt 0 ] && ! post_mv > post.log 2>&1; then
    errors+="state mv after the kill failed: $(grep -m1 error post.log); "
    postfail=1
  fi
  for r in 1 2; do
    reruns=$r
    run "${args[@]}" || errors+="re-run $r exited $?; "
    if run "${check[@]}"; then converged=1; break; fi
  done
  reruns_total=$((reruns_total + reruns))
  # a rename (moved, state mv) deletes nothing in the cloud, killed or not: a DELETE means a
  # resource was destroyed (and created again to converge: its data lost)
  deletes=0
  case $op in
    moved | statemv | killmv)
      deletes=$(curl -sf "$SOAK_URL/_armlocal/requests/totals" | jq -r '.byVerb.DELETE // 0')
      [[ "$deletes" =~ ^[0-9]+$ ]] || deletes=0
      ;;
  esac
  renamedeleted=$((renamedeleted + deletes))
  [ "$deletes" = 0 ] || { errors+="$deletes DELETE(s) sent by a rename; "; postfail=1; }
  expect=../expect.tsv
  [ -f "../expect-$op.tsv" ] && expect=../expect-$op.tsv
  counts=$(soak_compare "$mode" "$expect")
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
  if [ "$crc" = 0 ] && [ "$converged" = 1 ] && [ "$postfail" = 0 ]; then
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
[ "$features" = 1 ] && echo "  state mv after a kill refused until a plan recovered the journal: $refused time(s);" \
  "DELETEs sent by renames (moved, statemv, killmv): $renamedeleted"
for op in "${ops[@]}"; do
  echo "  $op: ${byop_pass[$op]:-0} passed, ${byop_fail[$op]:-0} failed"
done
echo "$passed passed, $((failed + harness)) failed"
[ "$failed" = 0 ] && [ "$harness" = 0 ]
