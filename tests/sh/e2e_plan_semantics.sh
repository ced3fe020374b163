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
#   5. workspace soft delete (defect 1, and the local cloud's side of issue 17 item 8): replacing
#      a workspace under its own name is refused before approval, naming the ways out;
#      lifecycle.purge_on_destroy purges it (DELETE ?forceToPurge=true) and the replacement
#      applies; a deleted workspace is soft-deleted, listed with its purge date, holds its name
#      (a create is refused at plan time, naming recover, import and purge), can be recovered
#      and imported, or purged; after 14 days it is gone on its own;
#   6. a workspace replacement plans the delete and re-create of its managed children and
#      scoped resources (a compute cluster, a role assignment at its scope), names the unmanaged
#      ones it takes with it (an online endpoint, a role assignment made by hand), and leaves
#      no "has been deleted" drift behind (defect 2).
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0 --data cloud)
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
curl -sf "$url$ws?api-version=2025-09-01" | grep '"publicNetworkAccess": *"Disabled"' > /dev/null || fail "apply did not send false"

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
"$AMLSEC" help > help.txt 2>&1
grep -q "'plan -detailed-exitcode' exits 2 when the plan" help.txt || fail "help does not say when plan exits 2"
"$AMLSEC" plan -help > plan-help.txt 2>&1
grep -q 'without it plan exits 0' plan-help.txt || fail "plan -help does not say plain plan exits 0"

echo "3. a failed vault update does not skip the workspace's security fix"
sed -i 's/env = "test"/env = "stage"/' main.amlsec
patch "$ws" '{"properties":{"publicNetworkAccess":"Enabled"}}'
# the vault's PUT is refused outright (403: not retried); a 500 would be retried with ARM's
# backoff for minutes before failing the same way, and this test is not about retries
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"kind":"403","method":"PUT","path":"*/vaults/kv-sem-001","times":50}' "$url/_armlocal/faults" > /dev/null \
  || fail "fault"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out d4.plan > d4p.out 2>&1
grep -q 'Plan: 0 to add, 2 to change, 0 to destroy.' d4p.out || fail "vault and workspace updates are not both planned"
grep -q '\[group 1\] update  workspace.w' d4p.out || fail "the workspace update still waits for the vault's"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color d4.plan > d4a.out 2>&1
grep -q 'key_vault.kv: Modifying failed' d4a.out || fail "the vault update did not fail"
grep -q 'workspace.w: skipped' d4a.out && fail "the workspace fix was skipped"
grep -q 'workspace.w: Modifications complete' d4a.out || fail "the workspace fix was not applied"
curl -sf "$url$ws?api-version=2025-09-01" | grep '"publicNetworkAccess": *"Disabled"' > /dev/null || fail "the workspace is still public"
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

echo "5. workspace soft delete: a same-name replacement is refused; purge_on_destroy; recover; purge; expiry"
deleted_list() { curl -sf "$url/subscriptions/$sub/providers/Microsoft.MachineLearningServices/deletedWorkspaces?api-version=2025-09-01"; }
ws_status() { curl -s -o /dev/null -w '%{http_code}' "$url$ws?api-version=2025-09-01"; }
python3 - <<'PY'
s = open("main.amlsec").read()
i = s.index('workspace "w" {')
j = s.index("}\n", i) + 2
open("ws.amlsec", "w").write(s[i:j].replace('  app_insights    = app_insights.ai\n', '  app_insights    = app_insights.ai\n  hbi             = true\n'))
open("main.amlsec", "w").write(s[:i] + s[j:])
PY
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > s1.out 2>&1
grep -q "error: workspace.w: replacing it deletes workspace 'mlw-sem' and creates it again under the same name, but Azure keeps a deleted workspace soft-deleted for 14 days, holding its name: the create would fail, leaving no workspace" s1.out \
  || fail "a same-name replacement of a soft-deleting workspace is not refused"
grep -q 'hint: set lifecycle { purge_on_destroy = true } to delete it permanently first (its data cannot be recovered), or give it a new name with lifecycle { create_before_destroy = true }' s1.out \
  || fail "the ways out are not named"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > s2.out 2>&1
[ "$(ws_status)" = 200 ] || fail "the refused apply deleted the workspace"
# purge_on_destroy: the replacement purges the old workspace and creates the new one
sed -i 's/  hbi             = true/  hbi             = true\n  lifecycle {\n    purge_on_destroy = true\n  }/' ws.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out s3.plan > s3.out 2>&1
grep -q "workspace 'mlw-sem' is deleted permanently (lifecycle.purge_on_destroy: DELETE with forceToPurge=true): it cannot be recovered" s3.out \
  || fail "the permanent delete is not said before approval"
# into a file: grep -q stops reading at the match, and under pipefail the writer's SIGPIPE on
# a large document would fail the line
"$AMLSEC" show -json s3.plan > s3.json || fail "show -json s3.plan"
grep -q '"delete_query": "forceToPurge=true"' s3.json || fail "show -json does not carry the purge"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color s3.plan > s4.out 2>&1
grep -q 'Apply complete! Resources: 1 added, 0 changed, 1 destroyed.' s4.out || fail "the purging replacement did not apply"
deleted_list | grep 'mlw-sem' > /dev/null && fail "the purged workspace is soft-deleted"
curl -sf "$url$ws?api-version=2025-09-01" | grep '"hbiWorkspace": *true' > /dev/null || fail "the new workspace is not the replacement"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > s5.out 2>&1
# a plain delete soft-deletes it: the plan says so, the list shows it with its purge date
sed -i '/lifecycle {/,/  }/d' ws.amlsec
mv ws.amlsec ws.off
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > s6.out 2>&1
grep -q "workspace 'mlw-sem' is soft-deleted: Azure keeps a deleted workspace soft-deleted for 14 days, holding its name; recover it within them, or purge it" s6.out \
  || fail "the soft delete is not said before approval"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > s7.out 2>&1
deleted_list > s7.json || fail "the soft-deleted workspaces cannot be listed"
python3 - <<'PY' || fail "the soft-deleted workspace is not listed with its dates"
import json, datetime
v = json.load(open("s7.json"))["value"]
assert len(v) == 1 and v[0]["name"] == "mlw-sem", v
p = v[0]["properties"]
d = datetime.datetime.fromisoformat(p["deletedDate"].replace("Z", "+00:00"))
u = datetime.datetime.fromisoformat(p["scheduledPurgeDate"].replace("Z", "+00:00"))
assert u - d == datetime.timedelta(days=14), (d, u)
assert p["hbiWorkspace"] is True
PY
curl -sf "$url$rg/providers/Microsoft.MachineLearningServices/deletedWorkspaces/mlw-sem?api-version=2025-09-01" \
  | grep '"provisioningState": *"SoftDeleted"' > /dev/null || fail "the soft-deleted workspace cannot be read"
# the name is held: creating it again is refused at plan time, with the ways out
mv ws.off ws.amlsec
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > s8.out 2>&1
grep -q "error: workspace.w: a soft-deleted workspace named 'mlw-sem' holds this name until 20[0-9-]*T[0-9:.]*Z: Azure refuses to create another one" s8.out \
  || fail "a create over a held name is not refused at plan time"
grep -q "and adopt it with amlsec import 'workspace.w' '$ws'; or purge it (DELETE $ws?forceToPurge=true" s8.out \
  || fail "recover, import and purge are not offered"
# recover it, then adopt it
curl -sf -X POST "$url$rg/providers/Microsoft.MachineLearningServices/deletedWorkspaces/mlw-sem/recover?api-version=2025-09-01" \
  > /dev/null || fail "recover"
[ "$(ws_status)" = 200 ] || fail "the recovered workspace is not there"
deleted_list | grep 'mlw-sem' > /dev/null && fail "the recovered workspace is still listed as deleted"
expect_exit 0 "$AMLSEC" import -cloud "$url" -no-color workspace.w "$ws" > s9.out 2>&1
grep -q 'It matches the configuration.' s9.out || fail "the recovered workspace does not match"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > s10.out 2>&1
# soft-deleted again, then purged by hand: the name is free
mv ws.amlsec ws.off
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > s11.out 2>&1
[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$url$ws?api-version=2025-09-01&forceToPurge=true")" = 200 ] \
  || fail "purging the soft-deleted workspace"
deleted_list | grep 'mlw-sem' > /dev/null && fail "the purged workspace is still listed"
mv ws.off ws.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > s12.out 2>&1
grep -q 'Apply complete! Resources: 1 added' s12.out || fail "the freed name could not be used"
# after 14 days a soft-deleted workspace is purged on its own (the store's clock moved back)
mv ws.amlsec ws.off
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > s13.out 2>&1
deleted_list | grep 'mlw-sem' > /dev/null || fail "not soft-deleted"
stop_cloud
python3 - <<'PY' || fail "could not age the soft-deleted workspace"
import json
d = json.load(open("cloud/armlocal.json"))
for v in d["deletedWorkspaces"].values():
    v["purgeAtMs"] -= 14 * 86400 * 1000 + 1000
json.dump(d, open("cloud/armlocal.json", "w"))
PY
start_cloud
deleted_list | grep 'mlw-sem' > /dev/null && fail "the soft-deleted workspace outlived its 14 days"
mv ws.off ws.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > s14.out 2>&1

echo "6. a replacement re-creates the managed children and names the unmanaged ones lost"
sed -i 's/  hbi             = true/  hbi             = true\n  lifecycle {\n    purge_on_destroy = true\n  }/' ws.amlsec
cat > children.amlsec <<'CFG'
compute_cluster "c" {
  workspace      = workspace.w
  name           = "cpu"
  vm_size        = "Standard_DS3_v2"
  node_public_ip = false
  local_auth     = false
  scale {
    min = 0
    max = 2
  }
}
role_assignment "ds" {
  principal      = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
  principal_type = "Group"
  role           = "AzureML Data Scientist"
  scope          = workspace.w
}
CFG
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > c1.out 2>&1
grep -q 'Apply complete! Resources: 2 added' c1.out || fail "the children were not created"
curl -sf -X PUT -H 'Content-Type: application/json' -d '{"location":"westeurope","properties":{"authMode":"AADToken"}}' \
  "$url$ws/onlineEndpoints/handmade?api-version=2025-09-01" > /dev/null || fail "unmanaged endpoint"
ra=8b1f0c55-0000-4000-8000-00000000beef
curl -sf -X PUT -H 'Content-Type: application/json' \
  -d "{\"properties\":{\"roleDefinitionId\":\"/subscriptions/$sub/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7\",\"principalId\":\"6e1d3c1a-1111-4222-8333-444455556666\"}}" \
  "$url$ws/providers/Microsoft.Authorization/roleAssignments/$ra?api-version=2022-04-01" > /dev/null || fail "unmanaged role assignment"
sed -i 's/  hbi             = true/  hbi             = false/' ws.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out c2.plan > c2.out 2>&1
grep -q 'compute_cluster.c must be replaced' c2.out || fail "the compute cluster's re-creation is not planned"
grep -q 'role_assignment.ds must be replaced' c2.out || fail "the role assignment's re-creation is not planned"
grep -q 'replacing workspace.w deletes compute_cluster.c with it (ARM deletes what lies under it): it is created again afterwards' c2.out \
  || fail "the child's replacement is not explained"
grep -q 'not managed by amlsec, and deleted with workspace.w: .*onlineEndpoints/handmade' c2.out || fail "the unmanaged endpoint is not named"
grep -q "not managed by amlsec, and deleted with workspace.w: .*roleAssignments/$ra" c2.out || fail "the unmanaged role assignment is not named"
grep -q 'Plan: 3 to add, 0 to change, 3 to destroy.' c2.out || fail "the plan does not count the children"
grep -q '\[group 2\] replace compute_cluster.c' c2.out || fail "the child is not re-created after its parent"
"$AMLSEC" show -json c2.plan > c2.json || fail "show -json"
python3 - <<'PY' || fail "the plan JSON does not carry the children's replacement"
import json
rc = {c["address"]: c for c in json.load(open("c2.json"))["resource_changes"]}
for a in ("compute_cluster.c", "role_assignment.ds"):
    assert rc[a]["change"]["actions"] == ["delete", "create"], rc[a]
    assert rc[a]["action_reason"] == "replace_because_parent_replaced", rc[a]
PY
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color c2.plan > c3.out 2>&1
grep -q 'Apply complete! Resources: 3 added, 0 changed, 3 destroyed.' c3.out || fail "the replacement with its children did not apply"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > c4.out 2>&1
grep -q 'has been deleted' c4.out && fail "the children show up as deleted drift"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url$ws/onlineEndpoints/handmade?api-version=2025-09-01")" = 404 ] \
  || fail "the unmanaged endpoint survived (the note was wrong)"

echo "7. a renamed resource group is replaced (its state id, read by id alone, has no /providers/)"
mkdir rgren && cd rgren || exit 1
printf 'settings {\n  subscription = "%s"\n}\n\nresource_group "r" {\n  name     = "rg-sem-a"\n  location = "westeurope"\n}\n' "$sub" > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > r1.out 2>&1
sed -i 's/rg-sem-a/rg-sem-b/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > r2.out 2>&1
grep -q 'resource_group.r must be replaced' r2.out || fail "the renamed group is not replaced"
grep -q 'Plan: 1 to add, 0 to change, 1 to destroy.' r2.out || fail "the rename's plan summary"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > r3.out 2>&1
grep -q 'Apply complete! Resources: 1 added, 0 changed, 1 destroyed.' r3.out || fail "the rename did not apply"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > r4.out 2>&1
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/subscriptions/$sub/resourceGroups/rg-sem-a?api-version=2021-04-01")" = 404 ] \
  || fail "the old group survived its replacement"
cd "$work" || exit 1

echo "e2e_plan_semantics: passed"
