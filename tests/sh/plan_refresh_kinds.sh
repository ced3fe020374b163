#!/usr/bin/env bash
# A no-change plan of whole workspace stacks reads every kind in bulk (issue 18): what Azure's
# Resource Graph holds through its pages (the `resources` table: workspaces, their vault,
# storage, registry, App Insights, online endpoints; `authorizationresources`: role
# assignments), locks through one ARM list of the subscription's locks, and children Resource
# Graph does not hold (keys, computes) through one list of each parent holding two or more. 12
# stacks of 12 resources: the plan costs a constant handful of Graph queries and lists plus one
# list per vault and per workspace (it sent a GET per endpoint, lock, role assignment, key and
# compute before: 84 more). Values read this way are the same as a GET's: the plan has no
# changes; a lock and a key deleted out of band are found.
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
stacks=12
{
  printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000be"\n'
  printf '  tenant = "00000000-0000-0000-0000-00000000a11c"\n  location = "westeurope"\n}\n'
  printf 'resource_group "g" {\n  name = "rg-kinds"\n}\n'
  for i in $(seq 1 $stacks); do
    cat <<AML
key_vault "v$i" {
  resource_group = resource_group.g
  name = "kv-kinds-$i"
  purge_protection = true
}
key "k$i" {
  vault = key_vault.v$i
  type = "RSA-HSM"
  size = 3072
}
key "x$i" {
  vault = key_vault.v$i
  type = "RSA"
  size = 2048
}
storage_account "s$i" {
  resource_group = resource_group.g
  name = "stkinds$i"
  allow_blob_public_access = false
}
container_registry "c$i" {
  resource_group = resource_group.g
  name = "acrkinds$i"
  admin_user = true
  public_network_access = true
}
app_insights "a$i" {
  resource_group = resource_group.g
  name = "appi-kinds-$i"
}
workspace "w$i" {
  resource_group = resource_group.g
  name = "mlw-kinds-$i"
  key_vault = key_vault.v$i
  storage_account = storage_account.s$i
  container_registry = container_registry.c$i
  app_insights = app_insights.a$i
  image_build_compute = "cpu-build"
}
compute_cluster "b$i" {
  workspace = workspace.w$i
  name = "cpu-build"
  vm_size = "Standard_DS3_v2"
  node_public_ip = false
  local_auth = false
  scale {
    max = 2
  }
}
compute_cluster "t$i" {
  workspace = workspace.w$i
  name = "cpu-train"
  vm_size = "Standard_DS3_v2"
  node_public_ip = false
  local_auth = false
  scale {
    max = 4
  }
}
online_endpoint "e$i" {
  workspace = workspace.w$i
  name = "score-$i"
  auth = "aad_token"
}
lock "l$i" {
  target = workspace.w$i
  level = "CanNotDelete"
}
role_assignment "r$i" {
  scope = workspace.w$i
  principal = "3f2504e0-4f89-11d3-9a0c-0305e8$(printf %06d "$i")"
  principal_type = "Group"
  role = "AzureML Data Scientist"
}
AML
  done
} > main.amlsec
requests() { curl -sf "$url/_armlocal/requests"; }

echo "1. a no-change plan of $stacks whole stacks: Graph pages, a lock list, a list per parent"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > apply.out 2>&1
curl -sf -X DELETE "$url/_armlocal/requests" || fail "clear the request log"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan1.out 2>&1
requests > req1.json
total=$(jq .total req1.json)
# 3 Graph queries (resources, authorizationresources, the live rules' grants), 1 lock list,
# 12 key lists and 12 compute lists
[ "$total" -le $((2 * stacks + 6)) ] || fail "the plan sent $total requests, wanted <= $((2 * stacks + 6)): $(cat req1.json)"
jq -e '.byPath | keys | map(select(test("^GET .*/(onlineendpoints|roleassignments|locks|keys|computes)/"))) | length == 0' \
  req1.json > /dev/null || fail "the plan read endpoints, role assignments, locks, keys or computes one by one: $(cat req1.json)"
jq -e --arg p "GET ${sub}/providers/microsoft.authorization/locks" '.byPath[$p] == 1' req1.json > /dev/null \
  || fail "the locks were not read through one list of the subscription: $(cat req1.json)"

echo "2. a lock and a key deleted out of band are found through the lists"
ws=$sub/resourceGroups/rg-kinds/providers/Microsoft.MachineLearningServices/workspaces/mlw-kinds-3
curl -sf -X DELETE "$url/_armlocal/resources$ws/providers/Microsoft.Authorization/locks/l3" > /dev/null \
  || fail "delete the lock out of band"
curl -sf -X DELETE "$url/_armlocal/resources$sub/resourceGroups/rg-kinds/providers/Microsoft.KeyVault/vaults/kv-kinds-5/keys/x5" > /dev/null \
  || fail "delete the key out of band"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
grep -q "lock.l3 will be created" plan2.out || fail "the deleted lock is not planned again"
grep -q "key.x5 will be created" plan2.out || fail "the deleted key is not planned again"
grep -q "Plan: 2 to add, 0 to change, 0 to destroy" plan2.out || fail "more than the two deleted resources changed"
echo "3. Resource Graph lagging (it shows none of the stacks): what it misses is confirmed by ARM"
# a group's list holds its top-level resources only: online endpoints and role assignments
# Resource Graph misses are read with a GET, never taken as absent for not being listed
stop_cloud
rm -rf .amlsec
start_cloud
curl -sf -X PUT "$url/_armlocal/graph/snapshot" || fail "snapshot the empty store"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > apply3.out 2>&1
# (the live rules' grants come from the lagging Resource Graph too: WS-MI-PERMS makes it exit 2)
"$AMLSEC" plan -cloud "$url" -no-color > plan3.out 2>&1 || fail "plan with Resource Graph lagging"
grep -q "Plan: " plan3.out && fail "resources Resource Graph missed were taken as absent: $(grep 'Plan: ' plan3.out)"
grep -q "No changes" plan3.out || fail "no 'No changes' with Resource Graph lagging"
echo "plan_refresh_kinds: 3 passed, 0 failed"
