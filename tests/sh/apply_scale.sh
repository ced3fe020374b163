#!/usr/bin/env bash
# Apply's own bookkeeping is linear in the changes (issue 18): the step graph finds the PUT that
# reuses a deleted id through an index of ids (it scanned every change per delete), the state
# takes each outcome in O(1) in a batch (a sorted insert moved every entry after it), and a
# deleted resource's children are found through an index of the entries under each id (a scan
# of the state per delete). `AMLSEC_LOG=debug` prints the work ("apply: N changes, bookkeeping
# work W"); at 1,500 creates, then 1,500 deletes, W stays under 40 per change, where the scans
# cost over 1,000 per change. The applies end as before: every resource created, then gone.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export AMLSEC_RATE_LIMIT=off
start_cloud
n=1500
{
  printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000be"\n  location = "westeurope"\n}\n'
  printf 'resource_group "g" {\n  name = "rg-scale"\n}\n'
  # the addresses sort in another order than the plan runs them
  for i in $(seq 1 $n); do
    printf 'app_insights "a%d" {\n  resource_group = resource_group.g\n  name = "appi-%05d"\n}\n' $(( (i * 7919) % n )) "$i"
  done
} > main.amlsec

# the work the debug line reports, checked against the number of changes
check_work() { # file, changes
  local line w
  line=$(grep 'apply: [0-9]* changes, bookkeeping work' "$1") || fail "no work line in $1"
  w=${line##* }
  [ "$(grep -o 'apply: [0-9]* changes' <<< "$line")" = "apply: $2 changes" ] || fail "wanted $2 changes: $line"
  [ "$w" -le $(( 40 * $2 )) ] || fail "bookkeeping work $w for $2 changes (over 40 per change): $line"
  echo "   $line"
}

echo "1. $n creates (and the resource group): linear bookkeeping"
AMLSEC_LOG=debug expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > create.out 2>&1
grep -q "Apply complete! Resources: $((n + 1)) added" create.out || fail "the creates did not complete"
check_work create.out $((n + 1))
"$AMLSEC" state list > list.out
[ "$(wc -l < list.out)" = $((n + 1)) ] || fail "the state lists $(wc -l < list.out) resources"
sort -c list.out || fail "state list is not in address order"

echo "2. every one deleted: linear bookkeeping, the state empty"
AMLSEC_LOG=debug expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color -parallelism 32 > destroy.out 2>&1
grep -q "Destroy complete! Resources: $((n + 1)) destroyed" destroy.out || fail "the deletes did not complete"
check_work destroy.out $((n + 1))
[ -z "$("$AMLSEC" state list)" ] || fail "the state still lists resources"
echo "apply_scale: 2 passed, 0 failed"
