#!/usr/bin/env bash
# A no-change plan reads the live rules' data in bulk (issue 18): the role assignments of every
# workspace identity through one Resource Graph query over authorizationresources (per
# subscription and 1000 identities), and each workspace's creation time from the systemData the
# refresh's own query projects. 40 workspace stacks (201 resources): the plan costs a constant
# handful of requests (it sent a role-assignment list and a workspace GET per workspace before:
# 82), and a grant deleted out of band is still reported. drift over the same stacks finds each
# scope it searches (161: the workspaces, their vaults, storage and registries, the group) and
# each vault through an index: the look-ups visit one entry each (a scan of the scopes per
# look-up visited about 60,000).
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
sub=/subscriptions/00000000-0000-0000-0000-0000000000be
{
  printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000be"\n  location = "westeurope"\n}\n'
  printf 'resource_group "g" {\n  name = "rg-bulk"\n}\n'
  for i in $(seq 0 39); do
    cat <<CFG
key_vault "v$i" {
  resource_group   = resource_group.g
  name             = "kv-bulk-$i"
  purge_protection = true
}
storage_account "s$i" {
  resource_group           = resource_group.g
  name                     = "stbulk$i"
  allow_blob_public_access = false
}
container_registry "c$i" {
  resource_group        = resource_group.g
  name                  = "acrbulk$i"
  admin_user            = true
  public_network_access = true
}
app_insights "a$i" {
  resource_group = resource_group.g
  name           = "appi-bulk-$i"
}
workspace "w$i" {
  resource_group      = resource_group.g
  name                = "mlw-bulk-$i"
  key_vault           = key_vault.v$i
  storage_account     = storage_account.s$i
  container_registry  = container_registry.c$i
  app_insights        = app_insights.a$i
  image_build_compute = "cpu-build"
}
CFG
  done
} > main.amlsec
requests() { curl -sf "$url/_armlocal/requests"; }

echo "1. a no-change plan of 40 workspace stacks: a constant number of requests"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > apply.out 2>&1
curl -sf -X DELETE "$url/_armlocal/requests" || fail "clear the request log"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan1.out 2>&1
requests > req1.json
total=$(jq .total req1.json)
[ "$total" -le 4 ] || fail "the plan sent $total requests, wanted <= 4: $(cat req1.json)"
jq -e '.byPath | keys | map(select(test("roleassignments|workspaces/"))) | length == 0' req1.json > /dev/null \
  || fail "the plan read role assignments or workspaces one by one: $(cat req1.json)"
grep -q '\[WS-MI-PERMS\]' plan1.out && fail "WS-MI-PERMS on workspaces that have their grants"

echo "2. a grant deleted out of band is found through the bulk read"
ws=$sub/resourceGroups/rg-bulk/providers/Microsoft.MachineLearningServices/workspaces/mlw-bulk-7
st=$sub/resourceGroups/rg-bulk/providers/Microsoft.Storage/storageAccounts/stbulk7
principal=$(curl -sf "$url$ws?api-version=2025-09-01" | jq -r .identity.principalId)
[ -n "$principal" ] && [ "$principal" != null ] || fail "no identity on workspace.w7"
ra=$(curl -sf -G "$url$sub/providers/Microsoft.Authorization/roleAssignments" \
       --data-urlencode "api-version=2022-04-01" --data-urlencode "\$filter=principalId eq '$principal'" \
     | jq -r --arg st "$st" '.value[] | select(.properties.scope == $st) | .id' | head -1)
[ -n "$ra" ] || fail "no storage grant for workspace.w7's identity"
curl -sf -X DELETE "$url/_armlocal/resources$ra" > /dev/null || fail "delete out of band"
# a missing grant is drift: -detailed-exitcode says 2 (issue 15)
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
grep -q "warning: workspace.w7's managed identity ($principal) has no Storage Blob Data Contributor on its storage account ($st) \[WS-MI-PERMS\]" plan2.out \
  || fail "the missing grant is not reported"
[ "$(grep -c '\[WS-MI-PERMS\]' plan2.out)" = 1 ] || fail "grants that exist were reported"
echo "3. drift looks its scopes up through an index"
AMLSEC_LOG=debug "$AMLSEC" drift -cloud "$url" -no-color > drift.out 2>&1
[ $? -le 2 ] || fail_with "drift failed" drift.out
line=$(grep 'drift: [0-9]* scopes; their look-ups visited' drift.out) || fail_with "no look-up count" drift.out
read -r scopes visited < <(sed 's/.*drift: \([0-9]*\) scopes; their look-ups visited \([0-9]*\) entries.*/\1 \2/' <<< "$line")
echo "   $scopes scopes, look-ups visited $visited entries"
[ "$scopes" -ge 161 ] || fail "drift searched $scopes scopes, wanted >= 161"
[ "$visited" -le $((10 * scopes)) ] || fail "drift's scope look-ups visited $visited entries for $scopes scopes"
echo "plan_refresh_bulk: 3 passed, 0 failed"
