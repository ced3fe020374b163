#!/usr/bin/env bash
# Crash recovery that converges (issue 12), against a standalone local cloud with slow operations:
#   1. kill -9 while a resource group is being created: the next apply reads the group back
#      (an id without /providers/) and converges;
#   2. kill -9 while a storage account's create runs (invisible, 404, until it ends): the intent
#      stays pending with its operation URL, the next run polls the operation and adopts the
#      account (no "already exists ... import");
#   3. destroy: a resource deleted outside amlsec, a key deleted with its vault, and a kill while
#      a delete runs leave no state entry for what is gone; destroy exits 0 with an empty state;
#   4. recovery whose reconciled state cannot be saved fails cleanly and leaks nothing (ASan).
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
apid=""
cleanup() {
  [ -n "$apid" ] && kill -9 "$apid" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  chmod -R u+w "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
sub=00000000-0000-0000-0000-0000000000c7
wait_for() { # file, pattern: up to 30 s
  for _ in $(seq 300); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  fail "'$2' never appeared in $1"
}
lro_types() { # {"TYPE": ms, ...}: per-type durations from now on
  curl -sf -X PUT -H 'Content-Type: application/json' -d "{\"lroMsByType\":$1}" \
    "$url/_armlocal/settings" > /dev/null || fail "cannot set lroMsByType"
}
kill_apply_at() { # out, pattern, then amlsec arguments: run, kill -9 once pattern is printed
  local out=$1 pat=$2; shift 2
  "$AMLSEC" "$@" -cloud "$url" -auto-approve -no-color > "$out" 2>&1 &
  apid=$!
  wait_for "$out" "$pat"
  sleep 0.2
  kill -9 "$apid"; wait "$apid" 2>/dev/null; apid=""
}
state_list() { "$AMLSEC" state list 2>&1; }
cloud_has() { # path under the subscription: 0 when the local cloud holds it
  curl -sf "$url/_armlocal/resources/subscriptions/$sub/$1" > /dev/null
}
converged() { # prefix: a plan with nothing to do
  expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > "$1"-plan.out 2>&1
}

cat > main.amlsec <<EOF
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-crash"
}

storage_account "s" {
  resource_group           = resource_group.g
  name                     = "stcrash0001"
  allow_blob_public_access = false
  public_network_access    = false
  lifecycle {
    ignore_rules = { "ST-SERVICE-ENDPOINT" = "test estate" }
  }
}
EOF

echo "1. kill -9 while the resource group is being created"
start_cloud
lro_types '{"Microsoft.Resources/resourceGroups": 1500}'
kill_apply_at k1.out '^resource_group.g: Creating\.\.\.$' apply
[ -s .amlsec/state.json.journal ] || fail "the kill left no pending intent"
lro_types '{}'
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > k1-apply.out 2>&1
grep -q 'create resource_group.g: adopted' k1-apply.out || fail "the resource group was not recovered"
converged k1

echo "2. kill -9 while the storage account's create runs (invisible until it ends)"
stop_cloud; rm -rf .amlsec; start_cloud
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -target resource_group.g > k2-rg.out 2>&1
lro_types '{"Microsoft.Storage/storageAccounts": 2500}'
kill_apply_at k2.out '^storage_account.s: Creating\.\.\.$' apply
cloud_has resourceGroups/rg-crash/providers/Microsoft.Storage/storageAccounts/stcrash0001 \
  || fail "the local cloud does not hold the account being created"
grep -q '"operation":"http[^"]*operationResults[^"]*","t":"accepted"' .amlsec/state.json.journal \
  || fail_with "the journal did not keep the operation's URL" .amlsec/state.json.journal
# the next run waits for the operation, then adopts the account: no import, no second create
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > k2-apply.out 2>&1
grep -q 'create storage_account.s: adopted' k2-apply.out || fail "the account was not adopted"
grep -q 'import\|already exists' k2-apply.out && fail "the recovered create asks for an import"
grep -q 'storage_account.s: Creating' k2-apply.out && fail "the account was created a second time"
converged k2
