#!/usr/bin/env bash
# Sign-in through the command line, with the azurerm variables as pipelines set them, against
# amlsec-armlocal --auth required (it plays Entra ID, the OIDC issuers, IMDS and App Service): a
# certificate (PFX file and base64), client id and secret from files, GitHub Actions, Azure
# DevOps, an AKS token file, managed identity (IMDS and App Service), the Azure CLI's login
# (a stand-in `az`), auxiliary tenants, the
# correlation and partner ids; a wrong secret fails at once with Entra's code; and no secret (nor
# any JWT) reaches AMLSEC_LOG=trace output.
source "$SRC/tests/sh/lib/armlocal.bash"
: "${AMLSEC:?}"
armlocal_start --auth required
T=00000000-0000-0000-0000-0000000000c1
APP=33333333-0000-0000-0000-000000000c11
CANARY=CANARY51gn1n
cd "$TMP"
cat > main.amlsec <<'CFG'
settings {
  subscription = "00000000-0000-0000-0000-0000000005c1"
  location     = "westeurope"
}

resource_group "rg" {
  name = "rg-signin"
}
CFG

# plan NAME: runs amlsec plan against the cloud with the environment given before it
plan() {
  local name=$1; shift
  env -u ARM_CLIENT_ID -u ARM_CLIENT_SECRET -u ARM_USE_OIDC -u ARM_USE_MSI AMLSEC_LOG=trace "$@" \
    "$AMLSEC" plan -cloud "$B" -no-color > "$name.out" 2> "$name.err"
}
plan_ok() {
  local name=$1
  plan "$@" || { cat "$name.out" "$name.err"; fail "$name: plan failed"; }
  grep -q 'Plan: 1 to add, 0 to change, 0 to destroy.' "$name.out" || fail "$name: $(cat "$name.out")"
  if grep -q "$CANARY" "$name.out" "$name.err"; then
    grep -n "$CANARY" "$name.out" "$name.err" | head -3
    fail "$name: a secret reached the output"
  fi
  if grep -q 'eyJ' "$name.err"; then fail "$name: a JWT reached the log: $(grep -m1 eyJ "$name.err")"; fi
}

# without credentials ARM refuses
plan none || true
grep -q 'AuthenticationFailed' none.err || fail "no sign-in: $(cat none.err)"

openssl req -x509 -newkey rsa:2048 -nodes -keyout sp.key -out sp.crt -days 1 -subj "/CN=sp" 2>/dev/null
openssl pkcs12 -export -inkey sp.key -in sp.crt -out sp.pfx -passout "pass:$CANARY-pfx" 2>/dev/null
cert=$(awk '{printf "%s\\n", $0}' sp.crt)
req POST /_armlocal/servicePrincipals "{\"clientId\":\"$APP\",\"tenantId\":\"$T\",\"secret\":\"$CANARY-secret\",
  \"additionalTenants\":[\"aux-1\",\"aux-2\"],\"certificates\":[\"$cert\"],\"federatedCredentials\":[
  {\"issuer\":\"$B/oidc\",\"subject\":\"repo:org/ml:environment:prod\"},
  {\"issuer\":\"$B/oidc\",\"subject\":\"sc://org/ml/prod\"},
  {\"issuer\":\"$B/oidc\",\"subject\":\"system:serviceaccount:ml:amlsec\"}]}"
expect_code 201 "register the application"
req POST /_armlocal/oidc/requestTokens "{\"requestToken\":\"$CANARY-gh\",\"subject\":\"repo:org/ml:environment:prod\"}"
req POST /_armlocal/oidc/requestTokens "{\"requestToken\":\"$CANARY-ado\",\"subject\":\"sc://org/ml/prod\",\"serviceConnectionId\":\"sc-7\"}"
req POST /_armlocal/oidc/tokens '{"subject":"system:serviceaccount:ml:amlsec"}'
sed -E 's/.*"token":"([^"]*)".*/\1/' <<<"$BODY" > token
req PUT /_armlocal/settings "{\"identityHeader\":\"$CANARY-identity\"}"; expect_code 200 "identity header"

plan_ok cert ARM_TENANT_ID=$T ARM_CLIENT_ID=$APP ARM_CLIENT_CERTIFICATE_PATH=sp.pfx \
  ARM_CLIENT_CERTIFICATE_PASSWORD=$CANARY-pfx
plan_ok cert_b64 ARM_TENANT_ID=$T ARM_CLIENT_ID=$APP ARM_CLIENT_CERTIFICATE="$(base64 -w0 sp.pfx)" \
  ARM_CLIENT_CERTIFICATE_PASSWORD=$CANARY-pfx
printf '%s\n' "$APP" > client-id; printf '%s\n' "$CANARY-secret" > client-secret
plan_ok files ARM_TENANT_ID=$T ARM_CLIENT_ID_FILE_PATH="$TMP/client-id" ARM_CLIENT_SECRET_FILE_PATH="$TMP/client-secret"
plan_ok github ARM_USE_OIDC=true ARM_TENANT_ID=$T ARM_CLIENT_ID=$APP \
  ACTIONS_ID_TOKEN_REQUEST_URL="$B/oidc/github/token?api-version=2.0" ACTIONS_ID_TOKEN_REQUEST_TOKEN=$CANARY-gh
plan_ok ado ARM_USE_OIDC=true ARM_TENANT_ID=$T ARM_CLIENT_ID=$APP ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID=sc-7 \
  SYSTEM_OIDCREQUESTURI="$B/oidc/ado/oidctoken" SYSTEM_ACCESSTOKEN=$CANARY-ado
plan_ok aks ARM_USE_AKS_WORKLOAD_IDENTITY=true AZURE_TENANT_ID=$T AZURE_CLIENT_ID=$APP \
  AZURE_FEDERATED_TOKEN_FILE="$TMP/token"
plan_ok imds ARM_USE_MSI=true ARM_MSI_ENDPOINT="$B/metadata/identity/oauth2/token"
plan_ok appservice ARM_USE_MSI=true IDENTITY_ENDPOINT="$B/msi/token" IDENTITY_HEADER=$CANARY-identity

# the Azure CLI's cached login: a stand-in `az` first on PATH answers `az account
# get-access-token` with a token it gets from armlocal as a logged-in service principal would
mkdir -p bin
cat > bin/az <<AZ
#!/bin/sh
echo "\$*" >> "$TMP/az.args"
resource= tenant=
while [ \$# -gt 0 ]; do
  case \$1 in --resource) resource=\$2; shift ;; --tenant) tenant=\$2; shift ;; esac
  shift
done
tok=\$(curl -sS -X POST "$B/\$tenant/oauth2/v2.0/token" -d grant_type=client_credentials \
  -d client_id=$APP --data-urlencode client_secret=$CANARY-secret \
  --data-urlencode "scope=\${resource%/}/.default" | sed -E 's/.*"access_token":"([^"]*)".*/\1/')
case \$tok in eyJ*) ;; *) echo "ERROR: Please run 'az login' to setup account." >&2; exit 1 ;; esac
printf '{"accessToken": "%s", "expires_on": %d, "tenant": "%s", "tokenType": "Bearer"}\n' \
  "\$tok" \$((\$(date +%s) + 3600)) "\$tenant"
AZ
chmod +x bin/az
plan_ok cli PATH="$TMP/bin:$PATH" ARM_USE_CLI=true ARM_TENANT_ID=$T
grep -q -- "account get-access-token --resource .* --tenant $T" az.args || fail "az arguments: $(cat az.args)"
# a CLI that is not logged in fails with its own message
plan cli_out PATH="$TMP/bin:$PATH" ARM_USE_CLI=true ARM_TENANT_ID=not-a-tenant && fail "a failed az accepted"
grep -q "Azure CLI sign-in failed.*az login" cli_out.err || fail "az failure: $(cat cli_out.err)"

# auxiliary tenants, correlation id and partner id ride on every ARM request
req DELETE /_armlocal/requests
plan_ok aux ARM_TENANT_ID=$T ARM_CLIENT_ID=$APP ARM_CLIENT_SECRET=$CANARY-secret \
  ARM_AUXILIARY_TENANT_IDS="aux-1;aux-2" ARM_CORRELATION_REQUEST_ID=run-42 \
  ARM_PARTNER_ID=a0b1c2d3-0000-4000-8000-00000000beef
req GET /_armlocal/requests
expect_body '"auxiliaryTenants":{"aux-1":[1-9]' "aux-1 token"
expect_body '"aux-2":[1-9]' "aux-2 token"
grep -q 'x-ms-correlation-request-id: run-42' aux.err || fail "correlation id"
grep -q "User-Agent: amlsec/.* pid-a0b1c2d3-0000-4000-8000-00000000beef" aux.err || fail "partner id"
grep -q 'x-ms-authorization-auxiliary: \*\*\*' aux.err || fail "auxiliary header traced redacted: $(grep -m1 auxiliary aux.err)"
plan badpid ARM_TENANT_ID=$T ARM_CLIENT_ID=$APP ARM_CLIENT_SECRET=x ARM_PARTNER_ID=acme && fail "bad partner id accepted"
grep -q "ARM_PARTNER_ID='acme' is not a GUID" badpid.err || fail "partner id error: $(cat badpid.err)"

# a wrong secret fails at once with Entra's error, after one token request
req DELETE /_armlocal/requests
plan wrong ARM_TENANT_ID=$T ARM_CLIENT_ID=$APP ARM_CLIENT_SECRET=$CANARY-wrong && fail "wrong secret accepted"
grep -q 'AADSTS7000215' wrong.err || fail "wrong secret: $(cat wrong.err)"
grep -q "$CANARY" wrong.out wrong.err && fail "the wrong secret reached the output"
req GET /_armlocal/requests
expect_body "\"POST /$T/oauth2/v2.0/token\":1[,}]" "one token request for a wrong secret"
echo "signin cli: ok"
