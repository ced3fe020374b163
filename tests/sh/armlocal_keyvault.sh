#!/usr/bin/env bash
# armlocal Key Vault as Azure keeps it (issue 17 items 2, 3): EC keys shaped
# as EC keys, ARM's key versions (Keys_ListVersions, Keys_GetVersion),
# soft-deleted keys (DeletedKeyBundle, deletedkeys get/list/recover/purge,
# the name held while deleted), a recovered vault comes back as it was with
# its keys, and purge protection stays irreversible.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
RG=$S/resourceGroups/rg1
V=api-version
KV=$RG/providers/Microsoft.KeyVault/vaults
armlocal_start --lro-ms 0 --seed 11
req PUT "$RG?$V=2024-03-01" '{"location":"eastus"}'; expect_code 201 "rg"
vault='{"location":"eastus","tags":{"team":"ml"},"properties":{"tenantId":"t","sku":{"family":"A","name":"premium"},"enableRbacAuthorization":true}}'
req PUT "$KV/kvsd?$V=2025-05-01" "$vault"; expect_code 201 "vault"
# the vault's data plane has Key Vault's shape: its own origin, /keys/{name}/{version}
VU=$(sed -E 's/.*"vaultUri":"([^"]*)".*/\1/' <<<"$BODY")
[[ "$VU" =~ ^http://127\.0\.0\.1:[0-9]+/$ ]] || fail "vaultUri has its own origin: $VU"
[ "$VU" != "$B/" ] || fail "vaultUri is not the resource manager's origin"
# dp METHOD PATH [BODY]: a data-plane request to the vault, with a token
dp() {
  local data=${3-}
  BODY=$(curl -sS -o - -D "$TMP/h" -w '\n%{http_code}' -X "$1" "${VU}${2#/}" \
    -H 'Authorization: Bearer local' -H 'Content-Type: application/json' ${data:+--data-binary "$data"})
  CODE=${BODY##*$'\n'}; BODY=${BODY%$'\n'*}; HDRS="$TMP/h"
}
# without a token the data plane challenges, naming the tenant's authority and the resource
code=$(curl -sS -o /dev/null -D "$TMP/ch" -w '%{http_code}' -X POST "${VU}keys/k0/create?$V=7.6")
[ "$code" = 401 ] || fail "unauthenticated data-plane request challenged: $code"
grep -qi '^WWW-Authenticate: Bearer authorization="[^"]*/t", resource="https://vault.azure.net"' "$TMP/ch" \
  || fail "challenge: $(grep -i www-auth "$TMP/ch")"
req GET "$KV/kvsd/keys/k0?$V=2025-05-01"; expect_code 404 "the challenged request created nothing"

# tags are strings on the data plane too (and on update, below)
dp POST "/keys/tagged/create?$V=7.6" '{"kty":"EC","crv":"P-256","tags":{"n":5}}'; expect_code 400 "a number tag"
expect_body BadParameter "a number tag's code"
# EC keys: crv, x and y; no n or e; sign and verify
dp POST "/keys/ec1/create?$V=7.6" '{"kty":"EC","crv":"P-384"}'; expect_code 200 "EC key"
saved=$BODY
ev=$(sed -E 's#.*"kid":"[^"]*/keys/ec1/([0-9a-f]{32})".*#\1#' <<<"$BODY")
dp PATCH "/keys/ec1/$ev?$V=7.6" '{"tags":{"b":true}}'; expect_code 400 "a bool tag on update"
BODY=$saved
expect_body '"crv":"P-384"' "EC curve"; expect_body '"x":"' "EC x"; expect_body '"y":"' "EC y"
grep -q '"n":' <<<"$BODY" && fail "EC key has no modulus"
expect_body '"key_ops":\["sign","verify"\]' "EC key ops"
x=$(sed -E 's/.*"x":"([^"]*)".*/\1/' <<<"$BODY")
[ "${#x}" -eq 64 ] || fail "P-384 coordinate is 48 bytes (64 base64url chars), got ${#x}"
req GET "$KV/kvsd/keys/ec1?$V=2025-05-01"; expect_body '"curveName":"P-384"' "ARM view of EC key"
grep -q '"keySize"' <<<"$BODY" && fail "EC key has no keySize in ARM"

# RSA key with two versions, read through ARM's versions routes
req PUT "$KV/kvsd/keys/rsa1?$V=2025-05-01" '{"properties":{"kty":"RSA","keySize":3072}}'; expect_code 200 "RSA key"
dp POST "/keys/rsa1/rotate?$V=7.6"; expect_code 200 "rotate"
expect_body "\"kid\":\"${VU}keys/rsa1/[0-9a-f]\{32\}\"" "kid is {vaultUri}keys/{name}/{version}"
v2=$(sed -E 's#.*"kid":"[^"]*/keys/rsa1/([0-9a-f]{32})".*#\1#' <<<"$BODY")
req GET "$KV/kvsd/keys/rsa1/versions?$V=2025-05-01"; expect_code 200 "Keys_ListVersions"
[ "$(grep -o '"type":"Microsoft.KeyVault/vaults/keys/versions"' <<<"$BODY" | wc -l)" -eq 2 ] || fail "two versions: $BODY"
expect_body "/keys/rsa1/versions/$v2\"" "version id"
req GET "$KV/kvsd/keys/rsa1/versions/$v2?$V=2025-05-01"; expect_code 200 "Keys_GetVersion"
expect_body "\"name\":\"$v2\"" "version name"; expect_body "\"keyUriWithVersion\":\"[^\"]*/keys/rsa1/$v2\"" "version uri"
req GET "$KV/kvsd/keys/rsa1/versions/00000000000000000000000000000000?$V=2025-05-01"; expect_code 404 "unknown version"
req GET "$KV/kvsd/keys/rsa1/versions?$V=1999-01-01"; expect_code 400 "versions check the api-version"

# soft-deleted keys
dp DELETE "/keys/rsa1?$V=7.6"; expect_code 200 "delete key"
expect_body '"recoveryId":"[^"]*/deletedkeys/rsa1"' "recoveryId"
expect_body '"deletedDate":' "deletedDate"; expect_body '"scheduledPurgeDate":' "scheduledPurgeDate"
req GET "$KV/kvsd/keys/rsa1?$V=2025-05-01"; expect_code 404 "deleted key gone from ARM"
dp GET "/deletedkeys?$V=7.6"; expect_body '"recoveryId":"[^"]*/deletedkeys/rsa1"' "deleted keys listed"
dp GET "/deletedkeys/rsa1?$V=7.6"; expect_code 200 "deleted key get"
dp POST "/keys/rsa1/create?$V=7.6" '{"kty":"RSA"}'; expect_code 409 "name held while deleted"
dp POST "/deletedkeys/rsa1/recover?$V=7.6"; expect_code 200 "recover key"
req GET "$KV/kvsd/keys/rsa1/versions?$V=2025-05-01"
[ "$(grep -o '"type":"Microsoft.KeyVault/vaults/keys/versions"' <<<"$BODY" | wc -l)" -eq 2 ] || fail "recovered key keeps both versions"
dp DELETE "/keys/ec1?$V=7.6"; expect_code 200 "delete EC key"
dp DELETE "/deletedkeys/ec1?$V=7.6"; expect_code 204 "purge without purge protection"
dp GET "/deletedkeys/ec1?$V=7.6"; expect_code 404 "purged"
dp POST "/keys/ec1/create?$V=7.6" '{"kty":"EC"}'; expect_code 200 "name free after purge"
req PATCH "$KV/kvsd?$V=2025-05-01" '{"properties":{"enablePurgeProtection":true}}'; expect_code 200 "purge protection on"
dp DELETE "/keys/ec1?$V=7.6"; expect_code 200 "delete under purge protection"
dp DELETE "/deletedkeys/ec1?$V=7.6"; expect_code 403 "purge refused under purge protection"

# vault recover: properties, tags and keys come back; the request's do not
req DELETE "$KV/kvsd?$V=2025-05-01"; expect_code 200 "vault delete"
req GET "$S/providers/Microsoft.KeyVault/deletedVaults?$V=2025-05-01"; expect_body '"name":"kvsd"' "deleted vault listed"
grep -q '"resources"\|"_' <<<"$BODY" && fail "deleted vault list shows no internals"
req PUT "$KV/kvsd?$V=2025-05-01" '{"location":"eastus","properties":{"tenantId":"t","sku":{"family":"A","name":"standard"},"createMode":"recover"}}'
expect_code 201 "vault recover"; expect_body "\"vaultUri\":\"$VU\"" "recovered vault keeps its data-plane origin"
req GET "$KV/kvsd?$V=2025-05-01"
expect_body '"enablePurgeProtection":true' "recover keeps purge protection"
expect_body '"enableRbacAuthorization":true' "recover keeps the access model"
expect_body '"name":"premium"' "recover keeps the sku"; expect_body '"team":"ml"' "recover keeps tags"
req GET "$KV/kvsd/keys/rsa1/versions?$V=2025-05-01"; expect_code 200 "recovered vault's key"
[ "$(grep -o '"type":"Microsoft.KeyVault/vaults/keys/versions"' <<<"$BODY" | wc -l)" -eq 2 ] || fail "recovered vault's key keeps its versions"
dp GET "/keys/rsa1?$V=7.6"; expect_code 200 "recovered key on the data plane"
req PATCH "$KV/kvsd?$V=2025-05-01" '{"properties":{"enablePurgeProtection":false}}'; expect_code 400 "purge protection irreversible after recover"
req DELETE "$KV/kvsd?$V=2025-05-01"; expect_code 200 "vault delete again"
req POST "$S/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/kvsd/purge?$V=2025-05-01"
expect_code 409 "purge refused under purge protection"
echo ok
