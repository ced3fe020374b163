#!/usr/bin/env bash
# dns_zones on a private_endpoint against a standalone local cloud: the attribute declares the
# endpoint's DNS zone group (private_dns_zone_group.LABEL, ARM name "default"), created by a
# second PUT after the endpoint, with the endpoint's A record in its zone; a second plan shows
# no changes; show -json lists the group in the configuration; another zone updates the group;
# the group deleted outside amlsec is drift and is created again; state rm + import adopts it;
# removing the attribute deletes the group (and its records) and keeps the endpoint; the PE-DNS
# rule counts dns_zones; the attribute and a written-out group of the same label are refused.
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
# the rule's clean example with the written-out zone group replaced by dns_zones
grep -v '^#' "$SRC/tests/golden/rules/PE-DNS.clean.amlsec" \
  | sed -e '/^private_dns_zone_group "kv"/,/^}/d' \
        -e 's/^  subnet      = existing.subnet.pe$/&\n  dns_zones   = [private_dns_zone.vault]/' > main.amlsec
grep -q 'dns_zones' main.amlsec && ! grep -q '^private_dns_zone_group' main.amlsec || fail "fixture not rewritten"
start_cloud
S=/subscriptions/00000000-0000-0000-0000-0000000000d5
RG=$S/resourceGroups/rg-dns/providers/Microsoft.Network
G=$RG/privateEndpoints/pe-kv-dns-e2e-vault/privateDnsZoneGroups/default
get() { curl -s -o /dev/null -w '%{http_code}' "$url$1"; }

expect_exit 0 "$AMLSEC" validate -no-color . > validate.out 2>&1
grep -q 'PE-DNS' validate.out && fail "dns_zones not counted by PE-DNS"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -out tf.plan -no-color > plan.out 2>&1
grep -q 'private_dns_zone_group.kv will be created' plan.out || fail "no zone group planned"
grep -q 'create  private_endpoint.kv' plan.out || fail "endpoint not planned"
# the group's PUT comes after the endpoint's
[ "$(grep -n 'create  private_endpoint.kv' plan.out | cut -d: -f1)" -lt \
  "$(grep -n 'create  private_dns_zone_group.kv' plan.out | cut -d: -f1)" ] || fail "group before endpoint"
expect_exit 0 "$AMLSEC" show -json tf.plan > show.json 2>&1
jq -e '.configuration.root_module.resources[] | select(.address == "private_dns_zone_group.kv")
       | .expressions.endpoint.references == ["private_endpoint.kv"]
         and .expressions.zones.references == ["private_dns_zone.vault"]
         and .expressions.name.constant_value == "default"' show.json > /dev/null \
  || fail "show -json configuration: $(jq -c '.configuration.root_module.resources[] | select(.type == "private_dns_zone_group")' show.json)"
jq -e '.resource_changes[] | select(.address == "private_endpoint.kv")' show.json > /dev/null || fail "no PE change"
expect_exit 0 "$AMLSEC" apply -no-color tf.plan > apply.out 2>&1
grep -q 'Resources: 11 added, 0 changed, 0 destroyed' apply.out || fail "apply: $(tail -3 apply.out)"
[ "$(get "$G?api-version=2025-03-01")" = 200 ] || fail "no zone group named default"
[ "$(get "$RG/privateDnsZones/privatelink.vaultcore.azure.net/A/kv-dns-e2e?api-version=2024-06-01")" = 200 ] \
  || fail "the zone group wrote no A record for the vault"
curl -s "$url$RG/privateEndpoints/pe-kv-dns-e2e-vault?api-version=2025-03-01" > pe.json
grep -q 'dns_zones\|privateDnsZone' pe.json && fail "dns_zones sent in the endpoint's body: $(cat pe.json)"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
grep -q 'No changes' plan2.out || fail "second plan: $(cat plan2.out)"

# a second zone: the group is updated (a PUT), the endpoint is left alone
cat >> main.amlsec <<'AML'

private_dns_zone "extra" {
  resource_group = resource_group.net
  name           = "privatelink.extra.example"
}
AML
sed -i 's/^  dns_zones   = \[private_dns_zone.vault\]/  dns_zones   = [private_dns_zone.vault, private_dns_zone.extra]/' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan3.out 2>&1
grep -q 'private_dns_zone_group.kv will be updated in-place' plan3.out || fail "zones change: $(cat plan3.out)"
grep -q 'private_endpoint.kv will be' plan3.out && fail "the endpoint changes with its zones"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply3.out 2>&1
curl -s "$url$G?api-version=2025-03-01" | jq -e '.properties.privateDnsZoneConfigs | length == 2' > /dev/null \
  || fail "the group does not have two zones"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan4.out 2>&1

# deleted outside amlsec: drift, then created again
curl -s -X DELETE -o /dev/null "$url$G?api-version=2025-03-01"
for _ in $(seq 50); do [ "$(get "$G?api-version=2025-03-01")" = 404 ] && break; sleep 0.1; done
expect_exit 2 "$AMLSEC" drift -cloud "$url" -no-color > drift.out 2>&1
grep -q 'private_dns_zone_group.kv' drift.out || fail "drift: $(cat drift.out)"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan5.out 2>&1
grep -q 'private_dns_zone_group.kv will be created' plan5.out || fail "recreate: $(cat plan5.out)"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply5.out 2>&1

# forgotten, then imported under its address
expect_exit 0 "$AMLSEC" state rm private_dns_zone_group.kv > rm.out 2>&1
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > plan6.out 2>&1
grep -q 'already exists in Azure but not in the state' plan6.out || fail "adoption hint: $(cat plan6.out)"
expect_exit 0 "$AMLSEC" import -cloud "$url" -no-color private_dns_zone_group.kv "$G" > import.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan7.out 2>&1

# the attribute removed: the group goes (with its records), the endpoint stays
sed -i '/^  dns_zones   = /d' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan8.out 2>&1
grep -q 'private_dns_zone_group.kv will be destroyed' plan8.out || fail "group not deleted: $(cat plan8.out)"
grep -q 'private_endpoint.kv will be' plan8.out && fail "the endpoint changes without its zones"
grep -q 'PE-DNS' plan8.out || fail "an endpoint without zones has no PE-DNS finding"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply8.out 2>&1
[ "$(get "$G?api-version=2025-03-01")" = 404 ] || fail "the group survived"
[ "$(get "$RG/privateDnsZones/privatelink.vaultcore.azure.net/A/kv-dns-e2e?api-version=2024-06-01")" = 404 ] \
  || fail "the A record survived its group"
[ "$(get "$RG/privateEndpoints/pe-kv-dns-e2e-vault?api-version=2025-03-01")" = 200 ] || fail "the endpoint went"

# the wrong zone: PE-DNS names the one it lacks, at dns_zones
sed -i 's/^  subnet      = existing.subnet.pe$/&\n  dns_zones   = [private_dns_zone.extra]/' main.amlsec
expect_exit 0 "$AMLSEC" validate -no-color . > validate2.out 2>&1
grep -q "lacks privatelink.vaultcore.azure.net.*PE-DNS" validate2.out || fail "wrong zone: $(cat validate2.out)"
line=$(grep -n '^  dns_zones' main.amlsec | cut -d: -f1)
grep -q "main.amlsec:$line:" validate2.out || fail "finding not at dns_zones (line $line): $(cat validate2.out)"

# the attribute and a written-out group of the same label
cat >> main.amlsec <<'AML'

private_dns_zone_group "kv" {
  endpoint = private_endpoint.kv
  zones    = [private_dns_zone.vault]
}
AML
expect_exit 1 "$AMLSEC" validate -no-color . > validate3.out 2>&1
grep -q 'duplicate' validate3.out || fail "duplicate group accepted: $(cat validate3.out)"
echo "dns_zones on private endpoints: ok"
