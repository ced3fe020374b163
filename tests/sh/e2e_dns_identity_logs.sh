#!/usr/bin/env bash
# The catalogue's private DNS, identity, Log Analytics and policy-definition kinds end to end
# against a standalone local cloud: private_dns_zone, private_dns_zone_link,
# private_dns_zone_group (its A record appears in the zone), user_assigned_identity,
# log_analytics_workspace (a diagnostic setting sends logs to it), policy_definition
# (assigned by a policy_assignment). Apply, then a second plan shows no changes, a change
# to the Log Analytics retention is an in-place update, and destroy removes everything.
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
grep -v '^#' "$SRC/tests/golden/rules/PE-DNS.clean.amlsec" > main.amlsec
start_cloud
S=/subscriptions/00000000-0000-0000-0000-0000000000d5
get() { curl -s -o /dev/null -w '%{http_code}' "$url$1"; }

expect_exit 0 "$AMLSEC" validate -no-color . > validate.out 2>&1
grep -q 'PE-DNS' validate.out && fail "the clean configuration has a PE-DNS finding"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply.out 2>&1
grep -q 'Resources: 11 added, 0 changed, 0 destroyed' apply.out || fail "apply: $(tail -3 apply.out)"
[ "$(get "$S/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net/A/kv-dns-e2e?api-version=2024-06-01")" = 200 ] \
  || fail "the zone group wrote no A record for the vault"
curl -s "$url$S/resourceGroups/rg-dns/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-ml-e2e?api-version=2023-01-31" \
  | grep -q '"principalId":"' || fail "the identity has no principal"
curl -s "$url$S/resourceGroups/rg-dns/providers/Microsoft.OperationalInsights/workspaces/log-ml-e2e?api-version=2023-09-01" \
  | grep -q '"publicNetworkAccessForQuery":"Disabled"' || fail "Log Analytics query access not disabled"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
grep -q 'No changes' plan2.out || fail "second plan: $(cat plan2.out)"

sed -i 's/retention_days   = 90/retention_days   = 120/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan3.out 2>&1
grep -q 'log_analytics_workspace.logs will be updated in-place' plan3.out || fail "retention: $(cat plan3.out)"
grep -q 'retention_days *= 90 -> 120' plan3.out || fail "retention change not shown: $(cat plan3.out)"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply2.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan4.out 2>&1

expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color > destroy.out 2>&1
[ "$(get "$S/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net?api-version=2024-06-01")" = 404 ] \
  || fail "the zone survived destroy"
[ "$(get "$S/providers/Microsoft.Authorization/policyDefinitions/nopub?api-version=2025-03-01")" = 404 ] \
  || fail "the policy definition survived destroy"
"$AMLSEC" state list > list.out 2>&1
[ ! -s list.out ] || fail "state not empty after destroy: $(cat list.out)"
echo "dns, identity, logs and policy definitions: ok"
