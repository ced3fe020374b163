#!/usr/bin/env bash
# A refresh reads what Resource Graph does not hold beside Resource Graph's pages, not after them
# (issue 18). bench_scale's stacks (bench_scale --generate): each has a key and a compute, in no
# Resource Graph table, which a no-change plan reads through ARM (a GET each: one per vault and
# workspace). Resource Graph answers slowly (the local cloud holds each of the refresh's two
# queries, `resources` and then `authorizationresources`, 3 s); every key and compute read must
# be answered before the refresh's last query (amlsec's debug log, one line per answer, in
# order): the reads start as soon as the state gives their ids, in the background, and go on
# while the queries wait. Before, they were sent after the last Resource Graph page: all of them
# after it.
# 1. plan, 2. apply (its refresh is the plan's); 3. stacks added to the configuration (not in
# the state) are not read early: their parents are confirmed absent by one list of their group,
# and nothing under them is read (no GET of their keys and computes).
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${BUILD:?}"
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
sub=/subscriptions/00000000-0000-0000-0000-0000000000be
stacks() { "$BUILD/bench/bench_scale" --generate . $(($1 * 14)) || fail "generate $1 stacks"; }
seed() { # PATH TYPE
  curl -sf -X PUT -H 'Content-Type: application/json' \
    -d "{\"type\":\"$2\",\"location\":\"westeurope\",\"properties\":{}}" "$url/_armlocal/resources$1" > /dev/null \
    || fail "seed $1"
}
slow_graph() { # the next two Resource Graph queries answer in 3 s
  curl -sf -X POST -H 'Content-Type: application/json' \
    -d '{"kind":"slow","method":"POST","path":"*/Microsoft.ResourceGraph/resources","ms":3000,"times":2}' \
    "$url/_armlocal/faults" > /dev/null || fail "slow Resource Graph"
}
reads='arm: GET .*(/keys/k[0-9]+|/computes/cpu-build)\?'
beside() { # LOG: every key and compute read answered before the refresh's last query
  local log=$1 last n late
  [ "$(grep -c 'arm: POST .*Microsoft.ResourceGraph/resources' "$log")" = 3 ] \
    || fail_with "3 Resource Graph queries expected (resources, authorizationresources, the live rules' grants)" "$log"
  last=$(grep -n 'arm: POST .*Microsoft.ResourceGraph/resources' "$log" | sed -n 2p | cut -d: -f1)
  n=$(grep -cE "$reads" "$log")
  late=$(awk -v last="$last" 'NR > last' "$log" | grep -cE "$reads")
  echo "   $n key and compute reads, $late answered after the refresh's last Resource Graph query (line $last)"
  [ "$n" = $((2 * 4)) ] || fail_with "$((2 * 4)) key and compute reads expected (2 a stack), got $n" "$log"
  [ "$late" = 0 ] || fail_with "$late key and compute reads answered after the refresh's last Resource Graph query" "$log"
}

start_cloud --graph-quota off
seed $sub/resourceGroups/rg-net Microsoft.Resources/resourceGroups
seed $sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub Microsoft.Network/virtualNetworks
seed $sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub/subnets/pe Microsoft.Network/virtualNetworks/subnets
stacks 4
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > apply.out 2>&1

echo "1. plan: the keys and computes are read while Resource Graph answers"
slow_graph
AMLSEC_LOG=debug "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan.out 2> plan.log
rc=$?
[ "$rc" = 0 ] || fail_with "plan exited $rc, wanted 0 (no changes)" plan.out plan.log
beside plan.log

echo "2. apply: its refresh too"
slow_graph
AMLSEC_LOG=debug "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply2.out 2> apply2.log
rc=$?
[ "$rc" = 0 ] || fail_with "apply exited $rc, wanted 0" apply2.out apply2.log
grep -q 'No changes' apply2.out || fail_with "apply changed something" apply2.out
beside apply2.log

echo "3. stacks not in the state: nothing under their parents is read"
stacks 8
AMLSEC_LOG=debug "$AMLSEC" plan -cloud "$url" -no-color > plan3.out 2> plan3.log
rc=$?
[ "$rc" = 0 ] || fail_with "plan of 4 more stacks exited $rc" plan3.out plan3.log
grep -q 'Plan: 56 to add, 0 to change, 0 to destroy' plan3.out \
  || fail_with "the 4 new stacks (56 resources) are not all planned" plan3.out
new=$(grep -cE 'arm: GET .*(kv-stack-00000[4-7]/keys/|mlw-stack-00000[4-7]/computes/)' plan3.log)
old=$(grep -cE 'arm: GET .*(kv-stack-00000[0-3]/keys/|mlw-stack-00000[0-3]/computes/)' plan3.log)
echo "   $old reads of the recorded stacks' keys and computes, $new of the new stacks'"
[ "$new" = 0 ] || fail_with "$new reads of keys and computes under parents that do not exist" plan3.log
[ "$old" = 8 ] || fail_with "8 reads of the recorded stacks' keys and computes expected, got $old" plan3.log
echo "plan_refresh_beside: 3 passed, 0 failed"
