#!/usr/bin/env bash
# Planner and applier edge cases against a standalone local cloud:
#   1. no subscription (no settings.subscription, no ARM_SUBSCRIPTION_ID): plan and apply stop
#      early with a clear error, at the settings block when there is one;
#   2. an update whose operation ends Failed although the change took effect (armlocal's
#      lro-failed fault): the state takes what is live, so the next plan shows no drift and
#      converges.
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
echo "e2e_apply_edges: 2 passed, 0 failed"
