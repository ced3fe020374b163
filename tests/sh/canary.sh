#!/usr/bin/env bash
# The canary test (issue 13): every command, error paths included, runs with a distinctive canary
# in every secret-bearing place; each canary, its base64 and its URL encoding must appear nowhere:
# not in any command's stdout or stderr (AMLSEC_LOG=trace and debug included), nor in the state,
# its backup, the journal, the lock, saved plans or anything else under .amlsec/.
#
# Secret-bearing places: ARM_CLIENT_SECRET (armlocal --auth required: every command signs in),
# a certificate password, an OIDC token, AMLSEC_STATE_PASSPHRASE and AMLSEC_STATE_KEY, the blob
# backend's ARM_ACCESS_KEY and ARM_SAS_TOKEN, sensitive variables (string, number, map, list;
# in tags, interpolations, functions, nested blocks, read from another resource), endpoint keys,
# a compute password, datastore credentials, AMLSEC_PLAN_KEY, a sensitive output (output, output
# -json, output NAME, output -raw NAME refused, apply -json's outputs message; state mv -state-out's
# file, App Insights' generated keys moved there and back), a sensitive variable failing its validation
# (whose error message reads it), one whose validation is checked during apply (plan -json's
# deferred_validation message before the first apply), and what the local cloud generates
# (App Insights connection string and instrumentation key, an endpoint's listKeys answer: read
# back and added once they exist).
#
# To extend: add a line to one of the command lists below ("EXIT|ENV ...|ARGS"); EXIT is the
# exit code wanted ("any" for none). Lines whose command `amlsec help` does not list (drift,
# check, until they exist) are skipped, and the test says so.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--data "$work/cloud" --auth required)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/p" "$work/out" "$work/cmds" && cd "$work/p"
cp "$SRC/tests/data/secrets/main.amlsec" .
# the paths added since (kept here: secrets.sh counts the shared file's sensitive values): a
# module's inputs and output, a validation known only after apply whose message reads a secret,
# a map key and values made only at apply (a for over them too), a sensitive whole number beyond
# 64 bits; and values made from secrets only at apply, which no plan could register
mkdir -p modules/team
cat >> main.amlsec <<'EOT'

variable "big_secret" {
  type      = number
  sensitive = true
  validation {
    condition     = var.big_secret > 0 && app_insights.ml.app_id != ""
    error_message = "big_secret ${var.big_secret} for ${app_insights.ml.app_id}"
  }
}

module "team" {
  source = "./modules/team"
  secret = var.tag_secret
  big    = var.big_secret
  rg     = resource_group.ml.name
}

locals {
  late = { for k, v in { id = app_insights.ml.app_id } : v => "${k}-${lower(var.tag_secret)}" }
}

resource_group "late" {
  name = "rg-secrets-late"
  tags = merge(local.late, {
    (app_insights.ml.app_id) = lower(var.tag_secret)
    joined                   = "${app_insights.ml.app_id}${lower(var.tag_secret)}"
    big                      = tostring(var.big_secret + 1)
  })
}

output "team" {
  value     = module.team.out
  sensitive = true
}
EOT
cat > modules/team/main.amlsec <<'EOT'
variable "secret" {
  type      = string
  sensitive = true
}
variable "big" {
  type      = number
  sensitive = true
}
variable "rg" {
  type = string
}

resource_group "m" {
  name = "${var.rg}-team"
  tags = { s = var.secret, b = "${var.big * 2}" }
}

output "out" {
  value     = "${var.secret}/${var.big}"
  sensitive = true
}
EOT
start_cloud
T=00000000-0000-0000-0000-0000000000c1
APP=33333333-0000-0000-0000-000000000c11
SUB=00000000-0000-0000-0000-000000000000

# the canaries: distinctive, and plain ASCII so that their encodings are unambiguous
CLIENT_SECRET=CnryClientSecret1x
CERT_PASSWORD=CnryCertPassword2x
OIDC_TOKEN=CnryOidcToken3x
PASSPHRASE=CnryPassphrase4x
STATE_KEY=c0ffee00c0ffee01c0ffee02c0ffee03c0ffee04c0ffee05c0ffee06c0ffee07
ACCESS_KEY=$(printf 'CnryAccessKey5x-0123456789abcdef' | base64 -w0)
SAS_TOKEN='sv=2021-12-02&sig=CnrySasSig6x'
PLAN_KEY=CnryPlanKey7x-0123456789abcdef0123456789
canaries=("$CLIENT_SECRET" "$CERT_PASSWORD" "$OIDC_TOKEN" "$PASSPHRASE" "$STATE_KEY" "$ACCESS_KEY"
  CnryAccessKey5x CnrySasSig6x "$PLAN_KEY"
  CnryTag8x CNRYTAG8X CnryNum9x 987650123 CnryMap10x CnryList11x CnryEpKey12x 'CnryPw13x!'
  CnryAcctKey14x CnrySas15x CnrySpSecret16x CnryBadTag17x
  98765432109876543210987 98765432109876543210988 197530864219753086421974 cnrytag8x)

curl -sf -X POST -H 'Content-Type: application/json' "$url/_armlocal/servicePrincipals" \
  -d "{\"clientId\":\"$APP\",\"tenantId\":\"$T\",\"secret\":\"$CLIENT_SECRET\"}" > /dev/null \
  || fail "register the service principal"
export ARM_TENANT_ID=$T ARM_CLIENT_ID=$APP ARM_CLIENT_SECRET=$CLIENT_SECRET ARM_SUBSCRIPTION_ID=$SUB
export AMLSEC_STATE_PASSPHRASE=$PASSPHRASE AMLSEC_PLAN_KEY=$PLAN_KEY
export AMLSEC_VAR_tag_secret=CnryTag8x AMLSEC_VAR_num_secret=987650123 \
  AMLSEC_VAR_map_secret='{ k = "CnryMap10x" }' AMLSEC_VAR_list_secret='["CnryList11x"]' \
  AMLSEC_VAR_endpoint_key=CnryEpKey12x AMLSEC_VAR_admin_password='CnryPw13x!' \
  AMLSEC_VAR_account_key=CnryAcctKey14x AMLSEC_VAR_big_secret=98765432109876543210987
printf 'num_secret = CnryNum9x\n' > bad.vars
printf '{"num_secret": "CnryNum9x", "tag_secret": CnryNum9x}\n' > bad.json
openssl req -x509 -newkey rsa:2048 -nodes -keyout sp.key -out sp.crt -days 1 -subj "/CN=sp" 2>/dev/null
openssl pkcs12 -export -inkey sp.key -in sp.crt -out sp.pfx -passout "pass:$CERT_PASSWORD" 2>/dev/null
rm sp.key sp.crt

listed=$("$AMLSEC" help | awk '/^Commands:/{on=1; next} on && NF==0{exit} on{print $1}')
n=0 skipped=0
# run LINE: "EXIT|ENV ...|ARGS"; output in $work/out/N.out and N.err
run() {
  local want env args cmd got
  IFS='|' read -r want env args <<<"$1"
  read -r cmd _ <<<"$args"
  if ! grep -qx -- "$cmd" <<<"$listed"; then
    echo "   skipped (no '$cmd' command yet): $args"
    skipped=$((skipped + 1))
    return 0
  fi
  n=$((n + 1))
  echo "$1" > "$work/cmds/$n.cmd" # the command lines hold the canaries: not scanned
  # shellcheck disable=SC2086 # words on purpose
  env $env "$AMLSEC" $args > "$work/out/$n.out" 2> "$work/out/$n.err"
  got=$?
  [ "$want" = any ] || [ "$got" = "$want" ] \
    || fail_with "'$1' exited $got, wanted $want" "$work/out/$n.out" "$work/out/$n.err"
}

echo "1. the normal life: validate, render, plan, plan -out, show, apply, show, state, import"
life=(
  "0||validate -no-color"
  "0||validate -json"
  "0|AMLSEC_LOG=debug|render -no-color"
  "0||render -json"
  "2|AMLSEC_LOG=trace|plan -cloud $url -detailed-exitcode -no-color"
  "2|AMLSEC_LOG=debug|plan -cloud $url -detailed-exitcode -json"
  "0|AMLSEC_LOG=debug|plan -cloud $url -no-color -out p.plan"
  "0||show -no-color p.plan"
  "0||show -json p.plan"
  "0|AMLSEC_LOG=trace|apply -no-color -require-signed-plan p.plan"
  "0|AMLSEC_LOG=trace|plan -cloud $url -detailed-exitcode -no-color"
  "0||show -no-color"
  "0||show -json"
  "0||state list"
  "0||state show resource_group.ml"
  "0||state show -json app_insights.ml"
  "0||state show online_endpoint.ep"
  "0||state show -json compute_cluster.c"
  "0||state show datastore.d"
  "0||state pull"
  "0||state show module.team.resource_group.m"
  "0||state show -json resource_group.late"
  "0||state mv -dry-run module.team module.crew"
  "0||state rm -dry-run module.team"
  "0||state rm compute_cluster.c"
  "0|AMLSEC_LOG=trace|import -cloud $url compute_cluster.c /subscriptions/$SUB/resourceGroups/rg-secrets/providers/Microsoft.MachineLearningServices/workspaces/mlw-secrets/computes/cc-secrets"
  "any|AMLSEC_LOG=trace|drift -cloud $url -no-color"
  "any||drift -cloud $url -json"
  "any|AMLSEC_LOG=trace|check -cloud $url -no-color"
  "any||check -json -sarif $work/out/check.sarif -junit $work/out/check.junit -markdown $work/out/check.md"
  "any||check -plan p.plan -json"
  "any|AMLSEC_LOG=debug|plan -cloud $url -json"
  "any||plan -cloud $url -no-color -sarif $work/out/plan.sarif -junit $work/out/plan.junit -markdown $work/out/plan.md"
  "0|AMLSEC_LOG=debug|apply -cloud $url -auto-approve -no-color"
  "0|AMLSEC_LOG=debug|apply -cloud $url -auto-approve -json"
  "0|AMLSEC_LOG=debug|output -no-color"
  "0|AMLSEC_LOG=debug|output -json"
  "0|AMLSEC_LOG=debug|output tag"
  "0|AMLSEC_LOG=debug|output -json tag"
  "0||output -json team"
  "1|AMLSEC_LOG=debug|output -raw tag"
  "0||state mv -state-out=$work/out/moved.json app_insights.ml app_insights.ml"
  "0||state mv -state $work/out/moved.json -state-out=.amlsec/state.json app_insights.ml app_insights.ml"
  "1|AMLSEC_VAR_tag_secret=CnryBadTag17x|validate -no-color"
  "1|AMLSEC_VAR_tag_secret=CnryBadTag17x|validate -json"
)
for l in "${life[@]}"; do run "$l"; done
# admin_password's validation checked during apply was in a plan -json stream, withheld
grep -l '"type":"deferred_validation"' "$work"/out/*.out > "$work/deferred.list" \
  && grep -q '"withheld":"(the error message is withheld: it reads the sensitive value)"' $(cat "$work/deferred.list") \
  || fail "no plan -json message for admin_password's validation checked during apply, withheld"

# what the local cloud generated: secrets amlsec reads back
appi=$(curl -sf "$url/_armlocal/resources/subscriptions/$SUB/resourceGroups/rg-secrets/providers/Microsoft.Insights/components/appi-secrets") \
  || fail "read App Insights from the local cloud"
ikey=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["body"]["properties"]["InstrumentationKey"])' "$appi")
cstr=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["body"]["properties"]["ConnectionString"])' "$appi")
[ -n "$ikey" ] && [ -n "$cstr" ] || fail "no generated secrets"
canaries+=("$ikey" "$cstr")
# the endpoint's listKeys answer (amlsec never asks for it: if it ever does, not in the clear)
keys=$(curl -sf -X POST -H "Authorization: Bearer $(curl -sf -X POST "$url/$T/oauth2/v2.0/token" \
  -d grant_type=client_credentials -d client_id=$APP --data-urlencode client_secret=$CLIENT_SECRET \
  --data-urlencode "scope=$url/.default" | sed -E 's/.*"access_token":"([^"]*)".*/\1/')" \
  "$url/subscriptions/$SUB/resourceGroups/rg-secrets/providers/Microsoft.MachineLearningServices/workspaces/mlw-secrets/onlineEndpoints/ep-secrets/listKeys?api-version=2025-09-01") \
  || fail "listKeys"
for k in primaryKey secondaryKey; do
  v=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$keys" $k)
  [ -n "$v" ] || fail "no $k from listKeys"
  canaries+=("$v")
done

echo "2. error paths: bad types, failed sign-in, other keys, unreachable backends, ARM errors"
# ARM errors that quote the request back (armlocal's 400-echo fault) on the next PUTs of the
# resource group (its tags) and the datastore (its account key): the last line below sends them
for f in '*/resourceGroups/rg-secrets' '*/datastores/ds_secrets'; do
  curl -sf -X POST -H 'Content-Type: application/json' "$url/_armlocal/faults" \
    -d "{\"kind\":\"400-echo\",\"method\":\"PUT\",\"path\":\"$f\",\"times\":1}" > /dev/null \
    || fail "add a fault"
done
canaries+=(CnryTagB17x CnryAcctKeyB18x)
errors=(
  "1||validate -no-color -var num_secret=CnryNum9x"
  "1|AMLSEC_VAR_num_secret=CnryNum9x|plan -cloud $url -no-color"
  "1||validate -no-color -var-file bad.vars"
  "1||validate -no-color -var-file bad.json"
  "1|AMLSEC_LOG=trace ARM_CLIENT_SECRET=CnrySpSecret16x|plan -cloud $url -no-color"
  "1|AMLSEC_LOG=trace ARM_CLIENT_SECRET= ARM_CLIENT_CERTIFICATE_PATH=sp.pfx ARM_CLIENT_CERTIFICATE_PASSWORD=$CERT_PASSWORD|plan -cloud $url -no-color"
  "1|AMLSEC_LOG=trace ARM_CLIENT_SECRET= ARM_USE_OIDC=true ARM_OIDC_TOKEN=$OIDC_TOKEN|plan -cloud $url -no-color"
  "1|AMLSEC_STATE_PASSPHRASE= AMLSEC_STATE_KEY=$STATE_KEY|state list"
  "1|AMLSEC_LOG=trace AMLSEC_PLAN_KEY=CnryPlanKey7x-another-0123456789abcdef|apply -no-color p.plan"
  "1|AMLSEC_LOG=trace AMLSEC_BACKEND=azurerm AMLSEC_BLOB_URL=http://127.0.0.1:9/devstoreaccount1 AMLSEC_STORAGE_CONTAINER=tfstate ARM_ACCESS_KEY=$ACCESS_KEY|state list"
  "1|AMLSEC_LOG=trace AMLSEC_BACKEND=azurerm AMLSEC_BLOB_URL=http://127.0.0.1:9/devstoreaccount1 AMLSEC_STORAGE_CONTAINER=tfstate ARM_SAS_TOKEN=$SAS_TOKEN|state list"
  "1|AMLSEC_LOG=trace AMLSEC_VAR_tag_secret=CnryTagB17x AMLSEC_VAR_account_key=CnryAcctKeyB18x|apply -cloud $url -auto-approve -no-color"
)
for l in "${errors[@]}"; do run "$l"; done
grep -q AADSTS7000215 "$work"/out/*.err || fail "the wrong client secret did not fail sign-in"
[ "$(grep -h -c 'InvalidRequestContent: The request content was invalid' "$work/out/$n.out" "$work/out/$n.err" \
  | paste -sd+ | bc)" -ge 2 ] || fail "the ARM errors quoting the request did not happen"

echo "3. destroy"
run "0|AMLSEC_LOG=trace|destroy -cloud $url -auto-approve -no-color"

echo "4. $n commands ran ($skipped skipped); looking for ${#canaries[@]} canaries and their encodings"
mapfile -t files < <(find "$work/out" .amlsec -type f; ls ./*.plan 2>/dev/null)
[ -e .amlsec/state.json ] && [ -e .amlsec/state.json.backup ] && [ -e .amlsec/state.json.journal ] \
  || fail "state, backup or journal missing: the test would look at nothing"
python3 "$SRC/tests/sh/lib/canary_scan.py" "${#canaries[@]}" "${canaries[@]}" "${files[@]}" \
  || fail "a canary leaked"
stop_cloud
echo "canary: all passed"
