#!/usr/bin/env bash
# armlocal service rules (arm-api.md §1, §3, §7): each rule refuses what
# Azure refuses, with Azure's status and code.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
RG=$S/resourceGroups/rg1
V=api-version
KV=$RG/providers/Microsoft.KeyVault/vaults
WS=$RG/providers/Microsoft.MachineLearningServices/workspaces
armlocal_start --lro-ms 0 --seed 42
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'; expect_code 201 "rg"
vault='{"location":"eastus","properties":{"tenantId":"t","sku":{"family":"A","name":"standard"}}}'

# Key Vault: soft delete and purge protection cannot be turned off
req PUT "$KV/kvsoft?$V=2025-05-01" "$vault"; expect_code 201 "vault"
expect_body '"enableSoftDelete":true' "soft delete defaults on"
req PATCH "$KV/kvsoft?$V=2025-05-01" '{"properties":{"enableSoftDelete":false}}'
expect_code 400 "soft delete off"; expect_body enableSoftDelete "soft delete off"
req PATCH "$KV/kvsoft?$V=2025-05-01" '{"properties":{"enablePurgeProtection":true}}'; expect_code 200 "purge protection on"
req PATCH "$KV/kvsoft?$V=2025-05-01" '{"properties":{"enablePurgeProtection":false}}'
expect_code 400 "purge protection off"; expect_body enablePurgeProtection "purge protection off"

# CMK workspace: the vault needs soft delete + purge protection
req PUT "$KV/kvnopp?$V=2025-05-01" "$vault"; expect_code 201 "vault without purge protection"
cmk() { echo "{\"location\":\"eastus\",\"properties\":{\"encryption\":{\"status\":\"Enabled\",\"keyVaultProperties\":{\"keyVaultArmId\":\"$KV/$1\",\"keyIdentifier\":\"https://x/keys/k/0123456789abcdef0123456789abcdef\"}}}}"; }
req PUT "$WS/wscmk?$V=2025-09-01" "$(cmk kvnopp)"; expect_code 400 "CMK vault lacks purge protection"
expect_body "purge protection" "CMK vault rule message"
req PUT "$WS/wscmk?$V=2025-09-01" "$(cmk kvsoft)"; expect_code 202 "CMK workspace"
# create-only: encryption.keyVaultArmId cannot change; keyIdentifier can
req PATCH "$WS/wscmk?$V=2025-09-01" "{\"properties\":{\"encryption\":{\"keyVaultProperties\":{\"keyVaultArmId\":\"$KV/kvnopp\"}}}}"
expect_code 400 "keyVaultArmId create-only"; expect_body PropertyChangeNotAllowed "keyVaultArmId"
req PATCH "$WS/wscmk?$V=2025-09-01" '{"properties":{"encryption":{"keyVaultProperties":{"keyIdentifier":"https://x/keys/k/ffffffffffffffffffffffffffffffff"}}}}'
expect_code 202 "keyIdentifier rotation"
# CMK workspaces are hard-deleted: the name is free again at once
req DELETE "$WS/wscmk?$V=2025-09-01"; expect_code 202 "delete CMK ws"
req PUT "$WS/wscmk?$V=2025-09-01" "$(cmk kvsoft)"; expect_code 202 "CMK name reusable"

# non-CMK workspace: soft-deleted name stays reserved until purged
req PUT "$WS/ws1?$V=2025-09-01" '{"location":"eastus","properties":{"hbiWorkspace":false}}'; expect_code 202 "ws1"
req GET "$WS/ws1?$V=2025-09-01"; expect_code 200 "ws1 get"
[[ "$BODY" =~ \"workspaceId\":\"[0-9a-f-]{36}\" ]] || fail "workspaceId generated"
req DELETE "$WS/ws1?$V=2025-09-01"; expect_code 202 "ws1 soft delete"
req PUT "$WS/ws1?$V=2025-09-01" '{"location":"eastus"}'; expect_code 409 "name reserved"
expect_body "soft-deleted" "name reserved message"
req DELETE "$WS/ws1?$V=2025-09-01&forceToPurge=true"; expect_code 200 "purge soft-deleted"
req PUT "$WS/ws1?$V=2025-09-01" '{"location":"eastus","properties":{"hbiWorkspace":true}}'; expect_code 202 "name free after purge"
req PATCH "$WS/ws1?$V=2025-09-01" '{"properties":{"hbiWorkspace":false}}'; expect_code 400 "hbiWorkspace create-only"
req DELETE "$WS/ws1?$V=2025-09-01&forceToPurge=true"; expect_code 202 "force purge live ws"
req PUT "$WS/ws1?$V=2025-09-01" '{"location":"eastus"}'; expect_code 202 "forceToPurge frees the name"

# compute create-only fields
req PUT "$WS/ws1/computes/c1?$V=2025-09-01" '{"location":"eastus","properties":{"computeType":"AmlCompute","disableLocalAuth":true}}'
expect_code 201 "compute"
req PUT "$WS/ws1/computes/c1?$V=2025-09-01" '{"location":"eastus","properties":{"computeType":"AmlCompute","disableLocalAuth":false}}'
expect_code 400 "disableLocalAuth create-only"
req PUT "$WS/ws1/computes/c1?$V=2025-09-01" '{"location":"eastus","properties":{"computeType":"AmlCompute","computeLocation":"westus"}}'
expect_code 400 "computeLocation create-only"

# private endpoint: Approved connection on the workspace; manual ones Pending
VN=$RG/providers/Microsoft.Network/virtualNetworks/vnet1
req PUT "/_armlocal/resources$VN" '{"type":"Microsoft.Network/virtualNetworks","location":"eastus"}'; expect_code 200 "seed vnet"
req PUT "/_armlocal/resources$VN/subnets/pe" '{"type":"Microsoft.Network/virtualNetworks/subnets","properties":{"addressPrefix":"10.0.1.0/24"}}'
expect_code 200 "seed subnet"
req GET "$VN/subnets/pe?$V=2025-03-01"; expect_code 200 "seeded subnet readable"
# seeding a subnet alone creates its resource group and virtual network, and infers types
HUB=$S/resourceGroups/netrg/providers/Microsoft.Network/virtualNetworks/hub
req PUT "/_armlocal/resources$HUB/subnets/s1" '{"properties":{"addressPrefix":"10.1.0.0/24"}}'; expect_code 200 "seed subnet only"
expect_body '"type":"Microsoft.Network/virtualNetworks/subnets"' "type inferred"
req GET "$S/resourceGroups/netrg?$V=2024-03-01"; expect_code 200 "seeded resource group"
req GET "$HUB?$V=2025-03-01"; expect_code 200 "seeded virtual network"
req GET "$HUB/subnets?$V=2025-03-01"; expect_body '"name":"s1"' "seeded subnet listed"
PE=$RG/providers/Microsoft.Network/privateEndpoints
req PUT "$PE/pe1?$V=2025-03-01" "{\"location\":\"eastus\",\"properties\":{\"subnet\":{\"id\":\"$VN/subnets/missing\"},\"privateLinkServiceConnections\":[]}}"
expect_code 400 "missing subnet"; expect_body InvalidResourceReference "missing subnet"
req PUT "$PE/pe1?$V=2025-03-01" "{\"location\":\"eastus\",\"properties\":{\"subnet\":{\"id\":\"$VN/subnets/pe\"},\"privateLinkServiceConnections\":[{\"name\":\"c\",\"properties\":{\"privateLinkServiceId\":\"$WS/ws1\",\"groupIds\":[\"amlworkspace\"]}}]}}"
expect_code 201 "pe create"
req GET "$WS/ws1?$V=2025-09-01"
expect_body '"privateEndpointConnections":\[{' "connection on the workspace"
expect_body '"status":"Approved"' "connection approved"; expect_body '"privateLinkCount":1' "privateLinkCount"
req GET "$WS/ws1/privateEndpointConnections?$V=2025-09-01"; expect_body "$PE/pe1" "pec lists the endpoint"
req PUT "$PE/pe2?$V=2025-03-01" "{\"location\":\"eastus\",\"properties\":{\"subnet\":{\"id\":\"$VN/subnets/pe\"},\"manualPrivateLinkServiceConnections\":[{\"name\":\"c\",\"properties\":{\"privateLinkServiceId\":\"$KV/kvsoft\",\"groupIds\":[\"vault\"]}}]}}"
expect_code 201 "manual pe"
req GET "$KV/kvsoft?$V=2025-05-01"; expect_body '"status":"Pending"' "manual connection pending"
req DELETE "$PE/pe1?$V=2025-03-01"; expect_code 202 "pe delete"
req GET "$WS/ws1?$V=2025-09-01"; expect_body '"privateEndpointConnections":\[\]' "connection removed"

# keys: ARM PUT creates the first version only; new versions via the data plane
req PUT "$KV/kvsoft/keys/k1?$V=2025-05-01" '{"properties":{"kty":"RSA","keySize":2048}}'; expect_code 200 "key create"
v1=$(sed -E 's/.*"keyUriWithVersion":"([^"]*)".*/\1/' <<<"$BODY")
[[ "$v1" =~ ^http://127\.0\.0\.1:[0-9]+/keys/k1/[0-9a-f]{32}$ ]] || fail "keyUriWithVersion: $v1"
req PUT "$KV/kvsoft/keys/k1?$V=2025-05-01" '{"properties":{"kty":"RSA","keySize":4096}}'; expect_code 200 "key again"
expect_body "$v1" "second PUT returns the existing version"; expect_body '"keySize":2048' "attributes untouched"
vault_uri=$(curl -sS "$B$KV/kvsoft?$V=2025-05-01" | sed -E 's/.*"vaultUri":"([^"]*)".*/\1/')
[[ "$vault_uri" =~ ^http://127\.0\.0\.1:[0-9]+/$ && "$vault_uri" != "$B/" ]] || fail "vaultUri: $vault_uri"
kvcurl() { curl -H "Authorization: Bearer local" "$@"; }
rot=$(kvcurl -sS -X POST "${vault_uri}keys/k1/rotate?$V=7.6")
grep -q '"kid"' <<<"$rot" || fail "rotate: $rot"
kid=$(sed -E 's/.*"kid":"([^"]*)".*/\1/' <<<"$rot"); [ "$kid" != "$v1" ] || fail "rotate made no version"
req GET "$KV/kvsoft/keys/k1?$V=2025-05-01"; expect_body "$kid" "ARM shows the rotated version"
kvcurl -sS -X POST "${vault_uri}keys/k1/create?$V=7.6" -H 'Content-Type: application/json' -d '{"kty":"RSA"}' | grep -q '"kid"' || fail "data-plane create"
n=$(kvcurl -sS "${vault_uri}keys/k1/versions?$V=7.6" | grep -o '"kid"' | wc -l); [ "$n" = 3 ] || fail "versions: $n"
req GET "$KV/kvsoft/keys/k1/versions?$V=2025-05-01"; expect_code 200 "ARM Keys_ListVersions"
[ "$(grep -o "\"type\":\"Microsoft.KeyVault/vaults/keys/versions\"" <<<"$BODY" | wc -l)" = 3 ] || fail "ARM lists the three versions"
code=$(kvcurl -sS -o /dev/null -w '%{http_code}' -X PATCH "${vault_uri}keys/k1/${kid##*/}?$V=7.6" -H 'Content-Type: application/json' -d '{"attributes":{"enabled":false}}')
[ "$code" = 200 ] || fail "attribute update: $code"
kvcurl -sS "${vault_uri}keys/k1/rotationpolicy?$V=7.6" | grep -q lifetimeActions || fail "rotation policy"
kvcurl -sS "${vault_uri}keys/k1?$V=7.6" -o /dev/null -w '%{http_code}' | grep -q 200 || fail "get key"
kvcurl -sS "${vault_uri}keys/k1" | grep -q BadParameter || fail "data plane api-version required"

# role assignments: duplicates and changing the principal are refused
RA=$RG/providers/Microsoft.Authorization/roleAssignments
ra='{"properties":{"roleDefinitionId":"/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/r1","principalId":"p1"}}'
req PUT "$RA/00000000-0000-0000-0000-0000000000a1?$V=2022-04-01" "$ra"; expect_code 201 "ra"
req PUT "$RA/00000000-0000-0000-0000-0000000000a1?$V=2022-04-01" "$ra"; expect_code 200 "ra idempotent"
req PUT "$RA/00000000-0000-0000-0000-0000000000a2?$V=2022-04-01" "$ra"; expect_code 409 "ra duplicate"
expect_body RoleAssignmentExists "ra duplicate"
req PUT "$RA/00000000-0000-0000-0000-0000000000a1?$V=2022-04-01" '{"properties":{"roleDefinitionId":"/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/r1","principalId":"p2"}}'
expect_code 400 "ra principal change"; expect_body RoleAssignmentUpdateNotPermitted "ra update"

# locks: ReadOnly blocks writes below; CanNotDelete blocks deletes above and below
req PUT "$KV/kvsoft/providers/Microsoft.Authorization/locks/ro?$V=2020-05-01" '{"properties":{"level":"ReadOnly"}}'
expect_code 201 "lock on the vault"
req PATCH "$KV/kvsoft?$V=2025-05-01" '{"tags":{"a":"b"}}'; expect_code 409 "write under ReadOnly"
expect_body ScopeLocked "write under ReadOnly"
req PUT "$KV/kvnopp?$V=2025-05-01" "$vault"; expect_code 200 "sibling unaffected"
req DELETE "$RG?$V=2024-03-01"; expect_code 409 "rg delete blocked by a lock below"
req DELETE "$KV/kvsoft/providers/Microsoft.Authorization/locks/ro?$V=2020-05-01"; expect_code 200 "lock removed"
req PUT "$S/providers/Microsoft.Authorization/locks/nodel?$V=2020-05-01" '{"properties":{"level":"CanNotDelete"}}'
expect_code 201 "subscription lock"
req PATCH "$KV/kvsoft?$V=2025-05-01" '{"tags":{"a":"b"}}'; expect_code 200 "write allowed under CanNotDelete"
req DELETE "$KV/kvnopp?$V=2025-05-01"; expect_code 409 "delete under subscription lock"
req PUT "$RG/providers/Microsoft.Authorization/locks/bad?$V=2020-05-01" '{"properties":{"level":"Maybe"}}'
expect_code 400 "bad lock level"
req DELETE "$S/providers/Microsoft.Authorization/locks/nodel?$V=2020-05-01"; expect_code 200 "lock removed"

# Key Vault soft delete: name conflicts until purged; purge protection blocks purge
req DELETE "$KV/kvnopp?$V=2025-05-01"; expect_code 200 "vault delete"
req GET "$S/providers/Microsoft.KeyVault/deletedVaults?$V=2025-05-01"; expect_body '"kvnopp"' "deleted vault listed"
req PUT "$KV/kvnopp?$V=2025-05-01" "$vault"; expect_code 409 "deleted vault name"
req POST "$S/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/kvnopp/purge?$V=2025-05-01"; expect_code 200 "purge"
req PUT "$KV/kvnopp?$V=2025-05-01" "$vault"; expect_code 201 "name free after purge"
req DELETE "$KV/kvsoft?$V=2025-05-01"; expect_code 200 "delete purge-protected vault"
req POST "$S/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/kvsoft/purge?$V=2025-05-01"
expect_code 409 "purge under purge protection"

# computed fields are deterministic per --seed
req GET "$WS/ws1?$V=2025-09-01"; id1=$(sed -E 's/.*"workspaceId":"([^"]*)".*/\1/' <<<"$BODY")
armlocal_stop
armlocal_start --lro-ms 0 --seed 42
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'
req PUT "$KV/kvsoft?$V=2025-05-01" "$vault"
req GET "/_armlocal/state"; first=$(grep -o '"counter":[0-9]*' <<<"$BODY")
armlocal_stop
armlocal_start --lro-ms 0 --seed 42
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'
req PUT "$WS/wsseed?$V=2025-09-01" '{"location":"eastus","identity":{"type":"SystemAssigned"}}'
# (systemData holds the wall-clock creation time, not a seeded value)
nodates() { sed -E 's/"systemData":\{[^}]*\}//' <<<"${1//$B/BASE}"; }
req GET "$WS/wsseed?$V=2025-09-01"; a=$(nodates "$BODY")
grep -q '"createdAt"' <<<"$BODY" || fail "workspace systemData.createdAt"
armlocal_stop
armlocal_start --lro-ms 0 --seed 42
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'
req PUT "$WS/wsseed?$V=2025-09-01" '{"location":"eastus","identity":{"type":"SystemAssigned"}}'
req GET "$WS/wsseed?$V=2025-09-01"; [ "$(nodates "$BODY")" = "$a" ] || fail "same seed, different output"
grep -q '"principalId":"[0-9a-f-]\{36\}"' <<<"$a" || fail "principalId generated: $a"
[ -n "$id1" ] && [ -n "$first" ] || fail "seed checks"
echo "armlocal rules: ok"
