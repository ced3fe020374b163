#!/usr/bin/env bash
# An output an apply leaves unknown (can() of a value known only after apply) is kept in the state
# in a plan file's form, {"$unknown": true}, never with the NUL of its form in memory (the state
# would no longer read: "'outputs' is not valid JSON"); output -json shows it as null of type
# "dynamic" (it showed {"$unknown": true}, typed as an object). A map the configuration writes as
# { "$unknown" = true } stays that map through the state.
set -uo pipefail
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > main.amlsec <<'AMLSEC'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

resource_group "ml" {
  name = "rg-unknown-outputs"
}

user_assigned_identity "uai" {
  resource_group = resource_group.ml
}

output "later" {
  value = can(user_assigned_identity.uai.principal_id)
}

output "flag" {
  value = { "$unknown" = true }
}
AMLSEC

echo "1. apply: the state keeps the unknown output without a NUL"
expect_exit 0 "$AMLSEC" apply -cloud local -no-color -auto-approve > apply.out 2>&1
grep -q 'u0000' .amlsec/state.json && fail "the state holds a NUL: $(grep -o '"outputs":.\{0,120\}' .amlsec/state.json)"

echo "2. output -json: null of type dynamic, and the map as written"
expect_exit 0 "$AMLSEC" output -json > output.json 2> output.out
python3 - output.json <<'PY' || fail "output -json"
import json, sys
outs = json.load(open(sys.argv[1]))
assert outs["later"] == {"sensitive": False, "type": "dynamic", "value": None}, outs["later"]
assert outs["flag"]["value"] == {"$unknown": True}, outs["flag"]
PY
expect_exit 0 "$AMLSEC" output -no-color > output.txt 2>&1
grep -q '^later = (known after apply)$' output.txt || fail "output: $(cat output.txt)"
grep -q '^flag = { "\$unknown" = true }$' output.txt || fail "output: $(cat output.txt)"
expect_exit 0 "$AMLSEC" show -json > show.json 2> show.out
echo "ok"
