#!/usr/bin/env bash
# Fault soak (issue 12): apply, then destroy, the generated configuration against a local cloud
# that injects faults into a share RATE of the requests: 429 with Retry-After, 500, 503,
# connection resets before the request is carried out and after it (the answer is lost), slow
# answers (1 s); and makes that share of the operations that writes start end Failed or
# Canceled. Each phase is re-run (faults still on) until its plan is empty, at most 3 times; then
# everything the cloud holds is compared with the state (tests/soak/soak_check.c).
#
# Usage: fault-soak.sh [-n ROUNDS] [-s SEED] [-r RESOURCES] [-p RATE] [-d SECONDS] [-k DIR]
#   -n  rounds, each a fresh cloud (default 3); -s  first seed (default 1)
#   -r  resources (default 50); -p  fault rate (default 0.10)
#   -d  stop starting rounds after this many seconds; -k  keep failed rounds under DIR
# Environment: AMLSEC, ARMLOCAL, SOAK_CHECK (default: BUILD/...; BUILD default ./build).
# Prints one line per phase and the totals; exits 0 when every round passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../../build}
export AMLSEC=${AMLSEC:-$BUILD/amlsec} ARMLOCAL=${ARMLOCAL:-$BUILD/amlsec-armlocal}
export SOAK_CHECK=${SOAK_CHECK:-$BUILD/tests/soak_check}
source "$here/lib.bash"

rounds=3 seed=1 nres=50 rate=0.10 budget=0 keep=""
while getopts "n:s:r:p:d:k:" o; do
  case $o in
    n) rounds=$OPTARG ;; s) seed=$OPTARG ;; r) nres=$OPTARG ;; p) rate=$OPTARG ;;
    d) budget=$OPTARG ;; k) keep=$OPTARG ;;
    *) echo "usage: $0 [-n ROUNDS] [-s SEED] [-r RESOURCES] [-p RATE] [-d SECONDS] [-k DIR]" >&2; exit 64 ;;
  esac
done
share() { awk -v r="$rate" -v d="$1" 'BEGIN { printf "%.4f", r / d }'; }
# transport faults add up to RATE of the requests; Failed/Canceled to RATE of the writes' LROs
faults="kind=429,rate=$(share 5);kind=500,rate=$(share 5);kind=503,rate=$(share 5)"
faults+=";kind=reset,rate=$(share 10);kind=reset-after,rate=$(share 10);kind=slow,ms=1000,rate=$(share 5)"
for m in PUT DELETE; do
  faults+=";kind=lro-failed,method=$m,rate=$(share 2);kind=lro-canceled,method=$m,rate=$(share 2)"
done

work=$(mktemp -d)
cleanup() {
  soak_cloud_stop
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
run() { # amlsec ARGS... in the current directory, bounded; output appended to run.log
  echo "== $*" >> run.log
  timeout 300 "$AMLSEC" "$@" -cloud "$SOAK_URL" -no-color >> run.log 2>&1
}

# the configured resources' ids, from a clean apply without faults
mkdir ref
soak_config ref "$nres"
cd ref || exit 1
soak_cloud_start . 0 --seed "$seed" || { echo "harness: armlocal did not start"; exit 1; }
soak_seed_network && run apply -auto-approve || { echo "harness: the reference apply failed"; exit 1; }
soak_expect > ../expect.tsv
soak_cloud_stop
cd .. || exit 1
echo "fault soak: $(wc -l < expect.tsv) resources, fault rate $rate, seed $seed"

passed=0 failed=0 harness=0 lost=0 duplicated=0 untracked=0 phantom=0 remaining=0 journal=0 notcreated=0 nonconverged=0
fired_total=0 requests_total=0 max_reruns=0
started=$(date +%s)
for ((i = 0; i < rounds; i++)); do
  if [ "$budget" -gt 0 ] && [ $(($(date +%s) - started)) -ge "$budget" ]; then
    echo "time budget of ${budget}s spent after $i rounds"
    break
  fi
  s=$((seed + i))
  rm -rf t && mkdir -p t/cloud && cp ref/main.amlsec t/ && cd t || exit 1
  if ! soak_cloud_start . 0 --seed "$s" || ! soak_seed_network; then
    echo "round $i seed $s: harness error: armlocal did not start"
    harness=$((harness + 1)); cd "$work" || exit 1; continue
  fi
  curl -sf -X DELETE "$SOAK_URL/_armlocal/faults" > /dev/null
  IFS=';' read -ra rules <<< "$faults"
  for rule in "${rules[@]}"; do # the JSON form of each rule, through the control API
    json=$(sed 's/\([a-z]*\)=\([^,]*\)/"\1":"\2"/g; s/"rate":"\([^"]*\)"/"rate":\1/; s/"ms":"\([^"]*\)"/"ms":\1/' <<< "$rule")
    curl -sf -X POST -H 'Content-Type: application/json' -d "{$json}" "$SOAK_URL/_armlocal/faults" > /dev/null \
      || { echo "harness: cannot add fault $rule"; exit 1; }
  done
  ok=1 detail=""
  for phase in apply destroy; do
    if [ "$phase" = apply ]; then args=(apply -auto-approve) check=(plan -detailed-exitcode)
    else args=(destroy -auto-approve) check=(plan -destroy -detailed-exitcode); fi
    converged=0 reruns=0
    run "${args[@]}"
    first=$?
    for r in 0 1 2 3; do
      if [ "$r" -gt 0 ]; then run "${args[@]}"; fi
      if run "${check[@]}"; then converged=1; reruns=$r; break; fi
    done
    counts=$(soak_compare "$phase" ../expect.tsv)
    crc=$?
    if [ "$crc" -ge 2 ]; then
      detail+="$phase: harness error: $counts; "; ok=0; harness=$((harness + 1)); break
    fi
    for k in untracked lost phantom duplicated remaining journal; do
      v=$(sed -n "s/.*$k=\([0-9]*\).*/\1/p" <<< "$counts")
      # an apply that did not converge has not created everything yet: not lost
      [ "$k" = lost ] && [ "$converged" = 0 ] && k=notcreated
      eval "$k=\$(($k + ${v:-0}))"
    done
    [ "$reruns" -gt "$max_reruns" ] && max_reruns=$reruns
    if [ "$converged" = 1 ]; then
      detail+="$phase exited $first, converged after $reruns re-run(s) ($counts); "
    else
      nonconverged=$((nonconverged + 1)); ok=0
      detail+="$phase NOT converged after 3 re-runs ($counts); "
    fi
    [ "$crc" = 0 ] || { ok=0; detail+="$(head -n 4 check.err | tr '\n' ';') "; }
  done
  f=$(curl -sf "$SOAK_URL/_armlocal/faults" | grep -o '"fired":[0-9]*' | awk -F: '{ n += $2 } END { print n + 0 }')
  q=$(curl -sf "$SOAK_URL/_armlocal/requests" | grep -o '"total":[0-9]*' | head -n 1 | cut -d: -f2)
  fired_total=$((fired_total + ${f:-0})) requests_total=$((requests_total + ${q:-0}))
  soak_cloud_stop
  if [ "$ok" = 1 ]; then
    passed=$((passed + 1)); echo "round $i seed $s: ok: ${f:-0} faults in ${q:-0} requests; $detail"
  else
    failed=$((failed + 1)); echo "round $i seed $s: FAIL: ${f:-0} faults in ${q:-0} requests; $detail"
    grep -h 'error' run.log | sort -u | head -n 6 | sed 's/^/    run.log: /'
    if [ -n "$keep" ]; then mkdir -p "$keep" && cp -r "$work/t" "$keep/fault-round-$i-seed-$s"; fi
  fi
  cd "$work" || exit 1
done
echo "fault soak totals: $((passed + failed)) rounds, $fired_total faults injected in $requests_total requests," \
  "most re-runs needed $max_reruns: untracked=$untracked lost=$lost phantom=$phantom duplicated=$duplicated" \
  "remaining=$remaining journal=$journal non-converged=$nonconverged (not created yet: $notcreated) harness-errors=$harness"
echo "$passed passed, $((failed + harness)) failed"
[ "$failed" = 0 ] && [ "$harness" = 0 ]
