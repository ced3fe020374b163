#!/usr/bin/env bash
# Planner and applier semantics of issue 14 against a standalone local cloud:
#   1. a drift correction shows the value apply sends (the secure default an attribute left out
#      of the configuration takes), not "-> null" (defect 6);
#   2. drift in an ignore_changes attribute is not drift; drift that needs no change still
#      shows, and -detailed-exitcode exits 2 exactly when the printout shows changes or drift;
#      plain plan exits 0 (defect 11);
#   3. an update waits only for what it really needs: a failed vault update does not hold back
#      the workspace's public_network_access fix, while a key's new version still goes before
#      the workspace update that sends it (e2e_plan_apply.sh, section 1) (defect 4);
#   4. a managed lock is deleted before what it protects: a lock on the resource group and a
#      resource under it removed together; a replacement under a lock that stays is an error
#      before approval (defect 3);
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
start_cloud
sub=00000000-0000-0000-0000-000000000000
rg=/subscriptions/$sub/resourceGroups/rg-sem
ws=$rg/providers/Microsoft.MachineLearningServices/workspaces/mlw-sem
appi=$rg/providers/Microsoft.Insights/components/appi-sem
patch() { # id, JSON body: a change made outside amlsec
  curl -sf -X PATCH -H 'Content-Type: application/json' -d "$2" "$url/_armlocal/resources$1" > /dev/null \
    || fail "control API patch of $1"
}
cat > main.amlsec <<'CFG'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}
resource_group "ml" {
  name = "rg-sem"
}
key_vault "kv" {
  resource_group        = resource_group.ml
  name                  = "kv-sem-001"
  purge_protection      = true
  public_network_access = false
}
storage_account "st" {
  resource_group           = resource_group.ml
  name                     = "stsem001"
  allow_blob_public_access = false
  public_network_access    = false
}
app_insights "ai" {
  resource_group = resource_group.ml
  name           = "appi-sem"
  tags           = { team = "a" }
  lifecycle {
    ignore_changes = ["tags"]
  }
}
workspace "w" {
  resource_group  = resource_group.ml
  name            = "mlw-sem"
  key_vault       = key_vault.kv
  storage_account = storage_account.st
  app_insights    = app_insights.ai
}
CFG
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > base.out 2>&1

echo "1. a drift correction shows the value sent: the secure default, not null"
patch "$ws" '{"properties":{"publicNetworkAccess":"Enabled"}}'
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > d6.out 2>&1
grep -q 'workspace.w will be updated in-place' d6.out || fail "no correcting update"
grep -q '~ public_network_access = true -> false$' d6.out || fail "the correction does not show the value sent"
grep -q -- '-> null' d6.out && fail "a correction shows null"
"$AMLSEC" plan -cloud "$url" -no-color -out d6.plan > /dev/null 2>&1
"$AMLSEC" show -json d6.plan > d6.json || fail "show -json"
python3 - <<'PY' || fail "the plan JSON's after does not hold the value sent"
import json
rc = [c for c in json.load(open("d6.json"))["resource_changes"] if c["address"] == "workspace.w"][0]
assert rc["change"]["after"]["public_network_access"] is False, rc["change"]["after"]
PY
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > d6a.out 2>&1
curl -sf "$url$ws?api-version=2025-09-01" | grep -q '"publicNetworkAccess": *"Disabled"' || fail "apply did not send false"

echo "2. exit codes: ignored drift is no drift; drift alone is 2 under -detailed-exitcode, 0 without"
patch "$appi" '{"tags":{"team":"b"}}'
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > d11a.out 2>&1
grep -q 'Objects have changed outside of amlsec' d11a.out && fail "drift in an ignore_changes attribute is reported"
grep -q 'No changes. Your infrastructure matches the configuration.$' d11a.out || fail "ignored drift: not a clean plan"
# the vault's tags are changed outside amlsec to what the configuration now says: drift, no change
sed -i 's/  name                  = "kv-sem-001"/  name                  = "kv-sem-001"\n  tags                  = { env = "prod" }/' main.amlsec
patch "$rg/providers/Microsoft.KeyVault/vaults/kv-sem-001" '{"tags":{"env":"prod"}}'
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > d11b.out 2>&1
grep -q 'Objects have changed outside of amlsec' d11b.out || fail "drift is not shown"
grep -q 'key_vault.kv has been changed' d11b.out || fail "the vault's drift is not named"
grep -q 'No changes. Your infrastructure matches the configuration, but objects changed outside amlsec (above).' d11b.out \
  || fail "the no-change line does not mention the drift"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color > d11c.out 2>&1
grep -q 'Objects have changed outside of amlsec' d11c.out || fail "plain plan hides the drift"
# changes present: 2 with -detailed-exitcode, 0 without
sed -i 's/env = "prod"/env = "test"/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > d11d.out 2>&1
grep -q 'Plan: 0 to add, 1 to change, 0 to destroy.' d11d.out || fail "the tag change is not planned"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color > d11e.out 2>&1
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > d11f.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > d11g.out 2>&1
grep -q 'Objects have changed outside of amlsec' d11g.out && fail "drift after apply"
"$AMLSEC" help | grep -q "'plan -detailed-exitcode' exits 2 when the plan" || fail "help does not say when plan exits 2"
"$AMLSEC" plan -help | grep -q 'without it plan exits 0' || fail "plan -help does not say plain plan exits 0"

echo "3. a failed vault update does not skip the workspace's security fix"
sed -i 's/env = "test"/env = "stage"/' main.amlsec
patch "$ws" '{"properties":{"publicNetworkAccess":"Enabled"}}'
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"kind":"500","method":"PUT","path":"*/vaults/kv-sem-001","times":50}' "$url/_armlocal/faults" > /dev/null \
  || fail "fault"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out d4.plan > d4p.out 2>&1
grep -q 'Plan: 0 to add, 2 to change, 0 to destroy.' d4p.out || fail "vault and workspace updates are not both planned"
grep -q '\[group 1\] update  workspace.w' d4p.out || fail "the workspace update still waits for the vault's"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color d4.plan > d4a.out 2>&1
grep -q 'key_vault.kv: Modifying failed' d4a.out || fail "the vault update did not fail"
grep -q 'workspace.w: skipped' d4a.out && fail "the workspace fix was skipped"
grep -q 'workspace.w: Modifications complete' d4a.out || fail "the workspace fix was not applied"
curl -sf "$url$ws?api-version=2025-09-01" | grep -q '"publicNetworkAccess": *"Disabled"' || fail "the workspace is still public"
curl -sf -X DELETE "$url/_armlocal/faults" > /dev/null || fail "clear faults"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > d4b.out 2>&1
grep -q 'Apply complete! Resources: 0 added, 1 changed, 0 destroyed.' d4b.out || fail "the vault update does not converge"

echo "4. locks: removed before what they protect; a lock that stays blocks a replacement at plan time"
cat > extra.amlsec <<'CFG'
app_insights "extra" {
  resource_group = resource_group.ml
  name           = "appi-sem-extra"
}
lock "rg" {
  target = resource_group.ml
  name   = "no-delete"
  level  = "CanNotDelete"
}
CFG
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > l1.out 2>&1
grep -q 'Apply complete! Resources: 2 added' l1.out || fail "the lock and the extra resource were not created"
# a replacement under the lock that stays: refused before approval
sed -i 's/name           = "appi-sem-extra"/name           = "appi-sem-extra2"/' extra.amlsec
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > l2.out 2>&1
grep -q 'error: app_insights.extra: this plan replaces it, but lock.rg (CanNotDelete) on /subscriptions/.*/resourceGroups/rg-sem stays: ARM refuses the delete (ScopeLocked)' l2.out \
  || fail "a replacement under a lock that stays is not refused"
grep -q 'hint: remove lock.rg from the configuration for this apply' l2.out || fail "no way out named"
# both removed: the lock goes first
printf '' > extra.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > l3.out 2>&1
grep -q '\[group 1\] delete  lock.rg' l3.out || fail "the lock is not deleted first"
grep -q '\[group 2\] delete  app_insights.extra' l3.out || fail "the resource does not wait for the lock's delete"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > l4.out 2>&1
grep -q 'Apply complete! Resources: 0 added, 0 changed, 2 destroyed.' l4.out || fail "lock and resource not both deleted"
rm extra.amlsec
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > l5.out 2>&1

echo "e2e_plan_semantics: passed"
