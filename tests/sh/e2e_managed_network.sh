#!/usr/bin/env bash
# managed_network outbound rules on a workspace end to end against a standalone local cloud:
# FQDN, private endpoint and service tag rules are applied, the service's own required rules
# (category Required) are not taken for drift, a second plan shows no changes, removing a rule
# is an in-place update that removes it, and the local cloud refuses FQDN rules outside
# AllowOnlyApprovedOutbound and a private endpoint rule to nothing. validate's ACR-VNET-BUILD
# names the package feeds no FQDN rule reaches.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
grep -v '^#' "$SRC/tests/data/catalogue/managed_network.amlsec" > main.amlsec
S=/subscriptions/00000000-0000-0000-0000-0000000000d8
WS=$S/resourceGroups/rg-mnet/providers/Microsoft.MachineLearningServices/workspaces/mlw-mnet-e2e

echo "1. validate: the feeds are reachable; without the conda rule they are not"
expect_exit 0 "$AMLSEC" validate -no-color . > v1.out 2>&1
grep -q 'ACR-VNET-BUILD' v1.out && fail "feeds reachable, yet: $(cat v1.out)"
sed '/conda  = /d' main.amlsec > v2.amlsec && mkdir v2 && mv v2.amlsec v2/main.amlsec
expect_exit 0 "$AMLSEC" validate -no-color v2 > v2.out 2>&1
grep -q "no FQDN outbound rule lets its image build reach conda.anaconda.org \[ACR-VNET-BUILD\]" v2.out \
  || fail "missing conda feed not reported: $(cat v2.out)"

echo "2. apply, no changes, the rules as ARM holds them"
start_cloud
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply.out 2>&1
grep -q 'Resources: 5 added, 0 changed, 0 destroyed' apply.out || fail "apply: $(tail -3 apply.out)"
curl -s "$url$WS?api-version=2025-09-01" > ws.json
python3 - <<'PY' || fail "workspace body: $(cat ws.json)"
import json
rules = json.load(open("ws.json"))["properties"]["managedNetwork"]["outboundRules"]
assert rules["pypi"] == {"type": "FQDN", "category": "UserDefined", "destination": "pypi.org", "status": "Active"}, rules["pypi"]
assert rules["data"]["destination"]["subresourceTarget"] == "blob", rules["data"]
assert rules["aad"]["destination"]["serviceTag"] == "AzureActiveDirectory", rules["aad"]
assert any(r["category"] == "Required" for r in rules.values()), "no required rules"
PY
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
grep -q 'No changes' plan2.out || fail "second plan: $(cat plan2.out)"

echo "3. removing a rule updates in place and removes it"
sed -i '/aad    = /d' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan3.out 2>&1
grep -q 'workspace.ml will be updated in-place' plan3.out || fail "rule removal: $(cat plan3.out)"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply2.out 2>&1
curl -s "$url$WS?api-version=2025-09-01" | grep -q '"aad"' && fail "the removed rule is still there"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan4.out 2>&1

echo "4. refusals"
patch() { curl -s -o put.json -w '%{http_code}' -X PATCH -H 'Content-Type: application/json' --data "$1" "$url$WS?api-version=2025-09-01"; }
[ "$(patch '{"properties":{"managedNetwork":{"isolationMode":"AllowInternetOutbound","outboundRules":{"pypi":{"type":"FQDN","destination":"pypi.org"}}}}}')" = 400 ] \
  || fail "an FQDN rule outside AllowOnlyApprovedOutbound was accepted: $(cat put.json)"
[ "$(patch "{\"properties\":{\"managedNetwork\":{\"isolationMode\":\"AllowOnlyApprovedOutbound\",\"outboundRules\":{\"x\":{\"type\":\"PrivateEndpoint\",\"destination\":{\"serviceResourceId\":\"$S/resourceGroups/rg-mnet/providers/Microsoft.Storage/storageAccounts/nosuch\",\"subresourceTarget\":\"blob\"}}}}}}")" = 400 ] \
  || fail "a private endpoint rule to nothing was accepted: $(cat put.json)"

expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color > destroy.out 2>&1
echo "managed network outbound rules: ok"
