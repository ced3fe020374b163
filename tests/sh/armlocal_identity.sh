#!/usr/bin/env bash
# armlocal identity and policy: the token endpoint (client secret, RS256,
# PS256 and ES256 certificate assertions with x5t#S256 / x5t / kid, JWS
# encoding and ES256 curve refused when wrong, federated assertions),
# IMDS, --auth required, built-in policy definitions and provider aliases.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
V=api-version
T=72f988bf-86f1-41af-91ab-2d7cd011db47
armlocal_start --auth required --policy-definitions "$SHARED/data/policies" --aliases "$SHARED/data/policy-aliases.csv"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
der_rs() { # an ECDSA signature (DER on stdin) as JWS wants it: r||s, 32 bytes each
  openssl asn1parse -inform DER | awk -F: '/INTEGER/ { v = $NF; while (length(v) < 64) v = "0" v; printf "%s", v }' | xxd -r -p
}
jwt() { # jwt ALG HEADER_JSON CLAIMS_JSON KEY
  local h p sig
  h=$(printf '%s' "$2" | b64url); p=$(printf '%s' "$3" | b64url)
  if [ "$1" = PS256 ]; then
    sig=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$4" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 | b64url)
  elif [ "$1" = ES256 ]; then
    sig=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$4" | der_rs | b64url)
  else
    sig=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$4" | b64url)
  fi
  printf '%s.%s.%s' "$h" "$p" "$sig"
}
token() { curl -sS -X POST "$B/$T/oauth2/v2.0/token" "$@"; }
signin() { # signin CLIENT ASSERTION PATTERN WHAT: the sign-in's answer must match PATTERN
  token -d "grant_type=client_credentials&client_id=$1&scope=https://management.azure.com/.default&$AT" \
    --data-urlencode "client_assertion=$2" | grep -q "$3" || fail "$4"
}

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
AT='client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer'
claims() { echo "{\"aud\":\"$B/$T/oauth2/v2.0/token\",\"iss\":\"app1\",\"sub\":\"app1\",\"jti\":\"$1\",\"nbf\":$now,\"exp\":$((now + 600))}"; }
claims=$(claims 0)
for variant in "RS256 x5t $x5t" "PS256 x5t#S256 $x5t256"; do
  set -- $variant
  a=$(jwt "$1" "{\"alg\":\"$1\",\"typ\":\"JWT\",\"$2\":\"$3\"}" "$(claims "$1")" "$TMP/sp.key")
  token -d "grant_type=client_credentials&client_id=app1&scope=https://management.azure.com/.default&$AT&client_assertion=$a" \
    | grep -q access_token || fail "$1 assertion"
done
# the same assertion again is a replay (jti); another endpoint is the wrong audience
token -d "grant_type=client_credentials&client_id=app1&scope=https://management.azure.com/.default&$AT&client_assertion=$a" \
  | grep -q "AADSTS50027.*already used" || fail "replayed assertion accepted"
a=$(jwt RS256 "{\"alg\":\"RS256\",\"x5t\":\"$x5t\"}" "$(claims 2 | sed "s|$B/$T|https://login.microsoftonline.com/$T|")" "$TMP/sp.key")
token -d "grant_type=client_credentials&client_id=app1&scope=x/.default&$AT&client_assertion=$a" \
  | grep -q "AADSTS50027.*audience" || fail "assertion for another audience accepted"
# a key registered without a certificate is named by kid
req POST /_armlocal/servicePrincipals "{\"clientId\":\"app3\",\"certificates\":[{\"kid\":\"key-1\",\"publicKeyPem\":\"$pub\"}]}"
expect_code 201 "register a public key"
req POST /_armlocal/servicePrincipals '{"clientId":"bad","certificates":[{"kid":"k"}]}'; expect_code 400 "a key without publicKeyPem"
c3="{\"aud\":\"$B/$T/oauth2/v2.0/token\",\"iss\":\"app3\",\"sub\":\"app3\",\"jti\":\"k-1\",\"nbf\":$now,\"exp\":$((now + 600))}"
signin app3 "$(jwt RS256 '{"alg":"RS256","kid":"key-1"}' "$c3" "$TMP/oidc.key")" access_token \
  "assertion signed by a registered key"
signin app3 "$(jwt RS256 '{"alg":"RS256","kid":"key-2"}' "${c3/k-1/k-2}" "$TMP/oidc.key")" \
  "AADSTS700027.*key was not found" "unknown kid accepted"
# JWS parts are base64url without padding (RFC 7515): the signature of a valid assertion in
# the standard alphabet ('+', '/'), or padded, is refused; sent properly, the same assertion
# (its jti still unused) is accepted
h=$(printf '%s' '{"alg":"RS256","kid":"key-1"}' | b64url)
for try in $(seq 50); do
  p=$(printf '%s' "${c3/k-1/enc-$try}" | b64url)
  printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$TMP/oidc.key" > "$TMP/sig.bin"
  std=$(openssl base64 -A < "$TMP/sig.bin")
  case "$std" in *[+/]*) break ;; esac
done
case "$std" in *[+/]*) ;; *) fail "no signature with '+' or '/' in 50 tries" ;; esac
for sig in "${std%%=*}" "$(tr '+/' '-_' <<<"$std")" "$std"; do
  signin app3 "$h.$p.$sig" "AADSTS50027: Invalid JWT token in client_assertion" \
    "signature encoded as '$sig' accepted"
done
signin app3 "$h.$p.$(b64url < "$TMP/sig.bin")" access_token "the same assertion in base64url"
# ES256 means ECDSA on P-256: a key on secp256k1 (also 32-byte r and s) is refused
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/p256.key" 2>/dev/null
openssl ecparam -name secp256k1 -genkey -noout -out "$TMP/k1.key" 2>/dev/null
p256=$(openssl ec -in "$TMP/p256.key" -pubout 2>/dev/null | awk '{printf "%s\\n", $0}')
k1=$(openssl ec -in "$TMP/k1.key" -pubout 2>/dev/null | awk '{printf "%s\\n", $0}')
req POST /_armlocal/servicePrincipals "{\"clientId\":\"app4\",\"certificates\":[{\"kid\":\"p256\",\"publicKeyPem\":\"$p256\"},{\"kid\":\"k1\",\"publicKeyPem\":\"$k1\"}]}"
expect_code 201 "register EC keys"
c4="{\"aud\":\"$B/$T/oauth2/v2.0/token\",\"iss\":\"app4\",\"sub\":\"app4\",\"jti\":\"ec-1\",\"nbf\":$now,\"exp\":$((now + 600))}"
signin app4 "$(jwt ES256 '{"alg":"ES256","kid":"p256"}' "$c4" "$TMP/p256.key")" access_token \
  "ES256 assertion on P-256"
signin app4 "$(jwt ES256 '{"alg":"ES256","kid":"k1"}' "${c4/ec-1/ec-2}" "$TMP/k1.key")" \
  "AADSTS700027: Client assertion failed signature validation" "ES256 on secp256k1 accepted"

# a tampered or expired assertion fails
a=$(jwt RS256 "{\"alg\":\"RS256\",\"x5t\":\"$x5t\"}" "$claims" "$TMP/oidc.key")
token -d "grant_type=client_credentials&client_id=app1&scope=x/.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$a" \
  | grep -q "AADSTS700027" || fail "assertion signed by the wrong key accepted"
a=$(jwt RS256 "{\"alg\":\"RS256\",\"x5t\":\"$x5t\"}" "{\"aud\":\"$B/$T/oauth2/v2.0/token\",\"iss\":\"app1\",\"sub\":\"app1\",\"exp\":$((now - 10))}" "$TMP/sp.key")
token -d "grant_type=client_credentials&client_id=app1&scope=x/.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$a" \
  | grep -q "AADSTS700024" || fail "expired assertion accepted"
a=$(jwt RS256 "{\"alg\":\"RS256\",\"x5t\":\"$x5t\"}" "{\"aud\":\"$B/$T/oauth2/v2.0/token\",\"iss\":\"app1\",\"sub\":\"app1\",\"jti\":\"nbf\",\"nbf\":$((now + 3600)),\"exp\":$((now + 4000))}" "$TMP/sp.key")
token -d "grant_type=client_credentials&client_id=app1&scope=x/.default&$AT&client_assertion=$a" \
  | grep -q "AADSTS700024" || fail "assertion not yet valid (nbf) accepted"
a=$(jwt RS256 "{\"alg\":\"RS256\",\"x5t\":\"$x5t\"}" "{\"aud\":\"$B/$T/oauth2/v2.0/token\",\"iss\":\"app1\",\"sub\":\"app1\",\"exp\":$((now + 600))}" "$TMP/sp.key")
token -d "grant_type=client_credentials&client_id=app1&scope=x/.default&$AT&client_assertion=$a" \
  | grep -q "AADSTS50027.*no jti" || fail "assertion without jti accepted"

# federated assertion from the registered issuer
fc="{\"iss\":\"https://token.actions.githubusercontent.com\",\"sub\":\"repo:o/r:ref:refs/heads/main\",\"aud\":\"api://AzureADTokenExchange\",\"exp\":$((now + 600))}"
a=$(jwt RS256 '{"alg":"RS256","kid":"k"}' "$fc" "$TMP/oidc.key")
token -d "grant_type=client_credentials&client_id=app1&scope=https://management.azure.com/.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$a" \
  | grep -q access_token || fail "federated assertion"
fc_bad="{\"iss\":\"https://token.actions.githubusercontent.com\",\"sub\":\"repo:o/other:ref:refs/heads/main\",\"aud\":\"api://AzureADTokenExchange\",\"exp\":$((now + 600))}"
a=$(jwt RS256 '{"alg":"RS256"}' "$fc_bad" "$TMP/oidc.key")
token -d "grant_type=client_credentials&client_id=app1&scope=x/.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$a" \
  | grep -q "AADSTS700213" || fail "federated subject mismatch accepted"

# IMDS needs Metadata: true; its token works against ARM
curl -sS "$B/metadata/identity/oauth2/token?$V=2018-02-01&resource=https://management.azure.com/" | grep -q "metadata header" || fail "IMDS without header"
imds=$(curl -sS -H 'Metadata: true' "$B/metadata/identity/oauth2/token?$V=2018-02-01&resource=https://management.azure.com/")
grep -q '"expires_in":"' <<<"$imds" || fail "IMDS answers strings: $imds"
itok=$(sed -E 's/.*"access_token":"([^"]*)".*/\1/' <<<"$imds")
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $itok" -X PUT -H 'Content-Type: application/json' -d '{"location":"eastus"}' "$B$S/resourceGroups/rg1?$V=2024-03-01")
[ "$code" = 201 ] || fail "IMDS token on ARM: $code"

# armlocal's own OIDC issuer: discovery, keys, a GitHub Actions-like and an
# Azure DevOps-like request endpoint, tokens minted for files
iss="$B/oidc"
curl -sS "$iss/.well-known/openid-configuration" | grep -q "\"jwks_uri\":\"$iss/keys\"" || fail "discovery"
curl -sS "$iss/keys" | grep -q '"kty":"EC",.*"crv":"P-256"' || fail "jwks"
req POST /_armlocal/oidc/requestTokens '{"requestToken":"gh-req","subject":"repo:o/r:environment:prod"}'; expect_code 201 "request token"
req POST /_armlocal/oidc/requestTokens '{"requestToken":"ado-req","subject":"sc://org/proj/conn","serviceConnectionId":"sc-1"}'; expect_code 201 "ado request token"
curl -sS "$iss/github/token?audience=x" | grep -q "Bad credentials" || fail "github without request token"
gh=$(curl -sS -H "Authorization: Bearer gh-req" "$iss/github/token?audience=api://AzureADTokenExchange")
grep -q '"value":"ey' <<<"$gh" || fail "github token: $gh"
curl -sS -X POST -H "Authorization: Bearer ado-req" "$iss/ado/oidctoken?api-version=7.1&serviceConnectionId=other" | grep -q ServiceEndpointNotFound || fail "ado wrong connection"
ado=$(curl -sS -X POST -H "Authorization: Bearer ado-req" "$iss/ado/oidctoken?api-version=7.1&serviceConnectionId=sc-1")
grep -q '"oidcToken":"ey' <<<"$ado" || fail "ado token: $ado"
req POST /_armlocal/oidc/tokens '{"subject":"system:serviceaccount:ns:sa"}'; expect_code 201 "mint"
req POST /_armlocal/servicePrincipals "{\"clientId\":\"app2\",\"tenantId\":\"$T\",\"federatedCredentials\":[{\"issuer\":\"$iss\",\"subject\":\"repo:o/r:environment:prod\"}]}"
expect_code 201 "register federated app"
v=$(sed -E 's/.*"value":"([^"]*)".*/\1/' <<<"$gh")
token -d "grant_type=client_credentials&client_id=app2&scope=https://management.azure.com/.default&$AT&client_assertion=$v" | grep -q access_token || fail "own issuer federation"
# a federated token may be used again (another scope) while it is valid
token -d "grant_type=client_credentials&client_id=app2&scope=https://vault.azure.net/.default&$AT&client_assertion=$v" | grep -q access_token || fail "federated token reused"
token -d "grant_type=client_credentials&client_id=app2&scope=x/.default&$AT&client_assertion=$(sed -E 's/.*"oidcToken":"([^"]*)".*/\1/' <<<"$ado")" | grep -q AADSTS700213 || fail "untrusted subject"
curl -sS -X POST "$B/00000000-0000-0000-0000-00000000dead/oauth2/v2.0/token" -d "grant_type=client_credentials&client_id=app2&scope=x/.default&$AT&client_assertion=$v" | grep -q AADSTS700016 || fail "app in another tenant"

# managed identity: user-assigned identities are registered; App Service needs its header
curl -sS -H 'Metadata: true' "$B/metadata/identity/oauth2/token?$V=2018-02-01&resource=https://management.azure.com/&client_id=uami-1" | grep -q "Identity not found" || fail "unknown UAMI"
req POST /_armlocal/managedIdentities '{"clientId":"uami-1"}'; expect_code 201 "register UAMI"
curl -sS -H 'Metadata: true' "$B/metadata/identity/oauth2/token?$V=2018-02-01&resource=https://management.azure.com/&client_id=uami-1" | grep -q '"client_id":"uami-1"' || fail "UAMI token"
curl -sS "$B/msi/token?$V=2019-08-01&resource=https://management.azure.com" | grep -q X-IDENTITY-HEADER || fail "App Service off"
req PUT /_armlocal/settings '{"identityHeader":"hdr-secret","tokenLifetimeS":120}'; expect_code 200 "settings"
expect_body '"identityHeaderSet":true' "settings hide the header"; grep -q hdr-secret <<<"$BODY" && fail "identity header shown"
curl -sS -H "X-IDENTITY-HEADER: wrong" "$B/msi/token?$V=2019-08-01&resource=https://management.azure.com" | grep -q '"statusCode":401' || fail "App Service wrong header"
as=$(curl -sS -H "X-IDENTITY-HEADER: hdr-secret" "$B/msi/token?$V=2019-08-01&resource=https://management.azure.com")
grep -q "\"expires_on\":\"$(( $(date +%s) + 120 ))\"\|\"expires_on\":\"$(( $(date +%s) + 119 ))\"" <<<"$as" || fail "App Service token lives tokenLifetimeS: $as"

# policy definitions and aliases (real exports, read in place)
H=(-H "Authorization: Bearer $tok")
out=$(curl -sS "${H[@]}" "$B/providers/Microsoft.Authorization/policyDefinitions/438c38d2-3772-465a-a9cc-7a6666a275ce?$V=2025-03-01")
grep -q '"policyType": *"BuiltIn"' <<<"$out" || fail "policy definition: ${out:0:200}"
curl -sS "${H[@]}" "$B/providers/Microsoft.Authorization/policyDefinitions/nope?$V=2025-03-01" | grep -q PolicyDefinitionNotFound || fail "missing definition"
out=$(curl -sS "${H[@]}" "$B/providers/Microsoft.MachineLearningServices?$V=2021-04-01&\$expand=resourceTypes/aliases")
grep -q '"name":"Microsoft.MachineLearningServices/workspaces/publicNetworkAccess"' <<<"$out" || fail "aliases"
grep -q '"defaultPath":"properties.publicNetworkAccess"' <<<"$out" || fail "alias default path"
echo "armlocal identity: ok"
