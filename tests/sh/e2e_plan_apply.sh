#!/usr/bin/env bash
# End to end against the local cloud (issue 7's scenarios): the bundled example applies and a
# second plan shows no changes; drift made out of band shows up and is corrected; an hbi change
# is a replacement with its impact note and prevent_destroy blocks it; saved plans that are stale
# or tampered with are refused; a fault mid-apply leaves a correct state and a re-run converges;
# destroy honours prevent_destroy; import followed by plan shows no changes (a -target plan that
# leaves the resource missing from the state out is not stopped by it); a requested CMK
# rotation is a new key version through the Key Vault data plane plus a PATCH of the workspace's
# key identifier, and a rotation-policy change a data-plane PUT.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--data .amlsec/local)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
cp "$SRC/examples/secure-workspace/main.amlsec" .
orig=$(cat main.amlsec)
ws=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml-prod/providers/Microsoft.MachineLearningServices/workspaces/mlw-prod

echo "1. apply the bundled example against the embedded local cloud; plan again: no changes; rotate its key"
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color > apply1.out 2>&1
grep -q 'Apply complete! Resources: 35 added, 0 changed, 0 destroyed.' apply1.out || fail "apply summary"
expect_exit 0 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > plan1.out 2>&1
grep -q 'No changes.' plan1.out || fail "second plan is not empty"
# the embedded cloud listens where it did before: the vault URI it stored still reaches its data plane
port=$(cat .amlsec/local/port)
# it and the vault's data plane listen on kept ports, below the kernel's ephemeral range, which
# other programs' port-0 listeners and outgoing connections take theirs from (docs/local-cloud.md)
read -r low _ < /proc/sys/net/ipv4/ip_local_port_range
vport=$(jq '.vaultPorts["kv-ml-prod-cmk"]' .amlsec/local/armlocal.json)
[ "$port" -ge 10000 ] && [ "$port" -lt "$low" ] && [ "$vport" -ge 10000 ] && [ "$vport" -lt "$low" ] \
  || fail "the embedded cloud listens on $port and the vault on $vport, not below $low"
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color -replace key.workspace > rot-local.out 2>&1
grep -q 'Apply complete! Resources: 0 added, 2 changed, 0 destroyed.' rot-local.out || fail "rotation in the embedded cloud"
[ "$(cat .amlsec/local/port)" = "$port" ] || fail "the embedded cloud moved to another port"
expect_exit 0 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > plan1b.out 2>&1

echo "2. drift made through armlocal's control API shows up and apply corrects it"
start_cloud
curl -sf -X PATCH -H 'Content-Type: application/json' \
  -d '{"properties":{"publicNetworkAccess":"Enabled"}}' "$url/_armlocal/resources$ws" > /dev/null \
  || fail "control API patch"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > drift.out 2>&1
grep -q 'Objects have changed outside of amlsec' drift.out || fail "no drift section"
grep -q 'workspace.prod has been changed' drift.out || fail "workspace drift not reported"
grep -q 'public_network_access = true -> false' drift.out || fail "the correcting update is not shown"
grep -q 'Plan: 0 to add, 1 to change, 0 to destroy.' drift.out || fail "drift plan summary"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > fix.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > fixed.out 2>&1

echo "3. an hbi change is a replacement: prevent_destroy blocks it, the impact note explains it"
sed -i 's/hbi                   = true/hbi                   = false/' main.amlsec
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > hbi.out 2>&1
grep -q 'workspace.prod has lifecycle.prevent_destroy set, but this plan replaces it (replace_because_create_only: hbi)' hbi.out \
  || fail "prevent_destroy did not block the hbi replacement"
sed -i 's/prevent_destroy = true/prevent_destroy = false/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > hbi2.out 2>&1
grep -q -- '-/+ workspace "prod"' hbi2.out || fail "no -/+ replacement"
grep -q 'hbi = true -> false # forces replacement' hbi2.out || fail "no forces replacement"
grep -q 'replacing workspace.prod destroys its run history' hbi2.out || fail "no impact note"
# create_before_destroy needs a new name: with the same one the old workspace goes first
sed -i 's/prevent_destroy = false/prevent_destroy = false\n    create_before_destroy = true/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > hbi3.out 2>&1
grep -q -- '-/+ workspace "prod"' hbi3.out || fail "create_before_destroy with the same name is not delete-first"
grep -q 'workspace.prod keeps its name, so create_before_destroy cannot apply' hbi3.out || fail "no create_before_destroy note"
printf '%s\n' "$orig" > main.amlsec

echo "4. saved plans: a tampered plan and a stale plan are refused"
sed -i 's/max = 4/max = 6/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out p.plan > saved.out 2>&1
grep -q 'compute_cluster.build will be updated in-place' saved.out || fail "scale change is not an in-place update"
python3 - <<'PY' || fail "could not tamper"
import json
d = json.load(open("p.plan"))
for c in d["plan"]["resource_changes"]:
    c["request_body"]["properties"]["properties"]["scaleSettings"]["maxNodeCount"] = 60
json.dump(d, open("tampered.plan", "w"))
PY
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color tampered.plan > tampered.out 2>&1
grep -q 'modified after it was written (checksum mismatch)' tampered.out || fail "tampered plan not refused"
cp p.plan stale.plan
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color p.plan > saved-apply.out 2>&1
grep -q 'Apply complete! Resources: 0 added, 1 changed, 0 destroyed.' saved-apply.out || fail "saved plan apply"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color stale.plan > stale.out 2>&1
grep -q 'is stale' stale.out || fail "stale plan not refused"
printf '%s\n' "$orig" > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > back.out 2>&1

echo "5. destroy honours prevent_destroy, then destroys everything"
expect_exit 1 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color > d1.out 2>&1
grep -q 'prevent_destroy set, but this plan destroys it' d1.out || fail "destroy not blocked"
sed -i 's/prevent_destroy = true/prevent_destroy = false/' main.amlsec
expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color > d2.out 2>&1
grep -q '^Destroy complete! Resources: 35 destroyed.$' d2.out || fail "destroy summary"
[ "$("$AMLSEC" state list | wc -l)" = 0 ] || fail "state not empty after destroy"
printf '%s\n' "$orig" > main.amlsec
stop_cloud

echo "6. a fault mid-apply: the rest lands in the state, dependents are skipped, a re-run converges"
# a fresh cloud and state: the destroyed vault's name stays reserved (soft delete), as in Azure
rm -rf .amlsec
start_cloud --faults 'kind=lro-failed,method=PUT,path=*/workspaces/mlw-prod,times=1'
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > f1.out 2>&1
grep -q 'workspace.prod: Creating failed' f1.out || fail "workspace failure not reported"
grep -q 'online_endpoint.scoring: skipped: workspace.prod did not complete' f1.out || fail "dependent not skipped"
grep -q 'apply incomplete: 28 done, 1 failed, 6 skipped' f1.out || fail "partial apply summary"
[ "$("$AMLSEC" state list | wc -l)" = 29 ] || fail "state should hold the 28 created and the failed one"
"$AMLSEC" state list -json | grep -q '"status": "tainted"' || fail "the failed workspace is not tainted"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > f2.out 2>&1
grep -q 'Resources: 7 added' f2.out || fail "re-run did not converge"
grep -q 'workspace.prod: Creation complete' f2.out || fail "the tainted workspace was not created again"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > f3.out 2>&1

echo "7. import: a resource missing from the state is refused by plan, imported, then no changes"
appi=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml-prod/providers/Microsoft.Insights/components/appi-ml-prod
expect_exit 0 "$AMLSEC" state rm app_insights.ml > rm.out 2>&1
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > i1.out 2>&1
grep -q 'app_insights.ml already exists in Azure but not in the state' i1.out || fail "not-in-state not detected"
grep -q "amlsec import 'app_insights.ml'" i1.out || fail "no import hint"
# -target leaves it out of the plan: no error for what the plan does not touch (as Terraform);
# a target that depends on it still hits it
expect_exit 0 "$AMLSEC" plan -cloud "$url" -target key_vault.cmk -detailed-exitcode -no-color > i1t.out 2>&1
expect_exit 1 "$AMLSEC" plan -cloud "$url" -target workspace.prod -no-color > i1w.out 2>&1
grep -q 'app_insights.ml already exists in Azure but not in the state' i1w.out || fail "not-in-state not detected for a target's dependency"
expect_exit 0 "$AMLSEC" import -cloud "$url" -no-color app_insights.ml "$appi" > i2.out 2>&1
grep -q 'It matches the configuration.' i2.out || fail "import did not match"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > i3.out 2>&1

echo "8. show -json redacts and follows docs/plan-json.md; graph prints DOT"
sed -i 's/max = 4/max = 5/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out s.plan > s.out 2>&1
"$AMLSEC" show -json s.plan > show.json || fail "show -json"
python3 - <<'PY' || fail "show -json schema"
import json
d = json.load(open("show.json"))
assert d["format_version"] == "1.0"
rc = [r for r in d["resource_changes"] if r["change"]["actions"] != ["no-op"]]
assert len(rc) == 1 and rc[0]["address"] == "compute_cluster.build"
# Terraform's no-op entries for the resources the plan leaves alone
assert len(d["resource_changes"]) > 10
assert rc[0]["change"]["actions"] == ["update"]
assert "request_body" not in rc[0]
assert d["summary"] == {"add": 0, "change": 1, "destroy": 0}
PY
"$AMLSEC" graph > g.dot || fail "graph"
grep -q '"workspace.prod" -> "key.workspace"' g.dot || grep -q 'workspace.prod' g.dot || fail "graph has no workspace"
printf '%s\n' "$orig" > main.amlsec

echo "9. a new key version (rotation in Key Vault) is an in-place update of the workspace, never a replacement"
vault_uri() { # the vault's data plane (its own port on armlocal's host)
  curl -sf "$url/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml-prod/providers/Microsoft.KeyVault/vaults/kv-ml-prod-cmk?api-version=2025-05-01" \
    | sed -E 's/.*"vaultUri":"([^"]*)".*/\1/'
}
curl -sf -X POST -H 'Content-Type: application/json' -H 'Authorization: Bearer local' -d '{}' \
  "$(vault_uri)keys/workspace/rotate?api-version=7.6" > /dev/null || fail "rotate"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > rot.out 2>&1
grep -q 'workspace.prod will be updated in-place' rot.out || fail "rotation is not an in-place update"
grep -q 'encryption.key = "http.*/keys/workspace/[0-9a-f]\{32\}" -> "http.*/keys/workspace/[0-9a-f]\{32\}"' rot.out \
  || fail "the key version change is not shown"
grep -q 'rotating the CMK takes about an hour to take effect' rot.out || fail "no rotation note"
grep -q 'must be replaced' rot.out && fail "rotation replaced something"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > rot2.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > rot3.out 2>&1
echo "10. kill -9 during an apply: the next run recovers the in-flight operation from the journal"
stop_cloud
rm -rf .amlsec
start_cloud --faults 'kind=slow,ms=3000,method=PUT,path=*/workspaces/mlw-prod,times=1'
"$AMLSEC" apply -cloud "$url" -auto-approve -no-color > k1.out 2>&1 &
apid=$!
for _ in $(seq 600); do grep -q 'workspace.prod: Creating' k1.out && break; sleep 0.1; done
grep -q 'workspace.prod: Creating' k1.out || fail "the workspace create never started"
sleep 0.5
kill -9 "$apid"; wait "$apid" 2>/dev/null
grep -q 'Apply complete' k1.out && fail "the apply finished before it was killed"
sleep 3 # let the local cloud finish the request the dead client sent
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > k2.out 2>&1
# independent operations (private endpoints) may be in flight beside the workspace
grep -q 'recovered [1-9][0-9]* in-flight operations\{0,1\} from an interrupted apply' k2.out \
  || fail "no recovery report"
grep -q 'create workspace.prod: ' k2.out || fail "the recovered operation is not named"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > k3.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > k4.out 2>&1
echo "11. renaming a resource replaces it: the old one is deleted, with and without create_before_destroy"
comp=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml-prod/providers/Microsoft.Insights/components
status() { curl -s -o /dev/null -w '%{http_code}' "$url$comp/$1?api-version=2020-02-02"; }
sed -i 's/"appi-ml-prod"/"appi-ml-prod2"/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > rn1.out 2>&1
grep -q -- '-/+ app_insights "ml"' rn1.out || fail "a rename is not a replacement"
grep -q 'id = ".*/appi-ml-prod" -> ".*/appi-ml-prod2" # forces replacement' rn1.out || fail "the ids are not shown"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > rn2.out 2>&1
[ "$(status appi-ml-prod)" = 404 ] || fail "the old resource was left behind"
[ "$(status appi-ml-prod2)" = 200 ] || fail "the new resource was not created"
sed -i 's/"appi-ml-prod2"/"appi-ml-prod3"\n  lifecycle {\n    create_before_destroy = true\n  }/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > rn3.out 2>&1
grep -q -- '+/- app_insights "ml"' rn3.out || fail "create_before_destroy is not shown"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > rn4.out 2>&1
[ "$(status appi-ml-prod2)" = 404 ] || fail "create_before_destroy left the old resource behind"
grep -q 'app_insights.ml: Destruction complete after .*\[id=.*/appi-ml-prod2\]' rn4.out \
  || fail_with "the old resource's delete does not name the old id" rn4.out
[ "$(status appi-ml-prod3)" = 200 ] || fail "create_before_destroy did not create the new one"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > rn5.out 2>&1
"$AMLSEC" state list | grep -q 'previous' && fail "a '(previous)' entry was left in the state"
# the old resource's delete fails (a lock): it stays in the state, and the next run deletes it
hold="$url$comp/appi-ml-prod3/providers/Microsoft.Authorization/locks/hold?api-version=2020-05-01"
curl -sf -X PUT -H 'Content-Type: application/json' -d '{"properties":{"level":"CanNotDelete"}}' \
  "$hold" > /dev/null || fail "lock the old resource"
sed -i 's/"appi-ml-prod3"/"appi-ml-prod4"/' main.amlsec
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > rn6.out 2>&1
[ "$(status appi-ml-prod4)" = 200 ] || fail_with "the new resource was not created" rn6.out
"$AMLSEC" state list | grep -qx 'app_insights.ml (previous)' || fail_with "the old resource left the state" rn6.out
curl -sf -X DELETE "$hold" > /dev/null || fail "unlock"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > rn7.out 2>&1
grep -q -- '- app_insights "ml (previous)"\|app_insights.ml (previous) will be destroyed' rn7.out \
  || fail_with "the old resource is not planned for deletion" rn7.out
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > rn8.out 2>&1
[ "$(status appi-ml-prod3)" = 404 ] || fail_with "the old resource was left behind" rn8.out
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > rn9.out 2>&1
echo "12. CMK rotation by request: a new key version through the Key Vault data plane, then a PATCH of the workspace's key identifier"
kid=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml-prod/providers/Microsoft.KeyVault/vaults/kv-ml-prod-cmk/keys/workspace
jget() { # url, then a python expression over d (a token: the Key Vault data plane challenges without one)
  curl -sf -H 'Authorization: Bearer local' "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}
key_version() { jget "$url$kid?api-version=2025-05-01" 'd["properties"]["keyUriWithVersion"]'; }
ws_key() { jget "$url$ws?api-version=2025-09-01" 'd["properties"]["encryption"]["keyVaultProperties"]["keyIdentifier"]'; }
requests() { # "METHOD /path" (lowercased): how many times armlocal served it
  jget "$url/_armlocal/requests" "d['byPath'].get('$1', 0)"
}
old_version=$(key_version)
[ -n "$old_version" ] && [ "$(ws_key)" = "$old_version" ] || fail "the workspace does not use the key's current version"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -replace key.workspace > cmk1.out 2>&1
grep -q 'key.workspace will be updated in-place (new version)' cmk1.out || fail "the key rotation is not an in-place update"
grep -q '(through the Key Vault data plane: a new key version)' cmk1.out || fail "the key's data-plane request is not shown"
grep -q 'versioned_uri = "http.*/keys/workspace/[0-9a-f]\{32\}" -> (known after apply)' cmk1.out || fail "the new version is not known after apply"
grep -q 'workspace.prod will be updated in-place' cmk1.out || fail "the workspace is not updated in place"
grep -q '(sent as a PATCH of the changed fields only)' cmk1.out || fail "the workspace update is not a PATCH"
grep -q 'encryption.key = "http.*/keys/workspace/[0-9a-f]\{32\}" -> (known after apply)' cmk1.out || fail "the key identifier is not known after apply"
grep -q 'rotating the CMK takes about an hour to take effect' cmk1.out || fail "no rotation note"
grep -q '1. \[group 1\] update  key.workspace (new version)' cmk1.out || fail "the key step is not first"
grep -q '2. \[group 2\] update  workspace.prod' cmk1.out || fail "the workspace step does not follow the key step"
grep -q '^Execution order (each step starts once the steps it depends on have succeeded;$' cmk1.out \
  || fail "the execution order does not say when a step starts"
grep -q 'run together' cmk1.out && fail "the plan still says a group's steps run together"
grep -q 'Plan: 0 to add, 2 to change, 0 to destroy.' cmk1.out || fail "rotation plan summary"
grep -q 'must be replaced' cmk1.out && fail "rotation replaced something"
curl -sf -X DELETE "$url/_armlocal/requests" > /dev/null || fail "request log reset"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -replace key.workspace > cmk2.out 2>&1
grep -q 'Apply complete! Resources: 0 added, 2 changed, 0 destroyed.' cmk2.out || fail "rotation apply"
new_version=$(key_version)
[ "$new_version" != "$old_version" ] || fail "no new key version in the local cloud"
[ "$(ws_key)" = "$new_version" ] || fail "the workspace's keyIdentifier is not the new version"
[ "$(requests 'POST /_vault/kv-ml-prod-cmk/keys/workspace/create')" = 1 ] || fail "no data-plane create request"
wsl=$(echo "$ws" | tr 'A-Z' 'a-z')
[ "$(requests "PATCH $wsl")" = 1 ] || fail "the workspace was not PATCHed"
[ "$(requests "PUT $wsl")" = 0 ] || fail "the workspace got a full PUT"
"$AMLSEC" state show key.workspace | grep -q "${new_version##*/}" || fail "the state does not hold the new version"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > cmk3.out 2>&1

echo "13. a rotation-policy change is a PUT through the Key Vault data plane, and nothing else changes"
sed -i 's/rotate_before_expiry = "P30D"/rotate_before_expiry = "P45D"/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > pol1.out 2>&1
grep -q 'key.workspace will be updated in-place$' pol1.out || fail "the policy change is not an in-place update"
grep -q '(through the Key Vault data plane: the rotation policy)' pol1.out || fail "the policy request is not shown"
grep -q 'rotation.rotate_before_expiry = "P30D" -> "P45D"' pol1.out || fail "the policy change is not shown"
grep -q 'Plan: 0 to add, 1 to change, 0 to destroy.' pol1.out || fail "a policy change touches more than the key"
curl -sf -X DELETE "$url/_armlocal/requests" > /dev/null || fail "request log reset"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > pol2.out 2>&1
[ "$(requests 'PUT /_vault/kv-ml-prod-cmk/keys/workspace/rotationpolicy')" = 1 ] || fail "no data-plane rotation policy PUT"
[ "$(requests 'POST /_vault/kv-ml-prod-cmk/keys/workspace/create')" = 0 ] || fail "a policy change made a new version"
[ "$(key_version)" = "$new_version" ] || fail "a policy change made a new version"
[ "$(jget "$(vault_uri)keys/workspace/rotationpolicy?api-version=7.6" \
  '[a["trigger"].get("timeBeforeExpiry") for a in d["lifetimeActions"] if a["action"]["type"] == "Rotate"][0]')" = P45D ] \
  || fail "the data plane does not hold the new policy"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > pol3.out 2>&1
echo "14. kill -9 while the new key version is being made: the journal recovers the key's step, a re-run only PATCHes the workspace"
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"kind":"slow","ms":3000,"method":"POST","path":"*/keys/workspace/create","times":1}' \
  "$url/_armlocal/faults" > /dev/null || fail "fault"
curl -sf -X DELETE "$url/_armlocal/requests" > /dev/null || fail "request log reset"
"$AMLSEC" apply -cloud "$url" -auto-approve -no-color -replace key.workspace > half1.out 2>&1 &
apid=$!
for _ in $(seq 100); do grep -q 'key.workspace: Modifying' half1.out && break; sleep 0.1; done
grep -q 'key.workspace: Modifying' half1.out || fail "the key update never started"
sleep 0.5
kill -9 "$apid"; wait "$apid" 2>/dev/null
grep -q 'workspace.prod: Modifying' half1.out && fail "the apply reached the workspace before it was killed"
sleep 3 # let the local cloud finish the request the dead client sent
rotated=$(key_version)
[ "$rotated" != "$new_version" ] || fail "the dead client's new version did not land"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > half2.out 2>&1
grep -q 'recovered 1 in-flight operation from an interrupted apply' half2.out || fail "no recovery report"
grep -q 'update key.workspace: ' half2.out || fail "the recovered key step is not named"
"$AMLSEC" state show key.workspace | grep -q "${rotated##*/}" || fail "the recovered key version is not in the state"
grep -q 'Plan: 0 to add, 1 to change, 0 to destroy.' half2.out || fail "the re-run plans more than the workspace"
grep -q "encryption.key = \".*/${new_version##*/}\" -> \".*/${rotated##*/}\"" half2.out \
  || fail "the re-run does not move the workspace to the recovered version"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > half3.out 2>&1
[ "$(ws_key)" = "$rotated" ] || fail "the workspace did not converge to the new version"
[ "$(key_version)" = "$rotated" ] || fail "the re-run made another key version"
[ "$(requests 'POST /_vault/kv-ml-prod-cmk/keys/workspace/create')" = 1 ] || fail "more than one new version was requested"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > half4.out 2>&1
echo "e2e_plan_apply: 14 passed, 0 failed"
