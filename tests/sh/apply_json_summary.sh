#!/usr/bin/env bash
# apply -json's change_summary says what the apply did, not what the plan planned, whenever it
# stops early, and agrees with the human text and the exit code:
#   1. an ARM error (the storage account's PUT fails, the lock on it is skipped): exit 1, the
#      summary "Apply incomplete." at level error with add=2 (the resource group and the other
#      account), as the human text's "Resources: 2 added" says;
#   2. a replacement (delete, then create) whose create fails: remove=1, add=0;
#   3. the ARM client fails with a create in flight: exit 1 and still a summary, add=1;
#   4. an apply that completes: the summary is the plan's counts, "Apply complete!", level info.
# Each -json stream is checked against docs/schemas/ui.schema.json.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${JSONSCHEMA:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
sub=00000000-0000-0000-0000-0000000000d5

cat > main.amlsec <<EOF
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-jsonsum"
}

storage_account "s" {
  resource_group = resource_group.g
  name           = "stjsonsum01"
}

storage_account "r" {
  resource_group = resource_group.g
  name           = "stjsonsum02"
}

lock "l" {
  target = storage_account.s
  level  = "CanNotDelete"
  notes  = "test"
}
EOF

# summary FILE: "LEVEL ADD CHANGE REMOVE MESSAGE" of the stream's apply change_summary (one)
summary() {
  jq -r -s 'map(select(.type == "change_summary" and .changes.operation != "plan"))
    | if length == 1 then .[0] | "\(.["@level"]) \(.changes.add) \(.changes.change) \(.changes.remove) \(.["@message"])"
      else "summaries: \(length)" end' "$1"
}
# done_hooks FILE ACTION: apply_complete events of that action
done_hooks() { jq -s --arg a "$2" 'map(select(.type == "apply_complete" and .hook.action == $a)) | length' "$1"; }

echo "1. an ARM error: the summary counts what was added"
start_cloud --faults 'kind=lro-failed,method=PUT,path=*/storageAccounts/stjsonsum01,times=1'
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -json > a1.json 2> a1.err
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" a1.json || fail_with "apply -json against its schema" a1.json
got=$(summary a1.json)
[ "$got" = "error 2 0 0 Apply incomplete. Resources: 2 added, 0 changed, 0 destroyed." ] \
  || fail_with "ARM error: summary '$got', wanted what was done (1 added)" a1.json
[ "$(done_hooks a1.json create)" = 2 ] || fail_with "two creates completed" a1.json
stop_cloud
rm -rf .amlsec
start_cloud --faults 'kind=lro-failed,method=PUT,path=*/storageAccounts/stjsonsum01,times=1'
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > h1.out 2>&1
grep -q '^amlsec: error: apply incomplete: 2 done, 1 failed, 1 skipped, 0 not started$' h1.out \
  || fail_with "human text's counts" h1.out
grep -q '^Resources: 2 added, 0 changed, 0 destroyed\.$' h1.out || fail_with "human text says what was added" h1.out
stop_cloud

echo "2. a replacement whose create fails: destroyed 1, added 0"
rm -rf .amlsec
start_cloud
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > a2a.out 2>&1
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"kind":"lro-failed","method":"PUT","path":"*/storageAccounts/stjsonsum02","times":1}' \
  "$url/_armlocal/faults" > /dev/null || fail "cannot add the fault"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -json -replace storage_account.r > a2.json 2> a2.err
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" a2.json || fail_with "apply -json against its schema" a2.json
jq -e -s 'map(select(.type == "change_summary" and .changes.operation == "plan")) | .[0].changes | .add == 1 and .remove == 1' \
  a2.json > /dev/null || fail_with "the plan is not a replacement" a2.json
got=$(summary a2.json)
[ "$got" = "error 0 0 1 Apply incomplete. Resources: 0 added, 0 changed, 1 destroyed." ] \
  || fail_with "failed replacement: summary '$got', wanted 1 destroyed" a2.json
stop_cloud

echo "3. the ARM client fails with a create in flight: a summary all the same"
rm -rf .amlsec
start_cloud --lro-ms 0 --lro-ms Microsoft.Storage/storageAccounts=1500
AMLSEC_FAULT_CLIENT=poll expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -json > a3.json 2> a3.err
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" a3.json || fail_with "apply -json against its schema" a3.json
jq -e -s 'map(select(.type == "diagnostic") | .diagnostic.summary | test("apply stopped: the ARM client failed")) | any' \
  a3.json > /dev/null || fail_with "the client failure is not a diagnostic" a3.json
got=$(summary a3.json)
[ "$got" = "error 1 0 0 Apply incomplete. Resources: 1 added, 0 changed, 0 destroyed." ] \
  || fail_with "client failure: summary '$got'" a3.json
stop_cloud

echo "4. a complete apply: the plan's counts"
start_cloud
rm -rf .amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -json > a4.json 2> a4.err
got=$(summary a4.json)
[ "$got" = "info 4 0 0 Apply complete! Resources: 4 added, 0 changed, 0 destroyed." ] \
  || fail_with "complete apply: summary '$got'" a4.json
expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -json > a5.json 2> a5.err
jq -e -s 'map(select(.type == "change_summary")) | last | .changes.operation == "destroy" and .changes.remove == 4
  and .["@message"] == "Destroy complete! Resources: 4 destroyed."' \
  a5.json > /dev/null || fail_with "destroy's summary is not operation destroy, 4 removed" a5.json
echo "apply -json summary: ok"
