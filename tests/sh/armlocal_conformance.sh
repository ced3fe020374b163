#!/usr/bin/env bash
# SDK conformance: Microsoft's JavaScript SDKs drive armlocal through every
# kind (tests/conformance/conformance.js), then, over TLS with --auth
# required, @azure/identity's ClientSecretCredential and @azure/keyvault-keys
# unmodified (tests/conformance/keyvault.js). The SDKs are installed once per
# source tree (tests/tools/npm_install.sh) and found through NODE_PATH.
source "$SRC/tests/sh/lib/armlocal.bash"
dir="$SRC/tests/conformance"
mods=$("$SRC/tests/tools/npm_install.sh" conformance "$dir") || fail "npm ci failed"
export NODE_PATH="$mods/node_modules"
armlocal_start --data "$TMP/data" --lro-ms 300 --policy-definitions "$SHARED/data/policies"
node "$dir/conformance.js" "$B"
# every call the SDKs made was logged
req GET /_armlocal/requests
expect_code 200 "request log"
expect_body '"PUT"' "request log counts PUTs"
armlocal_stop

# Microsoft's credential and Key Vault SDKs, unmodified: https, a real sign-in
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
armlocal_start --auth required --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
T=72f988bf-86f1-41af-91ab-2d7cd011db47
APP=3f2d8a7e-5b1c-4e8f-9a6d-2c7b1e0f4d93
curl -sS --cacert "$TMP/cert.pem" -o /dev/null -w '%{http_code}' -X POST "$B/_armlocal/servicePrincipals" \
  -H 'Content-Type: application/json' \
  -d "{\"clientId\":\"$APP\",\"tenantId\":\"$T\",\"secret\":\"conformance-secret\"}" | grep -q 201 \
  || fail "register the service principal"
NODE_EXTRA_CA_CERTS="$TMP/cert.pem" node "$dir/keyvault.js" "$B" "$T" "$APP" conformance-secret
