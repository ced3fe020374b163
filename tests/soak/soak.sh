#!/usr/bin/env bash
# The soak harness in one command (docs/reliability.md).
#
#   tests/soak/soak.sh short   seconds: the checker's self-test, a few crash trials (and a few of
#                              the newer features': crash-soak.sh -f), one fault
#                              round (at 5%, so that CI does not fail on a round that needs a
#                              4th re-run), a few concurrent runs (CTest: soak.short)
#   tests/soak/soak.sh full    the issue's targets: crash soak >= 200 trials (and
#                              SOAK_FEATURE_TRIALS of crash-soak.sh -f), fault soak, 20
#                              concurrent runs per backend, every fuzz target (scripts/fuzz.sh)
#
# Full-run knobs (environment): SOAK_TRIALS (200), SOAK_CRASH_SECONDS (1500: no new trial after),
# SOAK_FEATURE_TRIALS (100, within SOAK_FEATURE_SECONDS: 600),
# SOAK_FAULT_ROUNDS (10), SOAK_FUZZ_SECONDS (per target, 300; 0 skips fuzzing), SOAK_SEED (1),
# SOAK_KEEP (a directory for the failed trials).
# Prints each part's figures and, last, "N passed, N failed" over the parts.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SRC=${SRC:-$(cd "$here/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
export AMLSEC=${AMLSEC:-$BUILD/amlsec} ARMLOCAL=${ARMLOCAL:-$BUILD/amlsec-armlocal}
export SOAK_CHECK=${SOAK_CHECK:-$BUILD/tests/soak_check} SRC BUILD
mode=${1:-short}
seed=${SOAK_SEED:-1}
keep=()
[ -n "${SOAK_KEEP:-}" ] && keep=(-k "$SOAK_KEEP")
passed=0 failed=0
part() { # name, then the command; its output is shown, its exit status counted
  local name=$1 rc t0
  shift
  echo "== $name: $*"
  t0=$(date +%s)
  "$@"
  rc=$?
  echo "== $name: $([ "$rc" = 0 ] && echo passed || echo "FAILED (exit $rc)") in $(($(date +%s) - t0)) s"
  if [ "$rc" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# The checker finds what it must: a resource dropped from the state (untracked) and one deleted
# behind amlsec's back (lost from the cloud, phantom in the state), and nothing on a clean apply.
self_test() {
  source "$here/lib.bash"
  local dir out
  dir=$(mktemp -d)
  (
    cd "$dir" || exit 1
    trap 'soak_cloud_stop' EXIT
    soak_config . 16
    SOAK_LRO=0 soak_cloud_start . 0 || { echo "armlocal did not start"; exit 1; }
    soak_seed_network || exit 1
    timeout 120 "$AMLSEC" apply -auto-approve -cloud "$SOAK_URL" -no-color > apply.out 2>&1 \
      || { tail -n 5 apply.out; exit 1; }
    soak_expect > expect.tsv
    out=$(soak_compare apply expect.tsv) || { echo "a clean apply does not compare equal: $out"; cat check.err; exit 1; }
    "$AMLSEC" state rm app_insights.a0 > /dev/null || exit 1
    out=$(soak_compare apply expect.tsv)
    [ "$out" = "untracked=1 lost=0 phantom=0 duplicated=0 remaining=0 journal=0" ] \
      || { echo "state rm: the checker says '$out'"; cat check.err; exit 1; }
    curl -sf -X DELETE "$SOAK_URL/_armlocal/resources/subscriptions/$SOAK_SUB/resourceGroups/rg-soak/providers/Microsoft.KeyVault/vaults/kv-soak-0/keys/k0" > /dev/null \
      || { echo "cannot delete the key out of band"; exit 1; }
    out=$(soak_compare apply expect.tsv)
    [ "$out" = "untracked=1 lost=1 phantom=1 duplicated=0 remaining=0 journal=0" ] \
      || { echo "out-of-band delete: the checker says '$out'"; cat check.err; exit 1; }
    echo "soak_check: a clean apply compares equal; state rm gives untracked=1; an out-of-band delete gives lost=1 phantom=1"
  )
  local rc=$?
  rm -rf "$dir"
  return $rc
}

case $mode in
  short)
    part "checker self-test" self_test
    part "crash soak" bash "$here/crash-soak.sh" -n 3 -r 16 -s "$seed" "${keep[@]}"
    part "crash soak, newer features" bash "$here/crash-soak.sh" -f -n 3 -r 12 -s "$seed" "${keep[@]}"
    part "fault soak" bash "$here/fault-soak.sh" -n 1 -r 16 -p 0.05 -s "$seed" "${keep[@]}"
    part "concurrency" bash "$here/concurrency.sh" -n 8 -b local -s "$seed"
    ;;
  full)
    part "checker self-test" self_test
    part "crash soak" bash "$here/crash-soak.sh" -n "${SOAK_TRIALS:-200}" -d "${SOAK_CRASH_SECONDS:-1500}" \
      -s "$seed" "${keep[@]}"
    part "crash soak, newer features" bash "$here/crash-soak.sh" -f -n "${SOAK_FEATURE_TRIALS:-100}" \
      -d "${SOAK_FEATURE_SECONDS:-600}" -s "$seed" "${keep[@]}"
    part "fault soak" bash "$here/fault-soak.sh" -n "${SOAK_FAULT_ROUNDS:-10}" -s "$seed" "${keep[@]}"
    part "concurrency" bash "$here/concurrency.sh" -n 20 -b both -s "$seed"
    if [ "${SOAK_FUZZ_SECONDS:-300}" -gt 0 ]; then
      part "fuzzing" bash "$SRC/scripts/fuzz.sh" -t "${SOAK_FUZZ_SECONDS:-300}"
    fi
    ;;
  *)
    echo "usage: $0 short|full" >&2
    exit 64
    ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
