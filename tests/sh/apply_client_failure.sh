#!/usr/bin/env bash
# The ARM client itself fails (AMLSEC_FAULT_CLIENT=poll: as after a curl multi error, the first
# time a long-running operation is due to be polled) while a create the local cloud accepted is
# in flight:
#   1. apply exits 1 naming the client failure; nothing new starts (the lock that waits for the
#      storage account); what completed (the resource group) is in the saved state;
#   2. the create's journal intent stays pending: it is not recorded as a failure;
#   3. the next plan reads the resource, adopts what the local cloud created (no import, no
#      second create) and plans only the lock; apply converges and the plan after it is clean.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0 --lro-ms Microsoft.Storage/storageAccounts=1500)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
start_cloud
sub=00000000-0000-0000-0000-0000000000c1

cat > main.amlsec <<EOF
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-clientfail"
}

storage_account "s" {
  resource_group = resource_group.g
  name           = "stclientfail01"
}

lock "l" {
  target = storage_account.s
  level  = "CanNotDelete"
  notes  = "test"
}
EOF
journal=.amlsec/state.json.journal
accounts_url="$url/subscriptions/$sub/resourceGroups/rg-clientfail/providers/Microsoft.Storage/storageAccounts?api-version=2025-06-01"

echo "1. the client fails with the storage account's create in flight: exit 1, naming it"
AMLSEC_FAULT_CLIENT=poll expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > f1.out 2>&1
grep -q '^storage_account.s: Creating\.\.\.$' f1.out || fail "the create was not sent"
grep -q '^amlsec: error: apply stopped: the ARM client failed with 1 operation in flight: client failure injected by AMLSEC_FAULT_CLIENT=poll; the journal keeps the pending intents' f1.out \
  || fail "no error naming the client failure"
grep -q 'storage_account.s: Creating failed' f1.out && fail "the create in flight was reported as a failure"
grep -q '^lock.l: Creating' f1.out && fail "a new operation started after the client failed"
"$AMLSEC" state list > f1-state.out || fail "state list"
grep -qx 'resource_group.g' f1-state.out || fail "the completed resource group is not in the saved state"
grep -q 'storage_account.s' f1-state.out && fail "the create whose outcome is unknown is in the state"

echo "2. the journal keeps the create's intent pending"
[ -s "$journal" ] || fail "the journal is empty"
grep -q '"t":"begin".*"address":"storage_account.s"\|"address":"storage_account.s".*"t":"begin"' "$journal" \
  || fail_with "no intent for the create in the journal" "$journal"
grep -q '"t":"complete"' "$journal" && grep -q '"ok":false' "$journal" \
  && fail_with "the create was journaled as a completed failure" "$journal"

echo "3. the next plan adopts what the local cloud created; apply converges"
for _ in $(seq 100); do # the local cloud finishes the create on its own (1.5 s)
  curl -sf "$accounts_url" | grep -q '"provisioningState": *"Succeeded"' && break
  sleep 0.1
done
curl -sf "$accounts_url" | grep -q '"provisioningState": *"Succeeded"' || fail "the local cloud did not create the account"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > f2.out 2>&1
grep -q 'recovered 1 in-flight operation from an interrupted apply' f2.out || fail "no recovery"
grep -q 'create storage_account.s: adopted' f2.out || fail "the storage account was not adopted"
grep -q '# storage_account.s will be created' f2.out && fail "the adopted account is created again"
grep -q 'import' f2.out && fail "the plan asks for an import"
grep -q 'Plan: 1 to add, 0 to change, 0 to destroy' f2.out || fail "the re-plan is not just the lock"
[ -s "$journal" ] && fail "the reconciled journal was not emptied"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > f3.out 2>&1
grep -q 'Apply complete! Resources: 1 added, 0 changed, 0 destroyed' f3.out || fail "apply did not converge"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > f4.out 2>&1
[ "$(curl -sf "$accounts_url" | grep -o '"name": *"stclientfail01"' | wc -l)" = 1 ] \
  || fail "not exactly one storage account in the local cloud"
[ "$("$AMLSEC" state list | grep -c '^storage_account.s$')" = 1 ] || fail "not one state entry for the account"
echo "client failure with writes in flight: all scenarios passed"
