#!/usr/bin/env bash
# Issue 13's defects, end to end against a standalone local cloud (tests/data/secrets):
#  1. a sensitive variable flowing into tags (directly, interpolated, through functions, a map,
#     a list, a number, and read from another resource) prints as (sensitive) in plan, show,
#     show -json (marked in sensitive_values), state show and state show -json, and the drift
#     section;
#  2. an online endpoint's write-only keys are compared by a digest kept in the state: a second
#     plan is empty, a changed key is a replacement printed as (sensitive), no key in the state;
#  3. a compute's admin password echoed by the response is never stored; service-generated
#     secrets (App Insights connection string, instrumentation key) are (sensitive) when shown;
#  4. a diagnostic never quotes a sensitive value (-var, AMLSEC_VAR_, -var-file; a catalogue
#     check, file() or env() refusing one; a misspelt variable's, a -var without '=');
#  and a name taken from a sensitive value is refused (it would be part of the ARM id);
#  5. a local, a module input or a module output holding a whole resource keeps the resource's
#     secret paths: local.rg.tags.owner is (sensitive), local.rg.name is not, and an output
#     reading the secret must say sensitive = true;
#  6. an import block's ARM body holding what ARM returns as secret (App Insights connection
#     string): plan -out needs state encryption, the saved plan is sealed, output redacts it.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--data "$work/cloud")
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/p" && cd "$work/p"
cp "$SRC/tests/data/secrets/main.amlsec" .
export AMLSEC_VAR_tag_secret=CanaryTag7Q AMLSEC_VAR_endpoint_key=CanaryEpKey9Z \
  AMLSEC_VAR_admin_password='CanaryPw3X!' AMLSEC_VAR_account_key=CanaryAcctKey5W \
  AMLSEC_VAR_num_secret=987654321 AMLSEC_VAR_map_secret='{ k = "CanaryMap2V" }' \
  AMLSEC_VAR_list_secret='["CanaryList4U"]' AMLSEC_STATE_PASSPHRASE=CanaryPass8T
canaries=(CanaryTag7Q CANARYTAG7Q CanaryEpKey9Z 'CanaryPw3X!' CanaryAcctKey5W 987654321
  CanaryMap2V CanaryList4U CanaryPass8T)
write_only=(CanaryEpKey9Z 'CanaryPw3X!' CanaryAcctKey5W)
clean() { # file...: none of the canaries in them
  local c
  for c in "${canaries[@]}"; do
    grep -F -q -- "$c" "$@" && fail_with "canary '$c' in $(grep -F -l -- "$c" "$@" | tr '\n' ' ')" "$@"
  done
  return 0
}
start_cloud

echo "1. plan: tags from sensitive values print as (sensitive), nowhere in clear"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan1.out 2>&1
clean plan1.out
# a map literal hides the keys whose values are sensitive; a map from a sensitive variable, all
for k in owner joined upper number listed from_rg merged looked looped keyed encoded tried; do
  grep -q "^ *+ $k *= (sensitive)$" plan1.out || fail "tag $k is not (sensitive)"
done
grep -q '^ *+ plain *= "not a secret"$' plan1.out || fail "a tag that is no secret is hidden"
grep -q '^ *+ tags *= (sensitive)$' plan1.out || fail "the app insights tags (a sensitive map) are shown"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p.plan > planout.out 2>&1
expect_exit 0 "$AMLSEC" show -no-color p.plan > showplan.out 2>&1
expect_exit 0 "$AMLSEC" show -json p.plan > showplan.json 2>&1
clean planout.out showplan.out showplan.json
grep -q 'owner *= (sensitive)' showplan.out || fail "show PLAN prints the tags"
expect_exit 0 "$AMLSEC" apply -no-color -cloud "$url" p.plan > apply1.out 2>&1
clean apply1.out
grep -q 'Apply complete! Resources: 8 added' apply1.out || fail "apply summary"
grep -q 'in clear' apply1.out && fail "a warning about clear values with an encrypted state"

echo "2. show, show -json, state show, state show -json: (sensitive), never the value"
expect_exit 0 "$AMLSEC" show -no-color > show.out 2>&1
expect_exit 0 "$AMLSEC" show -json > show.json 2>&1
: > states.out
for a in resource_group.ml storage_account.st app_insights.ml compute_cluster.c online_endpoint.ep datastore.d; do
  expect_exit 0 "$AMLSEC" state show "$a" >> states.out 2>&1
  expect_exit 0 "$AMLSEC" state show -json "$a" >> states.out 2>&1
done
clean show.out show.json states.out
for f in show.out show.json states.out; do
  grep -q '"tags": "(sensitive)"' $f || fail "no (sensitive) map of tags in $f"
  grep -q '"owner": "(sensitive)"' $f || fail "no (sensitive) tag in $f"
  grep -q '"from_rg": "(sensitive)"' $f || fail "a tag read from another resource is shown in $f"
done
for f in show.out states.out; do # the ARM bodies
  grep -q '"ConnectionString": "(sensitive)"' $f || fail "connection string not (sensitive) in $f"
  grep -q '"InstrumentationKey": "(sensitive)"' $f || fail "instrumentation key not (sensitive) in $f"
  grep -q '"adminUserPassword": "(sensitive)"' $f || fail "password digest not (sensitive) in $f"
done
# show -json: Terraform's state representation, the kinds' attributes (a write-only password's
# digest is no attribute: absent), sensitive_values true where a value is hidden
jq -e '[.values.root_module.resources[] | select(.address == "app_insights.ml")][0]
    | .values.connection_string == "(sensitive)" and .values.instrumentation_key == "(sensitive)"
      and .sensitive_values == {"connection_string": true, "instrumentation_key": true, "tags": true}' \
  show.json > /dev/null || fail "App Insights' secrets in show -json: $(jq -c .values.root_module show.json)"
jq -e '[.values.root_module.resources[] | select(.address == "storage_account.st")][0]
    | .sensitive_values.tags.from_rg == true' show.json > /dev/null || fail "from_rg not marked in show -json"
grep -q '"plain": "not a secret"' show.json || fail "a tag that is no secret is hidden"
expect_exit 0 "$AMLSEC" show -json -show-sensitive > shown.json 2>&1
grep -q '"owner": "CanaryTag7Q"' shown.json || fail "-show-sensitive does not show the tag"
rm shown.json

echo "3. write-only values are never stored: the state keeps a digest (unencrypted state here)"
mkdir "$work/plain" && sed -e 's/-secrets/-plain/g; s/stsecrets01/stplain01/; s/ds_secrets/ds_plain/' \
  main.amlsec > "$work/plain/main.amlsec"
(
  cd "$work/plain" && unset AMLSEC_STATE_PASSPHRASE
  # without encryption a saved plan would hold the secrets: refused
  expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color -out p.plan > out.out 2>&1
  grep -q 'the plan holds sensitive values' out.out || fail "plan -out without a key"
  expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply.out 2>&1
  grep -q 'warning: the state will hold 16 sensitive values in clear (resource_group.ml tags.owner,' apply.out \
    || fail "no warning about sensitive values in an unencrypted state"
  for c in "${write_only[@]}"; do
    grep -F -q -- "$c" apply.out .amlsec/state.json .amlsec/state.json.journal \
      && fail "write-only value '$c' stored"
  done
  [ "$(grep -o '"amlsec-wo1\$100000\$[0-9a-f]\{32\}\$[0-9a-f]\{64\}"' .amlsec/state.json | wc -l)" = 4 ] \
    || fail "not 4 digests (2 endpoint keys, a password, an account key) in the state"
  expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan.out 2>&1
) || exit 1
expect_exit 0 "$AMLSEC" state pull > pulled.out 2>&1
clean pulled.out .amlsec/state.json
grep -q '^AMLSECX' pulled.out || fail "state pull of an encrypted state is not the sealed bytes"

echo "4. a second plan is empty: write-only keys are not compared with what ARM (never) returns"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
grep -q 'No changes.' plan2.out || fail "second plan not empty"
AMLSEC_VAR_endpoint_key=OtherKey1 expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan3.out 2>&1
grep -q 'keys.primary = (sensitive) -> (sensitive) # forces replacement' plan3.out || fail "changed key not a replacement"
grep -q 'OtherKey1' plan3.out && fail "the new key is printed"
grep -q 'Plan: 1 to add, 0 to change, 1 to destroy.' plan3.out || fail "changed key plan summary"
AMLSEC_VAR_account_key=OtherKey2 expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan4.out 2>&1
grep -q 'credentials.account_key = (sensitive) -> (sensitive)$' plan4.out || fail "changed account key not an update"
clean plan2.out plan3.out plan4.out

echo "5. drift in a sensitive attribute prints as (sensitive)"
rg=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-secrets
curl -sf -X PATCH -H 'Content-Type: application/json' -d '{"tags":{"owner":"CanaryDrift6S"}}' \
  "$url/_armlocal/resources$rg" > /dev/null || fail "control API patch"
canaries+=(CanaryDrift6S)
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > drift.out 2>&1
grep -q 'resource_group.ml has been changed' drift.out || fail "no drift"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out drift.plan > drift2.out 2>&1
expect_exit 0 "$AMLSEC" show -json drift.plan > drift.json 2>&1
grep -q '"resource_drift": \[$' drift.json || fail "no drift in the plan JSON"
clean drift.out drift2.out drift.json

echo "6. diagnostics never quote a sensitive value"
expect_exit 1 "$AMLSEC" validate -no-color -var num_secret=CanaryNum1R > diag1.out 2>&1
AMLSEC_VAR_num_secret='[CanaryNum1R' expect_exit 1 "$AMLSEC" validate -no-color > diag2.out 2>&1
printf 'num_secret = CanaryNum1R\n' > bad1.vars
printf 'tag_secret = "CanaryNum1R" "x"\n' > bad2.vars
expect_exit 1 "$AMLSEC" validate -no-color -var-file bad1.vars > diag3.out 2>&1
expect_exit 1 "$AMLSEC" validate -no-color -var-file bad2.vars > diag4.out 2>&1
cat > extra.amlsec <<'CONF'
resource_group "x" {
  name = "rg-x"
  tags = { a = var.map_secret[var.tag_secret] }
}
resource_group "y" {
  name = "rg-y"
  tags = { b = var.list_secret[var.num_secret] }
}
CONF
expect_exit 1 "$AMLSEC" validate -no-color > diag5.out 2>&1
grep -q 'no such key in this map (the key is sensitive: not shown)' diag5.out || fail "map key error"
grep -q 'the index is out of range for a list of 1 (it is sensitive: not shown)' diag5.out || fail "index error"
# the catalogue's checks (an allowed value, a range, a time, a role, a private link sub-resource,
# a name) and file() and env() quoted what they refused
cat > extra.amlsec <<'CONF'
key_vault "x" {
  resource_group   = resource_group.ml
  name             = "kv-x1"
  sku              = var.tag_secret
  soft_delete_days = var.num_secret
}
key "x" {
  vault   = key_vault.x
  expires = var.tag_secret
  ops     = ["sign", var.tag_secret]
}
role_assignment "x" {
  scope     = resource_group.ml.id
  role      = var.tag_secret
  principal = "00000000-0000-0000-0000-000000000001"
}
private_endpoint "x" {
  resource_group = resource_group.ml
  name           = "pe-x"
  subnet         = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
  target         = key_vault.x
  subresource    = var.tag_secret
}
storage_account "x" {
  resource_group = resource_group.ml
  name           = var.tag_secret
}
CONF
expect_exit 1 "$AMLSEC" validate -no-color > diag6.out 2>&1
cat > extra.amlsec <<'CONF'
resource_group "f" {
  name = "rg-f"
  tags = { f = file("${var.tag_secret}.txt") }
}
resource_group "e" {
  name = "rg-e"
  tags = { e = env(var.tag_secret) }
}
CONF
expect_exit 1 "$AMLSEC" validate -no-color > diag7.out 2>&1
for what in "'sku'" "'soft_delete_days' must be between" "RFC 3339" "'ops'" "built-in role" \
  "private link sub-resource" "storage_account name" "file():" "environment variable"; do
  grep -q -- "$what" diag6.out diag7.out || fail_with "no error for $what" diag6.out diag7.out
done
[ "$(cat diag6.out diag7.out | grep -c 'a sensitive value (not shown)')" = 10 ] \
  || fail_with "not 10 values withheld" diag6.out diag7.out
rm extra.amlsec
# a -var-file line setting a misspelt (undeclared) variable, and a -var without '=', quoted the
# secret they carried
printf 'tag_secre = "CanaryNum1R"\n' > bad3.vars
expect_exit 1 "$AMLSEC" validate -no-color -var-file bad3.vars > diag8.out 2>&1
grep -q "bad3.vars:1:1: error: -var-file sets undeclared variable 'tag_secre'" diag8.out \
  || fail_with "no undeclared variable error" diag8.out
expect_exit 1 "$AMLSEC" validate -no-color -var "tag_secret:CanaryNum1R" > diag9.out 2>&1
expect_exit 1 "$AMLSEC" validate -no-color -var "=CanaryNum1R" > diag10.out 2>&1
grep -q -- "-var needs NAME=VALUE" diag9.out && grep -q -- "-var needs NAME=VALUE" diag10.out \
  || fail_with "no -var syntax error" diag9.out diag10.out
canaries+=(CanaryNum1R)
clean diag1.out diag2.out diag3.out diag4.out diag5.out diag6.out diag7.out diag8.out diag9.out diag10.out
grep -q "variable 'num_secret' is not a valid number" diag1.out || fail "no -var error"
grep -q 'bad1.vars:1:14: error:' diag3.out || fail "no -var-file error location"

echo "7. a name from a sensitive value is refused: it would be part of the ARM id"
sed -i 's/name = "rg-secrets"/name = "rg-${var.tag_secret}"/' main.amlsec
expect_exit 1 "$AMLSEC" validate -no-color > name.out 2>&1
grep -q 'resource_group.ml.name comes from a sensitive value' name.out || fail "sensitive name accepted"
clean name.out
echo "8. a local (or a module output) holding a whole resource keeps its secret paths"
mkdir "$work/q" "$work/q/mod" && cd "$work/q"
cat > main.amlsec <<'CONF'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}
variable "tag_secret" {
  type      = string
  sensitive = true
}
resource_group "ml" {
  name = "rg-locals"
  tags = { owner = var.tag_secret, plain = "not a secret" }
}
locals {
  rg    = resource_group.ml
  again = local.rg
  obj   = { s = var.tag_secret, p = "plain" }
}
module "m" {
  source = "./mod"
  rg     = resource_group.ml
}
storage_account "st" {
  resource_group = local.rg
  name           = "stlocals01"
  tags = {
    via_local  = local.rg.tags.owner
    via_again  = local.again.tags["owner"]
    via_obj    = local.obj.s
    via_module = module.m.tags.owner
    via_input  = module.m.owner
    all_tags   = jsonencode(local.rg.tags)
    rg_name    = local.rg.name
    rg_plain   = local.rg.tags.plain
  }
}
output "owner" {
  value     = local.rg.tags.owner
  sensitive = true
}
output "name" {
  value = local.rg.name
}
CONF
cat > mod/main.amlsec <<'CONF'
variable "rg" {}
output "tags" {
  value     = var.rg.tags
  sensitive = true
}
output "owner" {
  value     = var.rg.tags.owner
  sensitive = true
}
CONF
expect_exit 0 "$AMLSEC" validate -json > lv.json 2>&1
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > lp.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out l.plan > lp2.out 2>&1
expect_exit 0 "$AMLSEC" show -no-color l.plan > ls.out 2>&1
expect_exit 0 "$AMLSEC" show -json l.plan > ls.json 2>&1
clean lv.json lp.out lp2.out ls.out ls.json
for k in via_local via_again via_obj via_module via_input all_tags; do
  grep -q "^ *+ $k *= (sensitive)$" lp.out || fail "tag $k (a secret read through a local) is not (sensitive)"
done
grep -q '^ *+ rg_name *= "rg-locals"$' lp.out || fail "a local's attribute that is no secret is hidden"
grep -q '^ *+ rg_plain *= "not a secret"$' lp.out || fail "a local's tag that is no secret is hidden"
# an output reading the secret through a local must say sensitive = true
for v in 'local.rg.tags.owner' 'local.rg' 'local.again.tags' 'resource_group.ml' 'module.m'; do
  printf 'output "leak" {\n  value = %s\n}\n' "$v" > leak.amlsec
  expect_exit 1 "$AMLSEC" validate -json > lo.json 2>&1
  clean lo.json
  grep -q '"code": "sensitive-output"' lo.json || fail "output = $v (a secret) without sensitive = true accepted"
done
rm leak.amlsec
printf 'output "rg" {\n  value = var.rg\n}\n' > mod/leak.amlsec
printf 'output "rg" {\n  value     = module.m.rg\n  sensitive = true\n}\n' > leak.amlsec
expect_exit 1 "$AMLSEC" validate -json > lo.json 2>&1
clean lo.json
grep -q '"code": "sensitive-output"' lo.json || fail "a module output of a whole resource with secrets accepted"
rm mod/leak.amlsec leak.amlsec
cd "$work/p"
echo "9. an import's ARM body with secrets ARM returns: the saved plan needs a key, output redacts"
mkdir "$work/r" && cd "$work/r"
SUB=00000000-0000-0000-0000-000000000000
appi=$(curl -sf "$url/_armlocal/resources/subscriptions/$SUB/resourceGroups/rg-secrets/providers/Microsoft.Insights/components/appi-secrets") \
  || fail "cannot read the app insights from the local cloud"
cstr=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["body"]["properties"]["ConnectionString"])' "$appi")
ikey=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["body"]["properties"]["InstrumentationKey"])' "$appi")
[ -n "$cstr" ] && [ -n "$ikey" ] || fail "no connection string or instrumentation key in the local cloud"
canaries+=("$cstr" "$ikey")
cat > main.amlsec <<CONF
settings {
  subscription = "$SUB"
  location     = "westeurope"
}
existing resource_group "ml" {
  id = "/subscriptions/$SUB/resourceGroups/rg-secrets"
}
app_insights "ml" {
  resource_group = existing.resource_group.ml
  name           = "appi-secrets"
}
import {
  to = app_insights.ml
  id = "/subscriptions/$SUB/resourceGroups/rg-secrets/providers/Microsoft.Insights/components/appi-secrets"
}
CONF
(
  unset AMLSEC_STATE_PASSPHRASE
  # without encryption a saved plan would hold the imported secrets: refused
  expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color -out i.plan > ip.out 2>&1
  grep -q 'the plan holds sensitive values' ip.out || fail "plan -out of an import with secrets, without a key"
  [ -e i.plan ] && fail "the plan with the imported secrets was saved in clear"
  expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color > ip2.out 2>&1
  clean ip.out ip2.out
  grep -q 'app_insights.ml will be imported' ip2.out || fail "no import planned"
  true
) || exit 1
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out i.plan > ip3.out 2>&1
expect_exit 0 "$AMLSEC" show -no-color i.plan > is.out 2>&1
expect_exit 0 "$AMLSEC" show -json i.plan > is.json 2>&1
clean ip3.out is.out is.json i.plan
cd "$work/p"
stop_cloud
echo "secrets: all passed"
