#!/usr/bin/env bash
# Under ARM's limits (`--throttle arm`), apply paces itself at the write bucket and reads nothing
# it does not need (issue 18). A first plan of whole workspace stacks reads each resource Resource
# Graph misses through one list of the group; what lies under a resource known absent (keys,
# endpoints, locks, role assignments) is absent without a GET: it read every child one by one
# at ARM's read rate (25 a second once the 250-token bucket is spent: 4.3 s of a 1,000-resource
# apply's 85 s, against a write floor of 80 s). Then 226 creates, 26 more than the write bucket
# holds: each PUT is sent once, and no request draws a 429. Counts requests, never time.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0 --throttle arm)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
unset AMLSEC_RATE_LIMIT
start_cloud
stacks=25
{
  printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000be"\n'
  printf '  tenant = "00000000-0000-0000-0000-00000000a11c"\n  location = "westeurope"\n}\n'
  printf 'resource_group "g" {\n  name = "rg-throttled"\n}\n'
  for i in $(seq 1 $stacks); do
    cat <<AML
key_vault "v$i" {
  resource_group = resource_group.g
  name = "kv-thr-$i"
  purge_protection = true
}
key "k$i" {
  vault = key_vault.v$i
  type = "RSA-HSM"
  size = 3072
}
storage_account "s$i" {
  resource_group = resource_group.g
  name = "stthr$i"
  allow_blob_public_access = false
}
container_registry "c$i" {
  resource_group = resource_group.g
  name = "acrthr$i"
  sku = "Premium"
  admin_user = true
}
app_insights "a$i" {
  resource_group = resource_group.g
  name = "appi-thr-$i"
}
workspace "w$i" {
  resource_group = resource_group.g
  name = "mlw-thr-$i"
  key_vault = key_vault.v$i
  storage_account = storage_account.s$i
  container_registry = container_registry.c$i
  app_insights = app_insights.a$i
  image_build_compute = "cpu-build"
  encryption {
    key = key.k$i
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
writes=$((stacks * 9 + 1))

requests() { curl -s "$url/_armlocal/requests" > requests.json; }
count() { # verb
  jq -r --arg v "$1" '.byVerb[$v] // 0' requests.json
}

echo "1. a first plan of $stacks stacks reads no child of an absent resource"
requests; get0=$(count GET)
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan.out 2>&1
requests; gets=$(( $(count GET) - get0 ))
[ "$gets" -le 5 ] || fail "the plan sent $gets GETs (a child of an absent resource read one by one?)"
echo "   $gets GETs for $writes resources"

echo "2. $writes creates, $((writes - 200)) past the write bucket: each PUT once, no 429"
requests; put0=$(count PUT)
AMLSEC_LOG=debug expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -parallelism 32 > apply.out 2>&1
grep -q "Apply complete! Resources: $writes added" apply.out || fail "the apply did not create $writes"
requests; puts=$(( $(count PUT) - put0 ))
[ "$puts" = "$writes" ] || fail "$puts PUTs for $writes creates"
throttled=$(grep -c -- '-> 429' apply.out)
[ "$throttled" = 0 ] || fail "$throttled requests drew a 429: $(grep -m3 -- '-> 429' apply.out)"
echo "   $puts PUTs, 0 answered 429"
echo "apply_throttled: 2 passed, 0 failed"
