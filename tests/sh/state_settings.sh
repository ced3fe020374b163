#!/usr/bin/env bash
# The state backend chosen by the configuration's settings { state { ... } } block, end to end:
#   1. a local path from the block: apply/plan/state list use it; -state (flag) and the
#      environment override it; key_file and require_encryption;
#   2. an Azure blob from the block against Azurite (HTTPS, trusted through AMLSEC_CA_BUNDLE),
#      signed with the shared key from ARM_ACCESS_KEY;
#   3. the same with Entra ID: use_azuread_auth, tokens for https://storage.azure.com/.default
#      issued by amlsec-armlocal's token endpoint, checked by Azurite's OAuth mode
#      (--oauth basic: https only, audience, issuer, lifetime).
# Azurite (npm, tests/azurite) is installed once per source tree (tests/tools/npm_install.sh)
# and started on 127.0.0.1 from a temporary directory with --disableTelemetry.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}" "${BUILD:?}"
source "$SRC/tests/sh/lib/azurite.bash"
work=$(mktemp -d)
al_pid="" az_pid=""
cleanup() {
  [ -n "$al_pid" ] && kill "$al_pid" 2>/dev/null && wait "$al_pid" 2>/dev/null
  [ -n "$az_pid" ] && kill "$az_pid" 2>/dev/null && wait "$az_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.out "$work"/*/*.out "$work"/azurite.log; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
  done
  exit 1
}
expect_exit() { # want, then the command
  local want=$1; shift
  "$@"; local got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, wanted $want"
}
# Azurite's documented development account (not a secret).
DEV_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
SUB=00000000-0000-0000-0000-000000000000
TENANT=11111111-2222-3333-4444-555555555555

resource_group() { # NAME: a configuration body that needs no more than a resource group
  printf 'resource_group "ml" {\n  name     = "%s"\n  location = "westeurope"\n}\n' "$1"
}

echo "1. a local path from the settings block"
mkdir "$work/local" && cd "$work/local" || exit 1
{
  printf 'settings {\n  cloud        = "local"\n  subscription = "%s"\n' "$SUB"
  printf '  state {\n    path = "states/prod.json"\n  }\n}\n'
  resource_group rg-local
} > main.amlsec
expect_exit 0 "$AMLSEC" apply -auto-approve -no-color > apply.out 2>&1
[ -f states/prod.json ] || fail "the state is not at the settings' path"
[ ! -e .amlsec/state.json ] || fail "the default state path was written too"
expect_exit 0 "$AMLSEC" plan -detailed-exitcode -no-color > plan.out 2>&1
[ "$("$AMLSEC" state list)" = resource_group.ml ] || fail "state list does not read the settings' path"
# flags > settings: -state names another (empty) file
[ -z "$("$AMLSEC" state list -state other.json)" ] || fail "-state does not override the settings"
# environment > settings: AMLSEC_BACKEND switches to a blob that has no container here
expect_exit 1 env AMLSEC_BACKEND=azurerm AMLSEC_BLOB_URL=https://127.0.0.1:9/x \
  "$AMLSEC" state list > env.out 2>&1
grep -q 'needs a container' env.out || fail "AMLSEC_BACKEND did not override the settings"
# a malformed lease duration is refused by name, whatever the backend
expect_exit 1 env AMLSEC_STATE_LEASE_SECONDS=30s "$AMLSEC" state list > lease.out 2>&1
grep -q "AMLSEC_STATE_LEASE_SECONDS: expected whole seconds between 15 and 60, got '30s'" lease.out \
  || fail "a malformed AMLSEC_STATE_LEASE_SECONDS"
# ARM_USE_AZUREAD and ARM_STORAGE_USE_AZUREAD disagreeing is said, not silently settled
expect_exit 0 env ARM_USE_AZUREAD=false ARM_STORAGE_USE_AZUREAD=true "$AMLSEC" state list \
  > azuread.out 2>&1
grep -q "warning: ARM_USE_AZUREAD (false) and ARM_STORAGE_USE_AZUREAD (true) disagree; the state backend follows ARM_USE_AZUREAD" \
  azuread.out || fail "disagreeing ARM_USE_AZUREAD and ARM_STORAGE_USE_AZUREAD: $(cat azuread.out)"
expect_exit 0 env ARM_USE_AZUREAD=false ARM_STORAGE_USE_AZUREAD=true "$AMLSEC" validate -no-color \
  > azuread.out 2>&1
[ "$(grep -c 'disagree' azuread.out)" = 1 ] || fail "validate does not warn once: $(cat azuread.out)"
grep -q 'main.amlsec:4:3' env.out || fail "the missing container does not point at the block"

echo "   key_file and require_encryption from the settings block"
openssl rand -hex 32 > state.key
openssl rand -hex 32 > other.key
sed -i 's|path = "states/prod.json"|path = "states/prod.json"\n    require_encryption = true|' main.amlsec
expect_exit 1 "$AMLSEC" state list > req.out 2>&1
grep -q 'main.amlsec:6:5: require_encryption is set but no state key is' req.out \
  || fail "require_encryption without a key is not refused at its location"
sed -i 's|require_encryption = true|require_encryption = true\n    key_file = "state.key"|' main.amlsec
expect_exit 0 "$AMLSEC" state mv resource_group.ml resource_group.main > mv.out 2>&1
[ "$(head -c 7 states/prod.json)" = AMLSECX ] || fail "the state was not encrypted with key_file"
[ "$("$AMLSEC" state list)" = resource_group.main ] || fail "key_file does not decrypt"
# environment > settings: another key in AMLSEC_STATE_KEY_FILE replaces key_file
expect_exit 1 env AMLSEC_STATE_KEY_FILE=other.key "$AMLSEC" state list > wrongkey.out 2>&1
grep -q 'wrong key' wrongkey.out || fail "AMLSEC_STATE_KEY_FILE did not override key_file"

echo "2. Azurite over HTTPS with OAuth, and amlsec-armlocal for Entra tokens"
cd "$work" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout tls.key -out tls.crt > openssl.out 2>&1 \
  || fail "openssl req"
azurite_start "$work/azurite" --oauth basic --cert "$work/tls.crt" --key "$work/tls.key" \
  || fail "azurite did not start"
az_pid=$AZ_PID
blob=$AZ_URL
port=${blob##*:}
port=${port%%/*}
"$ARMLOCAL" --listen 127.0.0.1:0 --data "$work/cloud" > cloud.url 2> cloud.out &
al_pid=$!
# until it prints its URL or exits (an ASan build on a loaded machine can take seconds)
for _ in $(seq 600); do [ -s cloud.url ] || ! kill -0 "$al_pid" 2>/dev/null && break; sleep 0.1; done
cloud=$(head -n 1 cloud.url)
[ -n "$cloud" ] || fail "armlocal did not start"
curl -sf -X POST -H 'Content-Type: application/json' -d '{"clientId":"app1","secret":"s3cret"}' \
  "$cloud/_armlocal/servicePrincipals" > /dev/null || fail "registering the service principal"
token() { # SCOPE: a token from armlocal's Entra endpoint
  curl -sf "$cloud/$TENANT/oauth2/v2.0/token" -d grant_type=client_credentials -d client_id=app1 \
    -d client_secret=s3cret --data-urlencode "scope=$1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
storage_token=$(token https://storage.azure.com/.default) || fail "storage token"
arm_token=$(token https://management.azure.com/.default) || fail "ARM token"
az_code() { # TOKEN METHOD PATH: Azurite's HTTP status for a bearer request
  curl -s -o /dev/null -w '%{http_code}' --cacert "$work/tls.crt" -X "$2" -H "Authorization: Bearer $1" \
    -H 'x-ms-version: 2021-12-02' -H 'Content-Length: 0' "$blob/$3"
}
# Azurite really checks the tokens: a malformed one and one for ARM's audience are refused.
[ "$(az_code not-a-jwt GET 'tfstate?restype=container')" = 403 ] || fail "azurite accepts any bearer"
[ "$(az_code "$arm_token" PUT 'tfstate?restype=container')" = 403 ] \
  || fail "azurite accepts a token for another audience"
[ "$(az_code "$storage_token" PUT 'tfstate?restype=container')" = 201 ] \
  || fail "creating the container with armlocal's storage token"

echo "   the shared key from ARM_ACCESS_KEY, the blob from the settings block"
mkdir "$work/key" && cd "$work/key" || exit 1
{
  printf 'settings {\n  cloud        = "local"\n  subscription = "%s"\n  state {\n' "$SUB"
  printf '    backend        = "azurerm"\n    endpoint       = "%s"\n' "$blob"
  printf '    container_name = "tfstate"\n    blob_name      = "key.amlsec.state"\n  }\n}\n'
  resource_group rg-key
} > main.amlsec
export AMLSEC_CA_BUNDLE="$work/tls.crt"
expect_exit 1 "$AMLSEC" plan -no-color > nokey.out 2>&1
grep -q 'needs credentials' nokey.out || fail "no credentials is not refused"
export ARM_ACCESS_KEY="$DEV_KEY"
expect_exit 0 "$AMLSEC" apply -auto-approve -no-color > apply.out 2>&1
[ ! -e .amlsec/state.json ] || fail "a local state was written"
# an endpoint without an account name: the journal is named by the endpoint's host and port
[ -f ".amlsec/127.0.0.1_${port}_devstoreaccount1-tfstate-key.amlsec.state.journal" ] \
  || fail "the journal is not named by the endpoint: $(ls .amlsec)"
code=$(az_code "$storage_token" GET tfstate/key.amlsec.state)
[ "$code" = 200 ] || fail "no state blob (HTTP $code)"
expect_exit 0 "$AMLSEC" plan -detailed-exitcode -no-color > plan.out 2>&1
[ "$("$AMLSEC" state list)" = resource_group.ml ] || fail "state list does not read the blob"
# the system store does not trust Azurite's certificate
expect_exit 1 env -u AMLSEC_CA_BUNDLE "$AMLSEC" state list > untrusted.out 2>&1
grep -qi 'certificate' untrusted.out || fail "an untrusted certificate is not refused"
unset ARM_ACCESS_KEY

echo "3. Entra ID: use_azuread_auth with tokens from amlsec-armlocal"
mkdir "$work/entra" && cd "$work/entra" || exit 1
{
  printf 'settings {\n  subscription = "%s"\n  location     = "westeurope"\n  state {\n' "$SUB"
  printf '    backend          = "azurerm"\n    endpoint         = "%s"\n' "$blob"
  printf '    container_name   = "tfstate"\n    blob_name        = "entra.amlsec.state"\n'
  printf '    use_azuread_auth = true\n  }\n}\n'
  resource_group rg-entra
} > main.amlsec
export ARM_CLIENT_ID=app1 ARM_CLIENT_SECRET=s3cret ARM_TENANT_ID=$TENANT ARM_SUBSCRIPTION_ID=$SUB
# a shared key in the environment is not used when Entra ID is asked for
ARM_ACCESS_KEY=$(openssl rand -base64 64 | tr -d '\n')
export ARM_ACCESS_KEY
expect_exit 0 "$AMLSEC" apply -cloud "$cloud" -auto-approve -no-color > apply.out 2>&1
[ "$(az_code "$storage_token" GET tfstate/entra.amlsec.state)" = 200 ] || fail "no state blob"
expect_exit 0 "$AMLSEC" plan -cloud "$cloud" -detailed-exitcode -no-color > plan.out 2>&1
grep -q 'No changes.' plan.out || fail "second plan is not empty"
# the lease (15 s here) is renewed every second by its thread (a 15 s lease cannot fit a whole
# token timeout, docs/state.md "Renewal schedule"), with tokens from the storage sign-in,
# while the main thread waits on a slow ARM (2 s an answer: the plan outlasts a renewal); no
# token reaches the debug log
curl -sf -X PUT -H 'Content-Type: application/json' -d '{"latencyMs": 2000}' \
  "$cloud/_armlocal/settings" > /dev/null || fail "slowing armlocal down"
expect_exit 0 env AMLSEC_LOG=debug AMLSEC_STATE_LEASE_SECONDS=15 \
  "$AMLSEC" plan -cloud "$cloud" -detailed-exitcode -no-color > renew.out 2>&1
curl -sf -X PUT -H 'Content-Type: application/json' -d '{"latencyMs": 0}' \
  "$cloud/_armlocal/settings" > /dev/null || fail "speeding armlocal up"
grep -q "lease on 'https://127.0.0.1:$port/devstoreaccount1/tfstate/entra.amlsec.state' renewed" \
  renew.out || fail "the lease was not renewed with an Entra token"
! grep -q 'eyJ' renew.out || fail "a token reached the log"
# the state commands sign in to the cloud ARM_ENVIRONMENT names
[ "$(ARM_ENVIRONMENT=$cloud "$AMLSEC" state list)" = resource_group.ml ] \
  || fail "state list with Entra ID"
# ARM_USE_AZUREAD=false (environment > settings) signs with the shared key instead: the
# development key reads the blob, the random one is refused
[ "$(ARM_USE_AZUREAD=false ARM_ACCESS_KEY=$DEV_KEY "$AMLSEC" state list)" = resource_group.ml ] \
  || fail "ARM_USE_AZUREAD=false with the right key"
expect_exit 1 env ARM_USE_AZUREAD=false "$AMLSEC" state list > key.out 2>&1
grep -q 'HTTP 400 InvalidAuthenticationInfo' key.out \
  || fail "ARM_USE_AZUREAD=false did not switch to the shared key"
expect_exit 1 env ARM_USE_AZUREAD=maybe "$AMLSEC" state list > bool.out 2>&1
grep -q 'ARM_USE_AZUREAD must be true or false' bool.out || fail "a malformed ARM_USE_AZUREAD"
# a refused sign-in names the storage sign-in and leaves the blob alone
expect_exit 1 env ARM_CLIENT_SECRET=Wr0ngS3cretValue ARM_ENVIRONMENT="$cloud" "$AMLSEC" state list \
  > bad.out 2>&1
grep -q 'storage sign-in' bad.out || fail "a refused sign-in is not reported"
! grep -q 'Wr0ngS3cretValue' bad.out || fail "the secret was printed"
# bearer tokens never travel over plain http
sed -i "s|$blob|http://127.0.0.1:$port/devstoreaccount1|" main.amlsec
expect_exit 1 env ARM_ENVIRONMENT="$cloud" "$AMLSEC" state list > http.out 2>&1
grep -q 'Entra tokens are only sent over https' http.out || fail "a token over http"
# nor do shared-key signatures or the state to any host but this machine
sed -i "s|http://127.0.0.1:$port/devstoreaccount1|http://stmlstate.example.com/devstoreaccount1|" main.amlsec
expect_exit 1 env ARM_USE_AZUREAD=false ARM_ACCESS_KEY=$DEV_KEY "$AMLSEC" state list > http2.out 2>&1
grep -q "refusing plain http to 'stmlstate.example.com'" http2.out || fail "a shared key over http: $(cat http2.out)"
sed -i "s|http://stmlstate.example.com/devstoreaccount1|http://127.0.0.1:$port/devstoreaccount1|" main.amlsec
# the embedded local cloud has no Entra ID
expect_exit 1 env ARM_ENVIRONMENT=local "$AMLSEC" state list > local.out 2>&1
grep -q 'embedded local cloud has no Entra ID' local.out || fail "use_azuread_auth with -cloud local"
echo "ok"
