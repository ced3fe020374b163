#!/usr/bin/env bash
# Customer-managed keys on the workspace's storage account and registry, read by a
# user-assigned identity the workspace also acts as (primary_user_assigned_identity), end to end
# against a standalone local cloud: apply, plan again to no changes; the local cloud reports the
# identity's own principal and client ids on the resources, keeps the registry's CMK create-only,
# and refuses a CMK whose vault lacks purge protection, a key that does not exist, an identity
# the resource does not list, and an identity that does not exist.
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
grep -v '^#' "$SRC/tests/golden/rules/CMK-ASSOC.clean.amlsec" > main.amlsec
start_cloud
S=/subscriptions/00000000-0000-0000-0000-0000000000d7
RG=$S/resourceGroups/rg-cmk/providers
UAI=$RG/Microsoft.ManagedIdentity/userAssignedIdentities/id-ml-cmk

echo "1. apply, then no changes"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply.out 2>&1
grep -q 'Resources: 10 added, 0 changed, 0 destroyed' apply.out || fail "apply: $(tail -3 apply.out)"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
grep -q 'No changes' plan2.out || fail "second plan: $(cat plan2.out)"

echo "2. what the local cloud holds"
curl -s "$url$UAI?api-version=2023-01-31" > uai.json
client=$(python3 -c 'import json,sys; print(json.load(open("uai.json"))["properties"]["clientId"])')
curl -s "$url$RG/Microsoft.ContainerRegistry/registries/acrcmke2e?api-version=2025-04-01" > acr.json
python3 - "$client" <<'PY' || fail "registry: $(cat acr.json)"
import json, sys
acr = json.load(open("acr.json"))
enc = acr["properties"]["encryption"]
assert enc["status"] == "enabled", enc
assert enc["keyVaultProperties"]["identity"] == sys.argv[1], enc
assert "/keys/cmk/" in enc["keyVaultProperties"]["keyIdentifier"], enc
(uai,) = acr["identity"]["userAssignedIdentities"].values()
assert uai["clientId"] == sys.argv[1], uai
PY
curl -s "$url$RG/Microsoft.Storage/storageAccounts/stcmke2e?api-version=2025-06-01" > st.json
grep -q '"keySource":"Microsoft.Keyvault"' st.json || fail "storage keySource: $(cat st.json)"
grep -q '"keyname":"cmk"' st.json || fail "storage key: $(cat st.json)"
curl -s "$url$RG/Microsoft.MachineLearningServices/workspaces/mlw-cmk-e2e?api-version=2025-09-01" \
  | grep -q '"primaryUserAssignedIdentity":"' || fail "workspace primary identity"

echo "3. refusals"
put() { # path api body -> status (body in put.json)
  curl -s -o put.json -w '%{http_code}' -X PUT -H 'Content-Type: application/json' --data "$3" "$url$1?api-version=$2"
}
kvuri=$(python3 -c 'import json; print(json.load(open("st.json"))["properties"]["encryption"]["keyvaultproperties"]["keyvaulturi"])')
ST="{\"location\":\"westeurope\",\"kind\":\"StorageV2\",\"sku\":{\"name\":\"Standard_LRS\"},\"identity\":{\"type\":\"UserAssigned\",\"userAssignedIdentities\":{\"$UAI\":{}}}"
[ "$(put "$RG/Microsoft.Storage/storageAccounts/stbadkey" 2025-06-01 "$ST,\"properties\":{\"encryption\":{\"keySource\":\"Microsoft.Keyvault\",\"keyvaultproperties\":{\"keyname\":\"nosuch\",\"keyvaulturi\":\"$kvuri\"},\"identity\":{\"userAssignedIdentity\":\"$UAI\"}}}}")" = 400 ] \
  || fail "a missing key was accepted: $(cat put.json)"
grep -q KeyNotFound put.json || fail "code: $(cat put.json)"
[ "$(put "$RG/Microsoft.Storage/storageAccounts/stbadid" 2025-06-01 "{\"location\":\"westeurope\",\"kind\":\"StorageV2\",\"sku\":{\"name\":\"Standard_LRS\"},\"properties\":{\"encryption\":{\"keySource\":\"Microsoft.Keyvault\",\"keyvaultproperties\":{\"keyname\":\"cmk\",\"keyvaulturi\":\"$kvuri\"},\"identity\":{\"userAssignedIdentity\":\"$UAI\"}}}}")" = 400 ] \
  || fail "an identity the account does not list was accepted: $(cat put.json)"
grep -q InvalidIdentity put.json || fail "code: $(cat put.json)"
[ "$(put "$RG/Microsoft.Storage/storageAccounts/stnoid" 2025-06-01 "{\"location\":\"westeurope\",\"kind\":\"StorageV2\",\"sku\":{\"name\":\"Standard_LRS\"},\"identity\":{\"type\":\"UserAssigned\",\"userAssignedIdentities\":{\"$UAI-nosuch\":{}}}}")" = 400 ] \
  || fail "a missing identity was accepted: $(cat put.json)"
# a vault without purge protection cannot hold the key
[[ "$(put "$RG/Microsoft.KeyVault/vaults/kv-nopurge-e2e" 2025-05-01 '{"location":"westeurope","properties":{"tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","sku":{"family":"A","name":"standard"}}}')" == 20? ]] \
  || fail "vault: $(cat put.json)"
[[ "$(put "$RG/Microsoft.KeyVault/vaults/kv-nopurge-e2e/keys/k" 2025-05-01 '{"properties":{"kty":"RSA"}}')" == 20? ]] || fail "key: $(cat put.json)"
[ "$(put "$RG/Microsoft.Storage/storageAccounts/stnopurge" 2025-06-01 "$ST,\"properties\":{\"encryption\":{\"keySource\":\"Microsoft.Keyvault\",\"keyvaultproperties\":{\"keyname\":\"k\",\"keyvaulturi\":\"https://kv-nopurge-e2e.vault.azure.net/\"},\"identity\":{\"userAssignedIdentity\":\"$UAI\"}}}}")" = 400 ] \
  || fail "a vault without purge protection was accepted: $(cat put.json)"
grep -q KeyVaultNotProtected put.json || fail "code: $(cat put.json)"
# CMK on an existing registry is create-only
[[ "$(put "$RG/Microsoft.ContainerRegistry/registries/acrplaine2e" 2025-04-01 '{"location":"westeurope","sku":{"name":"Premium"}}')" == 20? ]] \
  || fail "plain registry: $(cat put.json)"
[ "$(put "$RG/Microsoft.ContainerRegistry/registries/acrplaine2e" 2025-04-01 "{\"location\":\"westeurope\",\"sku\":{\"name\":\"Premium\"},\"identity\":{\"type\":\"UserAssigned\",\"userAssignedIdentities\":{\"$UAI\":{}}},\"properties\":{\"encryption\":{\"status\":\"enabled\",\"keyVaultProperties\":{\"keyIdentifier\":\"${kvuri%/}/keys/cmk\",\"identity\":\"$client\"}}}}")" = 400 ] \
  || fail "CMK added to an existing registry: $(cat put.json)"
grep -q PropertyChangeNotAllowed put.json || fail "code: $(cat put.json)"
# a workspace whose primary identity it does not list
[ "$(curl -s -o put.json -w '%{http_code}' -X PATCH -H 'Content-Type: application/json' \
    --data "{\"identity\":{\"type\":\"SystemAssigned\",\"userAssignedIdentities\":{\"$UAI\":null}}}" \
    "$url$RG/Microsoft.MachineLearningServices/workspaces/mlw-cmk-e2e?api-version=2025-09-01")" = 400 ] \
  || fail "a workspace dropped the identity it acts as: $(cat put.json)"

echo "4. destroy"
expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color > destroy.out 2>&1
"$AMLSEC" state list > list.out 2>&1
[ ! -s list.out ] || fail "state not empty after destroy: $(cat list.out)"
echo "cmk and identities: ok"
