#!/usr/bin/env bash
# drift reads each resource once through Resource Graph (issue 18): the rows armlocal answers
# (GET /_armlocal/requests/totals, graphRows) are the distinct rows drift needs, not more. 12
# workspace stacks (vault, storage, registry, App Insights, workspace, four private endpoints,
# a role assignment), and out of band: a private endpoint to a workspace, one to a vault through a
# manual connection, one with two connections to managed resources, one to a storage account
# amlsec does not know (never read), an Owner grant of a workspace's own identity on its vault.
# Needed: the managed resources Resource Graph holds (9 a stack), every role assignment (the
# managed ones, Azure's grants to the workspace identities, the one out of band: those at the
# scopes and those of the identities), the three endpoints (the one with two connections in two
# rows). The old drift read the workspaces, vaults, endpoints and role assignments twice, the
# identities' grants again for WS-MI-PERMS, and every private endpoint in the subscription: 330
# rows where 185 are needed, in 8 queries where 7 do (an automatic and a manual endpoint query).
# The findings stay: the three endpoints and the grant are unmanaged, the unrelated endpoint is not.
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
n=12
sub=/subscriptions/00000000-0000-0000-0000-0000000000be
rg=$sub/resourceGroups/rg-reads
subnet=$sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub/subnets/pe
seed() { # PATH TYPE
  curl -sf -X PUT -H 'Content-Type: application/json' \
    -d "{\"type\":\"$2\",\"location\":\"westeurope\",\"properties\":{}}" "$url/_armlocal/resources$1" > /dev/null \
    || fail "seed $1"
}
seed $sub/resourceGroups/rg-net Microsoft.Resources/resourceGroups
seed $sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub Microsoft.Network/virtualNetworks
seed $subnet Microsoft.Network/virtualNetworks/subnets
{
  printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000be"\n  location = "westeurope"\n}\n'
  printf 'resource_group "g" {\n  name = "rg-reads"\n}\n'
  printf 'existing subnet "pe" {\n  id = "%s"\n}\n' "$subnet"
  for i in $(seq 0 $((n - 1))); do
    cat <<CFG
key_vault "v$i" {
  resource_group   = resource_group.g
  name             = "kv-reads-$i"
  purge_protection = true
}
storage_account "s$i" {
  resource_group           = resource_group.g
  name                     = "streads$i"
  allow_blob_public_access = false
}
container_registry "c$i" {
  resource_group = resource_group.g
  name           = "acrreads$i"
  sku            = "Premium"
  admin_user     = true
}
app_insights "a$i" {
  resource_group = resource_group.g
  name           = "appi-reads-$i"
}
workspace "w$i" {
  resource_group      = resource_group.g
  name                = "mlw-reads-$i"
  key_vault           = key_vault.v$i
  storage_account     = storage_account.s$i
  container_registry  = container_registry.c$i
  app_insights        = app_insights.a$i
  image_build_compute = "cpu-build"
}
private_endpoint "pw$i" {
  target      = workspace.w$i
  subresource = "amlworkspace"
  subnet      = existing.subnet.pe.id
}
private_endpoint "pb$i" {
  target      = storage_account.s$i
  subresource = "blob"
  subnet      = existing.subnet.pe.id
}
private_endpoint "pf$i" {
  target      = storage_account.s$i
  subresource = "file"
  subnet      = existing.subnet.pe.id
}
private_endpoint "pv$i" {
  target      = key_vault.v$i
  subresource = "vault"
  subnet      = existing.subnet.pe.id
}
role_assignment "r$i" {
  scope          = workspace.w$i
  principal      = "3f2504e0-4f89-11d3-9a0c-0305e80000$(printf %02d "$i")"
  principal_type = "Group"
  role           = "AzureML Data Scientist"
}
CFG
  done
} > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > apply.out 2>&1

ws0=$rg/providers/Microsoft.MachineLearningServices/workspaces/mlw-reads-0
ws2=$rg/providers/Microsoft.MachineLearningServices/workspaces/mlw-reads-2
kv1=$rg/providers/Microsoft.KeyVault/vaults/kv-reads-1
kv3=$rg/providers/Microsoft.KeyVault/vaults/kv-reads-3
st2=$rg/providers/Microsoft.Storage/storageAccounts/streads2
far=$sub/resourceGroups/rg-net/providers/Microsoft.Storage/storageAccounts/stunrelated
arm() { # METHOD PATH?api-version BODY
  curl -sf -o /dev/null -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$url$2" || fail "$1 $2"
}
pe() { # NAME CONNECTIONS (JSON members of properties)
  arm PUT "$sub/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/$1?api-version=2025-03-01" \
    '{"location":"westeurope","properties":{"subnet":{"id":"'$subnet'"},'"$2"'}}'
}
conn() { echo '{"name":"c'$RANDOM'","properties":{"privateLinkServiceId":"'$1'","groupIds":["'$2'"]}}'; }
arm PUT "$far?api-version=2025-06-01" '{"location":"westeurope","kind":"StorageV2","sku":{"name":"Standard_LRS"},"properties":{}}'
pe pe-auto '"privateLinkServiceConnections":['"$(conn "$ws0" amlworkspace)"']'
pe pe-manual '"manualPrivateLinkServiceConnections":['"$(conn "$kv1" vault)"']'
pe pe-two '"privateLinkServiceConnections":['"$(conn "$st2" blob)"','"$(conn "$ws2" amlworkspace)"']'
pe pe-unrelated '"privateLinkServiceConnections":['"$(conn "$far" blob)"']'
principal=$(curl -sf "$url$rg/providers/Microsoft.MachineLearningServices/workspaces/mlw-reads-3?api-version=2025-09-01" | jq -r .identity.principalId)
[ -n "$principal" ] && [ "$principal" != null ] || fail "no identity on workspace.w3"
arm PUT "$kv3/providers/Microsoft.Authorization/roleAssignments/0c3e3a6c-6a6e-4a39-9f2d-7c1f3a0b9d01?api-version=2022-04-01" \
  '{"properties":{"roleDefinitionId":"'$sub'/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635","principalId":"'$principal'","principalType":"ServicePrincipal"}}'

count() { # KQL -> totalRecords
  curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"subscriptions\":[\"${sub#/subscriptions/}\"],\"query\":\"$1\",\"options\":{\"\$top\":1}}" \
    "$url/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01" | jq .totalRecords
}
assignments=$(count "authorizationresources | where type =~ 'microsoft.authorization/roleassignments' | project id")
needed=$((9 * n + assignments + 4))

echo "1. drift reads each row it needs once, and no unrelated private endpoint"
curl -sf -X DELETE "$url/_armlocal/requests" || fail "clear the request log"
expect_exit 2 "$AMLSEC" drift -cloud "$url" -json > drift.json 2> drift.err
curl -sf "$url/_armlocal/requests/totals" > totals.json || fail "totals"
rows=$(jq .graphRows totals.json)
queries=$(jq '.byVerb.POST // 0' totals.json)
echo "   $rows Resource Graph rows in $queries queries; $needed rows needed ($assignments role assignments)"
[ "$rows" -le "$needed" ] || fail "drift read $rows Resource Graph rows, wanted <= $needed: $(cat totals.json)"
[ "$queries" -le 7 ] || fail "drift sent $queries Resource Graph queries, wanted <= 7: $(cat totals.json)"

echo "2. what the filtered queries find is still reported"
for name in pe-auto pe-manual pe-two; do
  [ "$(jq --arg n "$name" '[.unmanaged[] | select(.type == "Microsoft.Network/privateEndpoints" and (.arm_id | endswith("/" + $n)))] | length' drift.json)" = 1 ] \
    || fail "$name not reported once: $(jq -c '[.unmanaged[] | .message]' drift.json)"
done
jq -e '[.unmanaged[] | select(.arm_id | test("pe-unrelated"))] | length == 0' drift.json > /dev/null \
  || fail "an endpoint to an unmanaged storage account was reported"
jq -e --arg p "$principal" '[.unmanaged[] | select(.type == "Microsoft.Authorization/roleAssignments" and (.message | test("Owner for principal " + $p)) and .scope == "'$kv3'")] | length == 1' drift.json > /dev/null \
  || fail "the workspace identity's Owner grant on its vault: $(jq -c '[.unmanaged[] | .message]' drift.json)"
jq -e '.summary.unmanaged == 4 and .summary.changed == 0 and .summary.deleted == 0 and .summary.missing_grants == 0' drift.json > /dev/null \
  || fail "summary: $(jq -c .summary drift.json) $(jq -c '[.unmanaged[] | .message]' drift.json)"
echo "drift_graph_reads: 2 passed, 0 failed"
