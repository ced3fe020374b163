#!/usr/bin/env bash
# policy_set_definition (an initiative) end to end: `check` evaluates each member policy of an
# assigned initiative with the parameters the set passes it (an assignment's value, else the
# set's default); the local cloud refuses a set naming a definition it does not hold, repeating
# a reference id or reading a parameter it does not define; apply, plan again to no changes, and
# destroy.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}" "${SHARED:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
ALIASES=$SHARED/data/policy-aliases.csv
mkdir cfg
grep -v '^#' "$SRC/tests/data/catalogue/policy_set.amlsec" > cfg/main.amlsec
S=/subscriptions/00000000-0000-0000-0000-0000000000d6

echo "1. check expands the initiative: the assignment's vaultEffect = Deny reaches the member"
expect_exit 2 "$AMLSEC" check -no-color -aliases "$ALIASES" cfg > c1.out 2>&1
grep -q 'deny: key_vault.kv: policy "vaults without public access" \[/subscriptions/00000000-0000-0000-0000-0000000000d6/providers/Microsoft.Authorization/policyDefinitions/kvpub\]' c1.out \
  || fail "initiative member not evaluated with the assignment's parameter: $(cat c1.out)"
# without the assignment's value the set's default (Audit) applies
sed -i '/parameters = { vaultEffect = "Deny" }/d' cfg/main.amlsec
expect_exit 2 "$AMLSEC" check -no-color -aliases "$ALIASES" -fail-on audit cfg > c2.out 2>&1
grep -q 'audit: key_vault.kv: policy "vaults without public access"' c2.out || fail "set default: $(cat c2.out)"
grep -q 'deny:' c2.out && fail "the set's default effect is Audit: $(cat c2.out)"

echo "2. apply, plan to no changes, the set as ARM holds it"
start_cloud
cd cfg
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > ../apply.out 2>&1
grep -q 'Resources: 5 added, 0 changed, 0 destroyed' ../apply.out || fail "apply: $(tail -3 ../apply.out)"
curl -s "$url$S/providers/Microsoft.Authorization/policySetDefinitions/baseline?api-version=2025-03-01" > ../set.json
grep -q '"policyDefinitionReferenceId":"kvpub"' ../set.json || fail "set body: $(cat ../set.json)"
grep -q '"policyType":"Custom"' ../set.json || fail "set policyType: $(cat ../set.json)"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > ../plan2.out 2>&1
grep -q 'No changes' ../plan2.out || fail "second plan: $(cat ../plan2.out)"
cd ..

echo "3. the local cloud refuses bad sets"
put() { # path body -> status, body in put.json
  curl -s -o put.json -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data "$2" "$url$S/providers/Microsoft.Authorization/policySetDefinitions/$1?api-version=2025-03-01"
}
D=$S/providers/Microsoft.Authorization/policyDefinitions
[ "$(put bad1 "{\"properties\":{\"policyDefinitions\":[]}}")" = 400 ] || fail "empty set accepted"
[ "$(put bad2 "{\"properties\":{\"policyDefinitions\":[{\"policyDefinitionId\":\"$D/nosuch\"}]}}")" = 404 ] \
  || fail "a set naming a missing definition was accepted: $(cat put.json)"
grep -q PolicyDefinitionNotFound put.json || fail "code: $(cat put.json)"
[ "$(put bad3 "{\"properties\":{\"policyDefinitions\":[{\"policyDefinitionId\":\"$D/kvpub\",\"policyDefinitionReferenceId\":\"a\"},{\"policyDefinitionId\":\"$D/kvpub\",\"policyDefinitionReferenceId\":\"A\"}]}}")" = 400 ] \
  || fail "repeated reference id accepted: $(cat put.json)"
[ "$(put bad4 "{\"properties\":{\"policyDefinitions\":[{\"policyDefinitionId\":\"$D/kvpub\",\"parameters\":{\"effect\":{\"value\":\"[parameters('nope')]\"}}}]}}")" = 400 ] \
  || fail "undefined set parameter accepted: $(cat put.json)"
grep -q InvalidPolicyParameters put.json || fail "code: $(cat put.json)"
# an assignment of a set that does not exist
[ "$(curl -s -o put.json -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data "{\"properties\":{\"policyDefinitionId\":\"$S/providers/Microsoft.Authorization/policySetDefinitions/nosuch\"}}" \
    "$url$S/resourceGroups/rg-policy/providers/Microsoft.Authorization/policyAssignments/x?api-version=2025-03-01")" = 404 ] \
  || fail "an assignment of a missing initiative was accepted: $(cat put.json)"

echo "4. destroy"
cd cfg
expect_exit 0 "$AMLSEC" destroy -cloud "$url" -auto-approve -no-color > ../destroy.out 2>&1
cd ..
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url$S/providers/Microsoft.Authorization/policySetDefinitions/baseline?api-version=2025-03-01")" = 404 ] \
  || fail "the set survived destroy"
echo "policy set definitions: ok"
