#!/usr/bin/env bash
# What drift sends per workspace stack, and when (issue 18). Stacks shaped like bench_scale's
# (vault, key, storage, registry, App Insights, workspace, compute, online endpoint, four private
# endpoints, a lock, a role assignment), at two sizes in one run.
# 1. ARM requests per stack: the diagnostic settings' list of the workspace, vault, storage
#    account and registry (in no Resource Graph table), the vault's keys (its managed key's
#    refresh is its item in that list) and the compute (in no table either): 6. Before, 11: a
#    list of private endpoint connections per workspace, vault, storage account and registry
#    (Resource Graph's rows of them hold the connections, as their GETs do) and a GET of the
#    managed key beside the list of the vault's keys. Counted from the difference between the
#    sizes (the constant part cancels); an unmanaged key, diagnostic setting and private endpoint
#    connection planted in the larger estate are still reported.
# 2. The lists go out while Resource Graph's quota makes drift wait, not after its last query:
#    the quota is used up before drift starts (14 queries of 15), so its queries wait for the
#    window; every diagnostic settings list must be answered before the last Resource Graph query
#    (amlsec's debug log, one line per answer, in order). Before, drift listed them after the
#    plan's refresh, after every query. And the report's work (the lists' findings, the scopes'
#    bodies) is done before the last Resource Graph query (the policy assignments'), not after its
#    answer: before, it followed every query.
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
sub=/subscriptions/00000000-0000-0000-0000-0000000000be
subnet=$sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub/subnets/pe
seed() { # PATH TYPE
  curl -sf -X PUT -H 'Content-Type: application/json' \
    -d "{\"type\":\"$2\",\"location\":\"westeurope\",\"properties\":{}}" "$url/_armlocal/resources$1" > /dev/null \
    || fail "seed $1"
}
arm() { # METHOD PATH?api-version BODY
  curl -sf -o /dev/null -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$url$2" || fail "$1 $2"
}
stacks() { # N: the configuration of N stacks
  printf 'settings {\n  subscription = "%s"\n  location = "westeurope"\n}\n' "${sub#/subscriptions/}"
  printf 'resource_group "g" {\n  name = "rg-req"\n}\n'
  printf 'existing subnet "pe" {\n  id = "%s"\n}\n' "$subnet"
  for i in $(seq 0 $(($1 - 1))); do
    cat <<CFG
key_vault "v$i" {
  resource_group   = resource_group.g
  name             = "kv-req-$i"
  purge_protection = true
}
key "k$i" {
  vault = key_vault.v$i
  type  = "RSA-HSM"
  size  = 3072
}
storage_account "s$i" {
  resource_group           = resource_group.g
  name                     = "streq$i"
  allow_blob_public_access = false
}
container_registry "c$i" {
  resource_group = resource_group.g
  name           = "acrreq$i"
  sku            = "Premium"
  admin_user     = true
}
app_insights "a$i" {
  resource_group = resource_group.g
  name           = "appi-req-$i"
}
workspace "w$i" {
  resource_group      = resource_group.g
  name                = "mlw-req-$i"
  key_vault           = key_vault.v$i
  storage_account     = storage_account.s$i
  container_registry  = container_registry.c$i
  app_insights        = app_insights.a$i
  image_build_compute = "cpu-build"
  hbi                 = true
  encryption {
    key = key.k$i
  }
}
compute_cluster "b$i" {
  workspace      = workspace.w$i
  name           = "cpu-build"
  vm_size        = "Standard_DS3_v2"
  subnet         = existing.subnet.pe.id
  node_public_ip = false
  local_auth     = false
  scale {
    max = 2
  }
}
online_endpoint "e$i" {
  workspace = workspace.w$i
  name      = "score-req-$i"
  auth      = "aad_token"
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
lock "l$i" {
  target = workspace.w$i
  level  = "CanNotDelete"
}
role_assignment "r$i" {
  scope          = workspace.w$i
  principal      = "3f2504e0-4f89-11d3-9a0c-0305e80000$(printf %02d "$i")"
  principal_type = "Group"
  role           = "AzureML Data Scientist"
}
CFG
  done
}
gets() { # the ARM GETs of one drift run (after clearing the log); drift's exit code must be $1
  curl -sf -X DELETE "$url/_armlocal/requests" || fail "clear the request log"
  expect_exit "$1" "$AMLSEC" drift -cloud "$url" -json > drift.json 2> drift.err
  curl -sf "$url/_armlocal/requests" > requests.json || fail "request log"
  jq '.byVerb.GET // 0' requests.json
}

echo "1. six ARM requests per stack, at two sizes"
start_cloud --graph-quota off
seed $sub/resourceGroups/rg-net Microsoft.Resources/resourceGroups
seed $sub/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub Microsoft.Network/virtualNetworks
seed $subnet Microsoft.Network/virtualNetworks/subnets
stacks 2 > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > apply.out 2>&1
small=$(gets 0)
stacks 8 > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > apply.out 2>&1
large=$(gets 0)
per=$(((large - small) / 6))
echo "   2 stacks: $small ARM GETs; 8 stacks: $large; $per per stack"
[ $((large - small)) -le 36 ] || fail "drift sent $(((large - small))) ARM GETs for 6 more stacks, wanted <= 36 (6 a stack): $(jq -c .byVerb requests.json)"
jq -e '[.byPath | keys[] | select(test("privateEndpointConnections"; "i"))] | length == 0' requests.json > /dev/null \
  || fail "private endpoint connections listed: $(jq -c '[.byPath | keys[] | select(test("privateEndpointConnections"; "i"))]' requests.json)"
jq -e '[.byPath | keys[] | select(test("/keys/k[0-9]+$"; "i"))] | length == 0' requests.json > /dev/null \
  || fail "a managed key read beside its vault's list: $(jq -c '[.byPath | keys[] | select(test("/keys/"))]' requests.json)"

rg=$sub/resourceGroups/rg-req
ws=$rg/providers/Microsoft.MachineLearningServices/workspaces/mlw-req-5
kv=$rg/providers/Microsoft.KeyVault/vaults/kv-req-5
st=$rg/providers/Microsoft.Storage/storageAccounts/streq5
arm PUT "$ws/providers/Microsoft.Insights/diagnosticSettings/ds-req?api-version=2021-05-01-preview" '{"properties":{"logs":[]}}'
arm PUT "$kv/keys/stray?api-version=2025-05-01" '{"properties":{"kty":"RSA","keySize":2048}}'
arm PUT "$sub/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/pe-far?api-version=2025-03-01" \
  '{"location":"westeurope","properties":{"subnet":{"id":"'$subnet'"},"manualPrivateLinkServiceConnections":[{"name":"far","properties":{"privateLinkServiceId":"'$st'","groupIds":["blob"]}}]}}'
planted=$(gets 2)
[ "$planted" -le "$large" ] || fail "planted objects cost ARM requests: $planted GETs, $large before"
for t in Microsoft.Insights/diagnosticSettings Microsoft.KeyVault/vaults/keys Microsoft.Network/privateEndpoints; do
  jq -e --arg t "$t" '[.unmanaged[] | select(.type == $t)] | length == 1' drift.json > /dev/null \
    || fail "unmanaged $t not reported once: $(jq -c '[.unmanaged[] | {type, arm_id}]' drift.json)"
done
out=$(jq -r '[.unmanaged[] | .type] | sort | join(" ")' drift.json)
[ "$(jq '.unmanaged | length' drift.json)" = 3 ] || fail "three unmanaged objects expected, got: $out"
curl -sf -X PUT -H 'Content-Type: application/json' -d '{"graphQuota":"on"}' "$url/_armlocal/settings" > /dev/null \
  || fail "quota on"

echo "2. the lists go out during Resource Graph's waits, before its last query"
sleep 5.5 # a fresh window
q='{"subscriptions":["'${sub#/subscriptions/}'"],"query":"resources | project id","options":{"$top":1}}'
for _ in $(seq 14); do
  curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' -d "$q" \
    "$url/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01" || fail "use up the quota"
done
AMLSEC_LOG=debug "$AMLSEC" drift -cloud "$url" -no-color > drift.out 2> drift.log
rc=$?
[ "$rc" = 2 ] || fail_with "drift exited $rc, wanted 2 (the planted objects)" drift.out drift.log
grep -q 'graph: quota used up, waiting' drift.log || fail_with "drift never waited for the quota" drift.log
last=$(grep -n 'arm: POST .*Microsoft.ResourceGraph/resources' drift.log | tail -n 1 | cut -d: -f1)
lists=$(grep -c 'arm: GET .*diagnosticSettings' drift.log)
late=$(awk -v last="$last" 'NR > last && /arm: GET .*diagnosticSettings/' drift.log | wc -l)
echo "   $lists diagnostic settings lists, $late answered after the last Resource Graph query (line $last)"
[ "$lists" = 32 ] || fail_with "32 diagnostic settings lists expected (4 a stack), got $lists" drift.log
[ "$late" = 0 ] || fail_with "$late diagnostic settings lists answered after the last Resource Graph query" drift.log
# the report's work (the lists' findings, the scopes' bodies) goes before the last Resource Graph
# query, the policy assignments', so that the quota's wait for it covers that work: the debug line
# drift logs once the bodies are taken comes before that query's
taken=$(grep -n 'drift: workspaces read' drift.log | head -n 1 | cut -d: -f1)
echo "   the bodies and the lists' findings taken at line ${taken:-none}, the last Resource Graph query at $last"
[ -n "$taken" ] && [ "$taken" -lt "$last" ] \
  || fail_with "the report's work came after the last Resource Graph query (line ${taken:-none}, the query at $last)" drift.log
echo "PASS"
