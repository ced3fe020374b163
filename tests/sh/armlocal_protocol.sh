#!/usr/bin/env bash
# armlocal ARM protocol: status codes, LRO headers and documents, errors for
# bad input, headers, persistence across restarts, TLS.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
RG=$S/resourceGroups/rg1
V=api-version
armlocal_start --data "$TMP/data" --lro-ms 1500 --seed 7

# resource group: 201 then 200; correlation id echoed; quota header
HDRS="$TMP/h"
code=$(curl -sS -o /dev/null -D "$HDRS" -w '%{http_code}' -X PUT "$B$RG?$V=2024-03-01" \
  -H 'Content-Type: application/json' -H 'x-ms-correlation-request-id: corr-123' -d '{"location":"eastus"}')
[ "$code" = 201 ] || fail "rg create: $code"
[ "$(header x-ms-correlation-request-id)" = corr-123 ] || fail "correlation id not echoed"
[[ "$(header x-ms-request-id)" =~ ^[0-9a-f-]{36}$ ]] || fail "request id"
[ -n "$(header x-ms-ratelimit-remaining-subscription-writes)" ] || fail "writes quota header"
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'; expect_code 200 "rg update"
req PUT "$RG?$V=2024-03-01" '{"location":"westus"}'; expect_code 409 "rg location change"
expect_body InvalidResourceGroupLocation "rg location change"

# api-version: missing, unsupported; unknown types; 404 shapes
req GET "$RG"; expect_code 400 "no api-version"; expect_body MissingApiVersionParameter "no api-version"
req GET "$RG/providers/Microsoft.KeyVault/vaults/x?$V="; expect_code 400 "empty api-version"
req GET "$RG/providers/Microsoft.KeyVault/vaults/x?$V=2019-09-01"; expect_code 400 "old api-version"
expect_body NoRegisteredProviderFound "old api-version"; expect_body "2025-05-01" "supported versions listed"
req GET "$RG/providers/Microsoft.KeyVault/nope/x?$V=2025-05-01"; expect_code 400 "unknown type"
expect_body InvalidResourceType "unknown type"
req GET "$RG/providers/Contoso.Widgets/w/x?$V=2025-05-01"; expect_code 400 "unknown namespace"
expect_body NoRegisteredProviderFound "unknown namespace"
req GET "$RG/providers/Microsoft.KeyVault/vaults/missing?$V=2025-05-01"; expect_code 404 "missing vault"
expect_body '"code":"ResourceNotFound"' "missing vault"; expect_body '"message"' "error message"
req GET "$S/resourceGroups/nope/providers/Microsoft.KeyVault/vaults/x?$V=2025-05-01"; expect_code 404 "missing rg"
expect_body ResourceGroupNotFound "missing rg"
req GET "$RG/providers/Microsoft.MachineLearningServices/workspaces/nows/computes/c?$V=2025-09-01"
expect_code 404 "missing parent"; expect_body ParentResourceNotFound "missing parent"
# case-insensitive routing
req GET "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/RG1?$V=2024-03-01"; expect_code 200 "case-insensitive"

# bad input: malformed JSON, wrong content type, non-object, > 4 MiB
req PUT "$RG/providers/Microsoft.Storage/storageAccounts/sa1?$V=2025-06-01" '{"location":'
expect_code 400 "malformed json"; expect_body InvalidRequestContent "malformed json"
req PUT "$RG/providers/Microsoft.Storage/storageAccounts/sa1?$V=2025-06-01" '[1,2]'
expect_code 400 "non-object"
code=$(curl -sS -o "$TMP/b" -w '%{http_code}' -X PUT "$B$RG/providers/Microsoft.Storage/storageAccounts/sa1?$V=2025-06-01" \
  -H 'Content-Type: text/plain' -d '{}')
[ "$code" = 415 ] && grep -q UnsupportedMediaType "$TMP/b" || fail "wrong content type: $code"
head -c 5000000 /dev/zero | tr '\0' 'a' >"$TMP/big"
code=$(curl -sS -o "$TMP/b" -w '%{http_code}' -X PUT "$B$RG/providers/Microsoft.Storage/storageAccounts/sa1?$V=2025-06-01" \
  -H 'Content-Type: application/json' --data-binary @"$TMP/big")
[ "$code" = 413 ] && grep -q '"error"' "$TMP/b" || fail "large body: $code"
req GET "/nothing/here?$V=2024-03-01"; expect_code 404 "unknown route"; expect_body '"error"' "unknown route"

# storage: 202 + Location, invisible until done, then 200 from the Location URL
req PUT "$RG/providers/Microsoft.Storage/storageAccounts/sa1?$V=2025-06-01" '{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"},"properties":{"isHnsEnabled":true}}'
expect_code 202 "storage create"; loc=$(header Location); [ -n "$loc" ] || fail "no Location"
[ "$(header Retry-After)" = 2 ] || fail "Retry-After"
req GET "$RG/providers/Microsoft.Storage/storageAccounts/sa1?$V=2025-06-01"; expect_code 404 "invisible while creating"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$loc"); [ "$code" = 202 ] || fail "location while running: $code"
sleep 1.6
code=$(curl -sS -o "$TMP/b" -w '%{http_code}' "$loc"); [ "$code" = 200 ] && grep -q '"provisioningState":"Succeeded"' "$TMP/b" || fail "location when done: $code"
req PATCH "$RG/providers/Microsoft.Storage/storageAccounts/sa1?$V=2025-06-01" '{"properties":{"isHnsEnabled":false}}'
expect_code 400 "isHnsEnabled is create-only"; expect_body PropertyChangeNotAllowed "isHnsEnabled"
req PATCH "$RG/providers/Microsoft.Storage/storageAccounts/sa1?$V=2025-06-01" '{"properties":{"minimumTlsVersion":"TLS1_2"}}'
expect_code 200 "storage patch"; expect_body '"minimumTlsVersion":"TLS1_2"' "storage patch"

# ACR: 201 + Azure-AsyncOperation; body shows Creating; status document
req PUT "$RG/providers/Microsoft.ContainerRegistry/registries/acr001?$V=2025-04-01" '{"location":"eastus","sku":{"name":"Premium"}}'
expect_code 201 "acr create"; expect_body '"provisioningState":"Creating"' "acr creating"
asy=$(header Azure-AsyncOperation); [ -n "$asy" ] || fail "no Azure-AsyncOperation"
curl -sS "$asy" | grep -q '"status":"InProgress"' || fail "status InProgress"
sleep 1.6
curl -sS "$asy" | grep -q '"status":"Succeeded"' || fail "status Succeeded"
req PUT "$RG/providers/Microsoft.ContainerRegistry/registries/acr001?$V=2025-04-01" '{"location":"eastus","sku":{"name":"Premium"},"properties":{"zoneRedundancy":"Enabled"}}'
expect_code 400 "zoneRedundancy create-only"
# DELETE via Location: 202, Deleting, then gone; deleting a missing resource is 204
req DELETE "$RG/providers/Microsoft.ContainerRegistry/registries/acr001?$V=2025-04-01"; expect_code 202 "acr delete"
loc=$(header Location)
req GET "$RG/providers/Microsoft.ContainerRegistry/registries/acr001?$V=2025-04-01"; expect_body '"provisioningState":"Deleting"' "deleting"
sleep 1.6
code=$(curl -sS -o /dev/null -w '%{http_code}' "$loc"); [ "$code" = 204 ] || fail "delete location done: $code"
req GET "$RG/providers/Microsoft.ContainerRegistry/registries/acr001?$V=2025-04-01"; expect_code 404 "deleted"
req DELETE "$RG/providers/Microsoft.ContainerRegistry/registries/acr001?$V=2025-04-01"; expect_code 204 "delete missing"

# sync kinds: app insights, diagnostic settings (flat errors), keys have no DELETE
req PUT "$RG/providers/Microsoft.Insights/components/ai1?$V=2020-02-02" '{"location":"eastus","kind":"web","properties":{"Application_Type":"web"}}'
expect_code 201 "components create"; expect_body '"InstrumentationKey"' "instrumentation key"
req PUT "$RG/providers/Microsoft.Storage/storageAccounts/sa1/providers/Microsoft.Insights/diagnosticSettings/d1?$V=2021-05-01-preview" '{"properties":{"workspaceId":"/x","logs":[{"categoryGroup":"allLogs","enabled":true}]}}'
expect_code 200 "diag create"
req GET "$RG/providers/Microsoft.Storage/storageAccounts/sa1/providers/Microsoft.Insights/diagnosticSettings?$V=2021-05-01-preview"
expect_code 200 "diag list"; expect_body '"d1"' "diag listed"
req GET "$RG/providers/Microsoft.Storage/storageAccounts/sa1/providers/Microsoft.Insights/diagnosticSettings/zz?$V=2021-05-01-preview"
expect_code 404 "diag missing"; [[ "$BODY" == '{"code":"ResourceNotFound"'* ]] || fail "diag errors are flat: $BODY"
req PUT "$RG/providers/Microsoft.Storage/storageAccounts/nosa/providers/Microsoft.Insights/diagnosticSettings/d1?$V=2021-05-01-preview" '{"properties":{}}'
expect_code 404 "extension on a missing scope"

# persistence: restart on the same data dir keeps resources and ids
req GET "$RG/providers/Microsoft.Insights/components/ai1?$V=2020-02-02"; before=$BODY
armlocal_stop
armlocal_start --data "$TMP/data" --lro-ms 1500 --seed 7
req GET "$RG/providers/Microsoft.Insights/components/ai1?$V=2020-02-02"; expect_code 200 "after restart"
[ "$BODY" = "$before" ] || fail "resource changed across restart"
req GET "$RG/providers/Microsoft.Storage/storageAccounts/sa1?$V=2025-06-01"; expect_code 200 "storage after restart"
armlocal_stop

# TLS: the client verifies the server certificate
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
armlocal_start --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
[[ "$B" == https://* ]] || fail "TLS base url: $B"
curl -sS --cacert "$TMP/cert.pem" -o /dev/null -w '%{http_code}' "$B$RG?$V=2024-03-01" | grep -q 404 || fail "TLS request"
if curl -sS -o /dev/null "$B$RG?$V=2024-03-01" 2>/dev/null; then fail "untrusted certificate accepted"; fi
armlocal_stop
if "$ARMLOCAL" --listen 10.0.0.1:0 2>/dev/null; then fail "non-loopback listen accepted"; fi
if "$ARMLOCAL" --throttle maybe 2>/dev/null; then fail "bad --throttle accepted"; fi
echo "armlocal protocol: ok"
