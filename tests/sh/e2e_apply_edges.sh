#!/usr/bin/env bash
# Planner and applier edge cases against a standalone local cloud:
#   1. no subscription (no settings.subscription, no ARM_SUBSCRIPTION_ID): plan and apply stop
#      early with a clear error, at the settings block when there is one;
#   2. an update whose operation ends Failed although the change took effect (armlocal's
#      lro-failed fault): the state takes what is live, so the next plan shows no drift and
#      converges;
#   3. role assignments of a workspace's identity created in the same apply: their ids (GUIDs
#      derived from the principal) show as known after apply, are derived at apply from the
#      principal just assigned, through a top-level (principal_id) and a nested
#      (identity.principal_id) reference, also from a plan saved before any state existed;
#      the next plan is clean;
#   4. the workspace is replaced (renamed): its new principal makes the role assignments'
#      ids unknown again; they are replaced and the next plan is clean.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
unset ARM_SUBSCRIPTION_ID
start_cloud

echo "1. no subscription: a clear error before anything is sent"
cat > main.amlsec <<'CFG'
resource_group "ml" {
  name     = "rg-edges"
  location = "westeurope"
}
CFG
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > nosub1.out 2>&1
grep -q '^amlsec: error: no Azure subscription to work in: export ARM_SUBSCRIPTION_ID=<subscription id>, or add settings { subscription = "<subscription id>" }$' nosub1.out \
  || fail "no clear error without a settings block"
grep -q 'incomplete journal intent' nosub1.out && fail "the late journal error is still there"
printf 'settings {\n  location = "westeurope"\n}\n' > settings.amlsec
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > nosub2.out 2>&1
grep -q '^settings.amlsec:1:1: error: no Azure subscription to work in: settings has no subscription and ARM_SUBSCRIPTION_ID is not set$' nosub2.out \
  || fail "no error at the settings block"
grep -q 'hint: set subscription = "<subscription id>" in settings, or export ARM_SUBSCRIPTION_ID' nosub2.out \
  || fail "no hint naming both ways to set it"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > nosub3.out 2>&1
grep -q '^settings.amlsec:1:1: error: no Azure subscription' nosub3.out || fail "apply does not stop early"
[ "$("$AMLSEC" state list | wc -l)" = 0 ] || fail "something was applied without a subscription"
ARM_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000000 \
  expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > nosub4.out 2>&1
grep -q 'Apply complete! Resources: 1 added' nosub4.out || fail "ARM_SUBSCRIPTION_ID is not used"
rm -rf .amlsec settings.amlsec

echo "2. an update that ends Failed but took effect: the state follows what is live, plan converges"
cat > main.amlsec <<'CFG'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}
resource_group "ml" {
  name = "rg-edges2"
}
container_registry "ml" {
  resource_group        = resource_group.ml
  name                  = "acredges001"
  sku                   = "Premium"
  public_network_access = false
  tags                  = { team = "a" }
}
CFG
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > lf1.out 2>&1
sed -i 's/team = "a"/team = "b"/' main.amlsec
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"kind":"lro-failed","method":"PUT","path":"*/registries/acredges001","times":1}' \
  "$url/_armlocal/faults" > /dev/null || fail "fault"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > lf2.out 2>&1
grep -q 'container_registry.ml: Modifying failed' lf2.out || fail "the update did not fail"
"$AMLSEC" state show container_registry.ml | grep -q '"team": "b"' || fail "the state kept the old body"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > lf3.out 2>&1
grep -q 'Objects have changed outside of amlsec' lf3.out && fail "the applied change shows up as drift"
grep -q 'No changes.' lf3.out || fail "plan does not converge"
rm -rf .amlsec

echo "3. role assignments of a workspace identity created in the same apply"
ra_config() { # workspace name
  cat <<CFG
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}
resource_group "ml" {
  name = "rg-edges3"
}
key_vault "kv" {
  resource_group   = resource_group.ml
  name             = "kv-edges3"
  purge_protection = true
}
storage_account "ml" {
  resource_group = resource_group.ml
  name           = "stedges3"
}
app_insights "ml" {
  resource_group = resource_group.ml
  name           = "appi-edges3"
}
workspace "prod" {
  resource_group  = resource_group.ml
  name            = "$1"
  key_vault       = key_vault.kv
  storage_account = storage_account.ml
  app_insights    = app_insights.ml
}
role_assignment "top" {
  principal      = workspace.prod.principal_id
  principal_type = "ServicePrincipal"
  role           = "Storage Blob Data Reader"
  scope          = storage_account.ml
}
role_assignment "nested" {
  principal      = workspace.prod.identity.principal_id
  principal_type = "ServicePrincipal"
  role           = "Reader"
  scope          = storage_account.ml
}
CFG
}
ra_config mlw-edges3 > main.amlsec
# the plan is saved before any state exists: applying it creates the state
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -out ra.plan > ra1.out 2>&1
for ra in top nested; do
  sed -n "/# role_assignment.$ra will be created/,/^    }/p" ra1.out > "ra1-$ra.txt"
  grep -q '+ id = (known after apply)' "ra1-$ra.txt" || fail_with "role_assignment.$ra: the id is not known after apply" ra1.out
  grep -q '+ principal *= (known after apply)' "ra1-$ra.txt" || fail_with "role_assignment.$ra: the principal is not known after apply" ra1.out
done
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color ra.plan > ra2.out 2>&1
grep -q 'incomplete journal intent' ra2.out && fail "the role assignment's id was never derived"
grep -q 'Apply complete! Resources: 7 added' ra2.out || fail_with "apply of the saved plan" ra2.out
ws_principal() { "$AMLSEC" state show workspace.prod | sed -n 's/.*"principalId": "\(.*\)".*/\1/p'; }
principal=$(ws_principal)
[ -n "$principal" ] || fail "the workspace has no principal"
for ra in top nested; do
  "$AMLSEC" state show "role_assignment.$ra" > "ra2-$ra.out" || fail "role_assignment.$ra is not in the state"
  grep -q "\"principalId\": \"$principal\"" "ra2-$ra.out" || fail "role_assignment.$ra does not name the workspace's principal"
  id=$(sed -n 's/^arm_id *= //p' "ra2-$ra.out")
  grep -q "role_assignment.$ra: Creation complete after [0-9]*s \[id=$id\]" ra2.out \
    || fail "role_assignment.$ra: the derived id is not reported"
  case "$id" in */stedges3/providers/Microsoft.Authorization/roleAssignments/*-*-5*) ;;
    *) fail "role_assignment.$ra: unexpected id '$id'" ;; esac
done
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > ra3.out 2>&1

echo "4. the workspace is renamed: a new principal, so the role assignments are replaced"
old_top=$("$AMLSEC" state show role_assignment.top | sed -n 's/^arm_id *= //p')
ra_config mlw-edges3b > main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > ra4.out 2>&1
grep -q "~ id = \"$old_top\" -> (known after apply) # forces replacement" ra4.out \
  || fail "the role assignment's replacement does not show its new id as known after apply"
grep -q 'Plan: 3 to add, 0 to change, 3 to destroy.' ra4.out || fail "rename plan summary"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > ra5.out 2>&1
new_principal=$(ws_principal)
[ "$new_principal" != "$principal" ] || fail "the renamed workspace kept its principal"
for ra in top nested; do
  "$AMLSEC" state show "role_assignment.$ra" | grep -q "\"principalId\": \"$new_principal\"" \
    || fail "role_assignment.$ra does not name the new principal"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url$old_top?api-version=2022-04-01")" = 404 ] \
  || fail "the old role assignment was left behind"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > ra6.out 2>&1
echo "e2e_apply_edges: 4 passed, 0 failed"
