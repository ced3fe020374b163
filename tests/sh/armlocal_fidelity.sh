#!/usr/bin/env bash
# armlocal refuses what ARM refuses (issue 17 items 4, 5, 6, 7): each kind's
# name rule, required properties, globally unique names, api-versions on
# resource-group calls, and serves HEAD (CheckExistenceById) and
# Resources_List; a DELETE spends the deletes quota and says so.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
RG=$S/resourceGroups/rg1
V=api-version
ST=$RG/providers/Microsoft.Storage/storageAccounts
KV=$RG/providers/Microsoft.KeyVault/vaults
CR=$RG/providers/Microsoft.ContainerRegistry/registries
WS=$RG/providers/Microsoft.MachineLearningServices/workspaces
armlocal_start --lro-ms 0 --seed 7
head_code() { curl -sS -o /dev/null -I -w '%{http_code}' "$B$1"; }

# resource groups check the api-version like every other type
req PUT "$RG?$V=2099-01-01" '{"location":"eastus"}'; expect_code 400 "rg bad api-version"
expect_body NoRegisteredProviderFound "rg bad api-version code"
req GET "$RG?$V=nonsense"; expect_code 400 "rg nonsense api-version"
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'; expect_code 201 "rg"

storage='{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}'
vault='{"location":"eastus","properties":{"tenantId":"t","sku":{"family":"A","name":"standard"}}}'
acr='{"location":"eastus","sku":{"name":"Premium"}}'

# required properties
req PUT "$ST/stnosku?$V=2025-06-01" '{"location":"eastus","kind":"StorageV2"}'
expect_code 400 "storage without sku"; expect_body InvalidValuesForRequestParameters "storage sku code"
expect_body 'invalid: sku' "storage names sku"
req PUT "$ST/stnokind?$V=2025-06-01" '{"location":"eastus","sku":{"name":"Standard_LRS"}}'
expect_code 400 "storage without kind"; expect_body 'invalid: kind' "storage names kind"
req PUT "$KV/kvempty?$V=2025-05-01" '{"location":"eastus","properties":{}}'
expect_code 400 "vault with empty properties"; expect_body tenantId "vault names tenantId"
req PUT "$KV/kvnoloc?$V=2025-05-01" '{"properties":{"tenantId":"t","sku":{"family":"A","name":"standard"}}}'
expect_code 400 "vault without location"; expect_body LocationRequired "location code"
req PUT "$CR/acrnosku?$V=2025-04-01" '{"location":"eastus"}'
expect_code 400 "registry without sku"; expect_body InvalidRequestContent "registry sku code"
req GET "$ST/stnosku?$V=2025-06-01"; expect_code 404 "refused create left nothing"

# name rules
req PUT "$ST/Bad_Name?$V=2025-06-01" "$storage"; expect_code 400 "storage Bad_Name"
expect_body AccountNameInvalid "storage name code"
req PUT "$ST/ab?$V=2025-06-01" "$storage"; expect_code 400 "storage too short"
req PUT "$KV/kv_under?$V=2025-05-01" "$vault"; expect_code 400 "vault kv_under"
expect_body VaultNameNotValid "vault name code"
req PUT "$KV/1vault?$V=2025-05-01" "$vault"; expect_code 400 "vault starting with a digit"
req PUT "$KV/kv--double?$V=2025-05-01" "$vault"; expect_code 400 "vault with consecutive hyphens"
req PUT "$KV/kv-?$V=2025-05-01" "$vault"; expect_code 400 "vault ending in a hyphen"
req PUT "$CR/a-b?$V=2025-04-01" "$acr"; expect_code 400 "registry a-b"
expect_body InvalidResourceName "registry name code"
req PUT "$CR/acr-with-dash?$V=2025-04-01" "$acr"; expect_code 400 "registry with a dash"
req PUT "$WS/-ws?$V=2025-09-01" '{"location":"eastus"}'; expect_code 400 "workspace -ws"
req PUT "$WS/w1?$V=2025-09-01" '{"location":"eastus"}'; expect_code 400 "workspace too short"
req PUT "$RG/providers/Microsoft.Authorization/locks/bad:name?$V=2020-05-01" '{"properties":{"level":"CanNotDelete"}}'
expect_code 400 "lock name with a colon"
# valid names pass
req PUT "$ST/stgood01?$V=2025-06-01" "$storage"; expect_code 202 "storage good name"
req PUT "$KV/kv-good-01?$V=2025-05-01" "$vault"; expect_code 201 "vault good name"
req PUT "$CR/acrGood01?$V=2025-04-01" "$acr"; expect_code 201 "registry good name"
req PUT "$WS/ws_ok-1?$V=2025-09-01" '{"location":"eastus"}'; expect_code 202 "workspace good name"

# globally unique names: another resource group, even another subscription
S2=/subscriptions/00000000-0000-0000-0000-000000000002
RG2=$S2/resourceGroups/other
req PUT "$RG2?$V=2024-03-01" '{"location":"eastus"}'; expect_code 201 "rg in subscription 2"
req PUT "$RG2/providers/Microsoft.Storage/storageAccounts/stgood01?$V=2025-06-01" "$storage"
expect_code 409 "storage name taken"; expect_body StorageAccountAlreadyTaken "storage taken code"
req PUT "$RG2/providers/Microsoft.KeyVault/vaults/KV-GOOD-01?$V=2025-05-01" "$vault"
expect_code 409 "vault name taken (any casing)"; expect_body VaultAlreadyExists "vault taken code"
req PUT "$RG2/providers/Microsoft.ContainerRegistry/registries/acrgood01?$V=2025-04-01" "$acr"
expect_code 409 "registry name taken"; expect_body AlreadyInUse "registry taken code"
# the owner may PUT again (an update), and a deleted name is free again
req PUT "$ST/stgood01?$V=2025-06-01" "$storage"; expect_code 202 "storage update by its owner"
req DELETE "$ST/stgood01?$V=2025-06-01"; expect_code 200 "storage delete"
[ "$(header x-ms-ratelimit-remaining-subscription-deletes)" != "" ] || fail "DELETE names the deletes quota"
[ "$(header x-ms-ratelimit-remaining-subscription-writes)" = "" ] || fail "DELETE does not name the writes quota"
req PUT "$RG2/providers/Microsoft.Storage/storageAccounts/stgood01?$V=2025-06-01" "$storage"
expect_code 202 "storage name free after delete"

# HEAD on a resource id: 204 when it exists, 404 when not, never a body
[ "$(head_code "$KV/kv-good-01?$V=2025-05-01")" = 204 ] || fail "HEAD existing vault"
[ "$(head_code "$KV/kv-missing?$V=2025-05-01")" = 404 ] || fail "HEAD missing vault"
[ "$(head_code "$RG?$V=2024-03-01")" = 204 ] || fail "HEAD resource group"

# tags are a dictionary of strings: a number, bool, null, array or object is refused
for bad in '5' 'true' 'null' '["a"]' '{"a":"b"}' '2.5'; do
  req PUT "$RG/providers/Microsoft.Insights/components/appi-tags?$V=2020-02-02" \
    "{\"location\":\"eastus\",\"kind\":\"web\",\"properties\":{\"Application_Type\":\"web\"},\"tags\":{\"ok\":\"x\",\"n\":$bad}}"
  expect_code 400 "tag value $bad"; expect_body InvalidRequestContent "tag value $bad code"
  expect_body "Path 'tags.n'" "tag value $bad names its path"
done
req GET "$RG/providers/Microsoft.Insights/components/appi-tags?$V=2020-02-02"; expect_code 404 "refused tags left nothing"
req PUT "$RG2?$V=2024-03-01" '{"location":"eastus","tags":{"n":5}}'; expect_code 400 "resource group tag number"
req PATCH "$RG2?$V=2024-03-01" '{"tags":{"n":false}}'; expect_code 400 "resource group PATCH tag bool"
req PUT "$RG2?$V=2024-03-01" '{"location":"eastus","tags":["a"]}'; expect_code 400 "tags as an array"
expect_body "Path 'tags'" "tags as an array names its path"
req PUT "$WS/ws_ok-1/datastores/ds1?$V=2025-09-01" \
  '{"properties":{"datastoreType":"AzureBlob","accountName":"stgood01","containerName":"c","credentials":{"credentialsType":"None"},"tags":{"n":1}}}'
expect_code 400 "datastore tag number"; expect_body "Path 'properties.tags.n'" "datastore tag path"
req PUT "$RG2?$V=2024-03-01" '{"location":"eastus","tags":{"n":"5","empty":""}}'; expect_code 200 "string tags"

# Resources_List: every top-level resource of the subscription, no properties
req GET "$S/resources?$V=2021-04-01"; expect_code 200 "Resources_List"
expect_body '"name":"kv-good-01"' "lists the vault"; expect_body '"name":"acrGood01"' "lists the registry"
expect_body '"name":"ws_ok-1"' "lists the workspace"
grep -q '"properties"' <<<"$BODY" && fail "Resources_List carries no properties"
grep -q 'stgood01' <<<"$BODY" && fail "Resources_List is scoped to its subscription"
req GET "$S2/resources?$V=2021-04-01"; expect_body stgood01 "subscription 2 lists its account"
echo "ok"
