#!/usr/bin/env bash
# armlocal identity and policy: the token endpoint (client secret, RS256 and
# PS256 certificate assertions with x5t#S256 / x5t, federated assertions),
# IMDS, --auth required, built-in policy definitions and provider aliases.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
V=api-version
T=72f988bf-86f1-41af-91ab-2d7cd011db47
armlocal_start --auth required --policy-definitions "$SHARED/data/policies" --aliases "$SHARED/data/policy-aliases.csv"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt() { # jwt ALG HEADER_JSON CLAIMS_JSON KEY
  local h p sig
  h=$(printf '%s' "$2" | b64url); p=$(printf '%s' "$3" | b64url)
  if [ "$1" = PS256 ]; then
    sig=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$4" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 | b64url)
  else
    sig=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$4" | b64url)
  fi
  printf '%s.%s.%s' "$h" "$p" "$sig"
}
token() { curl -sS -X POST "$B/$T/oauth2/v2.0/token" "$@"; }

# without a token ARM refuses
req GET "$S/resourceGroups/rg1?$V=2024-03-01"; expect_code 401 "no token"; expect_body AuthenticationFailed "no token"
[ -n "$(header WWW-Authenticate)" ] || fail "WWW-Authenticate"
curl -sS -H 'Authorization: Bearer abc.def.ghi' "$B$S/resourceGroups/rg1?$V=2024-03-01" | grep -q InvalidAuthenticationToken || fail "forged token"

# register a service principal with a secret, a certificate and a federated credential
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/sp.key" -out "$TMP/sp.crt" -days 1 -subj "/CN=sp" 2>/dev/null
openssl genrsa -out "$TMP/oidc.key" 2048 2>/dev/null; openssl rsa -in "$TMP/oidc.key" -pubout -out "$TMP/oidc.pub" 2>/dev/null
cert=$(awk '{printf "%s\\n", $0}' "$TMP/sp.crt"); pub=$(awk '{printf "%s\\n", $0}' "$TMP/oidc.pub")
req POST /_armlocal/servicePrincipals "{\"clientId\":\"app1\",\"secret\":\"s3cret\",\"certificates\":[\"$cert\"],\"federatedCredentials\":[{\"issuer\":\"https://token.actions.githubusercontent.com\",\"subject\":\"repo:o/r:ref:refs/heads/main\",\"publicKeyPem\":\"$pub\"}]}"
expect_code 201 "register sp"
req POST /_armlocal/servicePrincipals '{"clientId":"bad","certificates":["not a cert"]}'; expect_code 400 "bad certificate refused"

# client secret
out=$(token -d "grant_type=client_credentials&client_id=app1&client_secret=s3cret&scope=https%3A%2F%2Fmanagement.azure.com%2F.default")
tok=$(sed -E 's/.*"access_token":"([^"]*)".*/\1/' <<<"$out"); grep -q '"token_type":"Bearer"' <<<"$out" || fail "secret token: $out"
token -d "grant_type=client_credentials&client_id=app1&client_secret=wrong&scope=https://management.azure.com/.default" | grep -q invalid_client || fail "wrong secret"
token -d "grant_type=client_credentials&client_id=nobody&client_secret=x&scope=https://management.azure.com/.default" | grep -q unauthorized_client || fail "unknown client"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$B$S/resourceGroups/rg1?$V=2024-03-01")
[ "$code" = 404 ] || fail "valid token accepted by ARM: $code"
# a management token is not a vault token
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$B/_vault/kv/keys?$V=7.6")
[ "$code" = 401 ] || fail "audience checked: $code"

# certificate assertions: RS256 + x5t (SHA-1), PS256 + x5t#S256
now=$(date +%s)
x5t=$(openssl x509 -in "$TMP/sp.crt" -outform DER | openssl dgst -sha1 -binary | b64url)
x5t256=$(openssl x509 -in "$TMP/sp.crt" -outform DER | openssl dgst -sha256 -binary | b64url)
claims="{\"aud\":\"$B/$T/oauth2/v2.0/token\",\"iss\":\"app1\",\"sub\":\"app1\",\"jti\":\"1\",\"nbf\":$now,\"exp\":$((now + 600))}"
for variant in "RS256 x5t $x5t" "PS256 x5t#S256 $x5t256"; do
  set -- $variant
  a=$(jwt "$1" "{\"alg\":\"$1\",\"typ\":\"JWT\",\"$2\":\"$3\"}" "$claims" "$TMP/sp.key")
  token -d "grant_type=client_credentials&client_id=app1&scope=https://management.azure.com/.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$a" \
    | grep -q access_token || fail "$1 assertion"
done
# a tampered or expired assertion fails
a=$(jwt RS256 "{\"alg\":\"RS256\",\"x5t\":\"$x5t\"}" "$claims" "$TMP/oidc.key")
token -d "grant_type=client_credentials&client_id=app1&scope=x/.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$a" \
  | grep -q invalid_client || fail "assertion signed by the wrong key accepted"
a=$(jwt RS256 "{\"alg\":\"RS256\",\"x5t\":\"$x5t\"}" "{\"aud\":\"$B/$T/oauth2/v2.0/token\",\"iss\":\"app1\",\"sub\":\"app1\",\"exp\":$((now - 10))}" "$TMP/sp.key")
token -d "grant_type=client_credentials&client_id=app1&scope=x/.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$a" \
  | grep -q invalid_client || fail "expired assertion accepted"

# federated assertion from the registered issuer
fc="{\"iss\":\"https://token.actions.githubusercontent.com\",\"sub\":\"repo:o/r:ref:refs/heads/main\",\"aud\":\"api://AzureADTokenExchange\",\"exp\":$((now + 600))}"
a=$(jwt RS256 '{"alg":"RS256","kid":"k"}' "$fc" "$TMP/oidc.key")
token -d "grant_type=client_credentials&client_id=app1&scope=https://management.azure.com/.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$a" \
  | grep -q access_token || fail "federated assertion"
fc_bad="{\"iss\":\"https://token.actions.githubusercontent.com\",\"sub\":\"repo:o/other:ref:refs/heads/main\",\"aud\":\"api://AzureADTokenExchange\",\"exp\":$((now + 600))}"
a=$(jwt RS256 '{"alg":"RS256"}' "$fc_bad" "$TMP/oidc.key")
token -d "grant_type=client_credentials&client_id=app1&scope=x/.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$a" \
  | grep -q invalid_client || fail "federated subject mismatch accepted"

# IMDS needs Metadata: true; its token works against ARM
curl -sS "$B/metadata/identity/oauth2/token?$V=2018-02-01&resource=https://management.azure.com/" | grep -q "metadata header" || fail "IMDS without header"
imds=$(curl -sS -H 'Metadata: true' "$B/metadata/identity/oauth2/token?$V=2018-02-01&resource=https://management.azure.com/")
grep -q '"expires_in":"' <<<"$imds" || fail "IMDS answers strings: $imds"
itok=$(sed -E 's/.*"access_token":"([^"]*)".*/\1/' <<<"$imds")
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $itok" -X PUT -H 'Content-Type: application/json' -d '{"location":"eastus"}' "$B$S/resourceGroups/rg1?$V=2024-03-01")
[ "$code" = 201 ] || fail "IMDS token on ARM: $code"

# policy definitions and aliases (real exports, read in place)
H=(-H "Authorization: Bearer $tok")
out=$(curl -sS "${H[@]}" "$B/providers/Microsoft.Authorization/policyDefinitions/438c38d2-3772-465a-a9cc-7a6666a275ce?$V=2025-03-01")
grep -q '"policyType": *"BuiltIn"' <<<"$out" || fail "policy definition: ${out:0:200}"
curl -sS "${H[@]}" "$B/providers/Microsoft.Authorization/policyDefinitions/nope?$V=2025-03-01" | grep -q PolicyDefinitionNotFound || fail "missing definition"
out=$(curl -sS "${H[@]}" "$B/providers/Microsoft.MachineLearningServices?$V=2021-04-01&\$expand=resourceTypes/aliases")
grep -q '"name":"Microsoft.MachineLearningServices/workspaces/publicNetworkAccess"' <<<"$out" || fail "aliases"
grep -q '"defaultPath":"properties.publicNetworkAccess"' <<<"$out" || fail "alias default path"
echo "armlocal identity: ok"
