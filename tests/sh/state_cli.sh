#!/usr/bin/env bash
# End-to-end: amlsec state list/show/rm/mv/pull/push and force-unlock on the
# local backend, encryption at rest (raw key, rotation, wrong key), and
# damaged state refused without being overwritten.
set -euo pipefail
: "${AMLSEC:?}"
work=$(mktemp -d /tmp/amlsec-state-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_fail() { # expect_fail PATTERN cmd...: must exit 1 and print PATTERN on stderr
    local pat=$1; shift
    if "$@" >out.txt 2>err.txt; then fail "expected failure: $*"; fi
    grep -q -- "$pat" err.txt || { cat err.txt >&2; fail "stderr lacks '$pat': $*"; }
}

# A state document written by hand: the body, then the checksummed envelope.
make_state() { # make_state FILE LINEAGE SERIAL
    local body
    body=$(printf '{"amlsec_version":"0.1.0","lineage":"%s","resources":[%s,%s],"serial":%s}' "$2" \
      '{"address":"azurerm_machine_learning_workspace.main","api_version":"2024-04-01","arm_id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws","attributes":{"name":"ws","properties":{"publicNetworkAccess":"Disabled","storageKey":"TOPSECRET"}},"dependencies":["azurerm_resource_group.rg"],"kind":"azurerm_machine_learning_workspace","sensitive":["/properties/storageKey"],"status":"created"}' \
      '{"address":"azurerm_resource_group.rg","api_version":"2021-04-01","arm_id":"/subscriptions/s/resourceGroups/rg","attributes":{"location":"westeurope","name":"rg"},"dependencies":[],"kind":"azurerm_resource_group","sensitive":[],"status":"tainted"}' "$3")
    local sum
    sum=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
    printf '{"format_version":1,"sha256":"%s","state":%s}\n' "$sum" "$body" >"$1"
}
L1=11111111-1111-4111-8111-111111111111
L2=22222222-2222-4222-8222-222222222222

make_state in.json $L1 5
"$AMLSEC" state push in.json >out.txt || fail "push into an empty state"
grep -q "serial 5" out.txt || fail "push keeps the serial"
[ "$(stat -c %a .amlsec/state.json)" = 600 ] || fail "state file mode is not 0600"
"$AMLSEC" state list >out.txt
printf 'azurerm_machine_learning_workspace.main\nazurerm_resource_group.rg\n' | cmp - out.txt || fail "list"
"$AMLSEC" state show azurerm_machine_learning_workspace.main >out.txt
grep -q '(sensitive)' out.txt || fail "show hides sensitive values"
grep -q TOPSECRET out.txt && fail "show printed a sensitive value"
"$AMLSEC" state show -json azurerm_resource_group.rg | grep -q '"status": "tainted"' || fail "show -json"
expect_fail "no resource instance 'nope'" "$AMLSEC" state show nope
expect_fail "unknown subcommand" "$AMLSEC" state frob

"$AMLSEC" state mv azurerm_resource_group.rg azurerm_resource_group.main >/dev/null
"$AMLSEC" state show -json azurerm_machine_learning_workspace.main | grep -q '"azurerm_resource_group.main"' \
    || fail "mv rewrites dependencies"
[ -f .amlsec/state.json.backup ] || fail "no backup kept"
"$AMLSEC" state rm azurerm_resource_group.main | grep -q "Removed azurerm_resource_group.main" || fail "rm"
[ "$("$AMLSEC" state list)" = azurerm_machine_learning_workspace.main ] || fail "list after rm"

# push: lineage and serial guards
make_state other.json $L2 100
expect_fail "lineage" "$AMLSEC" state push other.json
make_state old.json $L1 3
expect_fail "older than" "$AMLSEC" state push old.json
"$AMLSEC" state push -force old.json | grep -q "serial 8" || fail "forced push lands after the current serial"
"$AMLSEC" state pull >pulled.json
"$AMLSEC" state push pulled.json >/dev/null || fail "pull output pushes back"

# a writer killed mid-write leaves the lock file; force-unlock by id
cp .amlsec/state.json before.json
if AMLSEC_FAULT_WRITE=after-fsync "$AMLSEC" state rm azurerm_resource_group.rg 2>/dev/null; then
    fail "fault injection did not stop the writer"
fi
cmp before.json .amlsec/state.json || fail "killed writer changed the state"
id=$(sed -n 's/.*"id": *"\([0-9a-f-]*\)".*/\1/p' .amlsec/state.json.lock)
[ -n "$id" ] || fail "no lock id recorded"
expect_fail "does not match" "$AMLSEC" force-unlock 00000000-0000-4000-8000-000000000000
"$AMLSEC" force-unlock "$id" | grep -q "removed" || fail "force-unlock"
[ ! -e .amlsec/state.json.lock ] || fail "lock file still there"
expect_fail "not locked" "$AMLSEC" force-unlock "$id"

# damaged state: refused with path and reason, never overwritten
cp .amlsec/state.json good.json
head -c 100 good.json >.amlsec/state.json
cp .amlsec/state.json damaged.json
expect_fail ".amlsec/state.json' is truncated" "$AMLSEC" state list
expect_fail "truncated" "$AMLSEC" state rm azurerm_machine_learning_workspace.main
cmp damaged.json .amlsec/state.json || fail "damaged state was overwritten"
sed 's/Disabled/Enabled!/' good.json >.amlsec/state.json
expect_fail "checksum" "$AMLSEC" state list
sed 's/"format_version":1/"format_version":7/' good.json >.amlsec/state.json
expect_fail "newer than this amlsec" "$AMLSEC" state list
cp good.json .amlsec/state.json

# encryption at rest: a raw key (hex), then rotation to a base64 key
K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=$(head -c 32 /dev/urandom | base64)
AMLSEC_STATE_KEY=$K1 "$AMLSEC" state push -state enc.json in.json >/dev/null
head -c 7 enc.json | grep -q AMLSECX || fail "state not encrypted"
grep -q TOPSECRET enc.json && fail "plaintext secret in encrypted state"
AMLSEC_STATE_KEY=$K1 "$AMLSEC" state list -state enc.json | grep -q rg || fail "read with key"
expect_fail "is encrypted" "$AMLSEC" state list -state enc.json
cp enc.json enc.before
expect_fail "wrong key" env AMLSEC_STATE_KEY="$K2" "$AMLSEC" state rm -state enc.json azurerm_resource_group.rg
cmp enc.before enc.json || fail "wrong key overwrote the state"
expect_fail "not a 256-bit key" env AMLSEC_STATE_KEY=abc "$AMLSEC" state list -state enc.json
AMLSEC_STATE_KEY=$K2 AMLSEC_STATE_KEY_FALLBACK=$K1 "$AMLSEC" state rm -state enc.json azurerm_resource_group.rg >/dev/null \
    || fail "rotation: read with the fallback"
AMLSEC_STATE_KEY=$K2 "$AMLSEC" state list -state enc.json >/dev/null || fail "rotation: written with the new key"
expect_fail "wrong key" env AMLSEC_STATE_KEY=$K1 "$AMLSEC" state list -state enc.json
AMLSEC_STATE_KEY=$K2 "$AMLSEC" state pull -state enc.json | head -c 7 | grep -q AMLSECX || fail "pull stays encrypted"
echo "state_cli: ok"
