#!/usr/bin/env bash
# A saved plan keeps a map whose one key is "$unknown" as the map it is: the plan file writes
# values known only after apply as {"$unknown": ["ADDRESS", "ATTR"]}, and a map the
# configuration writes in that shape read back as an unknown (apply of the saved plan set the
# output to resource_group.ml's name, or left it "(known after apply)" in the state), while a
# plan applied without a file kept it. In memory, { "$unknown" = true } was the unknown itself
# ("(known after apply)") and { "$unknown" = { call = "upper", args = ["x"] } } a deferred call ("X"). Unknowns beside and inside such a map still read back as
# unknowns and are filled in by the apply.
set -uo pipefail
: "${AMLSEC:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec {err}>&2
fail() { echo "FAIL: $*" >&$err; for f in $(ls -t "$work"/*.out 2>/dev/null | head -n 2); do echo "--- $f"; tail -n 30 "$f"; done >&$err; exit 1; }
expect_exit() { local want=$1; shift; "$@"; local got=$?; [ "$got" = "$want" ] || fail "exit $got, want $want: $*"; }
cd "$work"
cat > main.amlsec <<'AMLSEC'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

resource_group "ml" {
  name = "rg-unknown-maps"
}

user_assigned_identity "uai" {
  resource_group = resource_group.ml
}

output "shape" {
  value = { "$unknown" = ["resource_group.ml", "name"] }
}

output "nowhere" {
  value = { "$unknown" = ["nowhere.x", "id"] }
}

output "wrapped" {
  value = { "$unknown" = { "$known" = ["a", "b"] } }
}

output "inside" {
  value = { "$unknown" = user_assigned_identity.uai.principal_id, n = 1 }
}

output "holds" {
  value = { "$unknown" = user_assigned_identity.uai.principal_id }
}

output "flag" {
  value = { "$unknown" = true }
}

output "call" {
  value = { "$unknown" = { call = "upper", args = ["x"] } }
}

output "encoded" {
  value = jsonencode({ "$unknown" = true })
}
AMLSEC

echo "1. plan -out, apply the saved plan: the maps are outputs as written"
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -out p.plan > plan.out 2>&1
# in memory too: { "$unknown" = true } printed (known after apply) and the call map was called ("X")
grep -q '^  + flag = {' plan.out || fail "the plan takes { \"\$unknown\" = true } for an unknown"
grep -q '^  + call = {' plan.out || fail "the plan takes the call-shaped map for a deferred call"
grep -q '^  + encoded = "{' plan.out || fail "the plan takes jsonencode's argument for an unknown"
expect_exit 0 "$AMLSEC" show -json p.plan > show-plan.json 2> show-plan.out
python3 - show-plan.json <<'PY' || fail "show -json PLAN"
import json, sys
outs = json.load(open(sys.argv[1]))["output_changes"]
assert outs["shape"]["after"] == {"$unknown": ["resource_group.ml", "name"]}, outs["shape"]
assert outs["nowhere"]["after"] == {"$unknown": ["nowhere.x", "id"]}, outs["nowhere"]
assert outs["wrapped"]["after"] == {"$unknown": {"$known": ["a", "b"]}}, outs["wrapped"]
assert outs["holds"]["after_unknown"] is not False, outs["holds"]
assert outs["flag"]["after"] == {"$unknown": True} and outs["flag"]["after_unknown"] is False, outs["flag"]
assert outs["call"]["after"] == {"$unknown": {"call": "upper", "args": ["x"]}}, outs["call"]
assert outs["encoded"]["after"] == '{"$unknown":true}', outs["encoded"]
PY
expect_exit 0 "$AMLSEC" apply -cloud local -no-color p.plan > apply.out 2>&1
expect_exit 0 "$AMLSEC" output -json > output.json 2> output.out
python3 - output.json <<'PY' || fail "output -json after apply of the saved plan"
import json, sys
outs = json.load(open(sys.argv[1]))
assert outs["shape"]["value"] == {"$unknown": ["resource_group.ml", "name"]}, outs["shape"]
assert outs["nowhere"]["value"] == {"$unknown": ["nowhere.x", "id"]}, outs["nowhere"]
assert outs["wrapped"]["value"] == {"$unknown": {"$known": ["a", "b"]}}, outs["wrapped"]
pid = outs["inside"]["value"]["$unknown"]
assert isinstance(pid, str) and len(pid) == 36, outs["inside"]
assert outs["holds"]["value"] == {"$unknown": pid}, outs["holds"]
assert outs["flag"]["value"] == {"$unknown": True}, outs["flag"]
assert outs["call"]["value"] == {"$unknown": {"call": "upper", "args": ["x"]}}, outs["call"]
assert outs["encoded"]["value"] == '{"$unknown":true}', outs["encoded"]
PY

echo "2. the next plan has no changes"
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -detailed-exitcode > plan2.out 2>&1
echo "ok"
